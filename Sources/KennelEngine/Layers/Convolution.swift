import CDNNL

/// 2-D convolution over NHWC input with an HWIO kernel and a bias, through oneDNN's convolution primitives
/// (forward, backward data, backward weights). Activations stay NHWC, the engine's layout, so the layers around
/// need no reorders; the kernel is reordered once per pass into the blocked layout oneDNN's JIT kernels chose.
public final class ConvolutionLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let geometry: WindowGeometry
    public let kernel: Parameter
    public let bias: Parameter
    private let inputChannels: Int
    private let filters: Int
    private var cachedInput: Tensor?
    /// Primitives per batch size (training batches, a last partial batch, evaluation batches).
    private var primitives = PrimitiveCache<ConvolutionPrimitives>()

    public var parameters: [Parameter] { [kernel, bias] }
    public var description: String {
        "conv2d \(geometry.kernelHeight)×\(geometry.kernelWidth)/\(geometry.strideY) \(filters) filters"
    }

    /// `input` is H×W×C; the kernel starts from `initializer`, the bias at zero.
    public init(name: String, input: [Int], filters: Int, kernel: (Int, Int), stride: (Int, Int), padding: Padding,
                initializer: Initializer, random: inout SeededRandom) throws {
        guard input.count == 3 else {
            throw EngineError.invalidHyperparameter(name: name, reason: "conv2d needs an H×W×C input, got \(input)")
        }
        guard filters >= 1 else { throw EngineError.invalidHyperparameter(name: name, reason: "filters must be ≥ 1") }
        geometry = WindowGeometry(inputHeight: input[0], inputWidth: input[1], kernelHeight: kernel.0,
                                  kernelWidth: kernel.1, strideY: stride.0, strideX: stride.1, padding: padding)
        if let problem = geometry.problem { throw EngineError.invalidHyperparameter(name: name, reason: problem) }
        self.name = name
        inputShape = input
        inputChannels = input[2]
        self.filters = filters
        outputShape = [geometry.outputHeight, geometry.outputWidth, filters]
        let kernelShape = [kernel.0, kernel.1, input[2], filters]
        let fanIn = kernel.0 * kernel.1 * input[2], fanOut = kernel.0 * kernel.1 * filters
        self.kernel = Parameter(name: "\(name).kernel",
                                value: initializer.make(shape: kernelShape, fanIn: fanIn, fanOut: fanOut, random: &random),
                                isKernel: true)
        bias = Parameter(name: "\(name).bias", value: Tensor(zeros: [filters]))
    }

    private func primitives(batch: Int) -> ConvolutionPrimitives {
        primitives.value(for: batch) {
            ConvolutionPrimitives(batch: batch, geometry: geometry, channels: inputChannels, filters: filters)
        }
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let batch = input.batch
        let primitives = primitives(batch: batch)
        var output = Tensor(uninitialized: [batch] + outputShape)
        kernel.value.data.withUnsafeBufferPointer { kernel in
            let weights = primitives.forwardWeights.load(kernel)
            input.data.withUnsafeBufferPointer { source in
                bias.value.data.withUnsafeBufferPointer { bias in
                    output.data.withUnsafeMutableBufferPointer { target in
                        primitives.forward.execute([(DNNL_ARG_SRC_0, .init(mutating: source.baseAddress!)),
                                                    (DNNL_ARG_WEIGHTS_0, weights),
                                                    (DNNL_ARG_BIAS, .init(mutating: bias.baseAddress!)),
                                                    (DNNL_ARG_DST_0, .init(target.baseAddress!))])
                    }
                }
            }
        }
        cachedInput = training ? input : nil
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        let primitives = primitives(batch: input.batch)
        var inputGradient = needsInputGradient ? Tensor(uninitialized: input.shape) : nil
        outputGradient.data.withUnsafeBufferPointer { upstream in
            let upstream = UnsafeMutableRawPointer(mutating: upstream.baseAddress!)
            // dK and db.
            let (kernelPass, kernelLayout) = primitives.backwardWeights
            input.data.withUnsafeBufferPointer { source in
                bias.gradient.data.withUnsafeMutableBufferPointer { biasGradient in
                    kernel.gradient.data.withUnsafeMutableBufferPointer { kernelGradient in
                        kernelPass.execute([(DNNL_ARG_SRC_0, .init(mutating: source.baseAddress!)),
                                            (DNNL_ARG_DIFF_DST_0, upstream),
                                            (DNNL_ARG_DIFF_WEIGHTS_0, kernelLayout.gradientTarget(kernelGradient)),
                                            (DNNL_ARG_DIFF_BIAS, .init(biasGradient.baseAddress!))])
                        kernelLayout.store(kernelGradient)
                    }
                }
            }
            // dX.
            guard inputGradient != nil else { return }
            let (inputPass, inputLayout) = primitives.backwardData
            kernel.value.data.withUnsafeBufferPointer { kernel in
                let weights = inputLayout.load(kernel)
                inputGradient!.data.withUnsafeMutableBufferPointer { target in
                    inputPass.execute([(DNNL_ARG_DIFF_DST_0, upstream), (DNNL_ARG_WEIGHTS_0, weights),
                                       (DNNL_ARG_DIFF_SRC_0, .init(target.baseAddress!))])
                }
            }
        }
        return inputGradient
    }
}

/// A convolution's oneDNN primitives for one batch size. Activations are NHWC; the kernel's layout is left to
/// oneDNN (`any`), and `WeightLayout` moves it between the engine's HWIO and what each primitive chose.
final class ConvolutionPrimitives {
    /// The training forward pass (keeps what the backward primitives need).
    let forward: DNNLPrimitive
    fileprivate let forwardWeights: WeightLayout
    private let operation: Operation

    init(batch: Int, geometry: WindowGeometry, channels: Int, filters: Int) {
        operation = (batch, geometry, channels, filters)
        var description = Self.forwardDescription(dnnl_forward_training, operation)
        forward = DNNLPrimitive(&description)
        forwardWeights = WeightLayout(plain: Self.plainWeights(operation),
                                      chosen: forward.memoryDescriptor(dnnl_query_weights_md))
    }

    /// dK and db from the input and dY; built on the first backward pass (serving never needs it).
    fileprivate lazy var backwardWeights: (primitive: DNNLPrimitive, layout: WeightLayout) = {
        var description = dnnl_convolution_desc_t()
        var (source, weights, bias, destination) = Self.descriptors(operation)
        let (strides, before, after) = operation.geometry.oneDNNWindow
        OneDNN.check(dnnl_convolution_backward_weights_desc_init(&description, dnnl_convolution_direct, &source,
                                                                 &weights, &bias, &destination, strides, before, after),
                     "describing a convolution's weight gradient")
        let primitive = DNNLPrimitive(&description, hint: forward)
        return (primitive, WeightLayout(plain: Self.plainWeights(operation),
                                        chosen: primitive.memoryDescriptor(dnnl_query_diff_weights_md)))
    }()

    /// dX from dY and the kernel.
    fileprivate lazy var backwardData: (primitive: DNNLPrimitive, weights: WeightLayout) = {
        var description = dnnl_convolution_desc_t()
        var (source, weights, _, destination) = Self.descriptors(operation)
        let (strides, before, after) = operation.geometry.oneDNNWindow
        OneDNN.check(dnnl_convolution_backward_data_desc_init(&description, dnnl_convolution_direct, &source, &weights,
                                                              &destination, strides, before, after),
                     "describing a convolution's input gradient")
        let primitive = DNNLPrimitive(&description, hint: forward)
        return (primitive, WeightLayout(plain: Self.plainWeights(operation),
                                        chosen: primitive.memoryDescriptor(dnnl_query_weights_md)))
    }()

    typealias Operation = (batch: Int, geometry: WindowGeometry, channels: Int, filters: Int)

    /// A forward convolution (`kind`: training or inference) reading its input and kernel as `inputType` and
    /// `weightType` (float32, or bf16/int8 for a frozen model); the bias and the output stay float32.
    static func forwardDescription(_ kind: dnnl_prop_kind_t, _ operation: Operation,
                                   inputType: dnnl_data_type_t = dnnl_f32,
                                   weightType: dnnl_data_type_t = dnnl_f32) -> dnnl_convolution_desc_t {
        var description = dnnl_convolution_desc_t()
        var (source, weights, bias, destination) = descriptors(operation, inputType: inputType, weightType: weightType)
        let (strides, before, after) = operation.geometry.oneDNNWindow
        OneDNN.check(dnnl_convolution_forward_desc_init(&description, kind, dnnl_convolution_direct, &source,
                                                        &weights, &bias, &destination, strides, before, after),
                     "describing a convolution")
        return description
    }

    private static func descriptors(_ operation: Operation, inputType: dnnl_data_type_t = dnnl_f32,
                                    weightType: dnnl_data_type_t = dnnl_f32)
        -> (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t) {
        let g = operation.geometry
        return (OneDNN.descriptor([operation.batch, operation.channels, g.inputHeight, g.inputWidth], dnnl_nhwc,
                                  inputType),
                OneDNN.descriptor([operation.filters, operation.channels, g.kernelHeight, g.kernelWidth],
                                  dnnl_format_tag_any, weightType),
                OneDNN.descriptor([operation.filters], dnnl_x),
                OneDNN.descriptor([operation.batch, operation.filters, g.outputHeight, g.outputWidth], dnnl_nhwc))
    }

    static func plainWeights(_ operation: Operation) -> dnnl_memory_desc_t {
        let g = operation.geometry
        return OneDNN.descriptor([operation.filters, operation.channels, g.kernelHeight, g.kernelWidth], dnnl_hwio)
    }
}

/// A kernel's layout as a primitive chose it, beside the engine's plain HWIO: `load` brings HWIO values into the
/// chosen layout (or hands them over as they are when the two agree), `store` brings a gradient back.
private final class WeightLayout {
    private let buffer: DNNLBuffer?
    private let toChosen: DNNLPrimitive?
    private let toPlain: DNNLPrimitive?

    init(plain: dnnl_memory_desc_t, chosen: dnnl_memory_desc_t) {
        guard !OneDNN.equal(plain, chosen) else {
            (buffer, toChosen, toPlain) = (nil, nil, nil)
            return
        }
        buffer = DNNLBuffer(chosen)
        toChosen = DNNLPrimitive(reorderFrom: plain, to: chosen)
        toPlain = DNNLPrimitive(reorderFrom: chosen, to: plain)
    }

    /// The kernel in the chosen layout.
    func load(_ plain: UnsafeBufferPointer<Float>) -> UnsafeMutableRawPointer {
        let source = UnsafeMutableRawPointer(mutating: plain.baseAddress!)
        guard let buffer, let toChosen else { return source }
        toChosen.execute([(DNNL_ARG_FROM, source), (DNNL_ARG_TO, buffer.pointer)])
        return buffer.pointer
    }

    /// Where a primitive writes a gradient that is to end up in `plain`: the chosen layout's buffer, or `plain`
    /// itself when the layouts agree.
    func gradientTarget(_ plain: UnsafeMutableBufferPointer<Float>) -> UnsafeMutableRawPointer {
        buffer?.pointer ?? UnsafeMutableRawPointer(plain.baseAddress!)
    }

    /// Copies the gradient a primitive left in `gradientTarget` out to `plain` as HWIO (nothing to do when the
    /// primitive wrote to `plain` itself).
    func store(_ plain: UnsafeMutableBufferPointer<Float>) {
        guard let buffer, let toPlain else { return }
        toPlain.execute([(DNNL_ARG_FROM, buffer.pointer), (DNNL_ARG_TO, .init(plain.baseAddress!))])
    }
}
