/// Max or average pooling over H×W windows, per channel, with TensorFlow's SAME/VALID geometry. Average
/// pooling divides by the taps inside the input (TensorFlow excludes padding from the count).
public final class PoolingLayer: Layer {
    public enum Kind: String, Sendable { case max, average }

    public let name: String
    public let kind: Kind
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let geometry: WindowGeometry
    private let channels: Int
    /// For max pooling: the flat input index each output came from, kept for backward.
    private var argmax: [Int32] = []
    private var cachedBatch = 0

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

    /// Calls `body(outputOffset, inputOffsets of the window's in-bounds taps)` for each output pixel.
    private func forEachWindow(batch: Int, _ body: (Int, [Int]) -> Void) {
        var taps: [Int] = []
        taps.reserveCapacity(geometry.kernelHeight * geometry.kernelWidth)
        let g = geometry
        for image in 0..<batch {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    taps.removeAll(keepingCapacity: true)
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.strideY - g.padTop + ky
                        guard iy >= 0 && iy < g.inputHeight else { continue }
                        for kx in 0..<g.kernelWidth {
                            let ix = ox * g.strideX - g.padLeft + kx
                            guard ix >= 0 && ix < g.inputWidth else { continue }
                            taps.append(((image * g.inputHeight + iy) * g.inputWidth + ix) * channels)
                        }
                    }
                    body(((image * g.outputHeight + oy) * g.outputWidth + ox) * channels, taps)
                }
            }
        }
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let batch = input.batch
        var output = Tensor(zeros: [batch] + outputShape)
        let c = channels
        if kind == .max && training { argmax = [Int32](repeating: 0, count: output.count) }
        input.data.withUnsafeBufferPointer { x in
            output.data.withUnsafeMutableBufferPointer { y in
                switch kind {
                case .max:
                    argmax.withUnsafeMutableBufferPointer { arg in
                        forEachWindow(batch: batch) { out, taps in
                            let first = taps[0]
                            for k in 0..<c { y[out + k] = x[first + k] }
                            if training { for k in 0..<c { arg[out + k] = Int32(first + k) } }
                            for tap in taps.dropFirst() {
                                for k in 0..<c where x[tap + k] > y[out + k] {
                                    y[out + k] = x[tap + k]
                                    if training { arg[out + k] = Int32(tap + k) }
                                }
                            }
                        }
                    }
                case .average:
                    forEachWindow(batch: batch) { out, taps in
                        for tap in taps { for k in 0..<c { y[out + k] += x[tap + k] } }
                        let scale = 1 / Float(taps.count)
                        for k in 0..<c { y[out + k] *= scale }
                    }
                }
            }
        }
        cachedBatch = training ? batch : 0
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(cachedBatch == outputGradient.batch, "\(name): backward without a training forward")
        var inputGradient = Tensor(zeros: [cachedBatch] + inputShape)
        let c = channels
        outputGradient.data.withUnsafeBufferPointer { dy in
            inputGradient.data.withUnsafeMutableBufferPointer { dx in
                switch kind {
                case .max:
                    for (index, source) in argmax.enumerated() { dx[Int(source)] += dy[index] }
                case .average:
                    forEachWindow(batch: cachedBatch) { out, taps in
                        let scale = 1 / Float(taps.count)
                        for tap in taps { for k in 0..<c { dx[tap + k] += dy[out + k] * scale } }
                    }
                }
            }
        }
        return inputGradient
    }
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

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        let c = inputShape[2]
        var output = Tensor(zeros: [input.batch, c])
        let scale = 1 / Float(pixels)
        for image in 0..<input.batch {
            let sums = Elementwise.columnSums(input.data[(image * pixels * c)..<((image + 1) * pixels * c)], columns: c)
            for k in 0..<c { output.data[image * c + k] = sums[k] * scale }
        }
        return output
    }

    public func backward(_ outputGradient: Tensor, needsInputGradient: Bool) -> Tensor? {
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
