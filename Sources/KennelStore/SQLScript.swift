import Foundation

/// Rewriting SQL text outside its string literals, quoted names and comments: splitting a migration file into
/// statements, and numbering `?` placeholders as PostgreSQL's `$1, $2, …`.
enum SQLScript {
    /// The statements of `script`, split at semicolons; comment-only pieces are dropped.
    static func statements(of script: String) -> [String] {
        var statements: [String] = [], current = ""
        var hasCode = false
        scan(script) { character, inCode in
            if inCode && character == ";" {
                if hasCode { statements.append(current) }
                current = ""
                hasCode = false
                return
            }
            current.append(character)
            if inCode && !character.isWhitespace { hasCode = true }
        }
        if hasCode { statements.append(current) }
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// `sql` with its n-th `?` placeholder written `$n`.
    static func numberingPlaceholders(_ sql: String) -> String {
        var result = "", count = 0
        scan(sql) { character, inCode in
            if inCode && character == "?" {
                count += 1
                result += "$\(count)"
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Calls `visit` with each character of `sql` and whether it is code: not inside a literal, a quoted name or
    /// a comment, nor one of their delimiters.
    private static func scan(_ sql: String, _ visit: (Character, Bool) -> Void) {
        let characters = Array(sql)
        var index = 0
        func visitThrough(_ end: Int) {
            while index < min(end, characters.count) {
                visit(characters[index], false)
                index += 1
            }
        }
        while index < characters.count {
            let character = characters[index]
            let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
            if character == "'" || character == "\"" {
                let close = characters[(index + 1)...].firstIndex(of: character) ?? characters.count - 1
                visitThrough(close + 1)
            } else if character == "-" && next == "-" {
                visitThrough(characters[index...].firstIndex(of: "\n") ?? characters.count)
            } else if character == "/" && next == "*" {
                var close = index + 2
                while close + 1 < characters.count && !(characters[close] == "*" && characters[close + 1] == "/") {
                    close += 1
                }
                visitThrough(close + 2)
            } else {
                visit(character, true)
                index += 1
            }
        }
    }
}
