import CTurboJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API: the only file that talks to it.
enum JPEGCodec {
    /// Width and height from the header, without decoding.
    static func dimensions(of bytes: [UInt8]) throws -> (width: Int, height: Int) {
        try withDecompressor { handle in
            let header = try readHeader(handle, bytes)
            return (header.width, header.height)
        }
    }

    /// Decodes `bytes` to 8-bit samples. When `atLeast` is given, libjpeg-turbo's DCT scaling decodes straight to
    /// the smallest of its scales (1/8…1) that is still at least that large, which is much faster for big photos
    /// and holds a fraction of the memory.
    static func decode(_ bytes: [UInt8], color: ColorMode, maximumPixels: Int,
                       atLeast target: (width: Int, height: Int)?) throws -> JPEGRows {
        try withDecompressor { handle in
            let header = try readHeader(handle, bytes)
            guard header.width * header.height <= maximumPixels else {
                throw ImageError.tooLarge(width: header.width, height: header.height, limit: maximumPixels)
            }
            let (width, height) = scaledSize(header.width, header.height, atLeast: target)
            let format: TJPF = header.cmyk ? TJPF_CMYK : color == .gray ? TJPF_GRAY : TJPF_RGB
            let samples = header.cmyk ? 4 : color.channels
            var output = [UInt8](repeating: 0, count: width * height * samples)
            let status = bytes.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { target in
                    tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress, Int32(width),
                                  Int32(width * samples), Int32(height), format.rawValue, 0)
                }
            }
            if status != 0 { try classifyFailure(handle) }
            return JPEGRows(samples: output, width: width, height: height, stored: samples)
        }
    }

    /// Bytes `decode` holds for a `width`×`height` JPEG decoded at a scale covering `atLeast`.
    static func decodedBytes(width: Int, height: Int, atLeast target: (width: Int, height: Int)?) -> Int {
        let (scaledWidth, scaledHeight) = scaledSize(width, height, atLeast: target)
        return scaledWidth * scaledHeight * 4
    }

    /// A decoded JPEG's 8-bit samples, handed out a row at a time as Float. Adobe-style CMYK (stored inverted, as
    /// libjpeg hands it over) becomes RGB row by row.
    struct JPEGRows: RowSource {
        let samples: [UInt8]
        let width: Int
        let height: Int
        /// Samples per pixel in `samples`: 1 gray, 3 RGB, 4 CMYK.
        let stored: Int
        private var next = 0

        init(samples: [UInt8], width: Int, height: Int, stored: Int) {
            self.samples = samples
            self.width = width
            self.height = height
            self.stored = stored
        }

        var channels: Int { cmyk ? 3 : stored }
        private var cmyk: Bool { stored == 4 }

        mutating func readRow(into row: UnsafeMutableBufferPointer<Float>) throws {
            precondition(next < height, "read past the last row")
            let start = next * width * stored
            samples.withUnsafeBufferPointer { source in
                let line = UnsafeBufferPointer(rebasing: source[start..<(start + width * stored)])
                guard cmyk else { return widen(line, into: row) }
                for pixel in 0..<width {
                    let k = Float(line[pixel * 4 + 3]) / 255
                    for channel in 0..<3 { row[pixel * 3 + channel] = Float(line[pixel * 4 + channel]) * k }
                }
            }
            next += 1
        }
    }

    /// Encodes 8-bit gray or RGB as a JPEG (4:4:4 for color) at `quality` 1…100.
    static func encode(_ image: Image, quality: Int, progressive: Bool) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw ImageError.unsupported("cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let samples = image.bytes
        let status = samples.withUnsafeBufferPointer { source in
            tjCompress2(handle, source.baseAddress, Int32(image.width), Int32(image.width * image.channels),
                        Int32(image.height), (image.channels == 1 ? TJPF_GRAY : TJPF_RGB).rawValue, &buffer, &size,
                        Int32(image.channels == 1 ? TJSAMP_GRAY.rawValue : TJSAMP_444.rawValue),
                        Int32(max(1, min(100, quality))), progressive ? TJFLAG_PROGRESSIVE : 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else { throw ImageError.unsupported(message(handle)) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    private struct Header {
        let width: Int
        let height: Int
        let colorspace: Int32

        var cmyk: Bool { colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) }
    }

    private static func withDecompressor<Result>(_ body: (tjhandle) throws -> Result) throws -> Result {
        guard let handle = tjInitDecompress() else { throw ImageError.unsupported("cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        return try body(handle)
    }

    private static func readHeader(_ handle: tjhandle, _ bytes: [UInt8]) throws -> Header {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = bytes.withUnsafeBufferPointer { source in
            tjDecompressHeader3(handle, source.baseAddress, UInt(source.count), &width, &height, &subsampling,
                                &colorspace)
        }
        guard status == 0 else {
            let reason = message(handle)
            if bytes.count < 1024 || reason.contains("end of") || reason.contains("Premature") {
                throw ImageError.truncated(reason)
            }
            throw ImageError.notAnImage(reason)
        }
        return Header(width: Int(width), height: Int(height), colorspace: colorspace)
    }

    /// A failed tjDecompress2: warnings (libjpeg's "corrupt data" notes on images that still decode) pass,
    /// except a premature end of data, which means the picture is incomplete.
    private static func classifyFailure(_ handle: tjhandle) throws {
        let reason = message(handle)
        if reason.contains("Premature end") { throw ImageError.truncated(reason) }
        if tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) { return }
        throw ImageError.notAnImage(reason)
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown libjpeg-turbo error" }
        return String(cString: text)
    }

    /// The smallest DCT scale whose output still covers `target` (full size when none does or none is asked).
    /// Only the 1/n scales are considered: libjpeg-turbo has SIMD code for those, while its 7/8, 3/4… scales run
    /// plain C and decode slower than full size.
    private static func scaledSize(_ width: Int, _ height: Int, atLeast target: (width: Int, height: Int)?)
        -> (Int, Int) {
        guard let target else { return (width, height) }
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count) else { return (width, height) }
        var best = (width, height)
        for index in 0..<Int(count) {
            let factor = factors[index]
            guard factor.num == 1 else { continue }
            let scaledWidth = (width * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            let scaledHeight = (height * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            if scaledWidth >= target.width, scaledHeight >= target.height, scaledWidth * scaledHeight < best.0 * best.1 {
                best = (scaledWidth, scaledHeight)
            }
        }
        return best
    }
}
