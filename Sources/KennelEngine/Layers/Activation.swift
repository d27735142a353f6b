import CDNNL
import Foundation

/// An elementwise nonlinearity.
public enum ActivationFunction: Sendable, Equatable {
    case relu
    case leakyRelu(alpha: Float)
    case sigmoid
    case tanh

    /// Parses the names layer lists use (`relu`, `leaky_relu`, `sigmoid`, `tanh`); nil for `linear`/none.
    public init?(name: String, alpha: Float = 0.2) throws {
        switch name.lowercased() {
        case "relu": self = .relu
        case "leaky_relu", "leakyrelu": self = .leakyRelu(alpha: alpha)
        case "sigmoid": self = .sigmoid
        case "tanh": self = .tanh
        case "linear", "none", "": return nil
        default:
            throw EngineError.invalidHyperparameter(
                name: "activation", reason: "unknown activation '\(name)'; use relu, leaky_relu, sigmoid, tanh or linear")
        }
    }

    var name: String {
        switch self {
        case .relu: return "relu"
        case .leakyRelu: return "leaky_relu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        }
    }
}

/// Applies an `ActivationFunction`; backward uses the saved output (or input, for the rectifiers). The
/// rectifiers are SIMD loops; sigmoid and tanh run on oneDNN's eltwise primitive (vectorized exp), per batch size.
public final class ActivationLayer: Layer {
    public let name: String
    public let function: ActivationFunction
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    private var cached: Tensor?
    private var transcendental = PrimitiveCache<DNNLPrimitive>()

    public var description: String { function.name }

    public init(name: String, function: ActivationFunction, input: [Int]) {
        self.name = name
        self.function = function
        inputShape = input
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        var output = input
        switch function {
        case .relu: Elementwise.forSlices(&output.data) { ActivationKernels.relu($0) }
        case .leakyRelu(let alpha): Elementwise.forSlices(&output.data) { ActivationKernels.leakyRelu($0, alpha: alpha) }
        case .sigmoid: applyOneDNN(dnnl_eltwise_logistic, to: &output)
        case .tanh: applyOneDNN(dnnl_eltwise_tanh, to: &output)
        }
        // Every derivative here can be read off the output (for the rectifiers, its sign is the input's).
        cached = training ? output : nil
        return output
    }

    /// `algorithm` over the whole batch, in place.
    private func applyOneDNN(_ algorithm: dnnl_alg_kind_t, to values: inout Tensor) {
        let (batch, items) = (values.batch, values.itemCount)
        let primitive = transcendental.value(for: batch) {
            var description = dnnl_eltwise_desc_t()
            var data = OneDNN.descriptor([batch, items], dnnl_nc)
            OneDNN.check(dnnl_eltwise_forward_desc_init(&description, dnnl_forward_inference, algorithm, &data, 0, 0),
                         "describing an activation")
            return DNNLPrimitive(&description)
        }
        values.data.withUnsafeMutableBufferPointer { buffer in
            let pointer = UnsafeMutableRawPointer(buffer.baseAddress!)
            primitive.execute([(DNNL_ARG_SRC_0, pointer), (DNNL_ARG_DST_0, pointer)])
        }
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let saved = cached else { preconditionFailure("\(name): backward without a training forward") }
        var gradient = outputGradient
        let function = self.function
        Elementwise.forSlices(&gradient.data, with: saved.data) { g, y in
            switch function {
            case .relu: ActivationKernels.reluGradient(g, output: y)
            case .leakyRelu(let alpha): ActivationKernels.leakyReluGradient(g, output: y, alpha: alpha)
            case .sigmoid: ActivationKernels.sigmoidGradient(g, output: y)
            case .tanh: ActivationKernels.tanhGradient(g, output: y)
            }
        }
        return gradient
    }
}

/// The activations' loops, each over one slice indexed from 0 so it vectorizes.
enum ActivationKernels {
    static func relu(_ y: UnsafeMutableBufferPointer<Float>) {
        SIMDLoop.update(y, { $0.replacing(with: 0, where: $0 .< 0) }, { max($0, 0) })
    }

    static func leakyRelu(_ y: UnsafeMutableBufferPointer<Float>, alpha: Float) {
        SIMDLoop.update(y, { $0.replacing(with: $0 * alpha, where: $0 .< 0) }, { $0 < 0 ? $0 * alpha : $0 })
    }

    static func reluGradient(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        SIMDLoop.update(g, with: y, { g, y in g.replacing(with: 0, where: y .<= 0) }, { g, y in y > 0 ? g : 0 })
    }

    static func leakyReluGradient(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>,
                                  alpha: Float) {
        SIMDLoop.update(g, with: y, { g, y in g.replacing(with: g * alpha, where: y .< 0) },
                        { g, y in y < 0 ? g * alpha : g })
    }

    static func sigmoidGradient(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        SIMDLoop.update(g, with: y, { g, y in g * y * (1 - y) }, { g, y in g * y * (1 - y) })
    }

    static func tanhGradient(_ g: UnsafeMutableBufferPointer<Float>, output y: UnsafeBufferPointer<Float>) {
        SIMDLoop.update(g, with: y, { g, y in g * (1 - y * y) }, { g, y in g * (1 - y * y) })
    }
}

/// Inverted dropout: in training, zeroes each value with probability `rate` and scales the rest by
/// 1 / (1 − rate), so inference is the identity. The mask comes from the model's seeded random source.
public final class DropoutLayer: Layer {
    public let name: String
    public let rate: Float
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    private var mask: [Float] = []
    private let random: RandomSource

    public var description: String { "dropout \(rate)" }

    public init(name: String, rate: Float, input: [Int], random: RandomSource) throws {
        guard rate >= 0 && rate < 1 else {
            throw EngineError.invalidHyperparameter(name: name, reason: "dropout rate must be in [0, 1), got \(rate)")
        }
        self.name = name
        self.rate = rate
        inputShape = input
        self.random = random
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        guard training && rate > 0 else { return input }
        let scale = 1 / (1 - rate)
        var generator = random.generator
        mask = [Float](unsafeUninitializedCapacity: input.count) { buffer, initialized in
            for i in 0..<buffer.count { buffer[i] = generator.nextUnit() < rate ? 0 : scale }
            initialized = buffer.count
        }
        random.generator = generator
        var output = input
        output.data.withUnsafeMutableBufferPointer { y in for i in y.indices { y[i] *= mask[i] } }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard rate > 0 else { return outputGradient }
        var gradient = outputGradient
        gradient.data.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= mask[i] } }
        return gradient
    }
}

/// The model's random source, shared by the layers that draw during training (dropout) so one saved state
/// reproduces them all.
public final class RandomSource {
    public var generator: SeededRandom
    public init(_ generator: SeededRandom) { self.generator = generator }
}
