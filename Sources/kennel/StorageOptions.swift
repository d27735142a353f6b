import ArgumentParser
import Foundation
import KennelStore

/// Where Kennel keeps its state, shared by every command that opens the database.
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"),
            help: "Where the database, datasets and checkpoints live (default ./var; env KENNEL_DATA_DIR).")
    var dataDirectory: String?

    @Option(help: "The numbered SQL migrations (default ./migrations; env KENNEL_MIGRATIONS).")
    var migrations: String?

    /// The data directory after the flag, then `KENNEL_DATA_DIR`, then the default.
    var resolvedDataDirectory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["KENNEL_DATA_DIR"] ?? "./var"
    }

    /// Opens (and migrates) the database in the data directory.
    func openStore() throws -> Store {
        let folder = migrations ?? ProcessInfo.processInfo.environment["KENNEL_MIGRATIONS"] ?? "./migrations"
        return try Store(dataDirectory: URL(fileURLWithPath: resolvedDataDirectory),
                         migrations: try Migration.load(from: URL(fileURLWithPath: folder)))
    }
}
