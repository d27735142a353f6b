import Foundation
import GRDB
import Logging

/// Kennel's SQLite database: a GRDB `DatabasePool` in WAL mode at `<data-dir>/kennel.sqlite`, migrated to
/// the newest schema when opened. Many readers run concurrently with one writer.
public final class Store: Sendable {
    /// The database file's name inside the data directory.
    public static let fileName = "kennel.sqlite"

    /// The underlying pool, for record queries (`store.pool.read { … }`).
    public let pool: DatabasePool
    /// Where the database file lives.
    public let path: String

    /// Opens (creating when missing) the database in `dataDirectory` and applies every migration of
    /// `migrations` not yet applied, in order, each in its own transaction.
    public init(dataDirectory: URL, migrations: [Migration], logger: Logger = Logger(label: "kennel.store")) throws {
        path = dataDirectory.appendingPathComponent(Self.fileName).path
        do {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: String(describing: error))
        }
        let applied = try Self.migrate(pool, with: migrations)
        for identifier in applied { logger.info("applied migration \(identifier)") }
    }

    /// Identifiers of the migrations recorded as applied (GRDB keeps them in `grdb_migrations`), by number.
    public func appliedMigrations() throws -> [String] {
        let identifiers = try pool.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        return identifiers.sorted { Migration.number(of: $0) ?? .max < Migration.number(of: $1) ?? .max }
    }

    /// Waits for pending writes and closes every connection; the store is unusable afterwards.
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
}
