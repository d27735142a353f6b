/// Why the store could not open, migrate or answer.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case migrationsUnreadable(path: String, reason: String)
    case noMigrations(path: String)
    case badMigrationName(String)
    case duplicateMigrationNumber(Int, String, String)
    case cannotOpen(location: String, reason: String)
    case migrationFailed(identifier: String, reason: String)
    /// `--database` / `KENNEL_DATABASE_URL` is not a URL Kennel can use.
    case badDatabaseURL(String)
    /// The database server cannot be reached (down, restarting, refusing connections).
    case unavailable(String)
    /// The disk under the database is full.
    case diskFull(String)
    /// A write broke a key, foreign key or check of the schema.
    case constraintViolated(String)
    /// A result row lacks a column or holds another type than the code expects.
    case badRow(String)
    /// Any other error the engine reported.
    case failed(String)

    public var description: String {
        switch self {
        case .migrationsUnreadable(let path, let reason):
            return "cannot read migrations at \(path): \(reason)"
        case .noMigrations(let path):
            return "no migrations (*.sql) found in \(path); pass the project's migrations folder"
        case .badMigrationName(let name):
            return "migration file '\(name)' must be named NNNN_description.sql"
        case .duplicateMigrationNumber(let number, let first, let second):
            return "migrations '\(first)' and '\(second)' share the number \(number)"
        case .cannotOpen(let location, let reason):
            return "cannot open the database at \(location): \(reason)"
        case .migrationFailed(let identifier, let reason):
            return "migration \(identifier) failed: \(reason)"
        case .badDatabaseURL(let reason):
            return "bad database URL: \(reason); expected postgres://user[:password]@host[:port]/database"
        case .unavailable(let reason):
            return "the database is unavailable: \(reason)"
        case .diskFull(let reason):
            return "the database's disk is full: \(reason)"
        case .constraintViolated(let reason):
            return "the database refused the write: \(reason)"
        case .badRow(let reason):
            return "unexpected database row: \(reason)"
        case .failed(let reason):
            return "database error: \(reason)"
        }
    }
}
