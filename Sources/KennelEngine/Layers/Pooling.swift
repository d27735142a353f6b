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
    /// The input and output of the last training forward pass.
    private var cached: (input: Tensor, output: Tensor)?

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
        let input = input  // kept (shared, not copied) for max pooling's backward pass
        let batch = input.batch
        var output = Tensor(uninitialized: [batch] + outputShape)
        let c = channels, g = geometry
        let inputImage = g.inputHeight * g.inputWidth * c, outputImage = g.outputHeight * g.outputWidth * c
        let kind = self.kind
        input.data.withUnsafeBufferPointer { xBuffer in
            output.data.withUnsafeMutableBufferPointer { yBuffer in
                let pointers = PoolPointers(x: xBuffer.baseAddress!, y: yBuffer.baseAddress!)
                Parallel.forRanges(batch) { images in
                    for image in images {
                        for oy in 0..<g.outputHeight {
                            for ox in 0..<g.outputWidth {
                                let (rows, columns) = window(oy, ox)
                                let out = UnsafeMutableBufferPointer(
                                    start: pointers.y + image * outputImage + (oy * g.outputWidth + ox) * c, count: c)
                                let firstTap = image * inputImage + (rows.lowerBound * g.inputWidth + columns.lowerBound) * c
                                out.baseAddress!.update(from: pointers.x + firstTap, count: c)
                                for iy in rows {
                                    for ix in columns {
                                        let tap = image * inputImage + (iy * g.inputWidth + ix) * c
                                        if tap == firstTap { continue }
                                        ChannelKernels.combine(into: out.baseAddress!, from: pointers.x + tap, count: c,
                                                               maximum: kind == .max)
                                    }
                                }
                                if kind == .average {
                                    let scale = 1 / Float(rows.count * columns.count)
                                    SIMDLoop.update(out, { $0 * scale }, { $0 * scale })
                                }
                            }
                        }
                    }
                }
            }
        }
        cached = training ? (input, output) : nil
        return output
    }

    /// Max pooling sends each output's gradient to the first window position holding the maximum (found
    /// again from the kept input and output, as TensorFlow's MaxPoolGrad does); average pooling spreads it
    /// evenly over the window's in-bounds positions.
    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let (input, output) = cached, input.batch == outputGradient.batch else {
            preconditionFailure("\(name): backward without a training forward")
        }
        var inputGradient = Tensor(zeros: input.shape)
        let c = channels, g = geometry
        let inputImage = g.inputHeight * g.inputWidth * c, outputImage = g.outputHeight * g.outputWidth * c
        let kind = self.kind
        withExtendedLifetime((input, output, outputGradient)) {
            input.data.withUnsafeBufferPointer { x in
                output.data.withUnsafeBufferPointer { y in
                    outputGradient.data.withUnsafeBufferPointer { dy in
                        inputGradient.data.withUnsafeMutableBufferPointer { dx in
                            let p = PoolGradientPointers(x: x.baseAddress!, y: y.baseAddress!, dy: dy.baseAddress!,
                                                         dx: dx.baseAddress!)
                            // Each image's gradient lands only in that image's input, so images split across cores.
                            Parallel.forRanges(input.batch) { images in
                                for image in images {
                                    for oy in 0..<g.outputHeight {
                                        for ox in 0..<g.outputWidth {
                                            let (rows, columns) = window(oy, ox)
                                            let out = image * outputImage + (oy * g.outputWidth + ox) * c
                                            let window = TapWindow(rows: rows, columns: columns,
                                                                   imageStart: image * inputImage,
                                                                   rowStride: g.inputWidth * c, channels: c)
                                            if kind == .average {
                                                let scale = 1 / Float(rows.count * columns.count)
                                                window.forEach { tap in
                                                    ChannelKernels.addScaled(into: p.dx + tap, from: p.dy + out,
                                                                             scale: scale, count: c)
                                                }
                                            } else {
                                                ChannelKernels.routeToMaximum(window, output: out, x: p.x, y: p.y,
                                                                              dy: p.dy, dx: p.dx)
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

/// The in-bounds input positions of one pooling window, as offsets of their first channel.
struct TapWindow {
    let rows: Range<Int>
    let columns: Range<Int>
    let imageStart: Int
    let rowStride: Int
    let channels: Int

    @inline(__always)
    func forEach(_ body: (Int) -> Void) {
        for row in rows {
            for column in columns { body(imageStart + row * rowStride + column * channels) }
        }
    }
}

/// Per-pixel channel loops of the pooling layers, 16 channels at a time.
enum ChannelKernels {
    typealias Vector = SIMD16<Float>

    /// out = max(out, tap) (or out + tap) over `count` channels.
    @inline(__always)
    static func combine(into out: UnsafeMutablePointer<Float>, from tap: UnsafePointer<Float>, count: Int,
                        maximum: Bool) {
        let target = UnsafeMutableRawPointer(out), source = UnsafeRawPointer(tap)
        var k = 0
        while k + 16 <= count {
            let a = target.loadUnaligned(fromByteOffset: k * 4, as: Vector.self)
            let b = source.loadUnaligned(fromByteOffset: k * 4, as: Vector.self)
            target.storeBytes(of: maximum ? a.replacing(with: b, where: b .> a) : a + b, toByteOffset: k * 4,
                              as: Vector.self)
            k += 16
        }
        while k < count {
            out[k] = maximum ? max(out[k], tap[k]) : out[k] + tap[k]
            k += 1
        }
    }

    /// Adds dy[output + k] to dx at the first tap (in window order) whose input equals the output maximum.
    @inline(__always)
    static func routeToMaximum(_ window: TapWindow, output: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
                               dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let channels = window.channels
        var k = 0
        while k + 16 <= channels {
            let yv = UnsafeRawPointer(y + output + k).loadUnaligned(as: Vector.self)
            let gv = UnsafeRawPointer(dy + output + k).loadUnaligned(as: Vector.self)
            var pending = SIMDMask<Vector.MaskStorage>(repeating: true)
            window.forEach { tap in
                let hit = pending .& (UnsafeRawPointer(x + tap + k).loadUnaligned(as: Vector.self) .== yv)
                let target = UnsafeMutableRawPointer(dx + tap + k)
                let sum = target.loadUnaligned(as: Vector.self) + Vector(repeating: 0).replacing(with: gv, where: hit)
                target.storeBytes(of: sum, as: Vector.self)
                pending = pending .& .!hit
            }
            k += 16
        }
        while k < channels {
            var pending = true
            window.forEach { tap in
                if pending && x[tap + k] == y[output + k] {
                    dx[tap + k] += dy[output + k]
                    pending = false
                }
            }
            k += 1
        }
    }

    /// target += source · scale over `count` channels.
    @inline(__always)
    static func addScaled(into target: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>, scale: Float,
                          count: Int) {
        for k in 0..<count { target[k] += source[k] * scale }
    }
}

/// Buffers shared by a pooling pass's parallel parts, each of which touches only its own images.
private struct PoolPointers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafeMutablePointer<Float>
}

private struct PoolGradientPointers: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let y: UnsafePointer<Float>
    let dy: UnsafePointer<Float>
    let dx: UnsafeMutablePointer<Float>
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
