import Foundation

/// One database engine under the store: SQLite (embedded, the default) or PostgreSQL (shared by several
/// machines). Everything above the store talks to this protocol only.
public protocol DatabaseEngine: Sendable {
    /// Runs `body` in a transaction that reads a consistent snapshot.
    @discardableResult
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Runs `body` in a write transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Runs `body` in a write transaction that takes rows with `claimClause` (`SELECT … FOR UPDATE SKIP LOCKED`):
    /// on PostgreSQL in READ COMMITTED, where rows other transactions are taking are passed over instead of
    /// failing the transaction with a serialization conflict; on SQLite an ordinary write.
    @discardableResult
    func claim<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Identifiers of the migrations applied, in number order.
    func appliedMigrations() throws -> [String]
    /// Waits for pending work and closes every connection.
    func close() throws
    /// Where the data lives, for messages (a file path, or a PostgreSQL URL without its password).
    var location: String { get }
    /// Appended to a `SELECT` that claims rows another process may be claiming at the same moment:
    /// PostgreSQL's `FOR UPDATE SKIP LOCKED`; nothing on SQLite, whose writers already run one at a time.
    var claimClause: String { get }
    /// An SQL expression for the database's clock, in seconds since 1970: leases are measured on it, so that
    /// machines whose clocks disagree still agree on when a lease lapses.
    var clock: String { get }
    /// Whether other processes share this database, so that notifications (`SQLSession.notify`, `listen`) carry
    /// anything: true for PostgreSQL, false for SQLite, whose one process already knows everything it did.
    var notifiesOtherProcesses: Bool { get }
    /// Calls `handler` with the payload of every notification other processes send on `channel` (a process never
    /// hears its own), off the caller's thread, in order. After the engine lost and regained its connection,
    /// notifications may have been missed: the handler is called with nil, to read the database afresh.
    func listen(_ channel: String, _ handler: @escaping @Sendable (String?) -> Void) throws
}
