/// A fully connected layer: `x · kernel + bias` for the whole batch in one GEMM.
public final class DenseLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let kernel: Parameter
    public let bias: Parameter
    private let inputs: Int
    private let units: Int
    private var cachedInput: Tensor?

    public var parameters: [Parameter] { [kernel, bias] }
    public var description: String { "dense \(units)" }

    public init(name: String, input: [Int], units: Int, initializer: Initializer, random: inout SeededRandom) throws {
        guard input.count == 1 else {
            throw EngineError.invalidHyperparameter(
                name: name, reason: "dense needs a flat input, got \(input); add a flatten layer before it")
        }
        guard units >= 1 else { throw EngineError.invalidHyperparameter(name: name, reason: "units must be ≥ 1") }
        self.name = name
        inputShape = input
        inputs = input[0]
        self.units = units
        outputShape = [units]
        kernel = Parameter(name: "\(name).kernel",
                           value: initializer.make(shape: [inputs, units], fanIn: inputs, fanOut: units, random: &random),
                           isKernel: true)
        bias = Parameter(name: "\(name).bias", value: Tensor(zeros: [units]))
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        var output = Tensor(uninitialized: [input.batch, units])
        GEMM.multiply(input.data, .normal, kernel.value.data, .normal, into: &output.data,
                      m: input.batch, n: units, k: inputs)
        Elementwise.addRowVector(bias.value.data, to: &output.data)
        cachedInput = training ? input : nil
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        GEMM.multiply(input.data, .transposed, outputGradient.data, .normal, into: &kernel.gradient.data,
                      m: inputs, n: units, k: input.batch)
        bias.gradient.data = Elementwise.columnSums(outputGradient.data, columns: units)
        guard needsInputGradient else { return nil }
        var inputGradient = Tensor(uninitialized: input.shape)
        GEMM.multiply(outputGradient.data, .normal, kernel.value.data, .transposed, into: &inputGradient.data,
                      m: input.batch, n: inputs, k: units)
        return inputGradient
    }
}

/// Folds H×W×C into one axis; the values stay where they are (NHWC order, as Keras flattens).
public final class FlattenLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public var description: String { "flatten" }

    public init(name: String, input: [Int]) {
        self.name = name
        inputShape = input
        outputShape = [input.reduce(1, *)]
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor { input.reshaped([input.batch] + outputShape) }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        needsInputGradient ? outputGradient.reshaped([outputGradient.batch] + inputShape) : nil
    }
}
