/// One row of a model summary.
public struct LayerSummary: Sendable, Equatable {
    public let name: String
    public let description: String
    /// Per-example output shape.
    public let outputShape: [Int]
    public let parameterCount: Int
}

/// What one training step did.
public struct StepResult: Sendable, Equatable {
    /// Mean cross-entropy over the batch plus the L2 penalty, if any.
    public let loss: Float
    public let accuracy: Float
    public let learningRate: Float
}

/// A sequential classifier built from a JSON layer list: it owns the loops (forward in order, backward in
/// reverse, then the optimizer) and the random source.
public final class Model {
    public let specs: [LayerSpec]
    /// H×W×C of one example.
    public let inputShape: [Int]
    public let classCount: Int
    public let layers: [Layer]
    public let optimizer: Optimizer
    public internal(set) var schedule: LearningRateSchedule
    let random: RandomSource

    /// Builds and initializes the model. Every problem in the list (unknown type, missing or impossible
    /// values, windows that do not fit, a last layer that does not produce `classCount` logits) is an
    /// `EngineError` naming the layer.
    public init(layers specs: [LayerSpec], inputShape: [Int], classCount: Int, seed: UInt64 = 0,
                optimizer: OptimizerConfig = OptimizerConfig(name: .adam, learningRate: 1e-3),
                schedule: ScheduleKind = .constant, limits: ModelLimits = ModelLimits()) throws {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw EngineError.invalidHyperparameter(name: "input_shape", reason: "must be H×W×C > 0, got \(inputShape)")
        }
        try limits.check(output: inputShape)
        guard classCount >= 2 else {
            throw EngineError.invalidHyperparameter(name: "classes", reason: "need at least 2 classes, got \(classCount)")
        }
        guard !specs.isEmpty else { throw EngineError.invalidLayer(index: 0, reason: "the layer list is empty") }
        self.specs = specs
        self.inputShape = inputShape
        self.classCount = classCount
        self.optimizer = try Optimizer(optimizer)
        self.schedule = try LearningRateSchedule(initial: optimizer.learningRate, kind: schedule)
        var generator = SeededRandom(seed: seed)
        let random = RandomSource(SeededRandom(seed: seed ^ 0x5EED_D40F))
        var built: [Layer] = []
        var shape = inputShape
        var counts: [String: Int] = [:]
        var parameters = 0
        for (index, spec) in specs.enumerated() {
            do {
                parameters = try limits.admit(spec, input: shape, after: parameters)
                let made = try LayerFactory.make(spec, input: shape, counts: &counts, random: &generator,
                                                 dropoutRandom: random)
                built += made
                shape = made.last?.outputShape ?? shape
                try limits.check(output: shape)
            } catch let error as EngineError {
                if case .invalidLayer = error { throw error }
                throw EngineError.invalidLayer(index: index, reason: "\(spec.type): \(error.description)")
            }
        }
        guard shape == [classCount] else {
            throw EngineError.invalidLayer(
                index: specs.count - 1,
                reason: "the last layer must output \(classCount) logits (one per class), but outputs \(shape)")
        }
        layers = built
        self.random = random
    }

    /// Builds a preset with the class count of its dataset.
    public convenience init(preset: Preset, classCount: Int? = nil, seed: UInt64 = 0,
                            optimizer: OptimizerConfig = OptimizerConfig(name: .adam, learningRate: 1e-3),
                            schedule: ScheduleKind = .constant, limits: ModelLimits = ModelLimits()) throws {
        var layers = preset.layers
        if let classCount, var last = layers.last, last.type == "dense" {
            last.units = classCount
            layers[layers.count - 1] = last
        }
        try self.init(layers: layers, inputShape: preset.inputShape, classCount: classCount ?? preset.classCount,
                      seed: seed, optimizer: optimizer, schedule: schedule, limits: limits)
    }

    /// Every tensor the model keeps, in checkpoint order.
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    public var summary: [LayerSummary] {
        layers.map { LayerSummary(name: $0.name, description: $0.description, outputShape: $0.outputShape,
                                  parameterCount: $0.parameterCount) }
    }

    /// The logits for a batch (N×H×W×C).
    public func forward(_ batch: Tensor, training: Bool) throws -> Tensor {
        guard batch.shape.count == 4, Array(batch.shape.dropFirst()) == inputShape, batch.batch > 0 else {
            throw EngineError.shapeMismatch(what: "input batch", expected: [max(batch.batch, 1)] + inputShape,
                                            got: batch.shape)
        }
        var activation = batch
        for layer in layers { activation = layer.forward(consume activation, training: training) }
        return activation
    }

    /// Tells the learning-rate schedule how the epoch ended (reduce-on-plateau watches test accuracy).
    public func endEpoch(testAccuracy: Float) {
        schedule.observe(epochMetric: testAccuracy)
    }

    /// Class probabilities for a batch.
    public func predict(_ batch: Tensor) throws -> Tensor {
        SoftmaxCrossEntropy.probabilities(try forward(batch, training: false))
    }

    /// Forward, loss, backward and one optimizer update at the schedule's current rate.
    public func trainStep(_ batch: Tensor, labels: [Int32]) throws -> StepResult {
        guard labels.count == batch.batch else {
            throw EngineError.invalidLabels(reason: "\(labels.count) labels for a batch of \(batch.batch)")
        }
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= classCount }) {
            throw EngineError.invalidLabels(reason: "label \(bad) is outside 0..<\(classCount)")
        }
        let logits = try forward(batch, training: true)
        let (loss, gradient, correct) = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels)
        // Each gradient is handed over, never shared, so layers can update it in place without a copy.
        var upstream: Tensor? = gradient
        for (index, layer) in layers.enumerated().reversed() {
            guard let current = upstream.take() else { break }
            upstream = layer.backward(consume current, needsInputGradient: index > 0)
        }
        let rate = schedule.rate(at: optimizer.iterations)
        optimizer.apply(to: parameters, learningRate: rate)
        var penalty: Float = 0
        if optimizer.config.l2 > 0 {
            for parameter in parameters where parameter.isKernel {
                penalty += optimizer.config.l2 * parameter.value.data.reduce(0) { $0 + $1 * $1 }
            }
        }
        return StepResult(loss: loss + penalty, accuracy: Float(correct) / Float(batch.batch), learningRate: rate)
    }
}

/// Turns one `LayerSpec` into layers (a conv or dense with an `activation` becomes two).
enum LayerFactory {
    static func make(_ spec: LayerSpec, input: [Int], counts: inout [String: Int], random: inout SeededRandom,
                     dropoutRandom: RandomSource) throws -> [Layer] {
        func name(_ type: String) -> String {
            counts[type, default: 0] += 1
            return "\(type)\(counts[type]!)"
        }
        func required<Value>(_ value: Value?, _ field: String) throws -> Value {
            guard let value else { throw EngineError.invalidHyperparameter(name: field, reason: "is required") }
            return value
        }
        func initializer() throws -> Initializer {
            try Initializer(name: spec.initializer ?? "glorot_uniform", stddev: spec.stddev)
        }
        var made: [Layer]
        switch spec.type.lowercased() {
        case "conv2d":
            let kernel = try required(spec.kernel, "kernel"), stride = spec.stride ?? 1
            made = [try ConvolutionLayer(name: name("conv"), input: input, filters: try required(spec.filters, "filters"),
                                         kernel: (kernel.height, kernel.width), stride: (stride.height, stride.width),
                                         padding: spec.padding ?? .valid, initializer: try initializer(),
                                         random: &random)]
        case "maxpool", "avgpool":
            let size = spec.size ?? 2, stride = spec.stride ?? size
            made = [try PoolingLayer(name: name(spec.type.lowercased()),
                                     kind: spec.type.lowercased() == "maxpool" ? .max : .average, input: input,
                                     size: (size.height, size.width), stride: (stride.height, stride.width),
                                     padding: spec.padding ?? .valid)]
        case "globalavgpool":
            made = [try GlobalAveragePoolingLayer(name: name("globalavgpool"), input: input)]
        case "dense":
            made = [try DenseLayer(name: name("dense"), input: input, units: try required(spec.units, "units"),
                                   initializer: try initializer(), random: &random)]
        case "flatten":
            made = [FlattenLayer(name: name("flatten"), input: input)]
        case "dropout":
            made = [try DropoutLayer(name: name("dropout"), rate: try required(spec.rate, "rate"), input: input,
                                     random: dropoutRandom)]
        case "batchnorm":
            made = [try BatchNormalizationLayer(name: name("batchnorm"), input: input, momentum: spec.momentum ?? 0.99,
                                                epsilon: spec.epsilon ?? 1e-3)]
        case "lrn":
            made = [try LocalResponseNormalizationLayer(name: name("lrn"), input: input,
                                                        depthRadius: spec.depthRadius ?? 5, bias: spec.bias ?? 1,
                                                        alpha: spec.alpha ?? 1, beta: spec.beta ?? 0.5)]
        case "activation":
            guard let function = try ActivationFunction(name: try required(spec.name, "name"), alpha: spec.alpha ?? 0.2)
            else { return [] }
            return [ActivationLayer(name: name(function.name), function: function, input: input)]
        default:
            throw EngineError.invalidHyperparameter(
                name: "type", reason: "unknown layer type '\(spec.type)'; use \(LayerSpec.types.joined(separator: ", "))")
        }
        if let activationName = spec.activation,
           let function = try ActivationFunction(name: activationName, alpha: spec.alpha ?? 0.2) {
            guard ["conv2d", "dense"].contains(spec.type.lowercased()) else {
                throw EngineError.invalidHyperparameter(name: "activation", reason: "only conv2d and dense take one")
            }
            made.append(ActivationLayer(name: "\(made[0].name).\(function.name)", function: function,
                                        input: made[0].outputShape))
        }
        return made
    }
}
