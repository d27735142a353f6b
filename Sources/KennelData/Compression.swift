import CZlibSystem

/// A gzip-compressed (or plain) file, read in order; zlib's stream reader, closed with the reader.
final class GzipReader {
    private let path: String
    private let file: gzFile

    init(path: String) throws {
        guard let file = gzopen(path, "rb") else { throw DataError.unreadable(path: path, reason: "cannot open") }
        self.path = path
        self.file = file
    }

    deinit { gzclose(file) }

    /// The next `count` decompressed bytes, fewer only at the end of the file. Memory grows with what is read,
    /// never with what `count` asks for.
    func read(_ count: Int) throws -> [UInt8] {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 20))
        while output.count < count {
            let wanted = min(chunk.count, count - output.count)
            let got = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(wanted)) }
            if got < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
                throw DataError.unreadable(path: path, reason: message)
            }
            if got == 0 { break }
            output += chunk[0..<Int(got)]
        }
        return output
    }
}

/// zlib's CRC-32 (the gzip reader above is the other place that talks to zlib).
enum Compression {
    /// CRC-32 of `bytes`, continuing from `crc` (start from 0).
    static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var offset = 0
        // zlib's length is a UInt32: feed very large buffers in pieces.
        while offset < bytes.count {
            let count = min(bytes.count - offset, 1 << 30)
            value = CZlibSystem.crc32(value, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(count))
            offset += count
        }
        return UInt32(value)
    }
}
