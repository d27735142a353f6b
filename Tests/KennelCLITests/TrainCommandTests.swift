import Foundation
import KennelImage
import KennelStore
import KennelTestSupport
import Testing

/// `kennel train` in the foreground, after `kennel import`, as a user runs them.
@Suite(.serialized) struct TrainCommandTests {
    @Test func trainsAnImportedDatasetAndRecordsTheJob() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // 32×32 RGB images of two classes the cifar-cnn preset can tell apart: red-ish and blue-ish.
        for (classIndex, name) in ["n1-red", "n2-blue"].enumerated() {
            let folder = directory.path + "/images/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<10 {
                var image = Image(width: 32, height: 32, channels: 3)
                for pixel in 0..<(32 * 32) {
                    image.pixels[pixel * 3 + (classIndex == 0 ? 0 : 2)] = Float(150 + (pixel * 7 + index) % 100)
                }
                try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: "\(folder)/\(index).png"))
            }
        }
        let storage = ["--data-dir", directory.path + "/var", "--migrations", repositoryRoot.path + "/migrations"]
        let imported = try runKennel(["import", "--name", "colors", "--format", "imagefolder", "--width", "32",
                                "--height", "32", "--channels", "3"] + storage + [directory.path + "/images"])
        #expect(imported.status == 0, "\(imported.output)")
        let trained = try runKennel(["train", "--dataset", "colors", "--preset", "cifar-cnn", "--epochs", "3",
                               "--batch-size", "4", "--learning-rate", "0.001"] + storage)
        #expect(trained.status == 0, "\(trained.output)")
        #expect(trained.output.contains("job 1 succeeded: best test accuracy 1.0000"))

        let store = try Store(dataDirectory: URL(fileURLWithPath: directory.path + "/var"),
                              migrations: try Migration.load(from: repositoryRoot.appendingPathComponent("migrations/sqlite")))
        defer { try? store.close() }
        let job = try #require(try store.read { try $0.record(JobRecord.self, "WHERE id = ?", 1) })
        #expect(job.state == .succeeded && job.progress == 1 && job.startedAt != nil && job.finishedAt != nil)
        #expect(job.specJson.contains(#""preset":"cifar-cnn""#))
        let checkpoints = try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM checkpoints") ?? 0 }
        #expect(checkpoints >= 1)

        let wrongShape = try runKennel(["train", "--dataset", "colors", "--preset", "fashion-convnet", "--epochs", "1"] + storage)
        #expect(wrongShape.status != 0)
        #expect(wrongShape.output.contains("preset: fashion-convnet takes [28, 28, 1] images"))
        // An invalid request is refused before any job is recorded.
        #expect(try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM jobs") } == 1)
        let missing = try runKennel(["train", "--dataset", "nothing", "--preset", "cifar-cnn"] + storage)
        #expect(missing.status != 0 && missing.output.contains("dataset 'nothing' does not exist"))

        // Serve the newest checkpoint (as POST /v1/models records it), then list and classify from the command line.
        let checkpoint = try #require(try store.read {
            try $0.record(CheckpointRecord.self, "ORDER BY step DESC")?.id
        })
        try store.write { db in
            try db.insert(ModelRecord(name: "colors", version: 1, checkpointId: checkpoint, labelsJson: #"["red","blue"]"#))
            try db.execute("INSERT INTO served_models (name, version, promoted_at) VALUES ('colors', 1, 0)")
        }
        let jobs = try runKennel(["jobs", "list"] + storage)
        #expect(jobs.status == 0 && jobs.output.contains("1   train  succeeded  colors   100%"), "\(jobs.output)")
        let models = try runKennel(["models", "list"] + storage)
        #expect(models.output.contains("colors  1        \(checkpoint)"), "\(models.output)")
        #expect(models.output.contains("yes"))
        let answer = try runKennel(["classify", "--model", "colors", "--top-k", "9"] + storage
            + [directory.path + "/images/n1-red/3.png"])
        #expect(answer.status == 0, "\(answer.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any])
        let predictions = try #require(json["predictions"] as? [[String: Any]])
        #expect(json["model"] as? String == "colors" && predictions.count == 2)
        #expect(predictions.first?["label"] as? String == "red" && predictions.first?["class"] as? String == "n1-red")
        let notImage = try runKennel(["classify", "--model", "colors"] + storage + [repositoryRoot.path + "/Package.swift"])
        #expect(notImage.status != 0 && notImage.output.contains("not a JPEG or PNG"))
        #expect(try runKennel(["classify", "--model", "nope"] + storage + [directory.path + "/images/n1-red/3.png"])
            .output.contains("no model named 'nope'"))
    }
}
