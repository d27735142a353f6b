import Foundation
import KennelData
import KennelEngine
import KennelImage
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelJobs

/// A store with a tiny imported dataset: 8×8 gray images, class 0 dark with a bright top row, class 1 bright
/// with a dark bottom row, twelve of each.
struct Workbench {
    let directory: TemporaryDirectory
    let store: Store
    let dataset = "tiny"

    init() throws {
        directory = try TemporaryDirectory()
        store = try Store(dataDirectory: directory.url.appendingPathComponent("var"),
                          migrations: try Migration.load(from: repositoryRoot.appendingPathComponent("migrations/sqlite")))
        for (classIndex, name) in ["n0-dark", "n1-bright"].enumerated() {
            let folder = directory.path + "/images/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<12 {
                var image = Image(width: 8, height: 8, channels: 1)
                for y in 0..<8 {
                    for x in 0..<8 {
                        let base: Float = classIndex == 0 ? 30 : 220
                        let stripe = classIndex == 0 ? (y == 0 ? 200 : 0) : (y == 7 ? -200 : 0)
                        image[y, x, 0] = base + Float(stripe) + Float((x * 7 + index * 13) % 20)
                    }
                }
                try Data(try ImageEncoder.png(image)).write(to: URL(fileURLWithPath: "\(folder)/\(index).png"))
            }
        }
        let summary = try ImageFolderImport.run(root: directory.path + "/images",
                                                preprocessing: try Preprocessing(width: 8, height: 8, color: .gray),
                                                shardPath: directory.path + "/var/datasets/tiny.shard")
        let record = DatasetRecord(name: dataset, format: "imagefolder", path: directory.path + "/images", width: 8,
                                   height: 8, channels: 1,
                                   classesJson: String(decoding: try JSONEncoder().encode(summary.header.classes),
                                                       as: UTF8.self),
                                   trainCount: summary.header.trainCount,
                                   testCount: summary.header.testCount, shardPath: summary.shardPath)
        try store.write { try $0.insert(record) }
    }

    var dataDirectory: URL { directory.url.appendingPathComponent("var") }
    var trainer: Trainer { Trainer(store: store, dataDirectory: dataDirectory) }

    func spec(epochs: Int = 4, learningRate: Float = 0.01) -> TrainingSpec {
        var conv = LayerSpec(type: "conv2d")
        conv.filters = 4
        conv.kernel = 3
        conv.padding = .same
        conv.activation = "relu"
        var dense = LayerSpec(type: "dense")
        dense.units = 2
        var spec = TrainingSpec(dataset: dataset, layers: [conv, LayerSpec(type: "flatten"), dense], epochs: epochs,
                                batchSize: 4, optimizer: OptimizerConfig(name: .adam, learningRate: learningRate))
        spec.seed = 1
        spec.keepCheckpoints = 2
        return spec
    }

    func newJob() throws -> Int64 {
        try #require(try JobLedger(store: store).submit(kind: .train, dataset: dataset, specJson: "{}").id)
    }

    func remove() {
        try? store.close()
        directory.remove()
    }

    /// Marks running job `id` as owned by a process that no longer exists, as after a crash.
    func orphan(_ id: Int64) throws {
        try store.write { db in
            try db.execute("UPDATE jobs SET owner = ? WHERE id = ?", "\(ProcessInfo.processInfo.hostName):2147483646:0", id)
        }
    }
}
