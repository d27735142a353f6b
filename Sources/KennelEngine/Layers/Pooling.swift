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

    /// The in-bounds input rows and columns of output pixel (oy, ox)'s window.
    @inline(__always)
    private func window(_ oy: Int, _ ox: Int) -> (rows: Range<Int>, columns: Range<Int>) {
        let g = geometry
        let top = oy * g.strideY - g.padTop, left = ox * g.strideX - g.padLeft
        return (max(0, top)..<min(g.inputHeight, top + g.kernelHeight),
                max(0, left)..<min(g.inputWidth, left + g.kernelWidth))
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let batch = input.batch
        var output = Tensor(uninitialized: [batch] + outputShape)
        let keepArgmax = kind == .max && training
        if keepArgmax { argmax = [Int32](repeating: 0, count: output.count) }
        let c = channels, g = geometry
        let inputImage = g.inputHeight * g.inputWidth * c, outputImage = g.outputHeight * g.outputWidth * c
        input.data.withUnsafeBufferPointer { xBuffer in
            output.data.withUnsafeMutableBufferPointer { yBuffer in
                argmax.withUnsafeMutableBufferPointer { argBuffer in
                    let x = xBuffer.baseAddress!, y = yBuffer.baseAddress!, arg = argBuffer.baseAddress
                    let pointers = PoolPointers(x: x, y: y, arg: arg)
                    Parallel.forRanges(batch) { images in
                        let (x, y) = (pointers.x, pointers.y)
                        for image in images {
                            for oy in 0..<g.outputHeight {
                                for ox in 0..<g.outputWidth {
                                    let (rows, columns) = window(oy, ox)
                                    let out = image * outputImage + (oy * g.outputWidth + ox) * c
                                    let first = image * inputImage + (rows.lowerBound * g.inputWidth + columns.lowerBound) * c
                                    switch kind {
                                    case .max:
                                        // Branch-free running max (and where it came from), so the channel loop vectorizes.
                                        for k in 0..<c { y[out + k] = x[first + k] }
                                        if let arg = keepArgmax ? pointers.arg : nil {
                                            for k in 0..<c { arg[out + k] = Int32(first + k) }
                                            for iy in rows {
                                                for ix in columns {
                                                    let tap = image * inputImage + (iy * g.inputWidth + ix) * c
                                                    for k in 0..<c {
                                                        let better = x[tap + k] > y[out + k]
                                                        y[out + k] = better ? x[tap + k] : y[out + k]
                                                        arg[out + k] = better ? Int32(tap + k) : arg[out + k]
                                                    }
                                                }
                                            }
                                        } else {
                                            for iy in rows {
                                                for ix in columns {
                                                    let tap = image * inputImage + (iy * g.inputWidth + ix) * c
                                                    for k in 0..<c { y[out + k] = max(y[out + k], x[tap + k]) }
                                                }
                                            }
                                        }
                                    case .average:
                                        for k in 0..<c { y[out + k] = 0 }
                                        for iy in rows {
                                            for ix in columns {
                                                let tap = image * inputImage + (iy * g.inputWidth + ix) * c
                                                for k in 0..<c { y[out + k] += x[tap + k] }
                                            }
                                        }
                                        let scale = 1 / Float(rows.count * columns.count)
                                        for k in 0..<c { y[out + k] *= scale }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        cachedBatch = training ? batch : 0
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        precondition(cachedBatch == outputGradient.batch, "\(name): backward without a training forward")
        var inputGradient = Tensor(zeros: [cachedBatch] + inputShape)
        let c = channels, g = geometry
        let inputImage = g.inputHeight * g.inputWidth * c, outputImage = g.outputHeight * g.outputWidth * c
        outputGradient.data.withUnsafeBufferPointer { dyBuffer in
            inputGradient.data.withUnsafeMutableBufferPointer { dxBuffer in
                argmax.withUnsafeBufferPointer { argBuffer in
                    let pointers = PoolPointers(x: dyBuffer.baseAddress!, y: dxBuffer.baseAddress!,
                                                arg: UnsafeMutablePointer(mutating: argBuffer.baseAddress))
                    // Each image's gradient lands only in that image's input, so images split across cores.
                    Parallel.forRanges(cachedBatch) { images in
                        let (dy, dx, arg) = (pointers.x, pointers.y, pointers.arg)
                        switch kind {
                        case .max:
                            for index in (images.lowerBound * outputImage)..<(images.upperBound * outputImage) {
                                dx[Int(arg![index])] += dy[index]
                            }
                        case .average:
                            for image in images {
                                for oy in 0..<g.outputHeight {
                                    for ox in 0..<g.outputWidth {
                                        let (rows, columns) = window(oy, ox)
                                        let out = image * outputImage + (oy * g.outputWidth + ox) * c
                                        let scale = 1 / Float(rows.count * columns.count)
                                        for iy in rows {
                                            for ix in columns {
                                                let tap = image * inputImage + (iy * g.inputWidth + ix) * c
                                                for k in 0..<c { dx[tap + k] += dy[out + k] * scale }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}

/// Buffers shared by a pooling pass's parallel parts, each of which touches only its own images.
private struct PoolPointers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
    let arg: UnsafeMutablePointer<Int32>?
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
