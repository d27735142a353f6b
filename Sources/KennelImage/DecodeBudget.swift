import CMalloc
import Foundation

/// Bytes that image decoding may hold at once across every request in flight. A request reserves what its
/// decode will hold (from the header: the codec's buffers, a few rows, the result) before decoding and waits
/// (up to `wait`) while others hold the budget, so a burst of small-file, huge-image "bombs" costs at most the
/// budget, not their count times their size.
public final class DecodeBudget: @unchecked Sendable {
    /// Reservations from this size up return freed memory to the system once no decode is under way.
    static let trimThreshold = 64 << 20

    public let capacity: Int
    public let wait: TimeInterval
    private let condition = NSCondition()
    private var inUse = 0

    public init(capacity: Int, wait: TimeInterval = 10) {
        self.capacity = capacity
        self.wait = wait
    }

    /// Bytes reserved now.
    public var reserved: Int { condition.withLock { inUse } }

    /// Runs `body` holding `bytes` of the budget. Throws `ImageError.tooLarge`-style `overBudget` when `bytes`
    /// exceeds the whole budget, and `budgetExhausted` when it cannot be had within `wait` (at once when not
    /// `waiting`: for a thread that must not block).
    public func withReservation<Value>(_ bytes: Int, waiting: Bool = true, _ body: () throws -> Value) throws -> Value {
        guard bytes <= capacity else { throw ImageError.overBudget(bytes: bytes, budget: capacity) }
        let deadline = Date().addingTimeInterval(waiting ? wait : 0)
        condition.lock()
        while inUse + bytes > capacity {
            guard condition.wait(until: deadline) else {
                condition.unlock()
                throw ImageError.budgetExhausted(wait: waiting ? wait : 0)
            }
        }
        inUse += bytes
        condition.unlock()
        defer {
            let drained = condition.withLock { () -> Bool in
                inUse -= bytes
                return inUse == 0
            }
            condition.broadcast()
            // glibc keeps freed heap pages for reuse; after a large decode, with none under way, give them back.
            if drained && bytes >= Self.trimThreshold { _ = kennel_release_free_memory() }
        }
        return try body()
    }
}
