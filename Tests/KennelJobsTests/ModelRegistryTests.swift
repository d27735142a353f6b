import Foundation
import KennelEngine
import KennelImage
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelJobs

struct ModelRegistryTests {
    /// A new image of the dark class, drawn differently from every training image.
    private func heldOutDarkImage() throws -> [UInt8] {
        var image = Image(width: 8, height: 8, channels: 1)
        for y in 0..<8 { for x in 0..<8 { image[y, x, 0] = 35 + Float((x * 3 + y * 5) % 17) + (y == 0 ? 190 : 0) } }
        return try ImageEncoder.png(image)
    }

    @Test func trainPromoteAndClassifyAHeldOutImage() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        let outcome = try bench.trainer.run(job: job, spec: bench.spec(epochs: 6))
        let registry = ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory)
        let served = try registry.promote(name: "tones", job: job)
        #expect(served.version == 1)
        // The job's best checkpoint is what gets served.
        let record = try #require(try bench.store.read { try $0.record(ModelRecord.self, "WHERE name = 'tones' AND version = 1") })
        #expect(record.checkpointId == outcome.bestCheckpoint?.id)
        let predictions = try served.classify(try heldOutDarkImage(), topK: 5).predictions
        #expect(predictions.count == 2)
        #expect(predictions.first?.label == "dark")
        #expect(predictions.first?.classId == "n0-dark")
        #expect(predictions[0].probability >= predictions[1].probability)
        #expect(abs(predictions.reduce(0) { $0 + $1.probability } - 1) < 1e-4)
        #expect(try registry.served("tones").version == 1)
        #expect(throws: ImageError.self) { try served.classify(Array("text".utf8)) }
    }

    @Test func promotionAddsVersionsAndRollbackServesThePreviousOne() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let first = try bench.newJob()
        _ = try bench.trainer.run(job: first, spec: bench.spec(epochs: 1))
        let second = try bench.newJob()
        _ = try bench.trainer.run(job: second, spec: bench.spec(epochs: 2))
        let registry = ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory)
        try registry.promote(name: "tones", job: first)
        #expect(try registry.promote(name: "tones", job: second).version == 2)
        #expect(try registry.served("tones").version == 2)
        #expect(try registry.rollback(name: "tones").version == 1)
        #expect(try registry.served("tones").version == 1)
        // A fresh registry (a restarted server) serves what the database says.
        #expect(try ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory).served("tones").version == 1)
        #expect(throws: RegistryError.nothingToRollBackTo("tones")) { try registry.rollback(name: "tones") }
        #expect(throws: RegistryError.unknownModel("nope")) { try registry.served("nope") }
        #expect(throws: RegistryError.invalidName("bad name")) { try registry.promote(name: "bad name", job: first) }
        let empty = try bench.newJob()
        #expect(throws: RegistryError.jobHasNoCheckpoint(empty)) { try registry.promote(name: "tones", job: empty) }
    }

    /// Every promoted name once stayed resident forever (+52 MB each); now the loaded models keep within a
    /// budget, least recently used out, loaded again on demand, and readiness says which is which.
    @Test func residentModelsStayWithinTheBudgetAndUnservedOnesLeave() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        _ = try bench.trainer.run(job: job, spec: bench.spec(epochs: 1))
        let probe = try ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory).promote(name: "probe", job: job)
        // Room for two models.
        let registry = ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory,
                                     residentBudget: 2 * probe.residentBytes + probe.residentBytes / 2)
        for name in ["a", "b", "c"] { try registry.promote(name: name, job: job) }
        func states() throws -> [String: (ready: Bool, onDemand: Bool)] {
            Dictionary(uniqueKeysWithValues: try registry.readiness().map { ($0.name, ($0.ready, $0.onDemand)) })
        }
        var now = try states()
        #expect(now["a"]! == (false, true) && now["b"]! == (true, false) && now["c"]! == (true, false))
        // "probe" was promoted by another process: never loaded here, so not ready and not on demand either.
        #expect(now["probe"]! == (false, false))
        // Using "a" loads it again and lets the least recently used ("b") go.
        _ = try registry.served("a").classify(try heldOutDarkImage())
        now = try states()
        #expect(now["a"]!.ready && now["b"]!.onDemand && now["c"]!.ready)
        try registry.unserve(name: "a")
        #expect(throws: RegistryError.unknownModel("a")) { try registry.served("a") }
        #expect(throws: RegistryError.unknownModel("a")) { try registry.unserve(name: "a") }
        #expect(try states()["a"] == nil)
        // Promoting it again serves a new version.
        #expect(try registry.promote(name: "a", job: job).version == 2)
    }
}

/// Promotion in bf16 and int8: the version's test accuracy is measured beside fp32's, recorded and kept with the
/// calibration; a version that loses more than half a point is refused with both accuracies.
extension ModelRegistryTests {
    @Test func int8AndBF16PromotionsMeasureRecordAndReloadTheirVersion() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        _ = try bench.trainer.run(job: job, spec: bench.spec(epochs: 6))
        let registry = ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory)
        let image = try heldOutDarkImage()
        for (version, precision) in [Precision.int8, .bf16].enumerated() {
            let served = try registry.promote(name: "tones", job: job, precision: precision)
            #expect(served.precision == precision)
            let record = try #require(try bench.store.read {
                try $0.record(ModelRecord.self, "WHERE name = 'tones' AND version = ?", version + 1)
            })
            #expect(record.precision == precision.rawValue)
            let accuracy = try #require(record.testAccuracy), fp32 = try #require(record.fp32TestAccuracy)
            #expect(fp32 > 0.5 && fp32 - accuracy <= ModelRegistry.allowedAccuracyDrop)
            #expect((record.calibrationJson != nil) == (precision == .int8))
            let answer = try served.classify(image).predictions
            #expect(answer.first?.label == "dark")
            // A restarted server quantizes exactly as at promotion.
            let reloaded = try ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory).served("tones")
            #expect(reloaded.precision == precision)
            #expect(try reloaded.classify(image).predictions == answer)
        }
    }

    /// A checkpoint whose dense layer reads one constant channel of 1,000 beside the channel that decides: in fp32
    /// the constant is weighted by zero and every test image is right; int8 quantizes the dense layer's input over
    /// 0…1,000, the deciding channel (below 0.5) becomes 0, and every image gets the same class. bf16 keeps it.
    @Test func aReducedPrecisionThatLosesAccuracyIsRefusedWithBothFigures() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        let model = try bench.spec().validatedModel(for: try bench.store.shard(ofDataset: bench.dataset).header,
                                                    limits: ModelLimits())
        let convolution = try #require(model.layers.first as? ConvolutionLayer)
        let dense = try #require(model.layers.last as? DenseLayer)
        convolution.kernel.value.data = convolution.kernel.value.data.indices.map { index in
            // HWIO 3×3×1×4: filter 1 passes the centre pixel; 0, 2, 3 see nothing.
            index == 4 * 4 + 1 ? 1 : 0
        }
        convolution.bias.value.data = [1000, -0.5, 0, 0]
        // Flattened NHWC, 4 channels: dense input i is channel i % 4. Brightness above half, summed, says "bright".
        dense.kernel.value.data = (0..<(dense.kernel.value.data.count / 2)).flatMap { input in
            input % 4 == 1 ? [Float(-0.1), 0.1] : [0, 0]
        }
        dense.bias.value.data = [1.3, -1.3]
        let checkpoint = try CheckpointStore(store: bench.store, dataDirectory: bench.dataDirectory).save(
            try Checkpoint.encode(model, labels: ["dark", "bright"],
                                  preprocessing: ["width": "8", "height": "8", "color": "gray"]),
            job: job, step: 1, epoch: 1, metricsJson: "{}")
        let registry = ModelRegistry(store: bench.store, dataDirectory: bench.dataDirectory)
        do {
            try registry.promote(name: "tones", job: job, checkpoint: checkpoint.id, precision: .int8)
            Issue.record("the int8 promotion was accepted")
        } catch RegistryError.costsAccuracy(let precision, let fp32, let reduced) {
            #expect(precision == .int8)
            #expect(fp32 == 1)
            #expect(reduced < 1 - ModelRegistry.allowedAccuracyDrop)
            let message = RegistryError.costsAccuracy(precision, fp32: fp32, reduced: reduced).description
            #expect(message.contains("100.00% in fp32") && message.contains(String(format: "%.2f%%", reduced * 100)))
        }
        #expect(try bench.store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM models") } == 0)
        let bf16 = try registry.promote(name: "tones", job: job, checkpoint: checkpoint.id, precision: .bf16)
        #expect(bf16.version == 1)
        let record = try #require(try bench.store.read { try $0.record(ModelRecord.self, "") })
        #expect(record.testAccuracy == 1 && record.fp32TestAccuracy == 1)
    }
}
