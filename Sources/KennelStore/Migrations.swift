import Foundation

/// One numbered schema change, read from `migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    /// The leading number that orders migrations.
    public let number: Int
    /// The file name without `.sql`, recorded in the database once applied (`0001_init`).
    public let identifier: String
    public let sql: String

    public init(number: Int, identifier: String, sql: String) {
        self.number = number
        self.identifier = identifier
        self.sql = sql
    }

    /// Reads every `*.sql` file of `directory`, ordered by number. Other files are ignored; a `.sql` file
    /// whose name does not start with digits and `_`, two files with one number, or no file at all is an error.
    public static func load(from directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StoreError.migrationsUnreadable(path: directory.path, reason: error.localizedDescription)
        }
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            let identifier = String(name.dropLast(4))
            guard let number = number(of: identifier) else { throw StoreError.badMigrationName(name) }
            if let clash = migrations.first(where: { $0.number == number }) {
                throw StoreError.duplicateMigrationNumber(number, clash.identifier + ".sql", name)
            }
            let file = directory.appendingPathComponent(name)
            let sql: String
            do {
                sql = try String(contentsOf: file, encoding: .utf8)
            } catch {
                throw StoreError.migrationsUnreadable(path: file.path, reason: error.localizedDescription)
            }
            migrations.append(Migration(number: number, identifier: identifier, sql: sql))
        }
        guard !migrations.isEmpty else { throw StoreError.noMigrations(path: directory.path) }
        return migrations.sorted { $0.number < $1.number }
    }

    /// The number `NNNN` of an identifier `NNNN_name`, or nil when it is not so named.
    static func number(of identifier: String) -> Int? {
        let digits = identifier.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, identifier.dropFirst(digits.count).first == "_" else { return nil }
        return Int(digits)
    }
}
