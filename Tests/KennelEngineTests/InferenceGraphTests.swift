import Foundation
import Testing
@testable import KennelEngine

/// The serving graph computes what the trained model computes: batch normalization folded into the convolution
/// before it and ReLU fused as a oneDNN post-op change the order of float operations, nothing else.
struct InferenceGraphTests {
    /// conv → batchnorm → relu (one stage), conv with relu (one stage), pooling, dense with relu, dropout (gone).
    private func model() throws -> Model {
        let layers = try JSONDecoder().decode([LayerSpec].self, from: Data("""
            [{"type":"conv2d","filters":8,"kernel":3,"padding":"same"},{"type":"batchnorm"},
             {"type":"activation","name":"relu"},{"type":"maxpool","size":2},
             {"type":"conv2d","filters":16,"kernel":3,"stride":2,"padding":"valid","activation":"relu"},
             {"type":"avgpool","size":2,"padding":"same"},{"type":"flatten"},
             {"type":"dense","units":24,"activation":"relu"},{"type":"dropout","rate":0.3},{"type":"dense","units":5}]
            """.utf8))
        let model = try Model(layers: layers, inputShape: [12, 10, 3], classCount: 5, seed: 4)
        // Statistics and biases a trained model would have, so every folded term matters.
        var random = SeededRandom(seed: 9)
        for parameter in model.parameters where !parameter.isKernel {
            parameter.value.data = parameter.value.data.map { _ in 0.2 + random.nextUnit() }
        }
        return model
    }

    private func batch(_ count: Int, seed: UInt64) -> Tensor {
        var random = SeededRandom(seed: seed)
        return Tensor(shape: [count, 12, 10, 3]) { _ in random.nextUnit() * 2 - 1 }
    }

    @Test func foldsNormalizationAndReLUIntoTheConvolutions() throws {
        let model = try model()
        let graph = try InferenceGraph(freezing: try self.model())
        #expect(model.layers.count == 12)
        // conv+bn+relu, pool, conv+relu, pool, flatten, dense, relu, dense.
        #expect(graph.stages.count == 8)
        #expect(graph.stages.filter { $0 is FrozenWeightedStage }.count == 2)
    }

    @Test(arguments: [1, 3, 17])
    func frozenLogitsEqualTheModelsWithin1e4(batchSize: Int) throws {
        let model = try model()
        let input = batch(batchSize, seed: UInt64(batchSize))
        let expected = try model.forward(input, training: false)
        let graph = try InferenceGraph(freezing: try self.model())
        let frozen = try graph.logits(input)
        #expect(frozen.shape == expected.shape)
        let difference = zip(frozen.data, expected.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-4, "largest difference \(difference)")
        // A second pass reuses the reordered kernels and gives the same answer.
        #expect(try graph.logits(input) == frozen)
        #expect(try graph.predict(input).data.count == batchSize * 5)
    }

    @Test func wrongInputShapesAreErrors() throws {
        let graph = try InferenceGraph(freezing: try model())
        #expect(throws: EngineError.self) { try graph.predict(Tensor(zeros: [1, 10, 12, 3])) }
    }
}

extension InferenceGraphTests {
    @Test func fashionBNFoldsEveryNormalizationIntoItsConvolution() throws {
        let model = try Model(preset: .fashionBN, seed: 1)
        let graph = try InferenceGraph(freezing: try Model(preset: .fashionBN, seed: 1))
        #expect(model.layers.filter { $0 is BatchNormalizationLayer }.count == 4)
        #expect(graph.stages.filter { $0 is FrozenWeightedStage }.count == 4)
        #expect(!graph.stages.contains { ($0 as? LayerStage)?.layer is BatchNormalizationLayer })
        let input = Tensor(shape: [2, 28, 28, 1]) { Float($0 % 29) / 29 }
        let difference = zip(try graph.logits(input).data, try model.forward(input, training: false).data)
            .map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-4)
    }
}

/// bf16 and int8 graphs compute what the float32 graph computes, to their formats' precision: the convolutions
/// and dense layers run reduced (the first stage's input is negative, so int8 meets both u8 and s8 inputs).
extension InferenceGraphTests {
    private func largestDifference(_ precision: Precision, batchSize: Int) throws -> (difference: Float, scale: Float) {
        let reference = try InferenceGraph(freezing: try model())
        let calibration = try reference.calibration(over: (0..<4).map { batch(16, seed: 100 + UInt64($0)) })
        let reduced = try InferenceGraph(freezing: try model(), precision: precision, calibration: calibration)
        #expect(reduced.stages.filter { $0 is FrozenWeightedStage }.count == 4)
        let input = batch(batchSize, seed: 7)
        let expected = try reference.logits(input), got = try reduced.logits(input)
        #expect(got.shape == expected.shape)
        #expect(try reduced.logits(input) == got)
        let difference = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? .infinity
        return (difference, expected.data.map(abs).max() ?? 0)
    }

    @Test(arguments: [1, 9])
    func bf16LogitsStayWithinItsPrecision(batchSize: Int) throws {
        let (difference, scale) = try largestDifference(.bf16, batchSize: batchSize)
        // bf16 keeps 8 significant bits: a few parts in a thousand after several layers.
        #expect(difference > 0, "bf16 computed exactly what float32 did: it did not run reduced")
        #expect(difference <= 0.01 * scale, "largest difference \(difference) for logits up to \(scale)")
    }

    @Test(arguments: [1, 9])
    func int8LogitsStayWithinItsPrecision(batchSize: Int) throws {
        let (difference, scale) = try largestDifference(.int8, batchSize: batchSize)
        #expect(difference > 0, "int8 computed exactly what float32 did: it did not run reduced")
        #expect(difference <= 0.03 * scale, "largest difference \(difference) for logits up to \(scale)")
    }

    @Test func int8NeedsAFittingCalibration() throws {
        #expect(throws: PrecisionError.needsCalibration) { try InferenceGraph(freezing: try model(), precision: .int8) }
        #expect(throws: PrecisionError.calibrationDoesNotFit(stages: 8, ranges: 3)) {
            try InferenceGraph(freezing: try model(), precision: .int8, calibration: Calibration(ranges: [0...1, 0...1, 0...1]))
        }
    }

    @Test func calibrationRecordsEachStagesInputRange() throws {
        let graph = try InferenceGraph(freezing: try model())
        let input = batch(5, seed: 3)
        let calibration = try graph.calibration(over: [input])
        #expect(calibration.ranges.count == graph.stages.count)
        #expect(calibration.ranges[0] == input.data.min()!...input.data.max()!)
        // After the fused ReLU, nothing is negative.
        #expect(calibration.ranges[1].lowerBound == 0 && calibration.ranges[1].upperBound > 0)
    }
}
