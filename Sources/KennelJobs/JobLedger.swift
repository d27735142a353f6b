import Foundation
import KennelStore

/// Why a job could not be recorded or moved.
public enum JobLedgerError: Error, Equatable, CustomStringConvertible {
    case unknownJob(Int64)
    case transitionNotAllowed(id: Int64, from: JobState, to: JobState)

    public var description: String {
        switch self {
        case .unknownJob(let id):
            return "no job with id \(id)"
        case .transitionNotAllowed(let id, let from, let to):
            return "job \(id) is \(from.rawValue) and cannot become \(to.rawValue)"
        }
    }
}

/// The jobs table as the job system writes it: every state change is checked against the job's life cycle
/// and written, with its timestamps, in one transaction, so the database is always the truth.
public struct JobLedger: Sendable {
    private let store: Store

    public init(store: Store) { self.store = store }

    /// Records a new job already running in this process (a foreground `kennel train`), in one transaction so
    /// no queue can claim it in between.
    public func submitRunning(kind: JobKind, dataset: String, specJson: String, at time: Date = Date()) throws
        -> JobRecord {
        try store.write { db in
            var job = JobRecord(kind: kind, specJson: specJson, dataset: dataset, state: .running, createdAt: time)
            job.startedAt = time
            job.owner = ProcessIdentity.current
            return try Self.stored(try db.insert(job)!, in: db)
        }
    }

    /// Takes a queued job for this process; false when another process (or a cancellation) got there first.
    public func claim(_ id: Int64) throws -> Bool {
        try store.write { db in
            try db.execute("UPDATE jobs SET state = 'running', started_at = ?, owner = ? WHERE id = ? AND state = 'queued'",
                           Date(), ProcessIdentity.current, id) == 1
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
                UPDATE jobs SET state = ?, started_at = ?, finished_at = ?, owner = ?, progress = ?, error = ? WHERE id = ?
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

    /// Takes over running job `id`, interrupted while `previousOwner` ran it, for this process. The update only
    /// happens while the row still names `previousOwner`, so of two processes recovering at once one wins.
    /// Returns the job's crash count after this take-over (a previous owner that was set, rather than cleared by
    /// a clean stop, died under the job), or nil when another process claimed it first.
    public func reclaim(_ id: Int64, from previousOwner: String?) throws -> Int? {
        try store.write { db in
            guard try db.execute("""
                UPDATE jobs SET owner = ?, crashes = crashes + CASE WHEN owner IS NULL THEN 0 ELSE 1 END
                WHERE id = ? AND state = 'running' AND owner IS NOT DISTINCT FROM ?
                """, ProcessIdentity.current, id, previousOwner) == 1 else { return nil }
            return try db.scalar(Int.self, "SELECT crashes AS value FROM jobs WHERE id = ?", id)
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
                UPDATE jobs SET state = 'queued', finished_at = NULL, error = NULL, owner = NULL, crashes = 0
                WHERE id = ? AND state IN ('failed', 'cancelled')
                """, id) == 1
        }
    }

    /// The job has made progress since it was taken over: earlier deaths no longer count against it.
    public func clearCrashes(_ id: Int64) throws {
        try store.write { db in
            try db.execute("UPDATE jobs SET crashes = 0 WHERE id = ? AND crashes > 0", id)
        }
    }

    /// A clean stop leaves `ids` running without an owner, so the next start resumes them without counting a crash.
    public func release(_ ids: [Int64]) throws {
        try store.write { db in
            for id in ids {
                try db.execute("UPDATE jobs SET owner = NULL WHERE id = ? AND state = 'running' AND owner = ?",
                               id, ProcessIdentity.current)
            }
        }
    }
}
