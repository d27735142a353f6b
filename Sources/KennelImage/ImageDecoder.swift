/// Turns encoded bytes into an `Image`, recognising JPEG or PNG from the bytes themselves.
public struct ImageDecoder: Sendable {
    /// Images whose header announces more pixels than this are refused before decoding (default 40 MP).
    public var maximumPixels: Int
    /// Shared by every request of a server: what decoding may hold at once. Nil: no bound beyond `maximumPixels`.
    public var budget: DecodeBudget?

    public init(maximumPixels: Int = 40_000_000, budget: DecodeBudget? = nil) {
        self.maximumPixels = maximumPixels
        self.budget = budget
    }

    /// Runs `body`, which decodes and prepares an image whose header says `width`×`height`, within the budget.
    public func withinBudget<Value>(width: Int, height: Int, _ body: () throws -> Value) throws -> Value {
        guard let budget else { return try body() }
        guard width * height <= maximumPixels else {
            throw ImageError.tooLarge(width: width, height: height, limit: maximumPixels)
        }
        return try budget.withReservation(width * height * DecodeBudget.bytesPerPixel, body)
    }

    /// The encoded image's format and size, read from its header alone.
    public func inspect(_ bytes: [UInt8]) throws -> (format: ImageFormat, width: Int, height: Int) {
        let format = try sniff(bytes)
        let size = format == .jpeg ? try JPEGCodec.dimensions(of: bytes) : try PNGCodec.dimensions(of: bytes)
        return (format, size.width, size.height)
    }

    /// Decodes to `color`. For JPEGs, `atLeast` lets the decoder shrink by DCT scaling while staying at least
    /// that size, so a later resize to it loses nothing.
    public func decode(_ bytes: [UInt8], color: ColorMode, atLeast target: (width: Int, height: Int)? = nil) throws
        -> Image {
        switch try sniff(bytes) {
        case .jpeg:
            return try JPEGCodec.decode(bytes, color: color, maximumPixels: maximumPixels, atLeast: target)
        case .png:
            return try PNGCodec.decode(bytes, color: color, maximumPixels: maximumPixels)
        }
    }

    private func sniff(_ bytes: [UInt8]) throws -> ImageFormat {
        guard !bytes.isEmpty else { throw ImageError.notAnImage("the data is empty") }
        guard let format = ImageFormat.sniff(bytes) else {
            throw ImageError.notAnImage("the data starts with neither the JPEG nor the PNG signature")
        }
        return format
    }
}

/// Turns an `Image` into JPEG or PNG bytes (for filter pictures, tests and exports).
public enum ImageEncoder {
    /// Lossless PNG of the image's samples (rounded to 8 bits).
    public static func png(_ image: Image) throws -> [UInt8] { try PNGCodec.encode(image) }

    /// JPEG at `quality` 1…100, baseline or progressive.
    public static func jpeg(_ image: Image, quality: Int = 90, progressive: Bool = false) throws -> [UInt8] {
        try JPEGCodec.encode(image, quality: quality, progressive: progressive)
    }
}
