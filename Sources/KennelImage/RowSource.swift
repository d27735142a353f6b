/// An image read once, top to bottom, one row at a time: what lets preprocessing hold a couple of source rows
/// instead of the whole decoded picture (a 38 KB PNG can announce 6300×6300 pixels).
public protocol RowSource {
    var width: Int { get }
    var height: Int { get }
    /// Samples per pixel of the rows handed out: 1 (gray) or 3 (RGB).
    var channels: Int { get }
    /// Writes the next row's `width × channels` samples (0…255) to `row`.
    mutating func readRow(into row: UnsafeMutableBufferPointer<Float>) throws
}

/// The rows of an image already in memory.
public struct ImageRows: RowSource {
    public let image: Image
    private var next = 0

    public init(_ image: Image) { self.image = image }

    public var width: Int { image.width }
    public var height: Int { image.height }
    public var channels: Int { image.channels }

    public mutating func readRow(into row: UnsafeMutableBufferPointer<Float>) throws {
        let length = image.width * image.channels, start = next * length
        precondition(next < image.height, "read past the last row")
        image.pixels.withUnsafeBufferPointer { source in
            _ = row.initialize(from: source[start..<(start + length)])
        }
        next += 1
    }
}

extension Image {
    /// Reads every row of `source` into an image, converted to `color` (nil keeps the source's channels).
    public init<Source: RowSource>(reading source: inout Source, color: ColorMode? = nil) throws {
        let channels = color?.channels ?? source.channels
        let rowLength = source.width * channels
        var pixels = [Float](repeating: 0, count: rowLength * source.height)
        var row = [Float](repeating: 0, count: source.width * source.channels)
        for y in 0..<source.height {
            try row.withUnsafeMutableBufferPointer { try source.readRow(into: $0) }
            pixels.withUnsafeMutableBufferPointer { target in
                let destination = UnsafeMutableBufferPointer(rebasing: target[(y * rowLength)..<((y + 1) * rowLength)])
                row.withUnsafeBufferPointer { Self.convert($0, channels: source.channels, into: destination, channels: channels) }
            }
        }
        self.init(width: source.width, height: source.height, channels: channels, pixels: pixels)
    }

    /// TensorFlow's rgb_to_grayscale weights, the one luminance formula of the project.
    @inline(__always)
    static func luminance(_ red: Float, _ green: Float, _ blue: Float) -> Float {
        0.2989 * red + 0.5870 * green + 0.1140 * blue
    }

    /// Pixels of `channels` samples as pixels of `targetChannels` samples: gray by `luminance`, gray repeated into
    /// three channels, or copied when they agree.
    static func convert(_ source: UnsafeBufferPointer<Float>, channels: Int,
                        into target: UnsafeMutableBufferPointer<Float>, channels targetChannels: Int) {
        switch (channels, targetChannels) {
        case (3, 1):
            for pixel in 0..<target.count {
                target[pixel] = luminance(source[pixel * 3], source[pixel * 3 + 1], source[pixel * 3 + 2])
            }
        case (1, 3):
            for pixel in 0..<source.count {
                let value = source[pixel]
                target[pixel * 3] = value
                target[pixel * 3 + 1] = value
                target[pixel * 3 + 2] = value
            }
        default:
            _ = target.initialize(from: source)
        }
    }
}

/// 8-bit samples as Float, for the codecs' row sources.
func widen(_ samples: UnsafeBufferPointer<UInt8>, into row: UnsafeMutableBufferPointer<Float>) {
    for index in 0..<samples.count { row[index] = Float(samples[index]) }
}
