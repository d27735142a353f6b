/// How a sliding window treats the borders, with TensorFlow's rule.
public enum Padding: String, Codable, Sendable {
    /// No padding: out = ceil((in − k + 1) / stride).
    case valid
    /// Zero padding so out = ceil(in / stride); pad_total = max((out − 1)·stride + k − in, 0), the smaller half
    /// before (top/left) and the larger after.
    case same
}

/// The geometry of a 2-D sliding window (convolution or pooling) over an NHWC input.
public struct WindowGeometry: Sendable, Equatable {
    public let inputHeight: Int, inputWidth: Int
    public let kernelHeight: Int, kernelWidth: Int
    public let strideY: Int, strideX: Int
    public let outputHeight: Int, outputWidth: Int
    /// Zero rows above and columns left of the input.
    public let padTop: Int, padLeft: Int

    public init(inputHeight: Int, inputWidth: Int, kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int,
                padding: Padding) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        func axis(_ size: Int, _ kernel: Int, _ stride: Int) -> (out: Int, before: Int) {
            switch padding {
            case .valid:
                return ((size - kernel + stride) / stride, 0)
            case .same:
                let out = (size + stride - 1) / stride
                return (out, max((out - 1) * stride + kernel - size, 0) / 2)
            }
        }
        (outputHeight, padTop) = axis(inputHeight, kernelHeight, strideY)
        (outputWidth, padLeft) = axis(inputWidth, kernelWidth, strideX)
    }

    /// Problems with this window on this input, or nil when it fits.
    public var problem: String? {
        if kernelHeight < 1 || kernelWidth < 1 { return "kernel must be at least 1×1" }
        if strideY < 1 || strideX < 1 { return "stride must be at least 1" }
        if outputHeight < 1 || outputWidth < 1 {
            return "a \(kernelHeight)×\(kernelWidth) window does not fit a \(inputHeight)×\(inputWidth) input"
        }
        return nil
    }
}
