import CDNNL

/// A trained model frozen for serving. Each convolution absorbs the batch normalization that follows it (into
/// its kernel and bias) and the ReLU after that (a oneDNN post-op), and its kernel is reordered once per batch
/// size instead of on every pass; dropout disappears; the other layers run their inference pass. Outputs equal
/// the model's `predict` to rounding (folding changes the order of float operations).
public final class InferenceGraph {
    /// H×W×C of one example.
    public let inputShape: [Int]
    public let classCount: Int
    /// Bytes the graph's weights hold, reordered copies included.
    public let residentBytes: Int
    let stages: [any InferenceStage]

    /// Freezes `model`, which must not be trained afterwards: the layers the graph keeps are shared with it, and
    /// their gradients are released.
    public init(freezing model: Model) {
        var stages: [any InferenceStage] = []
        var index = 0
        let layers = model.layers
        while index < layers.count {
            defer { index += 1 }
            switch layers[index] {
            case let convolution as ConvolutionLayer:
                func next<Kind>(_: Kind.Type) -> Kind? {
                    layers.indices.contains(index + 1) ? layers[index + 1] as? Kind : nil
                }
                let normalization = next(BatchNormalizationLayer.self)
                if normalization != nil { index += 1 }
                let activation = next(ActivationLayer.self)
                let fusedReLU = activation?.function == .relu
                if fusedReLU { index += 1 }
                stages.append(FrozenConvolution(convolution, normalization: normalization, fusedReLU: fusedReLU))
            case is DropoutLayer:
                continue
            case let layer:
                for parameter in layer.parameters { parameter.gradient = Tensor(zeros: [0]) }
                stages.append(LayerStage(layer: layer))
            }
        }
        self.stages = stages
        inputShape = model.inputShape
        classCount = model.classCount
        residentBytes = stages.reduce(0) { $0 + $1.residentBytes }
    }

    /// Class probabilities for a batch (N×H×W×C).
    public func predict(_ batch: Tensor) throws -> Tensor {
        SoftmaxCrossEntropy.probabilities(try logits(batch))
    }

    /// The logits for a batch (N×H×W×C).
    func logits(_ batch: Tensor) throws -> Tensor {
        guard batch.shape.count == 4, Array(batch.shape.dropFirst()) == inputShape, batch.batch > 0 else {
            throw EngineError.shapeMismatch(what: "input batch", expected: [max(batch.batch, 1)] + inputShape,
                                            got: batch.shape)
        }
        var activation = batch
        for stage in stages { activation = stage.forward(consume activation) }
        return activation
    }
}

/// One step of an inference graph.
protocol InferenceStage {
    func forward(_ input: consuming Tensor) -> Tensor
    var residentBytes: Int { get }
}

/// A layer that needs nothing frozen: its own inference pass.
struct LayerStage: InferenceStage {
    let layer: any Layer

    func forward(_ input: consuming Tensor) -> Tensor { layer.forward(input, training: false) }
    var residentBytes: Int { layer.parameterCount * MemoryLayout<Float>.stride }
}

/// A convolution with its batch normalization folded in and its ReLU fused, on oneDNN's inference primitive.
final class FrozenConvolution: InferenceStage {
    private let geometry: WindowGeometry
    private let channels: Int
    private let filters: Int
    private let fusedReLU: Bool
    private let outputShape: [Int]
    /// HWIO, folded.
    private let kernel: DNNLBuffer
    private let bias: DNNLBuffer
    /// Per batch size: the primitives and the kernel in the layout they chose, reordered once.
    private var prepared = PrimitiveCache<(primitives: ConvolutionPrimitives, weights: UnsafeMutableRawPointer)>()

    /// With batch normalization's s = γ / √(σ² + ε) per filter: kernel·s and (bias − μ)·s + β.
    init(_ layer: ConvolutionLayer, normalization: BatchNormalizationLayer?, fusedReLU: Bool) {
        geometry = layer.geometry
        channels = layer.inputShape[2]
        filters = layer.outputShape[2]
        outputShape = layer.outputShape
        self.fusedReLU = fusedReLU
        var kernelValues = layer.kernel.value.data, biasValues = layer.bias.value.data
        if let normalization {
            let scale = (0..<filters).map { filter in
                normalization.gamma.value.data[filter]
                    / (normalization.movingVariance.value.data[filter] + normalization.epsilon).squareRoot()
            }
            // HWIO: the filter is the fastest-varying index.
            for index in kernelValues.indices { kernelValues[index] *= scale[index % filters] }
            for filter in 0..<filters {
                biasValues[filter] = (biasValues[filter] - normalization.movingMean.value.data[filter]) * scale[filter]
                    + normalization.beta.value.data[filter]
            }
        }
        let kernelShape = [filters, channels, geometry.kernelHeight, geometry.kernelWidth]
        kernel = DNNLBuffer(copying: kernelValues, OneDNN.descriptor(kernelShape, dnnl_hwio))
        bias = DNNLBuffer(copying: biasValues, OneDNN.descriptor([filters], dnnl_x))
    }

    var residentBytes: Int { 2 * (OneDNN.bytes(kernel.descriptor) + OneDNN.bytes(bias.descriptor)) }

    func forward(_ input: consuming Tensor) -> Tensor {
        let batch = input.batch
        let (primitives, weights) = prepared.value(for: batch) {
            let primitives = ConvolutionPrimitives(batch: batch, geometry: geometry, channels: channels,
                                                   filters: filters, purpose: .inference(fusedReLU: fusedReLU))
            let count = OneDNN.bytes(kernel.descriptor) / MemoryLayout<Float>.stride
            let plain = UnsafeBufferPointer(start: kernel.pointer.assumingMemoryBound(to: Float.self), count: count)
            return (primitives, primitives.forwardWeights.load(plain))
        }
        var output = Tensor(uninitialized: [batch] + outputShape)
        input.data.withUnsafeBufferPointer { source in
            output.data.withUnsafeMutableBufferPointer { target in
                primitives.forward.execute([(DNNL_ARG_SRC_0, .init(mutating: source.baseAddress!)),
                                            (DNNL_ARG_WEIGHTS_0, weights), (DNNL_ARG_BIAS, bias.pointer),
                                            (DNNL_ARG_DST_0, .init(target.baseAddress!))])
            }
        }
        return output
    }
}
