import Foundation
import KennelData
import KennelEngine
import KennelStore
import Logging

/// Where a training run stands, reported to `kennel train`'s progress line (and later the event stream).
public struct TrainingProgress: Sendable {
    public let epoch: Int
    public let epochs: Int
    public let step: Int
    public let totalSteps: Int
    /// Mean training loss and accuracy since the last report.
    public let loss: Float
    public let accuracy: Float
}

/// How a training run ended.
public struct TrainingOutcome: Sendable {
    public let steps: Int
    public let epochsRun: Int
    public let bestTestAccuracy: Float
    public let bestCheckpoint: CheckpointRecord?
    public let stoppedEarly: Bool
    public let cancelled: Bool
}

/// Why training stopped with an error.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFiniteLoss(step: Int)
    case datasetMissing(String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let step):
            return "the training loss became NaN or infinite at step \(step); lower the learning rate or check the data"
        case .datasetMissing(let name): return "dataset '\(name)' does not exist; import it first"
        }
    }
}

extension Store {
    /// The imported shard of dataset `name` (its pixels' checksum checked when `verify`).
    func shard(ofDataset name: String, verify: Bool = true) throws -> Shard {
        guard let dataset = try read({ try $0.record(DatasetRecord.self, "WHERE name = ?", name) }),
              let shardPath = dataset.shardPath else {
            throw TrainingError.datasetMissing(name)
        }
        return try Shard(path: shardPath, verify: verify)
    }
}

/// Trains one job: epochs over the dataset's shard, metrics every few steps, a test evaluation and a
/// checkpoint after every epoch, early stopping when asked.
public struct Trainer {
    public let store: Store
    public let checkpoints: CheckpointStore
    public let metrics: MetricsBuffer
    public let bus: EventBus
    /// How large the job's model may be.
    public let modelLimits: ModelLimits
    private let logger = Logger(label: "kennel.jobs")

    /// `metrics` is the queue's shared buffer when given (so event streams can see unwritten points).
    public init(store: Store, dataDirectory: URL, bus: EventBus = EventBus(), metrics: MetricsBuffer? = nil,
                modelLimits: ModelLimits = ModelLimits()) {
        self.store = store
        self.modelLimits = modelLimits
        self.bus = bus
        checkpoints = CheckpointStore(store: store, dataDirectory: dataDirectory)
        self.metrics = metrics ?? MetricsBuffer(store: store, bus: bus)
    }

    /// Checks `spec` against its dataset (which must exist) without training: what to call before queuing.
    /// Returns the spec completed by its preset's recipe, which is what the job records.
    public func validate(_ spec: TrainingSpec) throws -> TrainingSpec {
        // The header is enough here; the pixels' checksum is verified when the job runs.
        let header = try shard(for: spec, verify: false).header
        let completed = spec.completedByRecipe(trainCount: header.trainCount)
        _ = try completed.validatedModel(for: header, limits: modelLimits)
        return completed
    }

    private func shard(for spec: TrainingSpec, verify: Bool = true) throws -> Shard {
        try store.shard(ofDataset: spec.dataset, verify: verify)
    }

    /// Runs `spec` as job `job`, from the start or, given `resume`, from that checkpoint's full state (weights,
    /// optimizer moments, schedule, random state, epoch, step and best score; the data order of every epoch is a
    /// function of the seed, so the run continues as if never interrupted). `isCancelled` is polled every step;
    /// `progress` is called at every metric point.
    public func run(job: Int64, spec: TrainingSpec, resume: CheckpointRecord? = nil, isCancelled: () -> Bool = { false },
                    progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingOutcome {
        let shard = try shard(for: spec)
        var model = try spec.validatedModel(for: shard.header, limits: modelLimits)
        var firstEpoch = 1
        var step = 0
        var epochsWithoutImprovement = 0
        var best: (accuracy: Float, checkpoint: CheckpointRecord?) = (-1, nil)
        if let resume {
            let loaded = try Checkpoint.decode(try checkpoints.load(resume))
            model = loaded.model
            firstEpoch = resume.epoch + 1
            epochsWithoutImprovement = Int(loaded.header.metadata["stale_epochs"] ?? "") ?? 0
            step = resume.step
            let bestId = loaded.header.metadata["best_checkpoint"] == "self" ? resume.id
                : loaded.header.metadata["best_checkpoint"].flatMap(Int64.init)
            best = (Float(loaded.header.metadata["best_accuracy"] ?? "") ?? -1,
                    try store.read { db in try bestId.flatMap { try db.record(CheckpointRecord.self, "WHERE id = ?", $0) } })
            logger.info("job \(job) resumes at epoch \(firstEpoch), step \(step), from \(resume.path)")
        }
        let seed = spec.seed ?? 0
        let train = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: spec.batchSize, seed: seed,
                                    augmentation: spec.augment ?? Augmentation())
        let stepsPerEpoch = train.batchesPerEpoch
        let logEvery = max(1, stepsPerEpoch / 20)
        let totalSteps = stepsPerEpoch * spec.epochs
        let inputShape = model.inputShape
        guard firstEpoch <= spec.epochs else {
            return TrainingOutcome(steps: step, epochsRun: spec.epochs, bestTestAccuracy: best.accuracy,
                                   bestCheckpoint: best.checkpoint, stoppedEarly: false, cancelled: false)
        }

        for epoch in firstEpoch...spec.epochs {
            var window = (loss: Float(0), correct: Float(0), images: 0, steps: 0, started: Date())
            for batch in train.batches(epoch: epoch - 1) {
                if isCancelled() {
                    metrics.flush()
                    return TrainingOutcome(steps: step, epochsRun: epoch - 1, bestTestAccuracy: best.accuracy,
                                           bestCheckpoint: best.checkpoint, stoppedEarly: false, cancelled: true)
                }
                let result = try model.trainStep(Tensor(shape: [batch.count] + inputShape, data: batch.images),
                                                 labels: batch.labels)
                step += 1
                guard result.loss.isFinite else {
                    metrics.flush()
                    throw TrainingError.nonFiniteLoss(step: step)
                }
                window.loss += result.loss
                window.correct += result.accuracy * Float(batch.count)
                window.images += batch.count
                window.steps += 1
                if step % logEvery == 0 || step == epoch * stepsPerEpoch {
                    let meanLoss = window.loss / Float(window.steps), accuracy = window.correct / Float(window.images)
                    let rate = Double(window.images) / max(Date().timeIntervalSince(window.started), 1e-9)
                    metrics.record(job: job, step: step, ["train/loss": Double(meanLoss),
                                                          "train/accuracy": Double(accuracy),
                                                          "train/learning_rate": Double(result.learningRate),
                                                          "train/images_per_s": rate])
                    progress(TrainingProgress(epoch: epoch, epochs: spec.epochs, step: step, totalSteps: totalSteps,
                                              loss: meanLoss, accuracy: accuracy))
                    // Every few seconds the points and the progress reach the database, not only per epoch.
                    if metrics.flushIfDue() {
                        try? JobLedger(store: store).setProgress(job, Double(step) / Double(totalSteps))
                    }
                    window = (0, 0, 0, 0, Date())
                }
            }

            let evaluation = try Evaluation(model: model, shard: shard, batchSize: max(spec.batchSize, 256))
            metrics.record(job: job, step: step, ["test/loss": Double(evaluation.loss),
                                                  "test/accuracy": Double(evaluation.accuracy),
                                                  "test/top5_accuracy": Double(evaluation.top5Accuracy)])
            metrics.flush()
            model.endEpoch(testAccuracy: evaluation.accuracy)

            let improved = evaluation.accuracy > best.accuracy + (spec.earlyStopping?.minDelta ?? 0)
            epochsWithoutImprovement = improved ? 0 : epochsWithoutImprovement + 1
            let preprocessing = shard.header.preprocessing
            let isBest = evaluation.accuracy > best.accuracy
            let bestAccuracy = max(best.accuracy, evaluation.accuracy)
            func encode(bestCheckpoint: Int64?) throws -> [UInt8] {
                try Checkpoint.encode(
                    model, labels: shard.header.classes.map(\.label),
                    preprocessing: ["width": String(preprocessing.width), "height": String(preprocessing.height),
                                    "color": preprocessing.color.rawValue, "resize": preprocessing.resize.rawValue],
                    metadata: ["job": String(job), "epoch": String(epoch), "step": String(step),
                               "best_accuracy": String(bestAccuracy),
                               "best_checkpoint": bestCheckpoint.map(String.init) ?? "self",
                               "stale_epochs": String(epochsWithoutImprovement)])
            }
            // A checkpoint that is itself the best says "self"; a resumed run maps that to its own row.
            let record = try checkpoints.save(try encode(bestCheckpoint: isBest ? nil : best.checkpoint?.id), job: job,
                                              step: step, epoch: epoch, metricsJson: evaluation.metricsJson)
            bus.publish(.checkpoint(record))
            if isBest { best = (evaluation.accuracy, record) }
            try checkpoints.prune(job: job, keep: spec.keepCheckpoints ?? 3, best: best.checkpoint?.id)
            try JobLedger(store: store).setProgress(job, Double(step) / Double(totalSteps))
            logger.info("job \(job) epoch \(epoch)/\(spec.epochs): test accuracy \(evaluation.accuracy), loss \(evaluation.loss)")

            if let stopping = spec.earlyStopping, epochsWithoutImprovement > stopping.patience {
                return TrainingOutcome(steps: step, epochsRun: epoch, bestTestAccuracy: best.accuracy,
                                       bestCheckpoint: best.checkpoint, stoppedEarly: true, cancelled: false)
            }
        }
        return TrainingOutcome(steps: step, epochsRun: spec.epochs, bestTestAccuracy: best.accuracy,
                               bestCheckpoint: best.checkpoint, stoppedEarly: false, cancelled: false)
    }
}

/// A model's loss, accuracy, top-5 accuracy and confusion matrix on a shard's test split.
struct Evaluation {
    let loss: Float
    /// Correct answers and images.
    let correct: Int
    let count: Int
    let top5Accuracy: Float
    /// confusion[true class][predicted class].
    let confusion: [[Int]]

    init(model: Model, shard: Shard, batchSize: Int) throws {
        try self.init(classes: model.classCount, inputShape: model.inputShape, shard: shard, batchSize: batchSize) {
            try model.forward($0, training: false)
        }
    }

    /// Evaluates any forward pass (`logits` of a batch): the training model's, or a frozen graph's.
    init(classes: Int, inputShape: [Int], shard: Shard, batchSize: Int, logits forward: (Tensor) throws -> Tensor)
        throws {
        let loader = try BatchLoader(shard: shard, indices: shard.testIndices, batchSize: batchSize, seed: 0,
                                     shuffle: false)
        var totalLoss: Double = 0, correct = 0, top5 = 0, count = 0
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for batch in loader.batches(epoch: 0) {
            let logits = try forward(Tensor(shape: [batch.count] + inputShape, data: batch.images))
            let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: batch.labels)
            totalLoss += Double(result.loss) * Double(batch.count)
            correct += result.correct
            for row in 0..<batch.count {
                let scores = logits.data[(row * classes)..<((row + 1) * classes)]
                let label = Int(batch.labels[row])
                let predicted = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
                confusion[label][predicted] += 1
                if scores.filter({ $0 > scores[row * classes + label] }).count < 5 { top5 += 1 }
            }
            count += batch.count
        }
        loss = count > 0 ? Float(totalLoss / Double(count)) : 0
        (self.correct, self.count) = (correct, count)
        top5Accuracy = count > 0 ? Float(top5) / Float(count) : 0
        self.confusion = confusion
    }

    var accuracy: Float { count > 0 ? Float(correct) / Float(count) : 0 }

    /// The accuracy in Double, without Float's rounding (what a promotion records).
    var exactAccuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }

    /// The checkpoint's `metrics_json`: the test scalars and the confusion matrix.
    var metricsJson: String {
        struct Body: Encodable {
            let loss: Float, accuracy: Float, top5Accuracy: Float, confusion: [[Int]]
            enum CodingKeys: String, CodingKey {
                case loss = "test/loss", accuracy = "test/accuracy", top5Accuracy = "test/top5_accuracy", confusion
            }
        }
        return (try? ColumnJSON.text(Body(loss: loss, accuracy: accuracy, top5Accuracy: top5Accuracy,
                                          confusion: confusion))) ?? "{}"
    }
}

/// The test results a checkpoint's `metrics_json` holds (written by `Evaluation.metricsJson`), as readers use them.
public struct RecordedTestMetrics: Decodable, Sendable {
    public let accuracy: Double?
    /// confusion[true class][predicted class] on the test split.
    public let confusion: [[Int]]?

    enum CodingKeys: String, CodingKey { case accuracy = "test/accuracy", confusion }
}

extension CheckpointRecord {
    /// The test accuracy and confusion matrix recorded with this checkpoint; nil when they cannot be read.
    public var recordedTestMetrics: RecordedTestMetrics? {
        try? JSONDecoder().decode(RecordedTestMetrics.self, from: Data(metricsJson.utf8))
    }
}
