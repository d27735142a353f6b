import CPNG
import Foundation

/// PNG through libpng (no longjmp reaches Swift; see the CPNG shim): the only file that talks to libpng.
enum PNGCodec {
    /// What a PNG's header says, read without decoding any pixel.
    struct Header {
        let width: Int
        let height: Int
        /// Adam7 images cannot be read row by row: their first row read decodes the whole image.
        let interlaced: Bool
    }

    static func header(of bytes: [UInt8]) throws -> Header {
        try withRows(bytes, maximumPixels: Int.max) { rows in
            Header(width: rows.width, height: rows.height, interlaced: rows.interlaced)
        }
    }

    /// Opens `bytes` for reading row by row, as TensorFlow's decode_png decodes: 16-bit samples keep their high
    /// byte, alpha is dropped (never composited), palettes become RGB. Rows are gray or RGB as stored; colour
    /// conversion belongs to the consumer.
    static func withRows<Value>(_ bytes: [UInt8], maximumPixels: Int, _ body: (inout PNGRows) throws -> Value) throws
        -> Value {
        try bytes.withUnsafeBufferPointer { source in
            var reader: UnsafeMutablePointer<kennel_png_reader>?
            var (width, height): (UInt32, UInt32) = (0, 0)
            var (channels, interlaced): (Int32, Int32) = (0, 0)
            var message = [CChar](repeating: 0, count: 256)
            let status = kennel_png_open(source.baseAddress, source.count, maximumPixels, &reader, &width, &height,
                                         &channels, &interlaced, &message, message.count)
            defer { kennel_png_close(reader) }
            if status == Int32(kennel_png_too_large) {
                throw ImageError.tooLarge(width: Int(width), height: Int(height), limit: maximumPixels)
            }
            guard status == Int32(kennel_png_ok), let reader else {
                throw classify(message.withUnsafeBytes { text($0) })
            }
            var rows = PNGRows(reader: reader, width: Int(width), height: Int(height), channels: Int(channels),
                               interlaced: interlaced != 0)
            return try body(&rows)
        }
    }

    /// The rows of an open PNG, each decoded as it is asked for.
    struct PNGRows: RowSource {
        fileprivate let reader: UnsafeMutablePointer<kennel_png_reader>
        let width: Int
        let height: Int
        let channels: Int
        let interlaced: Bool
        private var samples: [UInt8]

        fileprivate init(reader: UnsafeMutablePointer<kennel_png_reader>, width: Int, height: Int, channels: Int, interlaced: Bool) {
            self.reader = reader
            self.width = width
            self.height = height
            self.channels = channels
            self.interlaced = interlaced
            samples = [UInt8](repeating: 0, count: width * channels)
        }

        mutating func readRow(into row: UnsafeMutableBufferPointer<Float>) throws {
            let reader = reader
            let status = samples.withUnsafeMutableBufferPointer { kennel_png_read_row(reader, $0.baseAddress) }
            guard status == Int32(kennel_png_ok) else {
                throw PNGCodec.classify(withUnsafeBytes(of: reader.pointee.message) { PNGCodec.text($0) })
            }
            samples.withUnsafeBufferPointer { widen($0, into: row) }
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

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { text($0) }
    }

    /// The text of a NUL-terminated C message buffer.
    private static func text(_ message: UnsafeRawBufferPointer) -> String {
        String(decoding: message.prefix { $0 != 0 }, as: UTF8.self)
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
