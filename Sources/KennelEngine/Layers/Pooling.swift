import CDNNL

/// Max or average pooling over H×W windows, per channel, with TensorFlow's SAME/VALID geometry, on oneDNN's
/// pooling primitives (per batch size). Average pooling divides by the taps inside the input (TensorFlow
/// excludes padding from the count); max pooling sends each gradient to the window's maximum, which the forward
/// pass records in oneDNN's workspace.
public final class PoolingLayer: Layer {
    public enum Kind: String, Sendable { case max, average }

    public let name: String
    public let kind: Kind
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let geometry: WindowGeometry
    private let channels: Int
    /// The primitives of the last training pass (holding max pooling's workspace), for the backward pass.
    private var cached: PoolingPrimitives?
    private var primitives = PrimitiveCache<PoolingPrimitives>()

    public var description: String {
        "\(kind == .max ? "maxpool" : "avgpool") \(geometry.kernelHeight)×\(geometry.kernelWidth)/\(geometry.strideY)"
    }

    public init(name: String, kind: Kind, input: [Int], size: (Int, Int), stride: (Int, Int), padding: Padding) throws {
        guard input.count == 3 else {
            throw EngineError.invalidHyperparameter(name: name, reason: "pooling needs an H×W×C input, got \(input)")
        }
        geometry = WindowGeometry(inputHeight: input[0], inputWidth: input[1], kernelHeight: size.0,
                                  kernelWidth: size.1, strideY: stride.0, strideX: stride.1, padding: padding)
        if let problem = geometry.problem { throw EngineError.invalidHyperparameter(name: name, reason: problem) }
        self.name = name
        self.kind = kind
        inputShape = input
        channels = input[2]
        outputShape = [geometry.outputHeight, geometry.outputWidth, input[2]]
    }

    private func primitives(batch: Int) -> PoolingPrimitives {
        primitives.value(for: batch) {
            PoolingPrimitives(batch: batch, geometry: geometry, channels: channels,
                              algorithm: kind == .max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding)
        }
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let batch = input.batch
        let primitives = primitives(batch: batch)
        var output = Tensor(uninitialized: [batch] + outputShape)
        input.data.withUnsafeBufferPointer { source in
            output.data.withUnsafeMutableBufferPointer { target in
                (training ? primitives.training : primitives.inference).execute(
                    [(DNNL_ARG_SRC_0, .init(mutating: source.baseAddress!)), (DNNL_ARG_DST_0, .init(target.baseAddress!))],
                    workspace: training ? primitives.training.workspace : nil)
            }
        }
        cached = training ? primitives : nil
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let primitives = cached, primitives.batch == outputGradient.batch else {
            preconditionFailure("\(name): backward without a training forward")
        }
        var inputGradient = Tensor(uninitialized: [primitives.batch] + inputShape)
        outputGradient.data.withUnsafeBufferPointer { upstream in
            inputGradient.data.withUnsafeMutableBufferPointer { target in
                primitives.backward.execute([(DNNL_ARG_DIFF_DST_0, .init(mutating: upstream.baseAddress!)),
                                             (DNNL_ARG_DIFF_SRC_0, .init(target.baseAddress!))],
                                            workspace: primitives.training.workspace)
            }
        }
        return inputGradient
    }
}

/// A pooling's oneDNN primitives for one batch size, over NHWC activations.
private final class PoolingPrimitives {
    let batch: Int
    let training: DNNLPrimitive
    private let source: dnnl_memory_desc_t
    private let destination: dnnl_memory_desc_t
    private let algorithm: dnnl_alg_kind_t
    private let window: (strides: [Int64], before: [Int64], after: [Int64])
    private let kernel: [Int64]

    init(batch: Int, geometry: WindowGeometry, channels: Int, algorithm: dnnl_alg_kind_t) {
        self.batch = batch
        source = OneDNN.descriptor([batch, channels, geometry.inputHeight, geometry.inputWidth], dnnl_nhwc)
        destination = OneDNN.descriptor([batch, channels, geometry.outputHeight, geometry.outputWidth], dnnl_nhwc)
        self.algorithm = algorithm
        window = geometry.oneDNNWindow
        kernel = [Int64(geometry.kernelHeight), Int64(geometry.kernelWidth)]
        training = Self.forward(source, destination, algorithm, window, kernel, dnnl_forward_training)
    }

    private static func forward(_ source: dnnl_memory_desc_t, _ destination: dnnl_memory_desc_t,
                                _ algorithm: dnnl_alg_kind_t,
                                _ window: (strides: [Int64], before: [Int64], after: [Int64]), _ kernel: [Int64],
                                _ kind: dnnl_prop_kind_t) -> DNNLPrimitive {
        var description = dnnl_pooling_desc_t()
        var (source, destination) = (source, destination)
        OneDNN.check(dnnl_pooling_forward_desc_init(&description, kind, algorithm, &source, &destination,
                                                    window.strides, kernel, window.before, window.after),
                     "describing a pooling")
        return DNNLPrimitive(&description)
    }

    /// Built on first use (a training job may never evaluate).
    lazy var inference = Self.forward(source, destination, algorithm, window, kernel, dnnl_forward_inference)

    /// dX from dY (and max pooling's workspace); built on the first backward pass.
    lazy var backward: DNNLPrimitive = {
        var description = dnnl_pooling_desc_t()
        var (source, destination) = (source, destination)
        OneDNN.check(dnnl_pooling_backward_desc_init(&description, algorithm, &source, &destination,
                                                     window.strides, kernel, window.before, window.after),
                     "describing a pooling's gradient")
        return DNNLPrimitive(&description, hint: training)
    }()
}

/// The mean of each channel over H×W: N×H×W×C → N×C.
public final class GlobalAveragePoolingLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public var description: String { "global average pool" }

    public init(name: String, input: [Int]) throws {
        guard input.count == 3 else {
            throw EngineError.invalidHyperparameter(name: name, reason: "needs an H×W×C input, got \(input)")
        }
        self.name = name
        inputShape = input
        outputShape = [input[2]]
    }

    private var pixels: Int { inputShape[0] * inputShape[1] }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let c = inputShape[2]
        var output = Tensor(zeros: [input.batch, c])
        let scale = 1 / Float(pixels)
        input.data.withUnsafeBufferPointer { x in
            for image in 0..<input.batch {
                let sums = Elementwise.columnSums(UnsafeBufferPointer(rebasing: x[(image * pixels * c)..<((image + 1) * pixels * c)]),
                                                  columns: c)
                for k in 0..<c { output.data[image * c + k] = sums[k] * scale }
            }
        }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        let c = inputShape[2]
        let scale = 1 / Float(pixels)
        var inputGradient = Tensor(zeros: [outputGradient.batch] + inputShape)
        inputGradient.data.withUnsafeMutableBufferPointer { dx in
            for image in 0..<outputGradient.batch {
                for pixel in 0..<pixels {
                    for k in 0..<c { dx[(image * pixels + pixel) * c + k] = outputGradient.data[image * c + k] * scale }
                }
            }
        }
        return inputGradient
    }
}
