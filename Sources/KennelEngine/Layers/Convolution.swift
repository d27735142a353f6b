/// 2-D convolution over NHWC input with an HWIO kernel and a bias, through im2col and one GEMM per batch slice
/// (forward), and two GEMMs plus col2im (backward).
public final class ConvolutionLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let geometry: WindowGeometry
    public let kernel: Parameter
    public let bias: Parameter
    private let inputChannels: Int
    private let filters: Int
    private let workspace: Workspace
    private var cachedInput: Tensor?

    public var parameters: [Parameter] { [kernel, bias] }
    public var description: String {
        "conv2d \(geometry.kernelHeight)×\(geometry.kernelWidth)/\(geometry.strideY) \(filters) filters"
    }

    /// `input` is H×W×C; the kernel starts from `initializer`, the bias at zero.
    public init(name: String, input: [Int], filters: Int, kernel: (Int, Int), stride: (Int, Int), padding: Padding,
                initializer: Initializer, random: inout SeededRandom, workspace: Workspace) throws {
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
        self.workspace = workspace
    }

    private var tapCount: Int { geometry.kernelHeight * geometry.kernelWidth * inputChannels }
    private var pixelsPerImage: Int { geometry.outputHeight * geometry.outputWidth }
    /// Images per im2col slice, so the column matrix stays within the workspace's limit.
    private var imagesPerSlice: Int { max(1, workspace.sliceLimit / max(1, pixelsPerImage * tapCount)) }

    /// Bytes of column matrix one core packs and multiplies at a time: small enough to stay in its L2 cache
    /// between the packing and OpenBLAS's reading, so the matrix never makes a round trip through memory.
    static let blockBytes = 256 << 10

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let batch = input.batch
        var output = Tensor(uninitialized: [batch] + outputShape)
        let rows = batch * pixelsPerImage
        // Cache-sized blocks of output pixels, dealt to the cores in turn; at least one block per core when the
        // product is big enough to split.
        let cacheRows = max(8, Self.blockBytes / (tapCount * MemoryLayout<Float>.stride))
        let splits = rows * filters * tapCount >= GEMM.parallelThreshold ? Parallel.width : 1
        let blockRows = max(1, min(cacheRows, (rows + splits - 1) / splits))
        let blocks = (rows + blockRows - 1) / blockRows
        let workers = min(Parallel.width, blocks)
        let scratch = workspace.reserve(workers * blockRows * tapCount)
        let (geometry, channels, taps, filters) = (geometry, inputChannels, tapCount, filters)
        input.data.withUnsafeBufferPointer { source in
            kernel.value.data.withUnsafeBufferPointer { weights in
                bias.value.data.withUnsafeBufferPointer { bias in
                    output.data.withUnsafeMutableBufferPointer { target in
                        let pointers = BlockPointers(source: source.baseAddress!, weights: weights.baseAddress!,
                                                     bias: bias.baseAddress!, target: target.baseAddress!,
                                                     columns: scratch)
                        Parallel.forEach(workers) { worker in
                            let columns = pointers.columns + worker * blockRows * taps
                            for block in stride(from: worker, to: blocks, by: workers) {
                                let range = (block * blockRows)..<min(rows, (block + 1) * blockRows)
                                Im2Col.packRows(range, pointers.source, channels: channels, geometry: geometry,
                                                into: columns)
                                // Each output row starts as the bias; the product is added to it.
                                let result = pointers.target + range.lowerBound * filters
                                for row in 0..<range.count {
                                    (result + row * filters).update(from: pointers.bias, count: filters)
                                }
                                GEMM.multiply(columns, .normal, pointers.weights, .normal, into: result,
                                              m: range.count, n: filters, k: taps, beta: 1, parallel: false)
                            }
                        }
                    }
                }
            }
        }
        cachedInput = training ? input : nil
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let input = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        let batch = input.batch
        let inputSize = inputShape.reduce(1, *), outputSize = outputShape.reduce(1, *)
        bias.gradient.data = Elementwise.columnSums(outputGradient.data, columns: filters)
        var inputGradient = needsInputGradient ? Tensor(zeros: input.shape) : nil
        kernel.gradient.data.withUnsafeMutableBufferPointer { kernelGradient in
            kernelGradient.update(repeating: 0)
            input.data.withUnsafeBufferPointer { source in
                outputGradient.data.withUnsafeBufferPointer { upstream in
                    kernel.value.data.withUnsafeBufferPointer { weights in
                        for start in stride(from: 0, to: batch, by: imagesPerSlice) {
                            let count = min(imagesPerSlice, batch - start)
                            let rows = count * pixelsPerImage
                            let columns = workspace.reserve(rows * tapCount)
                            let slice = upstream.baseAddress! + start * outputSize
                            Im2Col.pack(source.baseAddress! + start * inputSize, images: count,
                                        channels: inputChannels, geometry: geometry, into: columns)
                            // dK += colsᵀ · dY
                            GEMM.multiply(columns, .transposed, slice, .normal, into: kernelGradient.baseAddress!,
                                          m: tapCount, n: filters, k: rows, beta: 1)
                            guard inputGradient != nil else { continue }
                            // dCols = dY · Kᵀ, written over the columns, then scattered back.
                            GEMM.multiply(slice, .normal, weights.baseAddress!, .transposed, into: columns,
                                          m: rows, n: tapCount, k: filters)
                            inputGradient!.data.withUnsafeMutableBufferPointer { target in
                                Im2Col.unpackAdding(columns, images: count, channels: inputChannels, geometry: geometry,
                                                    into: target.baseAddress! + start * inputSize)
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}

/// A forward pass's buffers, carried into the per-core blocks (each writes its own rows of the output and its
/// own part of the column scratch).
private struct BlockPointers: @unchecked Sendable {
    let source: UnsafePointer<Float>
    let weights: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let target: UnsafeMutablePointer<Float>
    let columns: UnsafeMutablePointer<Float>
}
