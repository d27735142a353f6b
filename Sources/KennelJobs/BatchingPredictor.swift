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

/// Runs one model's predictions for concurrent callers as few forward passes as it can.
///
/// Callers queue their images with a completion (or wait for it); the model's thread takes whatever is waiting (up
/// to `maximumBatch` images, but never splitting one caller's images) as soon as its last pass is done, so a
/// single client pays no batching delay, and under load the collection window is one forward pass, never a timer.
/// The passes themselves, and the making of inputs made just before them, run on the long-lived `InferenceThread`
/// that every model shares ("the model's thread" below means that thread), so the OpenMP team and oneDNN's
/// per-thread scratchpad they use stay warm: run on whichever Dispatch thread a request happened to get, a 28×28
/// pass took 0.5–0.9 ms in the server against 0.16 ms in the engine benchmark.
final class BatchingPredictor: Sendable {
    private let lane: Lane

    /// One caller's probabilities (a row of `classes` values per input, in input order), with how long the inputs
    /// waited for their pass and how long the pass took.
    struct Prediction: Sendable {
        let probabilities: [Float]
        let classes: Int
        /// How long making the inputs took on the model's thread (0 for inputs given ready).
        let prepareSeconds: Double
        let waitSeconds: Double
        let computeSeconds: Double

        /// The probabilities of input `index`.
        func row(_ index: Int) -> ArraySlice<Float> { probabilities[(index * classes)..<((index + 1) * classes)] }
    }

    /// A caller's inputs: ready, or made on the model's thread just before their pass (decoding images across its
    /// OpenMP team, rather than on other threads competing with the team's for the cores).
    enum Input: Sendable {
        case ready([Float])
        case made(@Sendable () throws -> [Float])
    }

    /// One caller's inputs (`rows` of them, back to back) and what to do with their answer.
    private struct Ticket: Sendable {
        let input: Input
        let rows: Int
        let enqueued = DispatchTime.now().uptimeNanoseconds
        let completion: @Sendable (Result<Prediction, any Error>) -> Void
    }

    /// The model, its queue and its thread's loop; the thread holds the lane, not the predictor, so dropping the
    /// predictor (a new version swapped in, an eviction) stops the thread.
    private final class Lane: Sendable {
        private let model: Mutex<InferenceGraph>
        /// One input's shape (H, W, C): what an input is checked against before it joins a batch.
        private let inputShape: [Int]
        private let maximumBatch: Int
        private let statistics: ClassifyStatistics
        private let waiting = Mutex((queue: [Ticket](), stopped: false))
        /// Signalled once per queued ticket and once to stop.
        private let arrivals = DispatchSemaphore(value: 0)

        init(model: sending InferenceGraph, maximumBatch: Int, statistics: ClassifyStatistics) {
            inputShape = model.inputShape
            self.model = Mutex(model)
            self.maximumBatch = maximumBatch
            self.statistics = statistics
        }

        /// Refuses `input` unless it is `rows` (at least one) inputs of the model's shape, back to back.
        func check(_ input: [Float], rows: Int) throws {
            guard rows >= 1, input.count == rows * inputShape.reduce(1, *) else {
                throw EngineError.shapeMismatch(what: "classification input", expected: [max(rows, 1)] + inputShape,
                                                got: [input.count])
            }
        }

        private static func isMade(_ ticket: Ticket) -> Bool {
            if case .made = ticket.input { true } else { false }
        }

        func enqueue(_ ticket: Ticket) {
            waiting.withLock { $0.queue.append(ticket) }
            arrivals.signal()
        }

        func stop() {
            waiting.withLock { $0.stopped = true }
            arrivals.signal()
        }

        /// The thread's loop: a pass over the oldest waiting tickets whenever there are any, until stopped with
        /// none left (every queued ticket is answered; each left a signal, so the loop does not block for them).
        /// A pass takes tickets while their inputs fit `maximumBatch`, and always the oldest whatever its size: one
        /// caller's inputs are one pass.
        func run() {
            while true {
                arrivals.wait()
                let (batch, finished) = waiting.withLock { state -> ([Ticket], Bool) in
                    var rows = state.queue.first?.rows ?? 0
                    let count = state.queue.isEmpty ? 0 : 1 + state.queue.dropFirst().prefix { ticket in
                        rows += ticket.rows
                        return rows <= maximumBatch
                    }.count
                    let taken = Array(state.queue.prefix(count))
                    state.queue.removeFirst(count)
                    return (taken, state.stopped && state.queue.isEmpty)
                }
                if !batch.isEmpty { InferenceThread.shared.run { self.runPass(batch) } }
                if finished { return }
            }
        }

        private func runPass(_ tickets: [Ticket]) {
            // Inputs to make are made now; a ticket whose making fails is answered with the error and left out.
            let preparing = DispatchTime.now().uptimeNanoseconds
            var batch: [(ticket: Ticket, input: [Float])] = []
            for ticket in tickets {
                switch ticket.input {
                case .ready(let input): batch.append((ticket, input))
                case .made(let make):
                    do {
                        let input = try make()
                        try check(input, rows: ticket.rows)
                        batch.append((ticket, input))
                    } catch {
                        ticket.completion(.failure(error))
                    }
                }
            }
            guard !batch.isEmpty else { return }
            let rows = batch.reduce(0) { $0 + $1.ticket.rows }
            let started = DispatchTime.now().uptimeNanoseconds
            let prepareSeconds = Double(started - preparing) / 1e9
            let result = Result {
                try model.withLock { model -> Tensor in
                    let input = Tensor(shape: [rows] + model.inputShape,
                                       data: batch.count == 1 ? batch[0].input : batch.flatMap(\.input))
                    return try model.predict(input)
                }
            }
            let finished = DispatchTime.now().uptimeNanoseconds
            let computeSeconds = Double(finished - started) / 1e9
            statistics.batchSizes.record(rows)
            statistics.compute.recordNanoseconds(Int64(finished - started))
            var first = 0
            for (ticket, _) in batch {
                statistics.queueWait.recordNanoseconds(Int64(preparing - ticket.enqueued))
                ticket.completion(result.map { [first] probabilities in
                    let classes = probabilities.itemCount
                    return Prediction(probabilities: Array(probabilities.data[(first * classes)..<((first + ticket.rows) * classes)]),
                                      classes: classes, prepareSeconds: Self.isMade(ticket) ? prepareSeconds : 0,
                                      waitSeconds: Double(preparing - ticket.enqueued) / 1e9,
                                      computeSeconds: computeSeconds)
                })
                first += ticket.rows
            }
        }
    }

    /// Starts the thread that gathers the model's passes, named `infer <label>` (what `top -H` shows; Linux keeps 15
    /// characters).
    init(model: sending InferenceGraph, label: String = "", maximumBatch: Int = 32, statistics: ClassifyStatistics) {
        lane = Lane(model: model, maximumBatch: maximumBatch, statistics: statistics)
        Thread { [lane] in
            nameCurrentThread("infer \(label)")
            lane.run()
        }.start()
    }

    deinit { lane.stop() }

    /// Queues `rows` inputs (H×W×C values each, back to back) for one pass; `completion` gets their answer on the
    /// model's thread, where the next pass waits for it to return (so it should only hand the answer on).
    func predict(_ input: [Float], rows: Int = 1,
                 completion: @escaping @Sendable (Result<Prediction, any Error>) -> Void) throws {
        try lane.check(input, rows: rows)
        lane.enqueue(Ticket(input: .ready(input), rows: rows, completion: completion))
    }

    /// The same for `rows` inputs that `make` builds on the model's thread just before their pass; what it throws
    /// is their answer.
    func predict(rows: Int, making make: @escaping @Sendable () throws -> [Float],
                 completion: @escaping @Sendable (Result<Prediction, any Error>) -> Void) {
        lane.enqueue(Ticket(input: .made(make), rows: max(rows, 1), completion: completion))
    }

    /// Class probabilities for `rows` inputs, waiting for them.
    func predict(_ input: [Float], rows: Int = 1) throws -> Prediction {
        try waitingFor { completion in try predict(input, rows: rows, completion: completion) }.get()
    }
}

/// What `start` hands to the completion it is given (on another thread), once it has: the blocking form of a
/// call that answers through a completion.
func waitingFor<Value: Sendable>(_ start: (@escaping @Sendable (Value) -> Void) throws -> Void) rethrows -> Value {
    let answer = Mutex<Value?>(nil)
    let answered = DispatchSemaphore(value: 0)
    try start { value in
        answer.withLock { $0 = value }
        answered.signal()
    }
    answered.wait()
    return answer.withLock { $0! }
}
