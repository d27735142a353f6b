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
/// A caller that finds the model idle runs at once with whatever is waiting (just its own image when alone,
/// so a single client pays no batching delay). Callers that arrive while a pass runs wait; when it ends, the
/// first of them leads the next pass over up to `maximumBatch` waiting images. Under load the collection window
/// is therefore one forward pass, and a batch never waits for a timer.
final class BatchingPredictor: Sendable {
    private let model: Mutex<InferenceGraph>
    /// One input's shape (H, W, C), checked before an input joins a batch.
    private let inputShape: [Int]
    private let maximumBatch: Int
    private let statistics: ClassifyStatistics
    private let waiting = Mutex((queue: [Ticket](), busy: false))

    /// What a caller learns when woken: its probabilities, or that it leads the next pass.
    private enum Outcome {
        case probabilities([Float], waitSeconds: Double, computeSeconds: Double)
        case failed(any Error)
        case lead
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

    init(model: sending InferenceGraph, maximumBatch: Int = 32, statistics: ClassifyStatistics) {
        inputShape = model.inputShape
        self.model = Mutex(model)
        self.maximumBatch = maximumBatch
        self.statistics = statistics
    }

    /// Class probabilities for one input (H×W×C values), and how long it waited and computed.
    func predict(_ input: [Float]) throws -> (probabilities: [Float], waitSeconds: Double, computeSeconds: Double) {
        guard input.count == inputShape.reduce(1, *) else {
            throw EngineError.shapeMismatch(what: "classification input", expected: inputShape, got: [input.count])
        }
        let ticket = Ticket(input: input)
        let leadsNow = waiting.withLock { state -> Bool in
            state.queue.append(ticket)
            if state.busy { return false }
            state.busy = true
            return true
        }
        if !leadsNow {
            let outcome = ticket.wait()
            guard case .lead = outcome else { return try unwrap(outcome) }
        }
        runPass()
        return try unwrap(ticket.wait())
    }

    private func unwrap(_ outcome: Outcome) throws -> (probabilities: [Float], waitSeconds: Double, computeSeconds: Double) {
        switch outcome {
        case .probabilities(let values, let wait, let compute): return (values, wait, compute)
        case .failed(let error): throw error
        case .lead: preconditionFailure("a leader is never woken to lead again")
        }
    }

    /// One forward pass over the oldest waiting tickets (the leader's own first), then hands the lead on.
    private func runPass() {
        let batch = waiting.withLock { state -> [Ticket] in
            let taken = Array(state.queue.prefix(maximumBatch))
            state.queue.removeFirst(taken.count)
            return taken
        }
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
        let next = waiting.withLock { state -> Ticket? in
            guard let first = state.queue.first else {
                state.busy = false
                return nil
            }
            return first
        }
        next?.deliver(.lead)
    }
}
