import Foundation
import KennelData
import KennelEngine
import KennelImage
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelJobs

struct TrainerTests {
    @Test func trainsRecordsEveryMetricAndKeepsTheNewestAndBestCheckpoints() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        var reports = 0
        let outcome = try bench.trainer.run(job: job, spec: bench.spec(epochs: 5), progress: { _ in reports += 1 })
        #expect(outcome.epochsRun == 5 && !outcome.cancelled)
        #expect(outcome.bestTestAccuracy >= 0.9, "best test accuracy \(outcome.bestTestAccuracy)")
        #expect(reports > 0)
        let tags = try bench.store.read { db in
            try db.values(String.self, "SELECT DISTINCT tag AS value FROM metrics WHERE job_id = ? ORDER BY tag", job)
        }
        #expect(tags == ["test/accuracy", "test/loss", "test/top5_accuracy", "train/accuracy", "train/images_per_s",
                         "train/learning_rate", "train/loss"])
        let testPoints = try bench.store.read { db in
            try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM metrics WHERE job_id = ? AND tag = 'test/accuracy'", job)
        }
        #expect(testPoints == 5)
        // Two newest plus the best (if it is older) remain, files and rows alike.
        let kept = try bench.store.read { db in
            try db.records(CheckpointRecord.self, "WHERE job_id = ?", job)
        }
        #expect(kept.count >= 2 && kept.count <= 3)
        #expect(kept.allSatisfy { FileManager.default.fileExists(atPath: $0.path) })
        let best = try #require(outcome.bestCheckpoint)
        #expect(kept.contains { $0.id == best.id })
        #expect(best.metricsJson.contains("\"confusion\""))
        // The best checkpoint loads, checked against its sha256, and classifies like the run's best epoch.
        let loaded = try Checkpoint.decode(try bench.trainer.checkpoints.load(best))
        #expect(loaded.header.labels == ["dark", "bright"])
        #expect(loaded.header.preprocessing["color"] == "gray")
    }

    @Test func damagedCheckpointsAreNeverLoaded() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let job = try bench.newJob()
        let outcome = try bench.trainer.run(job: job, spec: bench.spec(epochs: 1))
        let record = try #require(outcome.bestCheckpoint)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: record.path))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: record.path))
        #expect(throws: CheckpointStoreError.damaged(path: record.path)) { try bench.trainer.checkpoints.load(record) }
    }

    @Test func cancellationStopsAtTheNextStep() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        var polls = 0
        let outcome = try bench.trainer.run(job: try bench.newJob(), spec: bench.spec(epochs: 50),
                                            isCancelled: { polls += 1; return polls > 3 })
        #expect(outcome.cancelled)
        #expect(outcome.steps == 3)
    }

    @Test func aNonFiniteLossFailsNamingTheStep() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        var spec = bench.spec(epochs: 3)
        spec.optimizer = OptimizerConfig(name: .sgd, learningRate: 1e30)
        #expect(throws: TrainingError.self) { try bench.trainer.run(job: try bench.newJob(), spec: spec) }
        do {
            _ = try bench.trainer.run(job: try bench.newJob(), spec: spec)
        } catch let error as TrainingError {
            #expect(error.description.contains("at step"))
        }
    }

    @Test func specsAreValidatedFieldByField() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        let header = try Shard(path: bench.directory.path + "/var/datasets/tiny.shard").header
        func field(_ change: (inout TrainingSpec) -> Void) -> String? {
            var spec = bench.spec()
            change(&spec)
            do {
                _ = try spec.validatedModel(for: header)
                return nil
            } catch let error as SpecError {
                return error.field
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(field { _ in } == nil)
        #expect(field { $0.epochs = 0 } == "epochs")
        #expect(field { $0.batchSize = 5000 } == "batch_size")
        #expect(field { $0.optimizer.learningRate = -1 } == "optimizer.learning_rate")
        #expect(field { $0.layers = nil; $0.preset = "dogs-xl" } == "preset")
        #expect(field { $0.layers = nil; $0.preset = "fashion-convnet" } == "preset")
        #expect(field { $0.preset = "cifar-cnn" } == "preset")
        #expect(field { $0.layers![2].units = 3 } == "layers")
        #expect(field { $0.schedule = ScheduleSpec(name: "warp") } == "schedule.name")
        #expect(field { $0.schedule = ScheduleSpec(name: "exponential_decay") } == "schedule.decay_steps")
        #expect(field { $0.keepCheckpoints = 0 } == "keep_checkpoints")
        #expect(field { $0.augment = Augmentation(rotation: 90) } == "augment")
    }

    @Test func specsDecodeFromTheAPIShape() throws {
        let json = #"""
        {"dataset":"tiny","preset":"fashion-convnet","epochs":2,"batch_size":64,
         "optimizer":{"name":"adam","learning_rate":0.001},"schedule":{"name":"exponential_decay","decay_steps":100,
         "decay_rate":0.96,"staircase":true},"augment":{"flip":true,"shift":2},"seed":7,
         "early_stopping":{"patience":2,"min_delta":0.001}}
        """#
        let spec = try JSONDecoder().decode(TrainingSpec.self, from: Data(json.utf8))
        #expect(spec.batchSize == 64 && spec.optimizer.learningRate == 0.001 && spec.seed == 7)
        #expect(spec.schedule?.decaySteps == 100 && spec.augment?.shift == 2 && spec.earlyStopping?.patience == 2)
    }
}
