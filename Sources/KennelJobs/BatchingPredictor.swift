import Foundation
import Dispatch
import KennelEngine
import Metrics
import Synchronization

/// Classification measurements shared by every served model, reported through swift-metrics.
public struct ClassifyStatistics: Sendable {
    /// Images per forward pass.
    let batchSizes: Recorder
    /// How long an image waited for its forward pass to start.
    let queueWait: Timer
    /// How long forward passes took.
    let compute: Timer

    public static let batchSizeLabel = "kennel_classify_batch_size"

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        batchSizes = Recorder(label: Self.batchSizeLabel, factory: factory)
        queueWait = Timer(label: "kennel_classify_queue_wait_seconds", factory: factory)
        compute = Timer(label: "kennel_classify_compute_seconds", factory: factory)
    }
}

/// Runs one model's predictions for concurrent callers as few forward passes as it can, on one thread of its own.
///
/// Callers queue their image and wait; the model's thread takes whatever is waiting (up to `maximumBatch`
/// images) as soon as it is free, so a single client pays no batching delay, and under load the collection window
/// is one forward pass, never a timer. Passes always run on that one long-lived thread, so the OpenMP team and
/// oneDNN's per-thread scratchpad it uses stay warm: run on whichever Dispatch thread a request happened to get,
/// a 28×28 pass took 0.5–0.9 ms in the server against 0.16 ms in `kennel bench engine`.
final class BatchingPredictor: Sendable {
    /// One input's shape (H, W, C), checked before an input joins a batch.
    private let inputShape: [Int]
    private let lane: Lane

    /// What a caller learns when woken.
    private enum Outcome {
        case probabilities([Float], waitSeconds: Double, computeSeconds: Double)
        case failed(any Error)
    }

    /// One caller's image and the place its answer is left.
    private final class Ticket: Sendable {
        let input: [Float]
        let enqueued = DispatchTime.now().uptimeNanoseconds
        private let outcome = Mutex<Outcome?>(nil)
        private let signal = DispatchSemaphore(value: 0)

        init(input: [Float]) { self.input = input }

        func deliver(_ value: Outcome) {
            outcome.withLock { $0 = value }
            signal.signal()
        }

        func wait() -> Outcome {
            signal.wait()
            return outcome.withLock { $0.take()! }
        }
    }

    /// The model, its queue and its thread's loop; the thread holds the lane, not the predictor, so dropping the
    /// predictor (a new version swapped in, an eviction) stops the thread.
    private final class Lane: Sendable {
        private let model: Mutex<InferenceGraph>
        private let maximumBatch: Int
        private let statistics: ClassifyStatistics
        private let waiting = Mutex((queue: [Ticket](), stopped: false))
        /// Signalled once per queued ticket and once to stop.
        private let arrivals = DispatchSemaphore(value: 0)

        init(model: sending InferenceGraph, maximumBatch: Int, statistics: ClassifyStatistics) {
            self.model = Mutex(model)
            self.maximumBatch = maximumBatch
            self.statistics = statistics
        }

        func enqueue(_ ticket: Ticket) {
            waiting.withLock { $0.queue.append(ticket) }
            arrivals.signal()
        }

        func stop() {
            waiting.withLock { $0.stopped = true }
            arrivals.signal()
        }

        /// The thread's loop: a pass over the oldest waiting tickets whenever there are any, until stopped.
        func run() {
            while true {
                arrivals.wait()
                let (batch, stopped) = waiting.withLock { state -> ([Ticket], Bool) in
                    let taken = Array(state.queue.prefix(maximumBatch))
                    state.queue.removeFirst(taken.count)
                    return (taken, state.stopped)
                }
                if !batch.isEmpty { runPass(batch) }
                if stopped { return }
            }
        }

        private func runPass(_ batch: [Ticket]) {
            let started = DispatchTime.now().uptimeNanoseconds
            let result = Result {
                try model.withLock { model -> Tensor in
                    let input = Tensor(shape: [batch.count] + model.inputShape, data: batch.flatMap(\.input))
                    return try model.predict(input)
                }
            }
            let finished = DispatchTime.now().uptimeNanoseconds
            let computeSeconds = Double(finished - started) / 1e9
            statistics.batchSizes.record(batch.count)
            statistics.compute.recordNanoseconds(Int64(finished - started))
            for (row, ticket) in batch.enumerated() {
                let waitSeconds = Double(started - ticket.enqueued) / 1e9
                statistics.queueWait.recordNanoseconds(Int64(started - ticket.enqueued))
                switch result {
                case .success(let probabilities):
                    let classes = probabilities.itemCount
                    ticket.deliver(.probabilities(Array(probabilities.data[(row * classes)..<((row + 1) * classes)]),
                                                  waitSeconds: waitSeconds, computeSeconds: computeSeconds))
                case .failure(let error):
                    ticket.deliver(.failed(error))
                }
            }
        }
    }

    /// Starts the model's thread, named `infer <label>` (what `top -H` shows; Linux keeps 15 characters).
    init(model: sending InferenceGraph, label: String = "", maximumBatch: Int = 32, statistics: ClassifyStatistics) {
        inputShape = model.inputShape
        lane = Lane(model: model, maximumBatch: maximumBatch, statistics: statistics)
        // Named from inside: Foundation on Linux names only the calling thread.
        Thread { [lane] in
            Thread.current.name = "infer \(label)"
            lane.run()
        }.start()
    }

    deinit { lane.stop() }

    /// Class probabilities for one input (H×W×C values), and how long it waited and computed.
    func predict(_ input: [Float]) throws -> (probabilities: [Float], waitSeconds: Double, computeSeconds: Double) {
        guard input.count == inputShape.reduce(1, *) else {
            throw EngineError.shapeMismatch(what: "classification input", expected: inputShape, got: [input.count])
        }
        let ticket = Ticket(input: input)
        lane.enqueue(ticket)
        switch ticket.wait() {
        case .probabilities(let values, let wait, let compute): return (values, wait, compute)
        case .failed(let error): throw error
        }
    }
}
