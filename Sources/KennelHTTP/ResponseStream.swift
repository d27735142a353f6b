import Synchronization

/// A response body written by a producer over time (server-sent events, progress).
///
/// The producer calls `write` and finally `finish`; the server drains the buffer as the socket accepts
/// data. When the buffer is empty the server parks the connection (libmicrohttpd suspends it) instead of
/// blocking a thread, and the next `write` or `finish` wakes it.
public final class ResponseStream: Sendable {
    private struct State {
        var pending: [UInt8] = []
        var readOffset = 0
        var finished = false
        /// Set while the connection is parked waiting for data; calling it resumes the connection.
        var wake: (@Sendable () -> Void)?
        var onTermination: (@Sendable () -> Void)?
        var terminated = false

        mutating func takeWake() -> (@Sendable () -> Void)? {
            defer { wake = nil }
            return wake
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues bytes for the client. Ignored after `finish` or after the client went away.
    public func write(_ bytes: some Collection<UInt8>) {
        let wake = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.finished else { return nil }
            state.pending.append(contentsOf: bytes)
            return state.takeWake()
        }
        wake?()
    }

    /// Queues UTF-8 text for the client.
    public func write(_ text: String) { write(Array(text.utf8)) }

    /// Ends the body once everything written so far is sent.
    public func finish() {
        let wake = state.withLock { state -> (@Sendable () -> Void)? in
            state.finished = true
            return state.takeWake()
        }
        wake?()
    }

    /// True once `finish` was called or the client went away; producers stop writing then.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Runs `handler` once when the exchange ends, whether the body completed or the client disconnected.
    /// Runs it at once if the exchange already ended.
    public func onTermination(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.terminated { return true }
            state.onTermination = handler
            return false
        }
        if runNow { handler() }
    }

    /// What the server got from `read`.
    enum ReadResult: Equatable {
        case bytes(Int)
        /// Nothing to send yet; the connection was parked with the `park` closure given to `read`.
        case parked
        case end
    }

    /// Copies pending bytes into `buffer`. With nothing pending and the stream open, calls `park` (under the
    /// stream's lock, so a concurrent `write` cannot slip between the check and the park) and remembers
    /// `wake` for the next write.
    func read(into buffer: UnsafeMutableRawBufferPointer, park: () -> Void,
              wake: @escaping @Sendable () -> Void) -> ReadResult {
        state.withLock { state in
            let available = state.pending.count - state.readOffset
            if available == 0 {
                if state.finished { return .end }
                park()
                state.wake = wake
                return .parked
            }
            let count = min(available, buffer.count)
            state.pending.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + state.readOffset, byteCount: count)
            }
            state.readOffset += count
            if state.readOffset == state.pending.count {
                state.pending.removeAll(keepingCapacity: true)
                state.readOffset = 0
            }
            return .bytes(count)
        }
    }

    /// Called by the server when the exchange is over; runs the termination handler once.
    func terminate() {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            state.finished = true
            state.terminated = true
            state.pending = []
            state.wake = nil
            defer { state.onTermination = nil }
            return state.onTermination
        }
        handler?()
    }
}
