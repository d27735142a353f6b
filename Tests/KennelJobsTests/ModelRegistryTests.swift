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
        let record = try #require(try bench.store.pool.read { try ModelRecord.fetchOne($0, key: ["name": "tones", "version": 1]) })
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
