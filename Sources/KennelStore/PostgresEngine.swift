import Dispatch
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The shared engine: a PostgreSQL server that several Kennel processes (API replicas, workers) use at once,
/// through a few connections per process. Writes run SERIALIZABLE and are retried on a serialization conflict,
/// so a write transaction behaves as on SQLite, whose writers run one at a time; reads see one snapshot; claims
/// (`FOR UPDATE SKIP LOCKED`) run READ COMMITTED. Postgres-nio is asynchronous; the store's callers are Dispatch
/// threads, so each call waits for its answer (never on one of NIO's event loops), at most 20 s.
public final class PostgresEngine: DatabaseEngine {
    private let url: PostgresURL
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    private let connectionCount = Atomic<Int>(0)
    /// How long a caller waits for a free connection before the database counts as unavailable.
    private static let checkoutTimeout: DispatchTimeInterval = .seconds(15)

    public var location: String { url.description }
    public var claimClause: String { "FOR UPDATE SKIP LOCKED" }
    public var clock: String { "EXTRACT(EPOCH FROM clock_timestamp())::float8" }
    public var notifiesOtherProcesses: Bool { true }

    /// Prefixes this engine's notifications, so that its own listener can drop them.
    private let sender = UUID().uuidString
    /// The connection that LISTENs (never lent out), the handlers by channel, and whether `close` ran.
    private let listening = Mutex(Listening())
    private let notifications = DispatchQueue(label: "kennel.store.notifications")

    private struct Listening {
        var connection: PostgresConnection?
        var handlers: [String: [@Sendable (String?) -> Void]] = [:]
        var closed = false
    }

    /// Connects to `url` (at most `maximumConnections` at once) and applies the migrations not yet applied.
    public init(url: PostgresURL, migrations: [Migration], maximumConnections: Int = 8, logger: Logger) throws {
        self.url = url
        self.logger = logger
        slots = DispatchSemaphore(value: maximumConnections)
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = url.requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
        } catch {
            throw StoreError.cannotOpen(location: url.description, reason: "TLS: \(error)")
        }
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                              password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        self.configuration = configuration
        // Connect now, so that a wrong URL or a server that is down is an error at start, not at the first request.
        try withConnection { _ in }
        for identifier in try migrate(migrations) { logger.info("applied migration \(identifier)") }
    }

    /// Connections still open when the engine goes away (an init that failed to migrate, a store never closed)
    /// are closed, as postgres-nio requires.
    deinit {
        try? close()
    }

    @discardableResult
    public func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", body)
    }

    @discardableResult
    public func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try transaction("BEGIN ISOLATION LEVEL SERIALIZABLE", body)
            } catch PostgresEngineRetry.serializationFailure where attempt < 8 {
                attempt += 1
                usleep(UInt32.random(in: 1_000...(5_000 << min(attempt, 4))))
            } catch PostgresEngineRetry.serializationFailure {
                throw StoreError.failed("a write kept conflicting with concurrent writes; try again")
            }
        }
    }

    @discardableResult
    public func claim<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL READ COMMITTED", body)
    }

    public func appliedMigrations() throws -> [String] {
        try read { session in
            try session.fetch("SELECT identifier AS value FROM kennel_migrations").map { try $0.get("value", as: String.self) }
        }.sorted { Migration.number(of: $0) ?? .max < Migration.number(of: $1) ?? .max }
    }

    public func close() throws {
        let connections = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle
        }
        let listener = listening.withLock { state in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        for connection in connections + (listener.map { [$0] } ?? []) { try? connection.close().wait() }
    }

    public func listen(_ channel: String, _ handler: @escaping @Sendable (String?) -> Void) throws {
        let (connection, first) = try listening.withLock { state -> (PostgresConnection?, Bool) in
            guard !state.closed else { throw StoreError.failed("the store is closed") }
            let first = state.handlers[channel] == nil
            state.handlers[channel, default: []].append(handler)
            return (state.connection, first)
        }
        if let connection {
            if first { try subscribe(connection, to: channel) }
        } else {
            try openListener()
        }
    }

    /// Opens the listening connection and LISTENs on every channel with handlers; when the server closes it, it
    /// is opened again every second until that works, and the handlers are told that they may have missed
    /// notifications.
    private func openListener() throws {
        let connection = try connect()
        let channels = listening.withLock { state -> [String]? in
            guard !state.closed else { return nil }
            state.connection = connection
            return Array(state.handlers.keys)
        }
        guard let channels else {
            try? connection.close().wait()
            return
        }
        for channel in channels { try subscribe(connection, to: channel) }
        connection.closeFuture.whenComplete { _ in
            self.notifications.asyncAfter(deadline: .now() + 1) { self.reopenListener() }
        }
    }

    private func reopenListener() {
        guard listening.withLock({ !$0.closed }) else { return }
        do {
            try openListener()
            let handlers = listening.withLock { $0.handlers.values.flatMap { $0 } }
            logger.notice("listening to \(url) again; reading what notifications may have been missed")
            handlers.forEach { $0(nil) }
        } catch {
            notifications.asyncAfter(deadline: .now() + 1) { self.reopenListener() }
        }
    }

    /// LISTENs on `channel`; the query after it returns once the LISTEN is in effect.
    private func subscribe(_ connection: PostgresConnection, to channel: String) throws {
        connection.addListener(channel: channel) { _, notification in
            self.deliver(notification.payload, on: channel)
        }
        do {
            _ = try connection.query("SELECT 1", logger: logger).wait()
        } catch {
            throw StoreError.unavailable("cannot listen on \(channel): \(Self.reason(error))")
        }
    }

    /// Hands another process's notification to the channel's handlers, on the notifications queue (this runs
    /// on one of NIO's event loops, which must not block).
    private func deliver(_ payload: String, on channel: String) {
        guard let separator = payload.firstIndex(of: "|"), payload[..<separator] != sender else { return }
        let text = String(payload[payload.index(after: separator)...])
        let handlers = listening.withLock { $0.handlers[channel] ?? [] }
        notifications.async { handlers.forEach { $0(text) } }
    }

    /// Applies each migration not recorded in `kennel_migrations`, in its own transaction, holding an advisory
    /// lock so that processes starting together migrate one at a time. PostgreSQL's extended protocol takes one
    /// statement at a time, so each file is split into statements.
    private func migrate(_ migrations: [Migration]) throws -> [String] {
        var applied: [String] = []
        for migration in migrations {
            // READ COMMITTED: each statement sees what committed before it, the migrations recorded by a process
            // that held the lock first included (a SERIALIZABLE snapshot would predate the lock).
            let ran = try transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { session -> Bool in
                try session.execute("SELECT pg_advisory_xact_lock(7151962)")
                try session.execute("""
                    CREATE TABLE IF NOT EXISTS kennel_migrations (
                        identifier TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
                    """)
                guard try session.fetch("SELECT 1 AS value FROM kennel_migrations WHERE identifier = ?",
                                        migration.identifier).isEmpty else { return false }
                do {
                    for statement in SQLScript.statements(of: migration.sql) { try session.execute(statement) }
                } catch {
                    throw StoreError.migrationFailed(identifier: migration.identifier, reason: "\(error)")
                }
                try session.execute("INSERT INTO kennel_migrations (identifier, applied_at) VALUES (?, ?)",
                                    migration.identifier, Date().timeIntervalSince1970)
                return true
            }
            if ran { applied.append(migration.identifier) }
        }
        return applied
    }

    /// Runs `body` between `begin` and COMMIT on one pooled connection; rolls back when it throws.
    private func transaction<T>(_ begin: String, _ body: (any SQLSession) throws -> T) throws -> T {
        try withConnection { connection in
            let session = Session(connection: connection, logger: logger, sender: sender)
            try session.execute(begin, [])
            let result: T
            do {
                result = try body(session)
                try session.execute("COMMIT", [])
            } catch {
                _ = try? session.execute("ROLLBACK", [])
                throw error
            }
            return result
        }
    }

    /// Lends an open connection to `body`, opening one when none is idle; a connection the server closed is
    /// dropped rather than given back.
    private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        guard slots.wait(timeout: .now() + Self.checkoutTimeout) == .success else {
            throw StoreError.unavailable("every connection to \(url) stayed busy for 15 s")
        }
        defer { slots.signal() }
        var connection = idle.withLock { $0.popLast() }
        if let stale = connection, stale.isClosed {
            try? stale.close().wait()
            connection = nil
        }
        let lent = try connection ?? connect()
        defer {
            if lent.isClosed {
                try? lent.close().wait()
            } else {
                idle.withLock { $0.append(lent) }
            }
        }
        return try body(lent)
    }

    private func connect() throws -> PostgresConnection {
        let id = connectionCount.add(1, ordering: .relaxed).newValue
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                  configuration: configuration, id: id, logger: logger).wait()
        } catch {
            throw StoreError.unavailable("cannot connect to PostgreSQL at \(url): \(Self.reason(error))")
        }
    }

    /// The server's message (and SQLSTATE) of a postgres-nio error, whose own description is redacted.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
        }
        return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
    }

    private struct Session: SQLSession {
        let connection: PostgresConnection
        let logger: Logger
        let sender: String

        /// PostgreSQL's NOTIFY takes no bound arguments; pg_notify does. Payloads are limited to 8000 bytes.
        func notify(_ channel: String, _ payload: String) throws {
            try execute("SELECT pg_notify(?, ?)", [.text(channel), .text(sender + "|" + payload)])
        }

        @discardableResult
        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try run(sql, arguments).metadata.rows ?? 0
        }

        func fetch(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            try run(sql, arguments).rows.map { row in
                var columns: [String: SQLValue] = [:]
                for cell in row where columns[cell.columnName] == nil {
                    columns[cell.columnName] = try SQLValue(cell)
                }
                return SQLRow(columns)
            }
        }

        private func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
            var binds = PostgresBindings(capacity: arguments.count)
            for argument in arguments {
                switch argument {
                case .null: binds.appendNull()
                case .integer(let integer): binds.append(integer)
                case .real(let real): binds.append(real)
                case .text(let text): binds.append(text)
                }
            }
            let query = PostgresQuery(unsafeSQL: SQLScript.numberingPlaceholders(sql), binds: binds)
            let answer = Mutex<Result<PostgresQueryResult, any Error>?>(nil)
            let answered = DispatchSemaphore(value: 0)
            connection.query(query, logger: logger).whenComplete { result in
                answer.withLock { $0 = result.mapError { $0 } }
                answered.signal()
            }
            // A connection can die without postgres-nio noticing (seen while the server restarts): a query that
            // gets no answer in time closes its connection, failing it, and the caller learns the database is
            // unavailable instead of waiting forever.
            guard answered.wait(timeout: .now() + Session.answerTimeout) == .success else {
                _ = connection.close() as EventLoopFuture<Void>
                throw StoreError.unavailable("no answer from the server within \(Session.answerTimeout)")
            }
            do {
                return try answer.withLock { $0! }.get()
            } catch let error as PSQLError {
                throw Self.translate(error)
            }
        }

        static let answerTimeout: DispatchTimeInterval = .seconds(20)

        /// PostgreSQL's errors as `StoreError`s (by SQLSTATE class), or the marker that retries a write.
        private static func translate(_ error: PSQLError) -> any Error {
            let reason = PostgresEngine.reason(error)
            guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
                return StoreError.unavailable(reason)
            }
            switch state {
            case "40001", "40P01": return PostgresEngineRetry.serializationFailure
            case "53100": return StoreError.diskFull(reason)
            case "57P01", "57P02", "57P03", "08000", "08003", "08006": return StoreError.unavailable(reason)
            case _ where state.hasPrefix("23"): return StoreError.constraintViolated(reason)
            default: return StoreError.failed(reason)
            }
        }
    }
}

/// A serialization failure or deadlock: the whole write transaction runs again.
private enum PostgresEngineRetry: Error {
    case serializationFailure
}

extension SQLValue {
    /// A result cell as a value; PostgreSQL's booleans read as 0 or 1, its numerics as reals.
    fileprivate init(_ cell: PostgresCell) throws {
        guard cell.bytes != nil else {
            self = .null
            return
        }
        switch cell.dataType {
        case .int2, .int4, .int8: self = .integer(try cell.decode(Int64.self))
        case .float4, .float8: self = .real(try cell.decode(Double.self))
        case .numeric: self = .real(NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue)
        case .bool: self = .integer(try cell.decode(Bool.self) ? 1 : 0)
        default: self = .text(try cell.decode(String.self))
        }
    }
}
