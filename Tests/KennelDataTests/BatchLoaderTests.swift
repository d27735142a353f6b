import Foundation
import KennelImage
import KennelTestSupport
import Testing
@testable import KennelData

struct BatchLoaderTests {
    /// A shard of `count` 4×4 gray examples whose first pixel encodes the example number.
    private func makeShard(count: Int, in directory: TemporaryDirectory) throws -> Shard {
        let path = directory.path + "/numbers.shard"
        let preprocessing = try Preprocessing(width: 4, height: 4, color: .gray)
        let writer = try ShardWriter(path: path, exampleBytes: 16, examples: count)
        for index in 0..<count {
            try writer.append([UInt8(index)] + [UInt8](repeating: 128, count: 15), label: Int32(index % 3))
        }
        _ = try writer.finish { checksum in
            ShardHeader(preprocessing: preprocessing, classes: [ShardClass(id: "a", label: "a"),
                                                                ShardClass(id: "b", label: "b"),
                                                                ShardClass(id: "c", label: "c")],
                        trainCount: count, testCount: 0, checksum: checksum)
        }
        return try Shard(path: path)
    }

    @Test func everyExampleOncePerEpochInADifferentOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let shard = try makeShard(count: 103, in: directory)
        let loader = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: 10, seed: 7)
        var orders: [[Int]] = []
        for epoch in 0..<3 {
            var seen: [Int] = []
            var batches = 0
            for batch in loader.batches(epoch: epoch) {
                batches += 1
                #expect(batch.images.count == batch.count * 16)
                for (row, index) in batch.indices.enumerated() {
                    #expect(batch.labels[row] == Int32(index % 3))
                    #expect(abs(batch.images[row * 16] - Float(index) / 255) < 1e-6)
                }
                seen += batch.indices
            }
            #expect(batches == 11)
            #expect(seen.sorted() == Array(0..<103))
            orders.append(seen)
        }
        #expect(orders[0] != orders[1] && orders[1] != orders[2])
        // The same seed and epoch give the same order (a resumed run sees the same data).
        #expect(loader.order(epoch: 1) == orders[1])
        let unshuffled = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: 10, seed: 7, shuffle: false)
        #expect(unshuffled.order(epoch: 4) == Array(0..<103))
    }

    @Test func augmentationKeepsShapesAndRange() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let shard = try makeShard(count: 20, in: directory)
        let augmentation = Augmentation(flip: true, shift: 1, rotation: 10, brightness: 0.1, contrast: 0.2)
        let loader = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: 20, seed: 1,
                                     augmentation: augmentation)
        let batch = loader.batch(epoch: 0, number: 0, order: loader.order(epoch: 0))
        #expect(batch.images.count == 20 * 16)
        #expect(batch.images.allSatisfy { $0 >= 0 && $0 <= 1 })
        let plain = try BatchLoader(shard: shard, indices: shard.trainIndices, batchSize: 20, seed: 1)
        #expect(plain.batch(epoch: 0, number: 0, order: plain.order(epoch: 0)).images != batch.images)
        #expect(throws: DataError.self) { try BatchLoader(shard: shard, indices: 0..<20, batchSize: 0, seed: 1) }
    }

    @Test func flipMirrorsAnImage() {
        var values: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
        var random = SplitMix64(seed: 0)
        let preprocessing = try! Preprocessing(width: 3, height: 2, color: .gray)
        // Draw until the coin says flip, then check the mirror.
        for _ in 0..<10 {
            var copy = values
            var probe = random
            let flips = Bool.random(using: &probe)
            copy.withUnsafeMutableBufferPointer {
                Augmenter.apply(Augmentation(flip: true), to: $0, preprocessing: preprocessing, random: &random)
            }
            if flips {
                #expect(zip(copy, [0.3, 0.2, 0.1, 0.6, 0.5, 0.4] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
                return
            }
            values = copy
        }
        Issue.record("the coin never came up flip")
    }
}
