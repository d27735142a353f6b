import ArgumentParser
import Foundation
import KennelStore

/// Where Kennel keeps its state, shared by every command that opens the database.
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"),
            help: "Where the database, datasets and checkpoints live (default ./var; env KENNEL_DATA_DIR).")
    var dataDirectory: String?

    @Option(help: "The numbered SQL migrations, one folder per engine (default ./migrations; env KENNEL_MIGRATIONS).")
    var migrations: String?

    @Option(help: ArgumentHelp("A PostgreSQL database shared by several Kennel processes, "
                               + "postgres://user[:password]@host[:port]/database (env KENNEL_DATABASE_URL); "
                               + "default: the embedded SQLite file in the data directory.", valueName: "url"))
    var database: String?

    /// The data directory after the flag, then `KENNEL_DATA_DIR`, then the default.
    var resolvedDataDirectory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["KENNEL_DATA_DIR"] ?? "./var"
    }

    /// Opens (and migrates) the PostgreSQL database when one is given, else the SQLite file in the data directory.
    func openStore() throws -> Store {
        let folder = migrations ?? ProcessInfo.processInfo.environment["KENNEL_MIGRATIONS"] ?? "./migrations"
        return try Store.open(try location(), migrationsRoot: URL(fileURLWithPath: folder))
    }

    /// The PostgreSQL database given by the flag or `KENNEL_DATABASE_URL`, else the data directory's SQLite file.
    func location() throws -> DatabaseLocation {
        try (database ?? ProcessInfo.processInfo.environment["KENNEL_DATABASE_URL"]).map { .postgres(try PostgresURL($0)) }
            ?? .sqlite(dataDirectory: URL(fileURLWithPath: resolvedDataDirectory))
    }
}
