/// A decoded image: height × width × channels (1 gray or 3 RGB), values 0…255 as Float so resizing and
/// color conversion keep fractions until the image is stored or encoded.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// Row-major HWC.
    public var pixels: [Float]

    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && (channels == 1 || channels == 3),
                     "image must be W×H with 1 or 3 channels, got \(width)×\(height)×\(channels)")
        precondition(pixels.count == width * height * channels, "\(pixels.count) values for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An image over 8-bit samples.
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) {
        let pixels = [Float](unsafeUninitializedCapacity: bytes.count) { target, initialized in
            bytes.withUnsafeBufferPointer { source in
                for i in 0..<source.count { target[i] = Float(source[i]) }
            }
            initialized = bytes.count
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// A black image.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [Float](repeating: 0, count: width * height * channels))
    }

    /// The samples rounded (half up) and clamped to 0…255.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: pixels.count) { target, initialized in
            pixels.withUnsafeBufferPointer { source in
                // What UInt8(x + 0.5) gives for x clamped to 0…255, without its range check or a call to floorf,
                // so the compiler can vectorize the loop: adding 2²³ rounds x + 0.5 to the nearest whole number in
                // the low bits of the significand, which is one too many when it rounded up.
                for i in 0..<source.count {
                    let value = max(0, min(255, source[i])) + 0.5, shifted = value + 0x1p23
                    let roundedUp: UInt32 = shifted - 0x1p23 > value ? 1 : 0
                    target[i] = UInt8(truncatingIfNeeded: shifted.bitPattern &- roundedUp)
                }
            }
            initialized = pixels.count
        }
    }

    /// The value at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> Float {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }
}

/// Why bytes could not become an image. Every decoder failure is one of these, never a crash.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// Neither JPEG nor PNG, or a header that makes no sense.
    case notAnImage(String)
    /// The data ends before the image does.
    case truncated(String)
    /// The header announces more pixels than allowed; refused before any pixel memory is allocated.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// A valid file Kennel cannot use (for example a color space it does not convert).
    case unsupported(String)
    /// Decoding would need more memory than the whole decode budget.
    case overBudget(bytes: Int, budget: Int)
    /// Other requests hold the decode budget and did not release enough of it in time; try again shortly.
    case budgetExhausted(wait: Double)

    public var description: String {
        switch self {
        case .notAnImage(let reason): return "not a JPEG or PNG image: \(reason)"
        case .truncated(let reason): return "image data is truncated: \(reason)"
        case .tooLarge(let width, let height, let limit):
            return "image is \(width)×\(height) (\(width * height) pixels), more than the limit of \(limit) pixels"
        case .unsupported(let reason): return "unsupported image: \(reason)"
        case .overBudget(let bytes, let budget):
            return "decoding this image takes \(bytes) bytes, more than the decode budget of \(budget) bytes"
        case .budgetExhausted(let wait):
            return "the server is decoding other large images and had no room for this one within \(wait) s; retry"
        }
    }
}

/// The color layout a decoder should produce.
public enum ColorMode: String, Sendable, Codable {
    case gray
    case rgb

    public var channels: Int { self == .gray ? 1 : 3 }
}
