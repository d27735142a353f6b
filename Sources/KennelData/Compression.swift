import CZlib

/// zlib, the only file that talks to it: gzip-compressed (or plain) files, and CRC-32.
enum Compression {
    /// The whole decompressed content of `path`; a file that is not gzip-compressed is read as it is.
    static func readGzip(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw DataError.unreadable(path: path, reason: "cannot open")
        }
        defer { gzclose(file) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if count < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
                throw DataError.unreadable(path: path, reason: message)
            }
            if count == 0 { break }
            output += chunk[0..<Int(count)]
        }
        return output
    }

    /// CRC-32 of `bytes`, continuing from `crc` (start from 0).
    static func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var offset = 0
        // zlib's length is a UInt32: feed very large buffers in pieces.
        while offset < bytes.count {
            let count = min(bytes.count - offset, 1 << 30)
            value = CZlib.crc32(value, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(count))
            offset += count
        }
        return UInt32(value)
    }
}
