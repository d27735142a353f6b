import Dispatch
import Foundation
import Synchronization

/// The one thread every served model's forward passes, and the decoding just before them, run on.
///
/// OpenMP keeps a pool of worker threads for each thread that starts parallel regions, and libgomp lets waiting
/// workers spin only while it manages no more threads than there are cores; past that it puts them to sleep
/// between oneDNN's primitives. With passes on a thread (so a pool) per served model, using four models once was
/// enough: a 28×28 answer at one connection took 0.7–0.8 ms instead of 0.23–0.37. Each pass takes every core, so
/// running different models' passes one after another costs them nothing.
final class InferenceThread: Sendable {
    static let shared = InferenceThread()

    private let work = Mutex([@Sendable () -> Void]())
    /// Signalled once per queued closure.
    private let arrivals = DispatchSemaphore(value: 0)

    private init() {
        Thread { [self] in
            nameCurrentThread("inference")
            while true {
                arrivals.wait()
                work.withLock { $0.removeFirst() }()
            }
        }.start()
    }

    /// Runs `body` on the thread, after whatever was queued before it, and returns once it has run.
    func run(_ body: @escaping @Sendable () -> Void) {
        waitingFor { done in
            work.withLock { $0.append { body(); done(()) } }
            arrivals.signal()
        }
    }
}

/// Names the calling thread as `top -H` and /proc show it (Linux keeps the first 15 bytes). Foundation's
/// `Thread.current.name`, set from inside the thread, left one thread in ten unnamed now and then
/// (`eachPredictorsThreadEndsWithIt` failed 1 run in 7), and the Glibc Swift imports has no pthread_setname_np.
func nameCurrentThread(_ name: String) {
    try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
}
