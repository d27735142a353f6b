import Synchronization

/// Caps how many requests of a route may wait or run at once. A request past the cap is answered
/// 429 with `Retry-After` on the polling thread, before it is queued, so a burst cannot pile up unbounded work.
public final class AdmissionLimit: Sendable {
    public let capacity: Int
    public let retryAfterSeconds: Int
    /// What is limited, for the 429 message ("classification").
    public let work: String
    private let occupied = Atomic(0)

    public init(capacity: Int, retryAfterSeconds: Int = 1, work: String) {
        precondition(capacity > 0, "an admission limit needs room for at least one request")
        self.capacity = capacity
        self.retryAfterSeconds = retryAfterSeconds
        self.work = work
    }

    /// Requests admitted and not yet answered.
    public var occupancy: Int { occupied.load(ordering: .relaxed) }

    /// Takes a place if one is free.
    func enter() -> Bool {
        if occupied.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= capacity { return true }
        occupied.wrappingSubtract(1, ordering: .acquiringAndReleasing)
        return false
    }

    func leave() { occupied.wrappingSubtract(1, ordering: .acquiringAndReleasing) }

    /// The answer for a request that found no place.
    var rejection: HTTPError {
        HTTPError(.tooManyRequests, code: "too_many_requests",
                  message: "the \(work) queue is full (\(capacity) requests waiting or running); "
                      + "retry after \(retryAfterSeconds) s",
                  headers: ["Retry-After": String(retryAfterSeconds)])
    }
}
