import KennelStore
import Synchronization

/// Something that happened to a job, as the dashboard's event stream will carry it.
public enum JobEvent: Sendable, Equatable {
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
        let handler: Handler
    }

    private let subscribers = Mutex((next: 0, all: [Int: Subscriber]()))

    public init() {}

    /// Delivers future events of `job` (every job when nil) to `handler`; returns a token for `unsubscribe`.
    public func subscribe(job: Int64? = nil, _ handler: @escaping Handler) -> Int {
        subscribers.withLock { state in
            state.next += 1
            state.all[state.next] = Subscriber(job: job, handler: handler)
            return state.next
        }
    }

    public func unsubscribe(_ token: Int) {
        subscribers.withLock { _ = $0.all.removeValue(forKey: token) }
    }

    public func publish(_ event: JobEvent) {
        let handlers = subscribers.withLock { state in
            state.all.values.filter { $0.job == nil || $0.job == event.job }.map(\.handler)
        }
        handlers.forEach { $0(event) }
    }
}
