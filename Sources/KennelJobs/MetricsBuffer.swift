import Foundation
import KennelStore
import Logging
import Synchronization

/// Scalars waiting to be written: appended on the training hot path without touching SQLite, written in
/// one transaction per flush. A failed flush is logged and retried at the next one; past `capacity` the
/// oldest points are dropped (and counted) rather than stalling training.
public final class MetricsBuffer: Sendable {
    private let store: Store
    private let bus: EventBus
    private let capacity: Int
    private let logger: Logger
    private let state = Mutex((pending: [MetricRecord](), dropped: 0))
    private let lastFlush = Mutex(ContinuousClock.now)
    /// How often `flushIfDue` writes.
    public let flushInterval: Duration

    public init(store: Store, bus: EventBus = EventBus(), capacity: Int = 100_000, flushInterval: Duration = .seconds(2),
                logger: Logger = Logger(label: "kennel.jobs")) {
        self.flushInterval = flushInterval
        self.store = store
        self.bus = bus
        self.capacity = capacity
        self.logger = logger
    }

    /// Queues one point and publishes it at once (live charts need not wait for the database).
    public func record(job: Int64, tag: String, step: Int, value: Double, at time: Date = Date()) {
        let point = MetricRecord(jobId: job, tag: tag, step: step, wallTime: time.timeIntervalSince1970, value: value)
        bus.publish(.metric(point))
        state.withLock { state in
            state.pending.append(point)
            let overflow = state.pending.count - capacity
            if overflow > 0 {
                state.pending.removeFirst(overflow)
                state.dropped += overflow
            }
        }
    }

    /// Queues one step's scalars, published in tag order: the order event streams number a step's events in
    /// (a stream skips an event that sorts before one it already sent).
    public func record(job: Int64, step: Int, _ values: [String: Double], at time: Date = Date()) {
        for (tag, value) in values.sorted(by: { $0.key < $1.key }) {
            record(job: job, tag: tag, step: step, value: value, at: time)
        }
    }

    /// Writes everything queued. A point written again for the same (job, tag, step) — a resumed job
    /// repeating a step — replaces the old row.
    @discardableResult
    public func flush() -> Bool {
        let batch = state.withLock { state -> [MetricRecord] in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        guard !batch.isEmpty else { return true }
        do {
            try store.write { db in
                for point in batch { try db.insert(point, updatingOnConflict: ["job_id", "tag", "step"]) }
            }
            return true
        } catch {
            logger.error("writing \(batch.count) metric points failed, will retry: \(error)")
            state.withLock { state in state.pending.insert(contentsOf: batch, at: 0) }
            return false
        }
    }

    /// Writes when `flushInterval` has passed since the last write; true when it wrote.
    @discardableResult
    public func flushIfDue() -> Bool {
        let due = lastFlush.withLock { last in
            guard ContinuousClock.now - last >= flushInterval else { return false }
            last = .now
            return true
        }
        return due && flush()
    }

    /// Points of `job` recorded but not yet written (an event stream's replay adds them to the database's).
    public func pending(job: Int64) -> [MetricRecord] {
        state.withLock { $0.pending.filter { $0.jobId == job } }
    }

    /// Points dropped because the buffer was full.
    public var dropped: Int { state.withLock { $0.dropped } }
}
