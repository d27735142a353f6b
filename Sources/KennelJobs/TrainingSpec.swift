import Foundation
import KennelData
import KennelEngine

/// What a training job is asked to do, as the API and `kennel train` accept it:
/// `{dataset, preset or layers, epochs, batch_size, optimizer:{name, learning_rate, …}, schedule?, augment?, seed?}`.
public struct TrainingSpec: Codable, Equatable, Sendable {
    public var dataset: String
    public var preset: String?
    public var layers: [LayerSpec]?
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleSpec?
    public var augment: Augmentation?
    public var seed: UInt64?
    /// Stop when test accuracy has not improved by `min_delta` for `patience` epochs.
    public var earlyStopping: EarlyStopping?
    /// Newest checkpoints kept besides the best one (default 3).
    public var keepCheckpoints: Int?

    public init(dataset: String, preset: String? = nil, layers: [LayerSpec]? = nil, epochs: Int, batchSize: Int,
                optimizer: OptimizerConfig) {
        self.dataset = dataset
        self.preset = preset
        self.layers = layers
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
    }

    enum CodingKeys: String, CodingKey {
        case dataset, preset, layers, epochs, batchSize = "batch_size", optimizer, schedule, augment, seed
        case earlyStopping = "early_stopping", keepCheckpoints = "keep_checkpoints"
    }

    /// Keras's `fit` and `compile` defaults: batch size 32, RMSProp at 0.001.
    public static let defaultBatchSize = 32
    public static let defaultOptimizer = OptimizerConfig(name: .rmsprop, learningRate: 0.001)

    /// Only `dataset`, `epochs` and a preset or layers are required; the rest default as in Keras.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dataset = try c.decode(String.self, forKey: .dataset)
        preset = try c.decodeIfPresent(String.self, forKey: .preset)
        layers = try c.decodeIfPresent([LayerSpec].self, forKey: .layers)
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? Self.defaultBatchSize
        optimizer = try c.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? Self.defaultOptimizer
        schedule = try c.decodeIfPresent(ScheduleSpec.self, forKey: .schedule)
        augment = try c.decodeIfPresent(Augmentation.self, forKey: .augment)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        earlyStopping = try c.decodeIfPresent(EarlyStopping.self, forKey: .earlyStopping)
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints)
    }

    /// Early stopping on test accuracy, as the seed's `EarlyStopping(patience, min_delta)`.
    public struct EarlyStopping: Codable, Equatable, Sendable {
        public var patience: Int
        public var minDelta: Float

        public init(patience: Int, minDelta: Float = 0) {
            self.patience = patience
            self.minDelta = minDelta
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(patience: try c.decode(Int.self, forKey: .patience),
                      minDelta: try c.decodeIfPresent(Float.self, forKey: .minDelta) ?? 0)
        }

        enum CodingKeys: String, CodingKey { case patience, minDelta = "min_delta" }
    }
}

/// A learning-rate schedule by name: `constant`, `exponential_decay` (decay_steps, decay_rate, staircase),
/// `step` (every, factor), `cosine` (decay_steps, alpha), `reduce_on_plateau` (factor, patience, min_delta, min_lr).
public struct ScheduleSpec: Codable, Equatable, Sendable {
    public var name: String
    public var decaySteps: Int?
    public var decayRate: Float?
    public var staircase: Bool?
    public var every: Int?
    public var factor: Float?
    public var alpha: Float?
    public var patience: Int?
    public var minDelta: Float?
    public var minLearningRate: Float?

    public init(name: String) { self.name = name }

    enum CodingKeys: String, CodingKey {
        case name, decaySteps = "decay_steps", decayRate = "decay_rate", staircase, every, factor, alpha, patience
        case minDelta = "min_delta", minLearningRate = "min_lr"
    }

    /// The engine's schedule, or the field that is missing or unknown.
    func kind() throws -> ScheduleKind {
        func need<Value>(_ value: Value?, _ field: String) throws -> Value {
            guard let value else { throw SpecError(field: "schedule.\(field)", message: "is required for \(name)") }
            return value
        }
        switch name {
        case "constant": return .constant
        case "exponential_decay":
            return .exponentialDecay(decaySteps: try need(decaySteps, "decay_steps"),
                                     decayRate: try need(decayRate, "decay_rate"), staircase: staircase ?? false)
        case "step": return .step(every: try need(every, "every"), factor: try need(factor, "factor"))
        case "cosine": return .cosine(decaySteps: try need(decaySteps, "decay_steps"), alpha: alpha ?? 0)
        case "reduce_on_plateau":
            return .reduceOnPlateau(factor: factor ?? 0.5, patience: patience ?? 2, minDelta: minDelta ?? 0,
                                    minLearningRate: minLearningRate ?? 0)
        default:
            throw SpecError(field: "schedule.name", message:
                "unknown schedule '\(name)'; use constant, exponential_decay, step, cosine or reduce_on_plateau")
        }
    }
}

/// An invalid training request, naming the field (the API answers 422 with it).
public struct SpecError: Error, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension TrainingSpec {
    /// The spec with what its preset's recipe supplies where the job leaves it out, for a dataset of `trainCount`
    /// training examples. `fashion-bn` trains with left-right flips and shifts of up to 2 pixels, and a cosine
    /// decay of the learning rate to zero over the whole run. Jobs are stored completed, so what a job trained
    /// with is what it shows.
    public func completedByRecipe(trainCount: Int) -> TrainingSpec {
        guard preset == Preset.fashionBN.name else { return self }
        var spec = self
        if spec.augment == nil { spec.augment = Augmentation(flip: true, shift: 2) }
        if spec.schedule == nil {
            var cosine = ScheduleSpec(name: "cosine")
            cosine.decaySteps = max(1, epochs * ((trainCount + batchSize - 1) / max(1, batchSize)))
            spec.schedule = cosine
        }
        return spec
    }

    /// Checks the spec against the dataset it names and builds the model it describes, so every problem is
    /// found before the job is queued.
    public func validatedModel(for shard: ShardHeader, limits: ModelLimits = ModelLimits()) throws -> Model {
        guard (1...10_000).contains(epochs) else {
            throw SpecError(field: "epochs", message: "must be 1…10000, got \(epochs)")
        }
        guard (1...4096).contains(batchSize) else {
            throw SpecError(field: "batch_size", message: "must be 1…4096, got \(batchSize)")
        }
        if let keepCheckpoints, keepCheckpoints < 1 {
            throw SpecError(field: "keep_checkpoints", message: "must be ≥ 1, got \(keepCheckpoints)")
        }
        if let augment, augment.shift < 0 || !(0...45).contains(augment.rotation) || !(0...1).contains(augment.brightness)
            || !(0...1).contains(augment.contrast) {
            throw SpecError(field: "augment", message: "shift ≥ 0, rotation 0…45 degrees, brightness and contrast 0…1")
        }
        if let earlyStopping, earlyStopping.patience < 0 || earlyStopping.minDelta < 0 {
            throw SpecError(field: "early_stopping", message: "patience and min_delta must be ≥ 0")
        }
        do {
            try optimizer.validate()
        } catch let error as EngineError {
            if case .invalidHyperparameter(let name, let reason) = error { throw SpecError(field: name, message: reason) }
            throw SpecError(field: "optimizer", message: error.description)
        }
        let preprocessing = shard.preprocessing
        let inputShape = [preprocessing.height, preprocessing.width, preprocessing.channels]
        let classes = shard.classes.count
        let scheduleKind = try schedule?.kind() ?? .constant
        do {
            switch (preset, layers) {
            case (let name?, nil):
                let known = try Preset.named(name)
                guard known.inputShape == inputShape else {
                    throw SpecError(field: "preset", message: "\(name) takes \(known.inputShape) images, the dataset "
                                    + "'\(dataset)' holds \(inputShape)")
                }
                return try Model(preset: known, classCount: classes, seed: seed ?? 0, optimizer: optimizer,
                                 schedule: scheduleKind, limits: limits)
            case (nil, let list?):
                return try Model(layers: list, inputShape: inputShape, classCount: classes, seed: seed ?? 0,
                                 optimizer: optimizer, schedule: scheduleKind, limits: limits)
            default:
                throw SpecError(field: "preset", message: "give exactly one of preset and layers")
            }
        } catch let error as EngineError {
            switch error {
            case .unknownPreset: throw SpecError(field: "preset", message: error.description)
            case .invalidHyperparameter(let name, let reason):
                throw SpecError(field: name == "learning_rate" ? "optimizer.learning_rate" : name, message: reason)
            default: throw SpecError(field: preset == nil ? "layers" : "preset", message: error.description)
            }
        }
    }
}
