import Foundation
import KennelImage
import KennelTestSupport
import Testing
@testable import KennelData

/// A generated Stanford-Dogs-style tree: three classes of mixed sizes and formats, one file that is not an image.
private struct GeneratedTree {
    let directory: TemporaryDirectory
    var root: String { directory.path + "/images" }

    init() throws {
        directory = try TemporaryDirectory()
        let layout: [(String, Int)] = [("n001-Alpha", 7), ("n002-Beta", 5), ("n003", 6)]
        for (classIndex, (name, count)) in layout.enumerated() {
            let folder = directory.path + "/images/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<count {
                var image = Image(width: 20 + 7 * index, height: 15 + 3 * classIndex, channels: 3)
                for i in image.pixels.indices { image.pixels[i] = Float((i * (classIndex + 3) + index * 11) % 256) }
                let bytes = index == 2 ? try ImageEncoder.png(image) : try ImageEncoder.jpeg(image, quality: 90)
                try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name.prefix(4))\(index).\(index == 2 ? "png" : "jpg")"))
            }
        }
        try Data("not really a JPEG".utf8).write(to: URL(fileURLWithPath: root + "/n002-Beta/zz-broken.jpg"))
        try Data("hidden".utf8).write(to: URL(fileURLWithPath: root + "/n001-Alpha/.DS_Store"))
    }
}

struct ImportTests {
    @Test func imageFolderImportSplitsPerClassAndListsTheBadFile() throws {
        let tree = try GeneratedTree()
        defer { tree.directory.remove() }
        let preprocessing = try Preprocessing(width: 16, height: 12, color: .gray, resize: .pad)
        let shardPath = tree.directory.path + "/shards/tree.shard"
        let progress = ProgressLog()
        let summary = try ImageFolderImport.run(root: tree.root, preprocessing: preprocessing, shardPath: shardPath,
                                                progress: { progress.record($0, $1) })
        // Per class, sorted files, index % 5 == 0 to test: 7 → 5/2, 5 + broken (6, broken is 5th → test) → 4/1, 6 → 4/2.
        #expect(summary.header.classes.map(\.label) == ["Alpha", "Beta", "n003"])
        #expect(summary.header.classes.map(\.id) == ["n001-Alpha", "n002-Beta", "n003"])
        #expect(summary.header.classes.map(\.trainCount) == [5, 4, 4])
        #expect(summary.header.classes.map(\.testCount) == [2, 1, 2])
        #expect(summary.header.trainCount == 13 && summary.header.testCount == 5)
        #expect(summary.skipped.count == 1)
        #expect(summary.skipped.first?.path.hasSuffix("n002-Beta/zz-broken.jpg") == true)
        #expect(summary.skipped.first?.reason.contains("not a JPEG or PNG") == true)
        #expect(progress.last == 19)

        let shard = try Shard(path: shardPath)
        #expect(shard.header == summary.header)
        #expect(shard.trainIndices == 0..<13 && shard.testIndices == 13..<18)
        #expect((0..<13).map(shard.label) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        // The first training example is Alpha's second file (its first went to test), prepared as at import.
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tree.root + "/n001-Alpha/n0011.jpg")))
        let expected = try preprocessing.prepare(file, decoder: ImageDecoder())
        #expect(shard.withPixels(0) { Array($0) } == expected)
    }

    @Test func importRefusesMissingOrEmptyRoots() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let preprocessing = try Preprocessing(width: 8, height: 8, color: .gray)
        #expect(throws: DataError.notFound(path: directory.path + "/absent")) {
            try ImageFolderImport.run(root: directory.path + "/absent", preprocessing: preprocessing,
                                      shardPath: directory.path + "/x.shard")
        }
        #expect(throws: DataError.noClasses(path: directory.path)) {
            try ImageFolderImport.run(root: directory.path, preprocessing: preprocessing,
                                      shardPath: directory.path + "/x.shard")
        }
        #expect(throws: DataError.self) { try Preprocessing(width: 0, height: 8, color: .gray) }
    }

    @Test func fashionMNISTImportsWithItsOwnSplitAndNames() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let summary = try IDXImport.run(directory: "/usr/share/datasets/fashion-mnist",
                                        shardPath: directory.path + "/fashion.shard")
        #expect(summary.header.trainCount == 60000)
        #expect(summary.header.testCount == 10000)
        #expect(summary.header.classes.map(\.label) == IDXImport.fashionNames)
        #expect(summary.header.classes.allSatisfy { $0.trainCount == 6000 && $0.testCount == 1000 })
        let shard = try Shard(path: summary.shardPath)
        #expect((0..<10).map(shard.label) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        #expect((60000..<60010).map(shard.label) == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        #expect(shard.header.preprocessing == (try Preprocessing(width: 28, height: 28, color: .gray)))
    }

    @Test func idxFilesAreChecked() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/bad-idx"
        try Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 42]).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try IDXFile(path: path) }
        try Data([0, 0, 0x08, 1, 0, 0, 0, 5, 1, 2]).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try IDXFile(path: path) }
        try Data([0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2]).write(to: URL(fileURLWithPath: path))
        #expect(try IDXFile(path: path).values == [1, 2])
        try Data([0, 0, 0x08, 1, 0, 0, 0, 2, 1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try IDXFile(path: path) }
    }

    /// Dimensions whose product overflows (or exceeds the cap) once trapped the import; now they are refused
    /// from the header, before any data is inflated.
    @Test func idxDimensionsThatOverflowAreRefusedFromTheHeader() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/huge-idx"
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
        try Data([0, 0, 0x08, 4] + huge + huge + huge + huge + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
        let overflow = try #require(throws: DataError.self) { try IDXFile(path: path) }
        #expect(overflow.description.contains("may hold"))
        try Data([0, 0, 0x08, 3, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 9]).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataError.self) { try IDXFile(path: path, maxDataBytes: 1 << 20) }
    }

    @Test func damagedShardsAreRefused() throws {
        let tree = try GeneratedTree()
        defer { tree.directory.remove() }
        let shardPath = tree.directory.path + "/tree.shard"
        _ = try ImageFolderImport.run(root: tree.root, preprocessing: try Preprocessing(width: 8, height: 8, color: .rgb),
                                      shardPath: shardPath)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shardPath))
        bytes[40] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: shardPath + ".flipped"))
        #expect(throws: DataError.checksumMismatch(path: shardPath + ".flipped")) { try Shard(path: shardPath + ".flipped") }
        try bytes.prefix(bytes.count - 20).write(to: URL(fileURLWithPath: shardPath + ".cut"))
        #expect(throws: DataError.self) { try Shard(path: shardPath + ".cut") }
    }
}

/// The last progress report, from the importer's thread.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func record(_ done: Int, _ total: Int) { lock.withLock { value = done } }
    var last: Int { lock.withLock { value } }
}

/// Imports that once cost memory or disk without bound, or ran on after a cancel.
struct ImportBoundsTests {
    /// A 4096×4096 RGB upscale of Fashion-MNIST would write 3.5 TB; it is refused from the projection, before
    /// any byte is written, with both numbers in the message.
    @Test func aShardThatCannotFitIsRefusedBeforeWriting() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(throws: DataError.self) {
            try IDXImport.run(directory: "/usr/share/datasets/fashion-mnist",
                              preprocessing: try Preprocessing(width: 4096, height: 4096, color: .rgb),
                              shardPath: directory.path + "/datasets/huge.shard")
        }
        #expect(error.description.contains("would take \(70_000 * (4096 * 4096 * 3 + 4)) bytes"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/datasets").isEmpty)
    }

    @Test func filesAreSniffedAndSizedBeforeTheyAreRead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let images = try writeToneImages(under: directory.path)
        // Sparse files: big on paper, nothing on disk.
        for (name, size) in [("zz-huge.png", 300 << 20), ("zz-big-text.jpg", 100 << 20)] {
            let path = images + "/n0-dark/" + name
            #expect(FileManager.default.createFile(atPath: path, contents: Data("not an image".utf8)))
            try FileHandle(forWritingTo: URL(fileURLWithPath: path)).truncate(atOffset: UInt64(size))
        }
        let summary = try ImageFolderImport.run(root: images, preprocessing: try Preprocessing(width: 8, height: 8, color: .gray),
                                                shardPath: directory.path + "/tones.shard")
        let reasons = Dictionary(uniqueKeysWithValues: summary.skipped.map { (($0.path as NSString).lastPathComponent, $0.reason) })
        #expect(reasons["zz-huge.png"]?.contains("more than the \(256 << 20) an image file may be") == true)
        #expect(reasons["zz-big-text.jpg"]?.contains("signature") == true)
        #expect(summary.imported == 24)
    }

    @Test func aCancelledImportStopsAndLeavesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let images = try writeToneImages(under: directory.path)
        #expect(throws: DataError.cancelled) {
            try ImageFolderImport.run(root: images, preprocessing: try Preprocessing(width: 8, height: 8, color: .gray),
                                      shardPath: directory.path + "/out/tones.shard", isCancelled: { true })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/out").isEmpty)
    }
}
