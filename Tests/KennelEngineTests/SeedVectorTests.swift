import Testing
@testable import KennelEngine

/// The test vectors DESIGN.md takes from the seeds, exact within 1e-5.
struct SeedVectorTests {
    private func close(_ got: [Float], _ expected: [Float]) -> Bool {
        got.count == expected.count && zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-5 }
    }

    private func conv(input: [Int], kernel: Tensor, stride: Int, padding: Padding) throws -> ConvolutionLayer {
        var random = SeededRandom(seed: 0)
        let layer = try ConvolutionLayer(name: "conv", input: input, filters: kernel.shape[3],
                                         kernel: (kernel.shape[0], kernel.shape[1]), stride: (stride, stride),
                                         padding: padding, initializer: .zeros, random: &random)
        layer.kernel.value = kernel
        return layer
    }

    @Test func oneByOneConvolution() throws {
        let layer = try conv(input: [2, 2, 1], kernel: Tensor(shape: [1, 1, 1, 2], data: [1, 2]), stride: 1, padding: .same)
        let output = layer.forward(Tensor(shape: [2, 2, 2, 1], data: [0, 1, 2, 3, 2, 4, 6, 8]), training: false)
        #expect(output.shape == [2, 2, 2, 2])
        #expect(close(output.data, [0, 0, 1, 2, 2, 4, 3, 6, 2, 4, 4, 8, 6, 12, 8, 16]))
    }

    @Test func stridedConvolutionWithSamePadding() throws {
        let kernel = Tensor(shape: [3, 3, 1, 1], data: [0, 0.5, 0, 0, 1, 0, 0, 0.5, 0])
        let layer = try conv(input: [6, 6, 1], kernel: kernel, stride: 3, padding: .same)
        let input = Tensor(shape: [1, 6, 6, 1]) { index in Float(index % 6) + Float(index / 6) / 10 }
        let output = layer.forward(input, training: false)
        #expect(output.shape == [1, 2, 2, 1])
        #expect(close(output.data, [2.2, 8.2, 2.8, 8.8]))
    }

    @Test func poolingOfTheSeedsThreeByThreeImages() throws {
        let maxPool = try PoolingLayer(name: "p", kind: .max, input: [3, 3, 1], size: (3, 3), stride: (1, 1),
                                       padding: .valid)
        let maxed = maxPool.forward(Tensor(shape: [1, 3, 3, 1], data: [1.0, 0.2, 1.5, 0.1, 1.2, 1.4, 1.1, 0.4, 0.4]),
                                    training: false)
        #expect(close(maxed.data, [1.5]))
        let averagePool = try PoolingLayer(name: "p", kind: .average, input: [3, 3, 1], size: (3, 3), stride: (1, 1),
                                           padding: .valid)
        let averaged = averagePool.forward(Tensor(shape: [1, 3, 3, 1], data: [1, 1, 1, 1, 0.5, 0, 0, 0, 0]),
                                           training: false)
        #expect(close(averaged.data, [0.5]))
    }

    @Test func sigmoidAndTanh() {
        let input = Tensor(shape: [1, 4], data: [-1, 0, 1, 2])
        let sigmoid = ActivationLayer(name: "s", function: .sigmoid, input: [4]).forward(input, training: false)
        #expect(close(sigmoid.data, [0.26894143, 0.5, 0.7310586, 0.88079703]))
        let tanh = ActivationLayer(name: "t", function: .tanh, input: [4]).forward(input, training: false)
        #expect(close(tanh.data, [-0.76159418, 0, 0.76159418, 0.96402758]))
    }

    @Test func dropoutKeepingHalfDoublesWhatItKeepsAndIsIdentityAtInference() throws {
        let layer = try DropoutLayer(name: "d", rate: 0.5, input: [1000], random: RandomSource(SeededRandom(seed: 7)))
        let input = Tensor(shape: [1, 1000]) { Float($0 + 1) }
        let output = layer.forward(input, training: true)
        for (x, y) in zip(input.data, output.data) { #expect(y == 0 || y == 2 * x) }
        let kept = output.data.filter { $0 != 0 }.count
        #expect(kept > 400 && kept < 600)
        #expect(layer.forward(input, training: false) == input)
    }

    @Test func localResponseNormalization() throws {
        let layer = try LocalResponseNormalizationLayer(name: "l", input: [1, 3, 1], depthRadius: 5, bias: 1, alpha: 1,
                                                        beta: 0.5)
        let output = layer.forward(Tensor(shape: [1, 1, 3, 1], data: [1, 2, 3]), training: false)
        #expect(close(output.data, [0.70710677, 0.89442718, 0.94868326]))
    }

    @Test func dogsSeedShapesAfterEachLayer() throws {
        let model = try Model(preset: .dogsSeed)
        let shapes = model.summary.map(\.outputShape)
        #expect(shapes == [[125, 76, 32], [125, 76, 32], [63, 38, 32], [63, 38, 64], [63, 38, 64], [32, 19, 64],
                           [38912], [512], [512], [512], [120]])
    }

    @Test func cifarCNNParameterCount() throws {
        let model = try Model(preset: .cifarCNN)
        #expect(model.parameterCount == 1_051_082)
        #expect(model.summary.map(\.parameterCount).filter { $0 > 0 } == [1792, 1_048_640, 650])
    }

    @Test func fashionConvnetShapes() throws {
        let model = try Model(preset: .fashionConvnet)
        #expect(model.summary.last?.outputShape == [10])
        #expect(model.summary.first { $0.name == "flatten1" }?.outputShape == [3136])
    }
}
