import Foundation

/// One part of a `multipart/form-data` body (RFC 7578), such as a file sent with `curl -F image=@dog.jpg`.
public struct MultipartPart: Sendable, Equatable {
    /// The form field's name from `Content-Disposition`.
    public let name: String?
    public let filename: String?
    public let contentType: String?
    public let body: Data
}

/// Splits `multipart/form-data` bodies into their parts. The whole body is already in memory (within the
/// server's body cap), so parts are slices copied out of it; a malformed body is a 400 that says what is wrong.
public enum Multipart {
    /// The parts of `body`, sent with the request's `contentType` (which carries the boundary).
    public static func parts(of body: Data, contentType: String) throws -> [MultipartPart] {
        let boundary = try self.boundary(in: contentType)
        let bytes = [UInt8](body)
        let delimiter = Array("--\(boundary)".utf8)
        guard var cursor = find(delimiter, in: bytes, from: 0) else {
            throw HTTPError.badRequest("malformed multipart body: the boundary '\(boundary)' never appears")
        }
        var parts: [MultipartPart] = []
        while true {
            cursor += delimiter.count
            if bytes[cursor...].starts(with: Array("--".utf8)) { return parts }
            guard bytes[cursor...].starts(with: crlf) else {
                throw HTTPError.badRequest("malformed multipart body: a boundary line does not end with CRLF")
            }
            cursor += crlf.count
            guard let headerEnd = find(crlf + crlf, in: bytes, from: cursor) else {
                throw HTTPError.badRequest("malformed multipart body: a part's headers never end")
            }
            guard let next = find(crlf + delimiter, in: bytes, from: headerEnd + 4) else {
                throw HTTPError.badRequest("malformed multipart body: the closing boundary is missing")
            }
            let headers = String(decoding: bytes[cursor..<headerEnd], as: UTF8.self)
            parts.append(try part(headers: headers, body: Data(bytes[(headerEnd + 4)..<next])))
            cursor = next + crlf.count
        }
    }

    private static let crlf = Array("\r\n".utf8)

    /// The `boundary` parameter of a `multipart/…` content type, unquoted.
    static func boundary(in contentType: String) throws -> String {
        guard let value = parameter("boundary", in: contentType), (1...70).contains(value.utf8.count) else {
            throw HTTPError.badRequest("multipart Content-Type needs a boundary parameter of 1–70 characters")
        }
        return value
    }

    private static func part(headers: String, body: Data) throws -> MultipartPart {
        var name: String?, filename: String?, contentType: String?
        for line in headers.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else {
                throw HTTPError.badRequest("malformed multipart body: part header line '\(line.prefix(80))'")
            }
            let field = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if field == "content-type" { contentType = value }
            if field == "content-disposition" {
                name = parameter("name", in: value)
                filename = parameter("filename", in: value)
            }
        }
        return MultipartPart(name: name, filename: filename, contentType: contentType, body: body)
    }

    /// A `key="value"` (or unquoted) parameter of a header value.
    private static func parameter(_ key: String, in value: String) -> String? {
        for item in value.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == key else { continue }
            return pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2
                ? String(pair[1].dropFirst().dropLast()) : pair[1]
        }
        return nil
    }

    /// The index where `needle` first occurs in `haystack` at or after `start`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            guard let hit = haystack[index...last].firstIndex(of: first) else { return nil }
            if haystack[hit..<(hit + needle.count)].elementsEqual(needle) { return hit }
            index = hit + 1
        }
        return nil
    }
}
