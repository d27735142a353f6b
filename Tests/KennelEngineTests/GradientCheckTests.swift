import Testing
@testable import KennelEngine

/// Finite-difference checks: for L = Σ output · upstream, central differences of L against the analytic
/// gradients every layer's backward pass produces, for its input and each of its trainable tensors.
struct GradientCheckTests {
    /// Inputs whose values are distinct and spaced 0.1 apart (shuffled), so max pooling's choice and ReLU's
    /// sign cannot flip within ±epsilon.
    private static func spacedInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var random = SeededRandom(seed: seed)
        let count = shape.reduce(1, *)
        let values = (0..<count).map { Float($0 - count / 2) * 0.1 + 0.05 }.shuffled(using: &random)
        return Tensor(shape: shape, data: values.map { $0 / Float(max(1, count / 20)) })
    }

    private func check(_ layer: Layer, input shape: [Int], random: RandomSource? = nil, seed: UInt64 = 3,
                       epsilon: Float = 1e-2) -> [String] {
        var generator = SeededRandom(seed: seed)
        var input = Self.spacedInput(shape, seed: seed)
        let savedRandom = random?.generator
        func loss(_ x: Tensor, _ upstream: Tensor) -> Double {
            if let random, let savedRandom { random.generator = savedRandom }
            let y = layer.forward(x, training: true)
            return zip(y.data, upstream.data).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let output = layer.forward(input, training: true)
        let upstream = Tensor(shape: output.shape, data: (0..<output.count).map { _ in generator.nextUnit() * 2 - 1 })
        _ = loss(input, upstream)
        let analyticInput = layer.backward(upstream, needsInputGradient: true)!
        let analyticParameters = layer.parameters.filter(\.trainable).map { ($0, $0.gradient) }
        var failures: [String] = []
        func compare(_ name: String, _ analytic: Float, _ numeric: Double) {
            if abs(Double(analytic) - numeric) > 2e-2 * max(1, abs(numeric)) {
                failures.append("\(layer.name) \(name): analytic \(analytic), numeric \(numeric)")
            }
        }
        let inputIndices = Array(0..<input.count).shuffled(using: &generator).prefix(40)
        for index in inputIndices {
            let original = input.data[index]
            input.data[index] = original + epsilon
            let plus = loss(input, upstream)
            input.data[index] = original - epsilon
            let minus = loss(input, upstream)
            input.data[index] = original
            compare("dx[\(index)]", analyticInput.data[index], (plus - minus) / Double(2 * epsilon))
        }
        for (parameter, gradient) in analyticParameters {
            for index in Array(0..<parameter.value.count).shuffled(using: &generator).prefix(40) {
                let original = parameter.value.data[index]
                parameter.value.data[index] = original + epsilon
                let plus = loss(input, upstream)
                parameter.value.data[index] = original - epsilon
                let minus = loss(input, upstream)
                parameter.value.data[index] = original
                compare("d\(parameter.name)[\(index)]", gradient.data[index], (plus - minus) / Double(2 * epsilon))
            }
        }
        return failures
    }

    private func convolution(input: [Int], filters: Int, kernel: Int, stride: Int, padding: Padding) throws
        -> ConvolutionLayer {
        var random = SeededRandom(seed: 11)
        return try ConvolutionLayer(name: "conv", input: input, filters: filters, kernel: (kernel, kernel),
                                    stride: (stride, stride), padding: padding, initializer: .glorotUniform,
                                    random: &random)
    }

    @Test(arguments: [(7, 6, 3, 2), (10, 7, 4, 3), (5, 5, 3, 1), (9, 8, 5, 2)])
    func stridedSameConvolutionsWithUnevenPadding(height: Int, width: Int, kernel: Int, stride: Int) throws {
        let layer = try convolution(input: [height, width, 2], filters: 3, kernel: kernel, stride: stride, padding: .same)
        #expect(check(layer, input: [2, height, width, 2]) == [])
    }

    @Test func validConvolution() throws {
        let layer = try convolution(input: [7, 6, 2], filters: 2, kernel: 3, stride: 2, padding: .valid)
        #expect(check(layer, input: [1, 7, 6, 2]) == [])
    }

    @Test func convolutionInBlockedLayoutsAtSeveralBatchSizes() throws {
        // 16 channels in, 32 filters: oneDNN keeps such kernels in a blocked layout, so the reorders both ways are
        // exercised; each batch size gets its own primitives.
        var random = SeededRandom(seed: 11)
        let layer = try ConvolutionLayer(name: "conv", input: [6, 5, 16], filters: 32, kernel: (3, 3), stride: (1, 1),
                                         padding: .same, initializer: .glorotUniform, random: &random)
        #expect(check(layer, input: [3, 6, 5, 16]) == [])
        #expect(check(layer, input: [1, 6, 5, 16]) == [])
    }

    @Test(arguments: [(PoolingLayer.Kind.max, Padding.same, 3, 2), (.average, .same, 3, 2), (.max, .valid, 2, 2),
                      (.average, .valid, 3, 2), (.max, .same, 2, 2), (.average, .same, 2, 1)])
    func pooling(kind: PoolingLayer.Kind, padding: Padding, size: Int, stride: Int) throws {
        let layer = try PoolingLayer(name: "pool", kind: kind, input: [7, 5, 3], size: (size, size),
                                     stride: (stride, stride), padding: padding)
        #expect(check(layer, input: [2, 7, 5, 3]) == [])
    }

    @Test func globalAveragePooling() throws {
        #expect(check(try GlobalAveragePoolingLayer(name: "gap", input: [3, 4, 5]), input: [2, 3, 4, 5]) == [])
    }

    @Test func dense() throws {
        var random = SeededRandom(seed: 5)
        let layer = try DenseLayer(name: "dense", input: [6], units: 4, initializer: .glorotUniform, random: &random)
        #expect(check(layer, input: [3, 6]) == [])
    }

    @Test(arguments: [ActivationFunction.relu, .leakyRelu(alpha: 0.2), .sigmoid, .tanh])
    func activations(function: ActivationFunction) {
        #expect(check(ActivationLayer(name: "act", function: function, input: [4, 5]), input: [3, 4, 5]) == [])
    }

    @Test func batchNormalizationInTrainingMode() throws {
        let layer = try BatchNormalizationLayer(name: "bn", input: [3, 2, 4])
        layer.gamma.value = Tensor(shape: [4], data: [1.5, 0.5, -1, 2])
        layer.beta.value = Tensor(shape: [4], data: [0.1, -0.2, 0.3, 0])
        #expect(check(layer, input: [4, 3, 2, 4], epsilon: 1e-3) == [])
        let dense = try BatchNormalizationLayer(name: "bn_flat", input: [5])
        #expect(check(dense, input: [6, 5], epsilon: 1e-3) == [])
    }

    @Test func localResponseNormalization() throws {
        let layer = try LocalResponseNormalizationLayer(name: "lrn", input: [2, 2, 7], depthRadius: 2, bias: 1,
                                                        alpha: 0.5, beta: 0.75)
        #expect(check(layer, input: [1, 2, 2, 7]) == [])
    }

    @Test func dropoutWithItsMaskHeld() throws {
        let random = RandomSource(SeededRandom(seed: 9))
        let layer = try DropoutLayer(name: "drop", rate: 0.3, input: [20], random: random)
        #expect(check(layer, input: [2, 20], random: random) == [])
    }

    @Test func softmaxCrossEntropy() {
        var random = SeededRandom(seed: 4)
        var logits = Tensor(shape: [5, 7]) { _ in random.nextNormal() * 3 }
        let labels: [Int32] = [0, 6, 3, 3, 1]
        let analytic = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels).gradient
        let epsilon: Float = 1e-2
        for index in 0..<logits.count {
            let original = logits.data[index]
            logits.data[index] = original + epsilon
            let plus = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels).loss
            logits.data[index] = original - epsilon
            let minus = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels).loss
            logits.data[index] = original
            #expect(abs(analytic.data[index] - (plus - minus) / (2 * epsilon)) < 1e-3)
        }
    }

    @Test func lossStaysFiniteForHugeLogits() {
        let logits = Tensor(shape: [2, 3], data: [1000, -1000, 0, -500, 800, 799])
        let result = SoftmaxCrossEntropy.evaluate(logits: logits, labels: [0, 2])
        #expect(result.loss.isFinite)
        #expect(abs(result.loss - (0 + 1.3132616) / 2) < 1e-4)
    }
}
