import Dispatch
import Foundation

/// Random changes applied to training images, each drawn per image.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Mirror left-right with probability ½.
    public var flip = false
    /// Shift by up to this many pixels each way, filling with black (a padded random crop).
    public var shift = 0
    /// Rotate by up to this many degrees either way about the center.
    public var rotation: Float = 0
    /// Add up to ± this to every value (values are 0…1).
    public var brightness: Float = 0
    /// Scale contrast by a factor within 1 ± this.
    public var contrast: Float = 0

    public init(flip: Bool = false, shift: Int = 0, rotation: Float = 0, brightness: Float = 0, contrast: Float = 0) {
        self.flip = flip
        self.shift = shift
        self.rotation = rotation
        self.brightness = brightness
        self.contrast = contrast
    }

    public var isIdentity: Bool { !flip && shift == 0 && rotation == 0 && brightness == 0 && contrast == 0 }

    enum CodingKeys: String, CodingKey { case flip, shift, rotation, brightness, contrast }

    /// Every field is optional in JSON (`{"flip": true}`); missing ones mean no such change.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(flip: try c.decodeIfPresent(Bool.self, forKey: .flip) ?? false,
                  shift: try c.decodeIfPresent(Int.self, forKey: .shift) ?? 0,
                  rotation: try c.decodeIfPresent(Float.self, forKey: .rotation) ?? 0,
                  brightness: try c.decodeIfPresent(Float.self, forKey: .brightness) ?? 0,
                  contrast: try c.decodeIfPresent(Float.self, forKey: .contrast) ?? 0)
    }
}

/// One batch: N×H×W×C values in [0, 1] and their labels.
public struct Batch: Sendable {
    public let images: [Float]
    public let labels: [Int32]
    /// The shard example each row came from.
    public let indices: [Int]
    public var count: Int { labels.count }
}

/// Batches over one split of a shard. Each epoch visits every example exactly once, in an order drawn from
/// (seed, epoch), so epochs differ and a run can be repeated; the next batch is assembled on a background
/// queue while the caller trains on the current one.
public final class BatchLoader: Sendable {
    public let shard: Shard
    public let indices: [Int]
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    public let augmentation: Augmentation

    public init(shard: Shard, indices: Range<Int>, batchSize: Int, seed: UInt64, shuffle: Bool = true,
                augmentation: Augmentation = Augmentation()) throws {
        guard (1...4096).contains(batchSize) else {
            throw DataError.invalidSetting(name: "batch_size", reason: "must be 1…4096, got \(batchSize)")
        }
        self.shard = shard
        self.indices = Array(indices)
        self.batchSize = batchSize
        self.seed = seed
        self.shuffle = shuffle
        self.augmentation = augmentation
    }

    /// Batches per epoch (the last may be smaller).
    public var batchesPerEpoch: Int { (indices.count + batchSize - 1) / batchSize }

    /// The visiting order of `epoch`.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return indices }
        var random = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        return indices.shuffled(using: &random)
    }

    /// Batch `number` of `epoch`, assembled on the calling thread.
    public func batch(epoch: Int, number: Int, order: [Int]) -> Batch {
        let start = number * batchSize
        let members = Array(order[start..<min(start + batchSize, order.count)])
        let size = shard.header.preprocessing.exampleBytes
        var images = [Float](repeating: 0, count: members.count * size)
        var random = SplitMix64(seed: seed ^ UInt64(epoch) << 32 ^ UInt64(number))
        images.withUnsafeMutableBufferPointer { target in
            for (row, example) in members.enumerated() {
                let destination = UnsafeMutableBufferPointer(rebasing: target[(row * size)..<((row + 1) * size)])
                shard.withPixels(example) { pixels in
                    for i in 0..<size { destination[i] = Float(pixels[i]) / 255 }
                }
                if !augmentation.isIdentity {
                    Augmenter.apply(augmentation, to: destination, preprocessing: shard.header.preprocessing,
                                    random: &random)
                }
            }
        }
        return Batch(images: images, labels: members.map(shard.label), indices: members)
    }

    /// The batches of `epoch` in order, each prepared one step ahead on a background queue.
    public func batches(epoch: Int) -> PrefetchingBatches {
        PrefetchingBatches(loader: self, epoch: epoch)
    }
}

/// Iterates an epoch's batches, keeping the next one in preparation on a background queue.
public struct PrefetchingBatches: Sequence, IteratorProtocol {
    private let loader: BatchLoader
    private let epoch: Int
    private let order: [Int]
    private var number = 0
    private var pending: PendingBatch?

    init(loader: BatchLoader, epoch: Int) {
        self.loader = loader
        self.epoch = epoch
        order = loader.order(epoch: epoch)
        pending = Self.prefetch(loader, epoch: epoch, number: 0, order: order)
    }

    public mutating func next() -> Batch? {
        guard let current = pending else { return nil }
        number += 1
        pending = Self.prefetch(loader, epoch: epoch, number: number, order: order)
        return current.wait()
    }

    private static func prefetch(_ loader: BatchLoader, epoch: Int, number: Int, order: [Int]) -> PendingBatch? {
        guard number < loader.batchesPerEpoch else { return nil }
        let pending = PendingBatch()
        DispatchQueue.global(qos: .userInitiated).async {
            pending.fulfil(loader.batch(epoch: epoch, number: number, order: order))
        }
        return pending
    }
}

/// A batch being assembled elsewhere.
final class PendingBatch: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var batch: Batch?

    func fulfil(_ value: Batch) {
        batch = value
        ready.signal()
    }

    func wait() -> Batch {
        ready.wait()
        return batch!
    }
}

/// SplitMix64: a small seeded generator for shuffles and augmentation draws.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-range, range].
    mutating func symmetric(_ range: Float) -> Float {
        range == 0 ? 0 : Float.random(in: -range...range, using: &self)
    }
}

/// The augmentations, on one H×W×C example of values in [0, 1].
enum Augmenter {
    static func apply(_ augmentation: Augmentation, to image: UnsafeMutableBufferPointer<Float>,
                      preprocessing: Preprocessing, random: inout SplitMix64) {
        let (width, height, channels) = (preprocessing.width, preprocessing.height, preprocessing.channels)
        let source = Array(image)
        let flip = augmentation.flip && Bool.random(using: &random)
        let dx = augmentation.shift == 0 ? 0 : Int.random(in: -augmentation.shift...augmentation.shift, using: &random)
        let dy = augmentation.shift == 0 ? 0 : Int.random(in: -augmentation.shift...augmentation.shift, using: &random)
        let angle = random.symmetric(augmentation.rotation) * .pi / 180
        let (cosine, sine) = (cos(angle), sin(angle))
        let (centerX, centerY) = (Float(width - 1) / 2, Float(height - 1) / 2)
        // Inverse mapping: each output pixel samples the source position it came from (bilinear, black outside).
        for y in 0..<height {
            for x in 0..<width {
                let ox = Float(flip ? width - 1 - x : x) - Float(dx) - centerX
                let oy = Float(y - dy) - centerY
                let sx = cosine * ox + sine * oy + centerX, sy = -sine * ox + cosine * oy + centerY
                for c in 0..<channels {
                    image[(y * width + x) * channels + c] = sample(source, sx, sy, c, width, height, channels)
                }
            }
        }
        let brightness = random.symmetric(augmentation.brightness)
        let contrast = 1 + random.symmetric(augmentation.contrast)
        guard brightness != 0 || contrast != 1 else { return }
        var means = [Float](repeating: 0, count: channels)
        for (index, value) in image.enumerated() { means[index % channels] += value }
        means = means.map { $0 / Float(width * height) }
        for index in image.indices {
            let mean = means[index % channels]
            image[index] = min(1, max(0, (image[index] - mean) * contrast + mean + brightness))
        }
    }

    private static func sample(_ source: [Float], _ x: Float, _ y: Float, _ c: Int, _ width: Int, _ height: Int,
                               _ channels: Int) -> Float {
        let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
        let fx = x - Float(x0), fy = y - Float(y0)
        func at(_ px: Int, _ py: Int) -> Float {
            px >= 0 && px < width && py >= 0 && py < height ? source[(py * width + px) * channels + c] : 0
        }
        let top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
        let bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
        return top * (1 - fy) + bottom * fy
    }
}
