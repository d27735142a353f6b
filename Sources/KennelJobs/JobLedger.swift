import Foundation
import KennelStore

/// Why a job could not be recorded or moved.
public enum JobLedgerError: Error, Equatable, CustomStringConvertible {
    case unknownJob(Int64)
    case transitionNotAllowed(id: Int64, from: JobState, to: JobState)
    /// Only the process that runs a job (holds its lease) may end it.
    case notOwner(id: Int64, owner: String?)

    public var description: String {
        switch self {
        case .unknownJob(let id):
            return "no job with id \(id)"
        case .transitionNotAllowed(let id, let from, let to):
            return "job \(id) is \(from.rawValue) and cannot become \(to.rawValue)"
        case .notOwner(let id, let owner):
            return "job \(id) is run by \(owner ?? "no process") now, not by this one (its lease was lost)"
        }
    }
}

/// The jobs table as the job system writes it: every state change is checked against the job's life cycle
/// and written, with its timestamps, in one transaction, so the database is always the truth.
///
/// A running job is held by one process under a lease (`lease_expires_at`, on the database's clock) that the
/// process renews while it trains. Another process takes the job over only once the lease has lapsed, or at once
/// when the owner is a process of this host that no longer exists.
public struct JobLedger: Sendable {
    private let store: Store
    /// How long a lease lasts unless renewed.
    public let leaseSeconds: Double

    /// The lease length when none is configured.
    public static let defaultLeaseSeconds: Double = 15

    public init(store: Store, leaseSeconds: Double = JobLedger.defaultLeaseSeconds) {
        self.store = store
        self.leaseSeconds = leaseSeconds
    }

    /// `lease_expires_at` for a lease taken or renewed now.
    private var leaseEnd: String { "\(store.engine.clock) + \(leaseSeconds)" }

    /// Records a new job already running in this process (a foreground `kennel train`), in one transaction so
    /// no queue can claim it in between.
    public func submitRunning(kind: JobKind, dataset: String, specJson: String, at time: Date = Date()) throws
        -> JobRecord {
        try store.write { db in
            var job = JobRecord(kind: kind, specJson: specJson, dataset: dataset, state: .running, createdAt: time)
            job.startedAt = time
            job.owner = ProcessIdentity.current
            let id = try db.insert(job)!
            try db.execute("UPDATE jobs SET lease_expires_at = \(leaseEnd) WHERE id = ?", id)
            return try Self.stored(id, in: db)
        }
    }

    /// A job this process took: a queued one it starts, or a running one whose owner's lease lapsed.
    public struct Claim: Sendable, Equatable {
        /// The job as stored after the claim (running, owned by this process).
        public let job: JobRecord
        /// The job was running under another owner: it continues from its newest checkpoint.
        public let interrupted: Bool
        /// For an interrupted job, how many owners in a row died under it (a clean stop does not count).
        public let crashes: Int
    }

    /// Takes the next job for this process: first a running job whose lease lapsed (its owner died, lost the
    /// database, or stopped cleanly), then the oldest queued one. The row is locked while it is taken
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so processes claiming at once take different jobs and each job
    /// is taken once. Nil when there is nothing to take.
    public func claimNext() throws -> Claim? {
        try store.claim { db in
            let me = ProcessIdentity.current
            if let id = try db.scalar(Int64.self, """
                SELECT id AS value FROM jobs WHERE state = 'running'
                AND (lease_expires_at IS NULL OR lease_expires_at < \(store.engine.clock))
                ORDER BY id LIMIT 1 \(store.engine.claimClause)
                """) {
                try db.execute("""
                    UPDATE jobs SET owner = ?, lease_expires_at = \(leaseEnd),
                    crashes = crashes + CASE WHEN owner IS NULL THEN 0 ELSE 1 END WHERE id = ?
                    """, me, id)
                let crashes = try db.scalar(Int.self, "SELECT crashes AS value FROM jobs WHERE id = ?", id) ?? 0
                return Claim(job: try Self.stored(id, in: db), interrupted: true, crashes: crashes)
            }
            if let id = try db.scalar(Int64.self, """
                SELECT id AS value FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 \(store.engine.claimClause)
                """) {
                try db.execute("""
                    UPDATE jobs SET state = 'running', started_at = ?, owner = ?, lease_expires_at = \(leaseEnd),
                    cancel_requested = 0 WHERE id = ?
                    """, Date(), me, id)
                return Claim(job: try Self.stored(id, in: db), interrupted: false, crashes: 0)
            }
            return nil
        }
    }

    /// What renewing a lease found.
    public enum Renewal: Sendable, Equatable {
        /// The lease runs on; `cancelRequested` when a cancellation reached the job through the database.
        case held(cancelRequested: Bool)
        /// The job is no longer this process's: it must stop without recording anything more.
        case lost
    }

    /// Extends this process's lease on running job `id`.
    public func renew(_ id: Int64) throws -> Renewal {
        try store.write { db in
            guard let row = try db.fetch("""
                UPDATE jobs SET lease_expires_at = \(leaseEnd) WHERE id = ? AND state = 'running' AND owner = ?
                RETURNING cancel_requested
                """, id, ProcessIdentity.current).first else { return .lost }
            return .held(cancelRequested: try row.get("cancel_requested", as: Int.self) != 0)
        }
    }

    /// Asks whichever process runs job `id` to cancel it (it sees the request when it next renews its lease);
    /// false when the job is not running.
    public func requestCancel(_ id: Int64) throws -> Bool {
        try store.write { db in
            try db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", id) == 1
        }
    }

    /// Lets the jobs of owners that were processes of this host, and are gone, be taken over at once rather than
    /// when their lease lapses.
    public func expireLeasesOfDeadLocalOwners() throws {
        let owners = try store.read { db in
            try db.values(String.self, "SELECT DISTINCT owner AS value FROM jobs WHERE state = 'running' AND owner IS NOT NULL")
        }
        for owner in owners where ProcessIdentity.diedOnThisHost(owner) {
            try store.write { db in
                try db.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running' AND owner = ?", owner)
            }
        }
    }

    /// Records a new job as queued and returns it, with its id, as stored.
    public func submit(kind: JobKind, dataset: String, specJson: String) throws -> JobRecord {
        try store.write { db in
            try Self.stored(try db.insert(JobRecord(kind: kind, specJson: specJson, dataset: dataset))!, in: db)
        }
    }

    /// The job `id`, or nil.
    public func job(_ id: Int64) throws -> JobRecord? {
        try store.read { db in try db.record(JobRecord.self, "WHERE id = ?", id) }
    }

    /// Moves job `id` to `next`, stamping `started_at` on running and `finished_at` on a final state; `error`
    /// is kept for failures. Throws when the job is unknown or the move is not part of its life cycle.
    @discardableResult
    public func move(_ id: Int64, to next: JobState, error: String? = nil, at time: Date = Date()) throws
        -> JobRecord {
        try store.write { db in
            var job = try Self.stored(id, in: db)
            guard job.state.canMove(to: next) else {
                throw JobLedgerError.transitionNotAllowed(id: id, from: job.state, to: next)
            }
            guard job.state != .running || job.owner == ProcessIdentity.current else {
                throw JobLedgerError.notOwner(id: id, owner: job.owner)
            }
            job.state = next
            if next == .running {
                job.startedAt = time
                job.owner = ProcessIdentity.current
            }
            if next.isFinal {
                job.finishedAt = time
                job.owner = nil
            }
            if next == .succeeded { job.progress = 1 }
            job.error = error
            try db.execute("""
                UPDATE jobs SET state = ?, started_at = ?, finished_at = ?, owner = ?, progress = ?, error = ?,
                lease_expires_at = \(next == .running ? leaseEnd : "NULL"), cancel_requested = 0 WHERE id = ?
                """, job.state, job.startedAt, job.finishedAt, job.owner, job.progress, job.error, id)
            return try Self.stored(id, in: db)
        }
    }

    /// The row as the database holds it: what callers get back is exactly what a later read returns (times are
    /// stored as seconds since 1970, which need not round-trip a `Date` bit for bit).
    private static func stored(_ id: Int64, in db: any SQLSession) throws -> JobRecord {
        guard let job = try db.record(JobRecord.self, "WHERE id = ?", id) else { throw JobLedgerError.unknownJob(id) }
        return job
    }

    /// Records how far a running job has come (0…1).
    public func setProgress(_ id: Int64, _ progress: Double) throws {
        try store.write { db in
            try db.execute("UPDATE jobs SET progress = ? WHERE id = ?", min(1, max(0, progress)), id)
        }
    }

    /// Notes that running job `id` continues in this process after an interruption, from `checkpoint` (nil: from
    /// step 0).
    public func markResumed(_ id: Int64, from checkpoint: Int64?) throws {
        try store.write { db in
            try db.execute("UPDATE jobs SET resumed_from = ? WHERE id = ?", checkpoint, id)
        }
    }

    /// Queues a failed or cancelled job again (clearing its end and error); false when it is in another state.
    public func requeue(_ id: Int64) throws -> Bool {
        try store.write { db in
            try db.execute("""
                UPDATE jobs SET state = 'queued', finished_at = NULL, error = NULL, owner = NULL, crashes = 0,
                lease_expires_at = NULL, cancel_requested = 0 WHERE id = ? AND state IN ('failed', 'cancelled')
                """, id) == 1
        }
    }

    /// The job has made progress since it was taken over: earlier deaths no longer count against it.
    public func clearCrashes(_ id: Int64) throws {
        try store.write { db in
            try db.execute("UPDATE jobs SET crashes = 0 WHERE id = ? AND crashes > 0", id)
        }
    }

    /// A clean stop leaves `ids` running without an owner or lease, so any process takes them over at once and
    /// resumes them without counting a crash.
    public func release(_ ids: [Int64]) throws {
        try store.write { db in
            for id in ids {
                try db.execute("""
                    UPDATE jobs SET owner = NULL, lease_expires_at = NULL WHERE id = ? AND state = 'running' AND owner = ?
                    """, id, ProcessIdentity.current)
            }
        }
    }
}
