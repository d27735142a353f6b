import Synchronization

/// Counts observations into fixed upper bounds, as a Prometheus histogram reports them.
public final class Histogram: Sendable {
    /// Upper bounds, ascending; an implicit +Inf bucket follows.
    public let bounds: [Double]
    private let state: Mutex<(counts: [Int], sum: Double)>

    public init(bounds: [Double]) {
        precondition(bounds == bounds.sorted() && !bounds.isEmpty, "histogram bounds must be ascending")
        self.bounds = bounds
        state = Mutex((counts: [Int](repeating: 0, count: bounds.count + 1), sum: 0))
    }

    public func observe(_ value: Double) {
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        state.withLock { state in
            state.counts[bucket] += 1
            state.sum += value
        }
    }

    /// Cumulative counts per bound (the last is +Inf, the total), and the sum of all observations.
    public var snapshot: (cumulative: [Int], sum: Double) {
        state.withLock { state in
            var running = 0
            return (state.counts.map { running += $0; return running }, state.sum)
        }
    }

    /// Seconds from 0.5 ms to 10 s, for latencies.
    public static func latencySeconds() -> Histogram {
        Histogram(bounds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10])
    }
}
