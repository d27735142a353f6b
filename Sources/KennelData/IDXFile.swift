/// An IDX file (the MNIST/Fashion-MNIST format): unsigned-byte data with its dimensions.
struct IDXFile {
    let dimensions: [Int]
    let values: [UInt8]

    /// Reads `path`, gzip-compressed or not. Only the unsigned-byte type (0x08) is accepted.
    init(path: String) throws {
        let bytes = try Compression.readGzip(path)
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw DataError.invalidIDX(path: path, reason: "missing the IDX magic number")
        }
        guard bytes[2] == 0x08 else {
            throw DataError.invalidIDX(path: path, reason: "element type 0x\(String(bytes[2], radix: 16)) is not unsigned byte")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw DataError.invalidIDX(path: path, reason: "truncated dimension list")
        }
        dimensions = (0..<rank).map { index in
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * index + $1]) }
        }
        let expected = dimensions.reduce(1, *)
        guard bytes.count - 4 - 4 * rank == expected else {
            throw DataError.invalidIDX(path: path, reason: "\(bytes.count - 4 - 4 * rank) data bytes for dimensions \(dimensions)")
        }
        values = Array(bytes[(4 + 4 * rank)...])
    }
}
