import CDNNL

/// The number format a frozen model computes its convolutions and dense layers in. Pooling, normalization and
/// softmax stay float32; each reduced stage converts its float32 input on entry and writes float32.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case fp32
    /// bfloat16 inputs and weights, float32 accumulation (AVX-512 BF16 where the CPU has it).
    case bf16
    /// int8: each stage's input scaled into u8 (s8 when it can be negative) by the range a calibration sample
    /// showed, weights into s8 per output channel, int32 accumulation (AVX-512 VNNI where the CPU has it).
    case int8
}

/// What int8 needs to know before it can quantize: the range of each stage's input over a sample of training
/// images (`InferenceGraph.calibration(over:)`), in stage order.
public struct Calibration: Sendable, Codable, Equatable {
    public var ranges: [ClosedRange<Float>]

    public init(ranges: [ClosedRange<Float>]) { self.ranges = ranges }
}

/// Why a graph cannot be built in the precision asked for.
public enum PrecisionError: Error, Equatable, CustomStringConvertible {
    case needsCalibration
    case calibrationDoesNotFit(stages: Int, ranges: Int)
    case unsupportedOnThisCPU(Precision)

    public var description: String {
        switch self {
        case .needsCalibration: return "int8 needs a calibration of the model's activation ranges"
        case .calibrationDoesNotFit(let stages, let ranges):
            return "the calibration has \(ranges) ranges for a graph of \(stages) stages; calibrate this model again"
        case .unsupportedOnThisCPU(let precision):
            return "this CPU has no \(precision.rawValue) kernels for this model; serve it in fp32"
        }
    }
}

/// A trained model frozen for serving. Each convolution absorbs the batch normalization that follows it (into
/// its kernel and bias) and the ReLU after that (a oneDNN post-op), and its kernel is reordered once per batch
/// size instead of on every pass; dropout disappears; the other layers run their inference pass. In float32 the
/// outputs equal the model's `predict` to rounding (folding changes the order of float operations); in bf16 and
/// int8 the convolutions and dense layers compute in that format.
public final class InferenceGraph {
    /// H×W×C of one example.
    public let inputShape: [Int]
    public let classCount: Int
    public let precision: Precision
    /// Bytes the graph's weights hold, reordered copies included.
    public let residentBytes: Int
    let stages: [any InferenceStage]

    /// Freezes `model`, which must not be trained afterwards: the layers the graph keeps are shared with it, and
    /// their gradients are released. int8 needs `calibration`, taken from a float32 graph of the same model.
    public init(freezing model: Model, precision: Precision = .fp32, calibration: Calibration? = nil) throws {
        var stages: [any InferenceStage] = []
        var index = 0
        let layers = model.layers
        func numbers() throws -> FrozenWeightedStage.Numbers {
            switch precision {
            case .fp32: return .fp32
            case .bf16: return .bf16
            case .int8:
                guard let calibration else { throw PrecisionError.needsCalibration }
                // A calibration of another graph is refused once the stages are counted, below.
                return .int8(input: calibration.ranges.indices.contains(stages.count) ? calibration.ranges[stages.count]
                                                                                      : 0...1)
            }
        }
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
                stages.append(try FrozenWeightedStage(convolution, normalization: normalization, fusedReLU: fusedReLU,
                                                      numbers: try numbers()))
            case is DropoutLayer:
                continue
            // A float32 dense layer stays on the engine's split GEMM, faster here than oneDNN's inner product.
            case let dense as DenseLayer where precision != .fp32:
                stages.append(try FrozenWeightedStage(dense, numbers: try numbers()))
            case let layer:
                for parameter in layer.parameters { parameter.gradient = Tensor(zeros: [0]) }
                stages.append(LayerStage(layer: layer))
            }
        }
        if let calibration, precision == .int8, calibration.ranges.count != stages.count {
            throw PrecisionError.calibrationDoesNotFit(stages: stages.count, ranges: calibration.ranges.count)
        }
        self.stages = stages
        self.precision = precision
        inputShape = model.inputShape
        classCount = model.classCount
        residentBytes = stages.reduce(0) { $0 + $1.residentBytes }
    }

    /// Class probabilities for a batch (N×H×W×C).
    public func predict(_ batch: Tensor) throws -> Tensor {
        SoftmaxCrossEntropy.probabilities(try logits(batch))
    }

    /// The logits for a batch (N×H×W×C).
    public func logits(_ batch: Tensor) throws -> Tensor {
        try logits(batch) { _, _ in }
    }

    /// The least and greatest input value of every stage over `batches`, for an int8 graph of the same model.
    public func calibration(over batches: some Sequence<Tensor>) throws -> Calibration {
        var ranges = [ClosedRange<Float>](repeating: 0...0, count: stages.count)
        for batch in batches {
            _ = try logits(batch) { stage, input in
                let (low, high) = Elementwise.extremes(input.data)
                ranges[stage] = min(ranges[stage].lowerBound, low)...max(ranges[stage].upperBound, high)
            }
        }
        return Calibration(ranges: ranges)
    }

    /// The logits, showing `observe` each stage's input on the way.
    private func logits(_ batch: Tensor, observing observe: (Int, borrowing Tensor) -> Void) throws -> Tensor {
        guard batch.shape.count == 4, Array(batch.shape.dropFirst()) == inputShape, batch.batch > 0 else {
            throw EngineError.shapeMismatch(what: "input batch", expected: [max(batch.batch, 1)] + inputShape,
                                            got: batch.shape)
        }
        var activation = batch
        for (index, stage) in stages.enumerated() {
            observe(index, activation)
            activation = stage.forward(consume activation)
        }
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

/// A convolution (its batch normalization folded in, its ReLU fused) or a dense layer on oneDNN's inference
/// primitive, in float32, bf16 or int8. A reduced stage converts its float32 input on entry (int8: scaled by the
/// calibrated range) and its kernel once per batch size (int8: per output channel, the scales undone by the
/// primitive's output scales); the output is float32.
final class FrozenWeightedStage: InferenceStage {
    enum Numbers {
        case fp32, bf16
        /// With the range the stage's input showed during calibration.
        case int8(input: ClosedRange<Float>)

        var precision: Precision {
            switch self {
            case .fp32: .fp32
            case .bf16: .bf16
            case .int8: .int8
            }
        }
    }

    /// Which primitive, with the sizes that do not depend on the batch.
    private enum Operation {
        case convolution(WindowGeometry, channels: Int, filters: Int)
        case dense(inputs: Int, units: Int)
    }

    /// Per batch size: the primitive, the kernel in the layout it chose, and the input conversion.
    private struct Prepared {
        let primitive: DNNLPrimitive
        let weights: DNNLBuffer
        let conversion: (reorder: DNNLPrimitive, buffer: DNNLBuffer)?
    }

    private let operation: Operation
    private let numbers: Numbers
    private let fusedReLU: Bool
    private let outputShape: [Int]
    /// Plain float32 values: HWIO for a convolution, inputs×units for a dense layer.
    private let kernel: [Float]
    /// Float32; for int8 already multiplied by the input's and each output channel's scale, since the primitive
    /// scales its output after adding the bias.
    private let bias: DNNLBuffer
    /// int8: the input's scale and each output channel's weight scale.
    private let scales: (input: Float, weights: [Float])?
    private var prepared = PrimitiveCache<Prepared>()
    /// The kernel in each layout a primitive chose: batch sizes usually agree on one, and share its buffer.
    private var convertedKernels: [(layout: dnnl_memory_desc_t, buffer: DNNLBuffer)] = []

    /// With batch normalization's s = γ / √(σ² + ε) per filter: kernel·s and (bias − μ)·s + β.
    convenience init(_ layer: ConvolutionLayer, normalization: BatchNormalizationLayer?, fusedReLU: Bool,
                     numbers: Numbers) throws {
        let filters = layer.outputShape[2]
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
        try self.init(.convolution(layer.geometry, channels: layer.inputShape[2], filters: filters),
                  kernel: kernelValues, bias: biasValues, fusedReLU: fusedReLU, outputShape: layer.outputShape,
                  numbers: numbers)
    }

    convenience init(_ layer: DenseLayer, numbers: Numbers) throws {
        try self.init(.dense(inputs: layer.inputShape[0], units: layer.outputShape[0]), kernel: layer.kernel.value.data,
                  bias: layer.bias.value.data, fusedReLU: false, outputShape: layer.outputShape, numbers: numbers)
    }

    /// Throws when the CPU has no kernel for the precision (checked on batch 1, which serving always meets).
    private init(_ operation: Operation, kernel: [Float], bias: [Float], fusedReLU: Bool, outputShape: [Int],
                 numbers: Numbers) throws {
        self.operation = operation
        self.kernel = kernel
        self.fusedReLU = fusedReLU
        self.outputShape = outputShape
        self.numbers = numbers
        var biasValues = bias
        if case .int8(let range) = numbers {
            let outputs = bias.count
            // u8 for an input that is never negative (after a ReLU, or pixels), s8 otherwise.
            let input = range.lowerBound >= 0 ? 255 / max(range.upperBound, .leastNormalMagnitude)
                : 127 / max(-range.lowerBound, range.upperBound, .leastNormalMagnitude)
            var largest = [Float](repeating: 0, count: outputs)
            // Both layouts keep the output channel fastest.
            for (index, value) in kernel.enumerated() { largest[index % outputs] = max(largest[index % outputs], abs(value)) }
            let weights = largest.map { $0 > 0 ? 127 / $0 : 1 }
            for output in 0..<outputs { biasValues[output] *= input * weights[output] }
            scales = (input, weights)
        } else {
            scales = nil
        }
        self.bias = DNNLBuffer(copying: biasValues, OneDNN.descriptor([bias.count], dnnl_x))
        guard let single = prepare(batch: 1) else { throw PrecisionError.unsupportedOnThisCPU(numbers.precision) }
        _ = prepared.value(for: 1) { single }
    }

    var residentBytes: Int {
        MemoryLayout<Float>.stride * kernel.count + kernel.count * weightType.bytes + OneDNN.bytes(bias.descriptor)
    }

    private var inputType: dnnl_data_type_t {
        switch numbers {
        case .fp32: dnnl_f32
        case .bf16: dnnl_bf16
        case .int8(let range): range.lowerBound >= 0 ? dnnl_u8 : dnnl_s8
        }
    }

    private var weightType: dnnl_data_type_t {
        switch numbers {
        case .fp32: dnnl_f32
        case .bf16: dnnl_bf16
        case .int8: dnnl_s8
        }
    }

    func forward(_ input: consuming Tensor) -> Tensor {
        let batch = input.batch
        // The CPU has the kernels: batch 1's primitive was created at init.
        let prepared = prepared.value(for: batch) { prepare(batch: batch)! }
        var output = Tensor(uninitialized: [batch] + outputShape)
        input.data.withUnsafeBufferPointer { source in
            var source = UnsafeMutableRawPointer(mutating: source.baseAddress!)
            if let (reorder, buffer) = prepared.conversion {
                reorder.execute([(DNNL_ARG_FROM, source), (DNNL_ARG_TO, buffer.pointer)])
                source = buffer.pointer
            }
            output.data.withUnsafeMutableBufferPointer { target in
                prepared.primitive.execute([(DNNL_ARG_SRC_0, source), (DNNL_ARG_WEIGHTS_0, prepared.weights.pointer),
                                            (DNNL_ARG_BIAS, bias.pointer),
                                            (DNNL_ARG_DST_0, .init(target.baseAddress!))])
            }
        }
        return output
    }

    /// The primitives for `batch`; nil when the CPU has no kernel for this precision.
    private func prepare(batch: Int) -> Prepared? {
        let outputScales = scales.map { scales in
            OneDNN.Scales(mask: 1 << 1, values: scales.weights.map { 1 / (scales.input * $0) })
        }
        let made = OneDNN.withAttributes(reLU: fusedReLU, scales: outputScales) {
            attributes -> (DNNLPrimitive?, dnnl_memory_desc_t, dnnl_memory_desc_t) in
            switch operation {
            case let .convolution(geometry, channels, filters):
                let sizes = (batch, geometry, channels, filters)
                var description = ConvolutionPrimitives.forwardDescription(dnnl_forward_inference, sizes,
                                                                           inputType: inputType, weightType: weightType)
                return (DNNLPrimitive(ifImplemented: &description, attributes: attributes),
                        OneDNN.descriptor([batch, channels, geometry.inputHeight, geometry.inputWidth], dnnl_nhwc),
                        ConvolutionPrimitives.plainWeights(sizes))
            case let .dense(inputs, units):
                var description = dnnl_inner_product_desc_t()
                var source = OneDNN.descriptor([batch, inputs], dnnl_nc, inputType)
                var weights = OneDNN.descriptor([units, inputs], dnnl_format_tag_any, weightType)
                var bias = OneDNN.descriptor([units], dnnl_x)
                var destination = OneDNN.descriptor([batch, units], dnnl_nc)
                OneDNN.check(dnnl_inner_product_forward_desc_init(&description, dnnl_forward_inference, &source,
                                                                  &weights, &bias, &destination),
                             "describing an inner product")
                return (DNNLPrimitive(ifImplemented: &description, attributes: attributes),
                        OneDNN.descriptor([batch, inputs], dnnl_nc), OneDNN.descriptor([units, inputs], dnnl_io))
            }
        }
        guard case let (primitive?, plainInput, plainKernel) = made else { return nil }
        let weights = convertedKernel(to: primitive.memoryDescriptor(dnnl_query_weights_md), from: plainKernel)
        guard inputType != dnnl_f32 else { return Prepared(primitive: primitive, weights: weights, conversion: nil) }
        let converted = primitive.memoryDescriptor(dnnl_query_src_md)
        let inputScale = scales.map { OneDNN.Scales(mask: 0, values: [$0.input]) }
        let reorder = OneDNN.withAttributes(scales: inputScale) { attributes in
            DNNLPrimitive(reorderFrom: plainInput, to: converted, attributes: attributes)
        }
        return Prepared(primitive: primitive, weights: weights, conversion: (reorder, DNNLBuffer(converted)))
    }
}

extension FrozenWeightedStage {
    /// The kernel converted (int8: scaled per output channel, dimension 0) into `layout`, once per layout.
    private func convertedKernel(to layout: dnnl_memory_desc_t, from plain: dnnl_memory_desc_t) -> DNNLBuffer {
        if let known = convertedKernels.first(where: { OneDNN.equal($0.layout, layout) }) { return known.buffer }
        let weights = DNNLBuffer(layout)
        let weightScales = scales.map { OneDNN.Scales(mask: 1 << 0, values: $0.weights) }
        kernel.withUnsafeBufferPointer { values in
            OneDNN.withAttributes(scales: weightScales) { attributes in
                DNNLPrimitive(reorderFrom: plain, to: layout, attributes: attributes)
            }.execute([(DNNL_ARG_FROM, .init(mutating: values.baseAddress!)), (DNNL_ARG_TO, weights.pointer)])
        }
        convertedKernels.append((layout, weights))
        return weights
    }
}

extension dnnl_data_type_t {
    /// Bytes one value takes.
    var bytes: Int {
        switch self {
        case dnnl_bf16, dnnl_f16: 2
        case dnnl_s8, dnnl_u8: 1
        default: 4
        }
    }
}
