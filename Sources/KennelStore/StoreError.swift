/// Why the store could not open, migrate or answer.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case migrationsUnreadable(path: String, reason: String)
    case noMigrations(path: String)
    case badMigrationName(String)
    case duplicateMigrationNumber(Int, String, String)
    case cannotOpen(path: String, reason: String)
    case migrationFailed(identifier: String, reason: String)

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
        case .cannotOpen(let path, let reason):
            return "cannot open the database at \(path): \(reason)"
        case .migrationFailed(let identifier, let reason):
            return "migration \(identifier) failed: \(reason)"
        }
    }
}
