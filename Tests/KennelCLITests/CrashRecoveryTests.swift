import Foundation
import KennelImage
import KennelStore
import KennelTestSupport
import Testing

/// A training process killed with SIGKILL after its first checkpoint; the next `kennel serve` resumes the job
/// under the same id and finishes it, its steps continuing rather than restarting.
@Suite(.serialized) struct CrashRecoveryTests {
    @Test func aKilledTrainingJobResumesWhenTheServerStarts() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeToneImages(under: directory.path)
        let data = directory.path + "/var"
        let storage = ["--data-dir", data, "--migrations", repositoryRoot.path + "/migrations"]
        let imported = try runKennel(["import", "--name", "tiny", "--format", "imagefolder", "--width", "8",
                                      "--height", "8"] + storage + [directory.path + "/images"])
        try #require(imported.status == 0, "\(imported.output)")

        let epochs = 200
        let layers = #"[{"type":"conv2d","filters":4,"kernel":3,"padding":"same","activation":"relu"},"#
            + #"{"type":"flatten"},{"type":"dense","units":2}]"#
        let trainer = Process()
        trainer.executableURL = try kennelBinary()
        trainer.arguments = ["train", "--dataset", "tiny", "--layers", layers, "--epochs", String(epochs),
                             "--batch-size", "4"] + storage
        trainer.standardOutput = FileHandle.nullDevice
        trainer.standardError = FileHandle.nullDevice
        try trainer.run()

        let store = try Store(dataDirectory: URL(fileURLWithPath: data),
                              migrations: try Migration.load(from: repositoryRoot.appendingPathComponent("migrations/sqlite")))
        defer { try? store.close() }
        func checkpoints() throws -> Int { try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM checkpoints") ?? 0 } }
        let deadline = Date().addingTimeInterval(60)
        while try checkpoints() == 0 && Date() < deadline && trainer.isRunning { Thread.sleep(forTimeInterval: 0.002) }
        kill(trainer.processIdentifier, SIGKILL)
        trainer.waitUntilExit()
        let killed = try #require(try store.read { try $0.record(JobRecord.self, "WHERE id = ?", 1) })
        try #require(killed.state == .running, "the trainer finished before it could be killed")
        let stepsBefore = try store.read { db in
            try db.scalar(Int.self, "SELECT MAX(step) AS value FROM checkpoints WHERE job_id = 1") ?? 0
        }

        let server = try ServerProcess(environment: ["KENNEL_DATA_DIR": data])
        let finishDeadline = Date().addingTimeInterval(180)
        var job = killed
        while job.state == .running && Date() < finishDeadline {
            Thread.sleep(forTimeInterval: 0.1)
            job = try #require(try store.read { try $0.record(JobRecord.self, "WHERE id = ?", 1) })
        }
        kill(server.process.processIdentifier, SIGTERM)
        #expect(server.waitForExit() == 0)
        #expect(job.state == .succeeded, "job ended \(job.state): \(job.error ?? "")\n\(server.output)")
        #expect(job.resumedFrom != nil)
        #expect(server.output.contains("job 1 resumes at epoch"))

        // 18 training images at batch 4: 5 steps an epoch. Every step once, none twice, ending where an
        // uninterrupted run would.
        let trainSteps = try store.read { db in
            try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = 1 AND tag = 'train/loss' ORDER BY step")
        }
        #expect(trainSteps.last == epochs * 5)
        #expect(Set(trainSteps).count == trainSteps.count)
        let evaluations = try store.read { db in
            try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM metrics WHERE job_id = 1 AND tag = 'test/accuracy'") ?? 0
        }
        #expect(evaluations == epochs)
        #expect(stepsBefore >= 5)
    }
}
