/// An IDX file (the MNIST/Fashion-MNIST format): unsigned-byte data with its dimensions.
struct IDXFile {
    let dimensions: [Int]
    let values: [UInt8]

    /// The most data bytes an IDX file may declare (Fashion-MNIST's training images are 47 MB).
    static let maxDataBytes = 2 << 30

    /// Reads `path`, gzip-compressed or not. Only the unsigned-byte type (0x08) is accepted. The declared
    /// dimensions are checked before the data is read, so a file claiming more than `maxDataBytes` (or an
    /// overflowing size) is refused without inflating it.
    init(path: String, maxDataBytes: Int = IDXFile.maxDataBytes) throws {
        let reader = try GzipReader(path: path)
        let magic = try reader.read(4)
        guard magic.count == 4, magic[0] == 0, magic[1] == 0 else {
            throw DataError.invalidIDX(path: path, reason: "missing the IDX magic number")
        }
        guard magic[2] == 0x08 else {
            throw DataError.invalidIDX(path: path, reason: "element type 0x\(String(magic[2], radix: 16)) is not unsigned byte")
        }
        let rank = Int(magic[3])
        let list = try reader.read(4 * rank)
        guard rank >= 1, list.count == 4 * rank else {
            throw DataError.invalidIDX(path: path, reason: "truncated dimension list")
        }
        dimensions = (0..<rank).map { index in
            (0..<4).reduce(0) { $0 << 8 | Int(list[4 * index + $1]) }
        }
        var expected = 1
        for dimension in dimensions {
            let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= maxDataBytes else {
                throw DataError.invalidIDX(path: path, reason: "dimensions \(dimensions) declare more than the "
                                           + "\(maxDataBytes) data bytes an IDX file may hold")
            }
            expected = product
        }
        values = try reader.read(expected)
        guard values.count == expected, try reader.read(1).isEmpty else {
            throw DataError.invalidIDX(path: path, reason: "the data does not match dimensions \(dimensions) "
                                       + "(\(values.count < expected ? "fewer" : "more") bytes than they declare)")
        }
    }
}
