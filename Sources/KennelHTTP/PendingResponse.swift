import Synchronization

/// An answer a handler finishes later, when another thread has what it needs (a model's forward pass): the
/// handler returns `Response(body: .pending(…))` at once, its connection stays suspended without holding a thread,
/// and the producer calls `resolve` once. The answer is built by `resolve`'s closure on the thread that sends it;
/// an error it throws becomes an error answer, as a handler's would.
public final class PendingResponse: Sendable {
    private enum State {
        case waiting
        case waited(on: @Sendable () -> Void)
        case resolved(@Sendable () throws -> Response)
    }

    private let state = Mutex(State.waiting)

    public init() {}

    /// Hands over how to build the answer; a second call is a programming error.
    public func resolve(_ make: @escaping @Sendable () throws -> Response) {
        let waiter = state.withLock { state -> (@Sendable () -> Void)? in
            switch state {
            case .resolved: preconditionFailure("a pending response was resolved twice")
            case .waiting:
                state = .resolved(make)
                return nil
            case .waited(let waiter):
                state = .resolved(make)
                return waiter
            }
        }
        waiter?()
    }

    /// Calls `ready` once resolved: at once if it already is, else on the resolving thread.
    func whenResolved(_ ready: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            switch state {
            case .resolved: return true
            case .waiting:
                state = .waited(on: ready)
                return false
            case .waited: preconditionFailure("a pending response has one waiter")
            }
        }
        if now { ready() }
    }

    /// The closure `resolve` gave; nil while waiting.
    var resolution: (@Sendable () throws -> Response)? {
        state.withLock { state in
            if case .resolved(let make) = state { return make }
            return nil
        }
    }
}
