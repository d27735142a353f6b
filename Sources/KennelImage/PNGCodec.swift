import CPNG

/// PNG through libpng's simplified API (no longjmp reaches Swift): the only file that talks to libpng.
enum PNGCodec {
    static func dimensions(of bytes: [UInt8]) throws -> (width: Int, height: Int) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        try begin(&image, bytes)
        return (Int(image.width), Int(image.height))
    }

    /// Decodes any PNG (gray, gray+alpha, palette, RGB, RGBA, 16-bit, interlaced) to 8-bit gray or RGB;
    /// transparency is composed onto white.
    static func decode(_ bytes: [UInt8], color: ColorMode, maximumPixels: Int) throws -> Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        try begin(&image, bytes)
        let (width, height) = (Int(image.width), Int(image.height))
        guard width > 0, height > 0 else { throw ImageError.notAnImage("header declares a \(width)×\(height) image") }
        guard width * height <= maximumPixels else {
            throw ImageError.tooLarge(width: width, height: height, limit: maximumPixels)
        }
        image.format = color == .gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        var output = [UInt8](repeating: 0, count: width * height * color.channels)
        var white = png_color(red: 255, green: 255, blue: 255)
        let ok = output.withUnsafeMutableBytes { target in
            png_image_finish_read(&image, &white, target.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw classify(message(image)) }
        return Image(width: width, height: height, channels: color.channels, bytes: output)
    }

    /// Encodes 8-bit gray or RGB losslessly.
    static func encode(_ image: Image) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&png) }
        let samples = image.bytes
        var size = 0
        let measured = samples.withUnsafeBytes { source in
            png_image_write_to_memory(&png, nil, &size, 0, source.baseAddress, 0, nil)
        }
        guard measured != 0 else { throw ImageError.unsupported(message(png)) }
        var output = [UInt8](repeating: 0, count: size)
        let written = samples.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                png_image_write_to_memory(&png, target.baseAddress, &size, 0, source.baseAddress, 0, nil)
            }
        }
        guard written != 0 else { throw ImageError.unsupported(message(png)) }
        return Array(output.prefix(size))
    }

    private static func begin(_ image: inout png_image, _ bytes: [UInt8]) throws {
        let ok = bytes.withUnsafeBytes { source in
            png_image_begin_read_from_memory(&image, source.baseAddress, source.count)
        }
        guard ok != 0 else { throw classify(message(image)) }
    }

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// libpng's messages for data that stops early mention the end of the stream or a read error.
    private static func classify(_ reason: String) -> ImageError {
        let lowered = reason.lowercased()
        if lowered.contains("eof") || lowered.contains("read error") || lowered.contains("truncat")
            || lowered.contains("end of data")
            || lowered.contains("not enough") || lowered.contains("too short") {
            return .truncated(reason)
        }
        return .notAnImage(reason)
    }
}
