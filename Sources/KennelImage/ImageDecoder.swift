/// What an encoded image's header says, read without decoding pixels.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    public let width: Int
    public let height: Int
    /// An Adam7 PNG, which must be decoded whole rather than row by row.
    public let interlaced: Bool
}

/// Turns encoded bytes into an `Image`, recognising JPEG or PNG from the bytes themselves.
public struct ImageDecoder: Sendable {
    /// Images whose header announces more pixels than this are refused before decoding (default 40 MP).
    public var maximumPixels: Int
    /// Shared by every request of a server: what decoding may hold at once. Nil: no bound beyond `maximumPixels`.
    public var budget: DecodeBudget?
    /// Whether a decode waits for the budget when others hold it; false answers `budgetExhausted` at once (for
    /// decoding on a thread that serves other connections).
    public var waitsForBudget = true

    public init(maximumPixels: Int = 40_000_000, budget: DecodeBudget? = nil) {
        self.maximumPixels = maximumPixels
        self.budget = budget
    }

    /// The encoded image's format and size, read from its header alone; an empty image is not an image.
    public func inspect(_ bytes: [UInt8]) throws -> ImageHeader {
        switch try sniff(bytes) {
        case .jpeg:
            return try jpegHeader(bytes)
        case .png:
            let png = try PNGCodec.header(of: bytes)
            return try checked(ImageHeader(format: .png, width: png.width, height: png.height, interlaced: png.interlaced))
        }
    }

    /// Decodes the whole picture to `color`. For JPEGs, `atLeast` lets the decoder shrink by DCT scaling while
    /// staying at least that size, so a later resize to it loses nothing.
    public func decode(_ bytes: [UInt8], color: ColorMode, atLeast target: (width: Int, height: Int)? = nil) throws
        -> Image {
        try withRows(bytes, color: color, atLeast: { _ in target },
                     holding: { $0.width * $0.height * color.channels * MemoryLayout<Float>.size }) { rows in
            try Image(reading: &rows, color: color)
        }
    }

    /// Decodes `bytes` straight into a `width`×`height` box placed by `mode`, in `color`. Memory stays near the
    /// box's size: PNGs are read row by row and JPEGs decoded at the smallest DCT scale that still covers what
    /// the box needs, in 8 bits; Float exists only for two source rows and the box. The decode holds its share
    /// of the budget for as long as it runs.
    public func decode(_ bytes: [UInt8], color: ColorMode, into width: Int, _ height: Int, mode: ResizeMode) throws
        -> Image {
        // Never let DCT scaling go below the size the mode scales the source to (a 500×375 photo padded into
        // 151×250 is first scaled to 151×113, so a half-size decode is enough).
        let needed = { (header: ImageHeader) in
            mode.scaledSize(ofWidth: header.width, height: header.height, toWidth: width, height: height)
        }
        let box = width * height * color.channels * MemoryLayout<Float>.size
        return try withRows(bytes, color: color, atLeast: needed, holding: { _ in box }) { rows in
            let placement = Placement(mode, sourceWidth: rows.width, sourceHeight: rows.height, width: width,
                                      height: height)
            return try placement.render(&rows, color: color)
        }
    }

    /// Opens the decoder's row source for `bytes` and runs `body` on it within the budget: the decoder's own
    /// buffers, two source rows and `result(header)` bytes for what `body` builds. A JPEG's size comes from
    /// parsing its header, before the decoder takes memory; a PNG is opened once, its header read by the reader
    /// that then decodes it (libpng holds only its own structures until rows are read).
    private func withRows<Value>(_ bytes: [UInt8], color: ColorMode,
                                 atLeast target: (ImageHeader) -> (width: Int, height: Int)?,
                                 holding result: (ImageHeader) -> Int,
                                 _ body: (inout any RowSource) throws -> Value) throws -> Value {
        switch try sniff(bytes) {
        case .jpeg:
            let header = try jpegHeader(bytes)
            guard header.width * header.height <= maximumPixels else {
                throw ImageError.tooLarge(width: header.width, height: header.height, limit: maximumPixels)
            }
            let target = target(header)
            let decoding = JPEGCodec.decodedBytes(width: header.width, height: header.height, atLeast: target)
            return try reserve(decoding + rowBytes(header) + result(header)) {
                var rows: any RowSource = try JPEGCodec.decode(bytes, color: color, maximumPixels: maximumPixels,
                                                               atLeast: target)
                return try body(&rows)
            }
        case .png:
            return try PNGCodec.withRows(bytes, maximumPixels: maximumPixels) { png in
                let header = try checked(ImageHeader(format: .png, width: png.width, height: png.height,
                                                     interlaced: png.interlaced))
                // libpng keeps two rows of up to 8 bytes a pixel; an interlaced image is held whole, 4 bytes a pixel.
                let decoding = 16 * header.width + (header.interlaced ? 4 * header.width * header.height : 0)
                return try reserve(decoding + rowBytes(header) + result(header)) {
                    var rows: any RowSource = png
                    return try body(&rows)
                }
            }
        }
    }

    /// What Placement.render holds besides the codec: a row as read, two converted rows and two scaled ones, at
    /// most 3 channels each.
    private func rowBytes(_ header: ImageHeader) -> Int { 5 * header.width * 3 * MemoryLayout<Float>.size }

    private func jpegHeader(_ bytes: [UInt8]) throws -> ImageHeader {
        let size = try JPEGCodec.dimensions(of: bytes)
        return try checked(ImageHeader(format: .jpeg, width: size.width, height: size.height, interlaced: false))
    }

    private func checked(_ header: ImageHeader) throws -> ImageHeader {
        guard header.width > 0, header.height > 0 else {
            throw ImageError.notAnImage("header declares a \(header.width)×\(header.height) image")
        }
        return header
    }

    private func reserve<Value>(_ bytes: Int, _ body: () throws -> Value) throws -> Value {
        guard let budget else { return try body() }
        return try budget.withReservation(bytes, waiting: waitsForBudget, body)
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
