import Foundation
import GRDB
import Logging

/// The embedded engine: a GRDB `DatabasePool` in WAL mode at `<data-dir>/kennel.sqlite`, migrated to the
/// newest schema when opened. Many readers run concurrently with one writer.
public final class SQLiteEngine: DatabaseEngine {
    /// The database file's name inside the data directory.
    public static let fileName = "kennel.sqlite"

    private let pool: DatabasePool
    public let location: String
    public var claimClause: String { "" }
    public var clock: String { "((julianday('now') - 2440587.5) * 86400.0)" }
    public var notifiesOtherProcesses: Bool { false }

    /// One process owns an SQLite database: there is never anyone else to hear from.
    public func listen(_ channel: String, _ handler: @escaping @Sendable (String?) -> Void) {}

    /// Opens (creating when missing) the database in `dataDirectory` and applies every migration of
    /// `migrations` not yet applied, in order, each in its own transaction.
    public init(dataDirectory: URL, migrations: [Migration], logger: Logger) throws {
        location = dataDirectory.appendingPathComponent(Self.fileName).path
        do {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: location, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(location: location, reason: String(describing: error))
        }
        for identifier in try Self.migrate(pool, with: migrations) { logger.info("applied migration \(identifier)") }
    }

    @discardableResult
    public func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try Self.translatingErrors { try pool.read { db in try body(Session(db: db)) } }
    }

    @discardableResult
    public func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try Self.translatingErrors { try pool.write { db in try body(Session(db: db)) } }
    }

    @discardableResult
    public func claim<T>(_ body: (any SQLSession) throws -> T) throws -> T { try write(body) }

    /// GRDB keeps applied identifiers in `grdb_migrations`.
    public func appliedMigrations() throws -> [String] {
        let identifiers = try read { session in
            try session.fetch("SELECT identifier AS value FROM grdb_migrations").map { try $0.get("value", as: String.self) }
        }
        return identifiers.sorted { Migration.number(of: $0) ?? .max < Migration.number(of: $1) ?? .max }
    }

    public func close() throws {
        try pool.close()
    }

    /// Applies the migrations GRDB has not recorded yet; returns their identifiers.
    private static func migrate(_ pool: DatabasePool, with migrations: [Migration]) throws -> [String] {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.identifier) { db in
                do {
                    try db.execute(sql: migration.sql)
                } catch {
                    throw StoreError.migrationFailed(identifier: migration.identifier, reason: "\(error)")
                }
            }
        }
        do {
            let before = try pool.read { try migrator.appliedIdentifiers($0) }
            try migrator.migrate(pool)
            return migrations.map(\.identifier).filter { !before.contains($0) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.migrationFailed(identifier: "?", reason: "\(error)")
        }
    }

    /// SQLite's errors as `StoreError`s; errors the caller's closure threw pass through unchanged.
    private static func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL: throw StoreError.diskFull(error.message ?? "database or disk is full")
            case .SQLITE_CONSTRAINT: throw StoreError.constraintViolated(error.message ?? "\(error)")
            default: throw StoreError.failed(error.message ?? "\(error)")
            }
        }
    }

    private struct Session: SQLSession {
        let db: Database

        @discardableResult
        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try db.execute(sql: sql, arguments: StatementArguments(arguments.map(\.databaseValue)))
            return db.changesCount
        }

        func notify(_ channel: String, _ payload: String) {}

        func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments.map(\.databaseValue))).map { row in
                SQLRow(Dictionary(zip(row.columnNames, row.databaseValues.map(SQLValue.init)),
                                  uniquingKeysWith: { first, _ in first }))
            }
        }
    }
}

extension SQLValue {
    fileprivate var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let integer): return integer.databaseValue
        case .real(let real): return real.databaseValue
        case .text(let text): return text.databaseValue
        }
    }

    fileprivate init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case .int64(let integer): self = .integer(integer)
        case .double(let real): self = .real(real)
        case .string(let text): self = .text(text)
        case .blob(let data): self = .text(String(decoding: data, as: UTF8.self))
        }
    }
}
