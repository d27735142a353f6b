import KennelImage

/// How every image of a dataset is prepared once at import (and again, identically, when serving).
public struct Preprocessing: Codable, Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var color: ColorMode
    public var resize: ResizeMode

    public init(width: Int, height: Int, color: ColorMode, resize: ResizeMode = .pad) throws {
        guard (1...4096).contains(width), (1...4096).contains(height) else {
            throw DataError.invalidSetting(name: "width/height", reason: "must be 1…4096, got \(width)×\(height)")
        }
        self.width = width
        self.height = height
        self.color = color
        self.resize = resize
    }

    public var channels: Int { color.channels }
    /// Bytes of one prepared example.
    public var exampleBytes: Int { width * height * channels }

    /// Decodes `bytes` and brings the image to this size and color, as 8-bit samples, holding little more than
    /// the result whatever the source's size (see `ImageDecoder.decode(_:color:into:_:mode:)`).
    public func prepare(_ bytes: [UInt8], decoder: ImageDecoder) throws -> [UInt8] {
        try decoder.decode(bytes, color: color, into: width, height, mode: resize).bytes
    }

    /// Brings a decoded image to this size and color, as 8-bit samples.
    public func prepare(_ image: Image) -> [UInt8] {
        image.resized(width: width, height: height, mode: resize, color: color).bytes
    }
}
