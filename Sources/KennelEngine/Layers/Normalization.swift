import Foundation

/// Batch normalization over the last axis: batch statistics in training (updating moving averages with
/// `momentum`), the moving statistics at inference; `gamma`, `beta` learned.
public final class BatchNormalizationLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let gamma: Parameter
    public let beta: Parameter
    public let movingMean: Parameter
    public let movingVariance: Parameter
    public let momentum: Float
    public let epsilon: Float
    private let channels: Int
    private var normalized: Tensor?
    private var inverseDeviation: [Float] = []

    public var parameters: [Parameter] { [gamma, beta, movingMean, movingVariance] }
    public var description: String { "batchnorm" }

    public init(name: String, input: [Int], momentum: Float = 0.99, epsilon: Float = 1e-3) throws {
        guard momentum >= 0 && momentum < 1 else {
            throw EngineError.invalidHyperparameter(name: name, reason: "momentum must be in [0, 1), got \(momentum)")
        }
        guard epsilon > 0 else { throw EngineError.invalidHyperparameter(name: name, reason: "epsilon must be > 0") }
        self.name = name
        inputShape = input
        channels = input.last ?? 1
        self.momentum = momentum
        self.epsilon = epsilon
        gamma = Parameter(name: "\(name).gamma", value: Tensor(shape: [channels], data: .init(repeating: 1, count: channels)))
        beta = Parameter(name: "\(name).beta", value: Tensor(zeros: [channels]))
        movingMean = Parameter(name: "\(name).moving_mean", value: Tensor(zeros: [channels]), trainable: false)
        movingVariance = Parameter(name: "\(name).moving_variance",
                                   value: Tensor(shape: [channels], data: .init(repeating: 1, count: channels)),
                                   trainable: false)
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let input = input  // normalized and output are both derived from it
        let c = channels
        let rows = input.count / c
        var mean = movingMean.value.data, variance = movingVariance.value.data
        if training {
            mean = Elementwise.columnSums(input.data, columns: c).map { $0 / Float(rows) }
            var squares = [Float](repeating: 0, count: c)
            input.data.withUnsafeBufferPointer { x in
                for row in 0..<rows { for k in 0..<c { let d = x[row * c + k] - mean[k]; squares[k] += d * d } }
            }
            variance = squares.map { $0 / Float(rows) }
            for k in 0..<c {
                movingMean.value.data[k] = momentum * movingMean.value.data[k] + (1 - momentum) * mean[k]
                movingVariance.value.data[k] = momentum * movingVariance.value.data[k] + (1 - momentum) * variance[k]
            }
        }
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var xhat = input
        var output = input
        let g = gamma.value.data, b = beta.value.data
        xhat.data.withUnsafeMutableBufferPointer { h in
            output.data.withUnsafeMutableBufferPointer { y in
                for row in 0..<rows {
                    for k in 0..<c {
                        let i = row * c + k
                        h[i] = (h[i] - mean[k]) * inverse[k]
                        y[i] = h[i] * g[k] + b[k]
                    }
                }
            }
        }
        normalized = training ? xhat : nil
        inverseDeviation = inverse
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let xhat = normalized else { preconditionFailure("\(name): backward without a training forward") }
        let c = channels
        let rows = outputGradient.count / c
        var sumDy = [Float](repeating: 0, count: c), sumDyXhat = [Float](repeating: 0, count: c)
        outputGradient.data.withUnsafeBufferPointer { dy in
            xhat.data.withUnsafeBufferPointer { h in
                for row in 0..<rows {
                    for k in 0..<c { sumDy[k] += dy[row * c + k]; sumDyXhat[k] += dy[row * c + k] * h[row * c + k] }
                }
            }
        }
        beta.gradient.data = sumDy
        gamma.gradient.data = sumDyXhat
        guard needsInputGradient else { return nil }
        // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)), per channel.
        var inputGradient = outputGradient
        let count = Float(rows)
        inputGradient.data.withUnsafeMutableBufferPointer { dx in
            xhat.data.withUnsafeBufferPointer { h in
                for row in 0..<rows {
                    for k in 0..<c {
                        let i = row * c + k
                        dx[i] = gamma.value.data[k] * inverseDeviation[k]
                            * (dx[i] - sumDy[k] / count - h[i] * sumDyXhat[k] / count)
                    }
                }
            }
        }
        return inputGradient
    }
}

/// Local response normalization across channels, as TensorFlow defines it:
/// sqr_sum[d] = Σ x[d−r…d+r]², out[d] = x[d] / (bias + alpha · sqr_sum[d])^beta.
public final class LocalResponseNormalizationLayer: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let depthRadius: Int, bias: Float, alpha: Float, beta: Float
    private var cachedInput: Tensor?
    private var cachedNorm: [Float] = []

    public var description: String { "lrn r\(depthRadius)" }

    public init(name: String, input: [Int], depthRadius: Int = 5, bias: Float = 1, alpha: Float = 1, beta: Float = 0.5)
        throws {
        guard depthRadius >= 0, bias > 0, alpha >= 0, beta >= 0 else {
            throw EngineError.invalidHyperparameter(
                name: name, reason: "lrn needs depth_radius ≥ 0, bias > 0, alpha ≥ 0, beta ≥ 0")
        }
        self.name = name
        inputShape = input
        self.depthRadius = depthRadius
        self.bias = bias
        self.alpha = alpha
        self.beta = beta
    }

    /// bias + alpha · (windowed sum of squares), per element.
    private func norms(_ x: UnsafeBufferPointer<Float>, channels c: Int) -> [Float] {
        var result = [Float](repeating: 0, count: x.count)
        for base in stride(from: 0, to: x.count, by: c) {
            for d in 0..<c {
                var sum: Float = 0
                for j in max(0, d - depthRadius)...min(c - 1, d + depthRadius) { sum += x[base + j] * x[base + j] }
                result[base + d] = bias + alpha * sum
            }
        }
        return result
    }

    public func forward(_ input: consuming Tensor, training: Bool) -> Tensor {
        let input = input  // kept for backward as well as scaled into the output
        let c = inputShape.last ?? 1
        let norm = input.data.withUnsafeBufferPointer { norms($0, channels: c) }
        var output = input
        for i in output.data.indices { output.data[i] *= Foundation.pow(norm[i], -beta) }
        cachedInput = training ? input : nil
        cachedNorm = training ? norm : []
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, needsInputGradient: Bool) -> Tensor? {
        guard needsInputGradient else { return nil }
        guard let input = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        let c = inputShape.last ?? 1
        let x = input.data, g = outputGradient.data, n = cachedNorm
        // dx[j] = g[j]·N[j]^−β − 2αβ·x[j]·Σ_{i: j ∈ window(i)} g[i]·x[i]·N[i]^(−β−1)
        let weighted = (0..<x.count).map { g[$0] * x[$0] * Foundation.pow(n[$0], -beta - 1) }
        var inputGradient = outputGradient
        for base in stride(from: 0, to: x.count, by: c) {
            for j in 0..<c {
                var sum: Float = 0
                for i in max(0, j - depthRadius)...min(c - 1, j + depthRadius) { sum += weighted[base + i] }
                let index = base + j
                inputGradient.data[index] = g[index] * Foundation.pow(n[index], -beta) - 2 * alpha * beta * x[index] * sum
            }
        }
        return inputGradient
    }
}
