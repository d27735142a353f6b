import Foundation
import Logging

/// Kennel's database, on whichever engine `open` was given: jobs, metrics, checkpoints, models and datasets.
/// Callers run portable SQL through `read` and `write` and never learn which engine answers.
public final class Store: Sendable {
    /// The engine underneath.
    public let engine: any DatabaseEngine

    public init(engine: any DatabaseEngine) {
        self.engine = engine
    }

    /// Opens the embedded SQLite database in `dataDirectory`, applying `migrations` (the `sqlite` folder's).
    public convenience init(dataDirectory: URL, migrations: [Migration],
                            logger: Logger = Logger(label: "kennel.store")) throws {
        self.init(engine: try SQLiteEngine(dataDirectory: dataDirectory, migrations: migrations, logger: logger))
    }

    /// Opens `database`, applying the migrations of its engine's folder under `migrationsRoot`
    /// (`migrations/sqlite` or `migrations/postgres`).
    public static func open(_ database: DatabaseLocation, migrationsRoot: URL,
                            logger: Logger = Logger(label: "kennel.store")) throws -> Store {
        let migrations = try Migration.load(from: migrationsRoot.appendingPathComponent(database.engineName))
        switch database {
        case .sqlite(let dataDirectory):
            return try Store(dataDirectory: dataDirectory, migrations: migrations, logger: logger)
        case .postgres(let url):
            return Store(engine: try PostgresEngine(url: url, migrations: migrations, logger: logger))
        }
    }

    /// Runs `body` in a read transaction.
    @discardableResult
    public func read<T>(_ body: (any SQLSession) throws -> T) throws -> T { try engine.read(body) }

    /// Runs `body` in a write transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    public func write<T>(_ body: (any SQLSession) throws -> T) throws -> T { try engine.write(body) }

    /// Runs `body` in a write transaction that takes rows with `engine.claimClause` (see `DatabaseEngine.claim`).
    @discardableResult
    public func claim<T>(_ body: (any SQLSession) throws -> T) throws -> T { try engine.claim(body) }

    /// Identifiers of the migrations recorded as applied, by number.
    public func appliedMigrations() throws -> [String] { try engine.appliedMigrations() }

    /// Waits for pending writes and closes every connection; the store is unusable afterwards.
    public func close() throws { try engine.close() }
}

/// Which database a process uses: the embedded SQLite file in the data directory, or a PostgreSQL server.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(dataDirectory: URL)
    case postgres(PostgresURL)

    /// The folder under `migrations/` holding this engine's files.
    public var engineName: String {
        switch self {
        case .sqlite: return "sqlite"
        case .postgres: return "postgres"
        }
    }
}
