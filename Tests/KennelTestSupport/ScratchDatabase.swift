import Foundation
import KennelStore
import Testing

/// The database engines a store test runs on.
public enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    public var testDescription: String { rawValue }
}

/// A fresh, empty database for one test: a new data directory for SQLite, a new database on the throwaway
/// PostgreSQL server that `tools/postgres/throwaway.sh` (run by `make test`) names in KENNEL_TEST_DATABASE_URL.
/// Without that server a PostgreSQL test fails, saying how to run it; it is never skipped silently.
public final class ScratchDatabase: Sendable {
    public let engine: Engine
    /// Where the store lives; SQLite's data directory doubles as the artifacts' directory for both engines.
    public let location: DatabaseLocation
    public let directory: TemporaryDirectory
    private let databaseName: String?
    private let server: URL?

    public init(_ engine: Engine) throws {
        self.engine = engine
        directory = try TemporaryDirectory()
        switch engine {
        case .sqlite:
            databaseName = nil
            server = nil
            location = .sqlite(dataDirectory: directory.url.appendingPathComponent("var"))
        case .postgres:
            guard let raw = ProcessInfo.processInfo.environment["KENNEL_TEST_DATABASE_URL"], let url = URL(string: raw) else {
                directory.remove()
                throw ScratchDatabaseError.noServer
            }
            let name = "kennel_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try Self.psql(url, "CREATE DATABASE \(name)")
            databaseName = name
            server = url
            location = .postgres(try PostgresURL(url.deletingLastPathComponent().appendingPathComponent(name).absoluteString))
        }
    }

    /// The data directory of the process under test (datasets, checkpoints; the SQLite file too).
    public var dataDirectory: URL { directory.url.appendingPathComponent("var") }

    /// Opens the store with the project's migrations for this engine.
    public func open() throws -> Store {
        try Store.open(location, migrationsRoot: repositoryRoot.appendingPathComponent("migrations"))
    }

    /// `--database URL` for a `kennel` process on this database (nothing for SQLite: the data directory's file).
    public var arguments: [String] {
        if case .postgres(let url) = location { return ["--database", url.connectionString] }
        return []
    }

    /// Drops the database (closing its connections first) and removes the directory.
    public func remove() {
        if let server, let databaseName { try? Self.psql(server, "DROP DATABASE IF EXISTS \(databaseName) WITH (FORCE)") }
        directory.remove()
    }

    private static func psql(_ server: URL, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [server.absoluteString, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ScratchDatabaseError.psqlFailed(sql, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(),
                                                              as: UTF8.self))
        }
    }
}

public enum ScratchDatabaseError: Error, CustomStringConvertible {
    case noServer
    case psqlFailed(String, String)

    public var description: String {
        switch self {
        case .noServer:
            return "no PostgreSQL server for the tests: run them with `make test`, or under "
                + "tools/postgres/throwaway.sh, which sets KENNEL_TEST_DATABASE_URL"
        case .psqlFailed(let sql, let message): return "psql \(sql) failed: \(message)"
        }
    }
}
