import KennelStore
import Synchronization

/// Something that happened to a job, as the dashboard's event stream will carry it. Codable: events cross
/// between processes as JSON (`EventRelay`).
public enum JobEvent: Sendable, Equatable, Codable {
    case metric(MetricRecord)
    case state(job: Int64, state: JobState)
    case checkpoint(CheckpointRecord)

    public var job: Int64 {
        switch self {
        case .metric(let point): return point.jobId
        case .state(let job, _): return job
        case .checkpoint(let record): return record.jobId
        }
    }
}

/// In-process publish/subscribe for job events. Handlers run on the publishing thread (the trainer's), so they
/// must only hand the event on (append to a stream, signal), never block.
public final class EventBus: Sendable {
    public typealias Handler = @Sendable (JobEvent) -> Void

    private struct Subscriber {
        let job: Int64?
        /// Only events that happened in this process, not those relayed from others.
        let localOnly: Bool
        let handler: Handler
    }

    private let subscribers = Mutex((next: 0, all: [Int: Subscriber]()))

    public init() {}

    /// Delivers future events of `job` (every job when nil) to `handler`, with `localOnly` only those that
    /// happened in this process; returns a token for `unsubscribe`.
    public func subscribe(job: Int64? = nil, localOnly: Bool = false, _ handler: @escaping Handler) -> Int {
        subscribers.withLock { state in
            state.next += 1
            state.all[state.next] = Subscriber(job: job, localOnly: localOnly, handler: handler)
            return state.next
        }
    }

    public func unsubscribe(_ token: Int) {
        subscribers.withLock { _ = $0.all.removeValue(forKey: token) }
    }

    /// Delivers `event` to its subscribers; `relayed` when it happened in another process.
    public func publish(_ event: JobEvent, relayed: Bool = false) {
        let handlers = subscribers.withLock { state in
            state.all.values.filter { ($0.job == nil || $0.job == event.job) && !(relayed && $0.localOnly) }.map(\.handler)
        }
        handlers.forEach { $0(event) }
    }
}
