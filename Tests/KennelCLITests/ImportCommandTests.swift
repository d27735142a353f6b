import Foundation
import KennelImage
import KennelStore
import KennelTestSupport
import Testing

/// `kennel import` as a user runs it.
@Suite(.serialized) struct ImportCommandTests {
    @Test func importsAnImageFolderAndRecordsTheDataset() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for name in ["n01-Akita", "n02-Beagle"] {
            let folder = directory.path + "/tree/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<6 {
                let image = Image(width: 30 + index * 5, height: 20 + index, channels: 3,
                                  pixels: (0..<((30 + index * 5) * (20 + index) * 3)).map { Float($0 % 251) })
                try Data(try ImageEncoder.jpeg(image)).write(to: URL(fileURLWithPath: "\(folder)/img\(index).jpg"))
            }
        }
        try Data("<html>not a dog</html>".utf8).write(to: URL(fileURLWithPath: directory.path + "/tree/n02-Beagle/zz.jpg"))
        let data = directory.path + "/var"
        let arguments = ["import", "--name", "dogs-mini", "--format", "imagefolder", "--width", "32", "--height", "24",
                         "--data-dir", data, "--migrations", repositoryRoot.path + "/migrations", directory.path + "/tree"]
        let (status, output) = try runKennel(arguments)
        #expect(status == 0, "\(output)")
        #expect(output.contains("imported 12 (train 8, test 4), skipped 1"))
        #expect(output.contains("skipped \(directory.path)/tree/n02-Beagle/zz.jpg"))
        #expect(FileManager.default.fileExists(atPath: data + "/datasets/dogs-mini.shard"))

        let store = try Store(dataDirectory: URL(fileURLWithPath: data),
                              migrations: try Migration.load(from: repositoryRoot.appendingPathComponent("migrations/sqlite")))
        defer { try? store.close() }
        let dataset = try #require(try store.read { try $0.record(DatasetRecord.self, "WHERE name = ?", "dogs-mini") })
        #expect(dataset.trainCount == 8 && dataset.testCount == 4)
        #expect(dataset.width == 32 && dataset.height == 24 && dataset.channels == 1)
        #expect(dataset.classesJson.contains(#""label":"Akita""#) && dataset.classesJson.contains(#""label":"Beagle""#))
        #expect(dataset.skippedJson.contains("zz.jpg"))

        let again = try runKennel(arguments)
        #expect(again.status != 0)
        #expect(again.output.contains("already exists"))
    }

    @Test func refusesBadArguments() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let common = ["--data-dir", directory.path, "--migrations", repositoryRoot.path + "/migrations"]
        let badName = try runKennel(["import", "--name", "no spaces", "--format", "idx"] + common + ["/tmp"])
        #expect(badName.status != 0 && badName.output.contains("--name"))
        let missing = try runKennel(["import", "--name", "x", "--format", "imagefolder"] + common + [directory.path + "/absent"])
        #expect(missing.status != 0 && missing.output.contains("does not exist"))
        let badFormat = try runKennel(["import", "--name", "x", "--format", "zip"] + common + ["/tmp"])
        #expect(badFormat.status != 0)
    }
}
