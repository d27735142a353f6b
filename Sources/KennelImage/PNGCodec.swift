import CPNG
import Foundation

/// PNG through libpng's simplified API (no longjmp reaches Swift): the only file that talks to libpng.
enum PNGCodec {
    static func dimensions(of bytes: [UInt8]) throws -> (width: Int, height: Int) {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        try begin(&image, bytes)
        return (Int(image.width), Int(image.height))
    }

    /// Decodes any PNG (gray, gray+alpha, palette, RGB, RGBA, 16-bit, interlaced) as TensorFlow's decode_png
    /// does: 16-bit samples keep their high byte, alpha is dropped (never composited), and colour becomes gray
    /// with TensorFlow's rgb_to_grayscale weights, the same conversion JPEG input gets.
    static func decode(_ bytes: [UInt8], color: ColorMode, maximumPixels: Int) throws -> Image {
        var pixels: UnsafeMutablePointer<UInt8>?
        var (width, height, channels): (UInt32, UInt32, Int32) = (0, 0, 0)
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { source in
            kennel_png_decode(source.baseAddress, source.count, maximumPixels, &pixels, &width, &height, &channels,
                              &message, message.count)
        }
        defer { free(pixels) }
        let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if status == Int32(kennel_png_too_large) {
            throw ImageError.tooLarge(width: Int(width), height: Int(height), limit: maximumPixels)
        }
        guard status == Int32(kennel_png_ok), let pixels else { throw classify(reason) }
        guard width > 0, height > 0 else { throw ImageError.notAnImage("header declares a \(width)×\(height) image") }
        let samples = Array(UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height) * Int(channels)))
        let image = Image(width: Int(width), height: Int(height), channels: Int(channels), bytes: samples)
        switch (color, image.channels) {
        case (.gray, 3): return image.grayscale()
        case (.rgb, 1): return image.rgb()
        default: return image
        }
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
