import Foundation
import KennelTestSupport
import Testing
@testable import KennelEngine

/// Learning on a fixed synthetic problem: 8×8 gray images of four classes (a bright bar in one of four
/// places), with noise.
struct TrainingTests {
    static func problem(count: Int = 64, seed: UInt64 = 21) -> (Tensor, [Int32]) {
        var random = SeededRandom(seed: seed)
        var images = Tensor(zeros: [count, 8, 8, 1])
        var labels: [Int32] = []
        for index in 0..<count {
            let label = index % 4
            labels.append(Int32(label))
            for pixel in 0..<64 {
                let (row, column) = (pixel / 8, pixel % 8)
                let onBar = label == 0 ? row == 1 : label == 1 ? row == 6 : label == 2 ? column == 1 : column == 6
                images.data[index * 64 + pixel] = (onBar ? 1 : 0) + (random.nextUnit() - 0.5) * 0.4
            }
        }
        return (images, labels)
    }

    static let smallNet: [LayerSpec] = {
        var conv = LayerSpec(type: "conv2d")
        conv.filters = 4
        conv.kernel = 3
        conv.padding = .same
        conv.activation = "relu"
        var pool = LayerSpec(type: "maxpool")
        pool.size = 2
        var dense = LayerSpec(type: "dense")
        dense.units = 4
        return [conv, pool, LayerSpec(type: "flatten"), dense]
    }()

    private func train(_ optimizer: OptimizerConfig, steps: Int) throws -> (first: Float, last: Float) {
        let model = try Model(layers: Self.smallNet, inputShape: [8, 8, 1], classCount: 4, seed: 1, optimizer: optimizer)
        let (images, labels) = Self.problem()
        let first = try model.trainStep(images, labels: labels).loss
        var last = first
        for _ in 1..<steps { last = try model.trainStep(images, labels: labels).loss }
        return (first, last)
    }

    @Test func adamDrivesTrainingLossBelowFiveHundredths() throws {
        let (first, last) = try train(OptimizerConfig(name: .adam, learningRate: 0.02), steps: 150)
        #expect(first > 1)
        #expect(last < 0.05, "loss \(first) → \(last)")
    }

    @Test(arguments: [OptimizerConfig.Kind.sgd, .adam, .adamw, .rmsprop])
    func everyOptimizerReducesTheLoss(kind: OptimizerConfig.Kind) throws {
        var config = OptimizerConfig(name: kind, learningRate: kind == .sgd ? 0.1 : 0.01)
        if kind == .sgd { config.momentum = 0.9 }
        let (first, last) = try train(config, steps: 40)
        #expect(last < first * 0.5, "\(kind): loss \(first) → \(last)")
    }

    @Test func trainingIsReproducibleForASeed() throws {
        var specs = Self.smallNet
        var dropout = LayerSpec(type: "dropout")
        dropout.rate = 0.2
        specs.insert(dropout, at: 3)
        let (images, labels) = Self.problem()
        func run() throws -> [Float] {
            let model = try Model(layers: specs, inputShape: [8, 8, 1], classCount: 4, seed: 5)
            return try (0..<5).map { _ in try model.trainStep(images, labels: labels).loss }
        }
        #expect(try run() == run())
    }

    @Test func checkpointRoundTripGivesBitIdenticalPredictionsAndTrainingContinuesTheSame() throws {
        var specs = Self.smallNet
        var norm = LayerSpec(type: "batchnorm")
        norm.momentum = 0.9
        specs.insert(norm, at: 1)
        let model = try Model(layers: specs, inputShape: [8, 8, 1], classCount: 4, seed: 3,
                              schedule: .exponentialDecay(decaySteps: 5, decayRate: 0.9, staircase: true))
        let (images, labels) = Self.problem()
        for _ in 0..<7 { _ = try model.trainStep(images, labels: labels) }
        let labelNames = ["top", "bottom", "left", "right"]
        let bytes = try Checkpoint.encode(model, labels: labelNames, preprocessing: ["color": "gray"],
                                          metadata: ["epoch": "2"])
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.url.appendingPathComponent("model.kennel")
        try Checkpoint.write(bytes, to: file)
        let loaded = try Checkpoint.decode(Array(try Data(contentsOf: file)))
        #expect(loaded.header.labels == labelNames)
        #expect(loaded.header.preprocessing == ["color": "gray"])
        #expect(loaded.header.metadata["epoch"] == "2")
        #expect(try loaded.model.predict(images) == model.predict(images))
        // Optimizer moments, schedule position and dropout randomness came along: the next steps agree exactly.
        for _ in 0..<3 {
            #expect(try loaded.model.trainStep(images, labels: labels) == model.trainStep(images, labels: labels))
        }
    }

    @Test func damagedCheckpointsAreRefusedWithReasons() throws {
        let model = try Model(layers: Self.smallNet, inputShape: [8, 8, 1], classCount: 4)
        let bytes = try Checkpoint.encode(model, labels: ["a", "b", "c", "d"])
        func reason(_ bytes: [UInt8]) -> String? {
            do {
                _ = try Checkpoint.decode(bytes)
                return nil
            } catch let error as EngineError {
                return error.description
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(reason(Array(bytes.dropLast(10)))?.contains("truncated") == true)
        #expect(reason(Array(bytes.prefix(12)))?.contains("too short") == true)
        var wrongMagic = bytes
        wrongMagic[0] = 0x58
        #expect(reason(wrongMagic)?.contains("magic") == true)
        var wrongVersion = bytes
        wrongVersion[8] = 9
        #expect(reason(wrongVersion)?.contains("version 9") == true)
        var hugeHeader = bytes
        hugeHeader[15] = 0x7F
        #expect(reason(hugeHeader)?.contains("truncated") == true)

        // A table that disagrees with the layer list: the header says 5 filters, the tensors hold 4.
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        let header = String(decoding: bytes[16..<(16 + headerLength)], as: UTF8.self)
        let edited = Array(header.replacingOccurrences(of: #""filters":4"#, with: #""filters":5"#).utf8)
        var mismatched = Array(bytes[0..<12])
        withUnsafeBytes(of: UInt32(edited.count).littleEndian) { mismatched += $0 }
        mismatched += edited + bytes[(16 + headerLength)...]
        #expect(reason(mismatched)?.contains("conv1.kernel") == true)
    }

    @Test func invalidLayerListsNameTheLayer() {
        func reason(_ specs: [LayerSpec], classes: Int = 4) -> String? {
            do {
                _ = try Model(layers: specs, inputShape: [8, 8, 1], classCount: classes)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(reason(Self.smallNet, classes: 5)?.contains("5 logits") == true)
        var unknown = Self.smallNet
        unknown[0].type = "conv3d"
        #expect(reason(unknown)?.contains("unknown layer type 'conv3d'") == true)
        var huge = Self.smallNet
        huge[0].kernel = 9
        huge[0].padding = .valid
        #expect(reason(huge)?.contains("does not fit") == true)
        var noFlatten = Self.smallNet
        noFlatten.remove(at: 2)
        #expect(reason(noFlatten)?.contains("add a flatten layer") == true)
        var badRate = Self.smallNet
        var dropout = LayerSpec(type: "dropout")
        dropout.rate = 1.5
        badRate.insert(dropout, at: 3)
        #expect(reason(badRate)?.contains("layer 3") == true)
        #expect(throws: EngineError.unknownPreset("dogs-xl")) { try Preset.named("dogs-xl") }
        #expect(throws: EngineError.self) {
            try Model(layers: Self.smallNet, inputShape: [8, 8, 1], classCount: 4,
                      optimizer: OptimizerConfig(name: .adam, learningRate: -1))
        }
    }

    @Test func layerListsDecodeFromDesignJSON() throws {
        let json = #"""
        [{"type":"conv2d","filters":16,"kernel":3,"stride":1,"padding":"same","activation":"relu"},
        {"type":"maxpool","size":2,"stride":2,"padding":"same"},{"type":"batchnorm"},{"type":"flatten"},
        {"type":"dense","units":64,"activation":"relu"},{"type":"dropout","rate":0.3},{"type":"dense","units":4}]
        """#
        let specs = try JSONDecoder().decode([LayerSpec].self, from: Data(json.utf8))
        let model = try Model(layers: specs, inputShape: [8, 8, 1], classCount: 4)
        #expect(model.summary.map(\.outputShape) == [[8, 8, 16], [8, 8, 16], [4, 4, 16], [4, 4, 16], [256], [64], [64],
                                                      [64], [4]])
    }
}
