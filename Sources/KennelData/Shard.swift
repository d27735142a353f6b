import Foundation

/// One class of a dataset.
public struct ShardClass: Codable, Equatable, Sendable {
    /// The class id (the folder name, such as `n02085620-Chihuahua`, or the IDX label number).
    public let id: String
    /// The human label (`Chihuahua`).
    public let label: String
    public var trainCount: Int
    public var testCount: Int

    public init(id: String, label: String, trainCount: Int = 0, testCount: Int = 0) {
        self.id = id
        self.label = label
        self.trainCount = trainCount
        self.testCount = testCount
    }

    enum CodingKeys: String, CodingKey { case id, label, trainCount = "train_count", testCount = "test_count" }
}

/// What a shard holds, stored as JSON at its end.
public struct ShardHeader: Codable, Equatable, Sendable {
    public var preprocessing: Preprocessing
    public var classes: [ShardClass]
    public var trainCount: Int
    public var testCount: Int
    /// CRC-32 of the pixel and label sections.
    public var checksum: UInt32

    enum CodingKeys: String, CodingKey {
        case preprocessing, classes, trainCount = "train_count", testCount = "test_count", checksum
    }
}

/// A dataset prepared once at import: every example's 8-bit pixels (train examples first, then test), their
/// labels, and a header. Layout: magic `KNNLSHRD`, UInt32 version, pixels, Int32 labels, JSON header,
/// UInt32 header length, magic again — the header goes last so the file is written in one pass.
public final class Shard: @unchecked Sendable {
    static let magic = Array("KNNLSHRD".utf8)
    static let version: UInt32 = 1

    public let header: ShardHeader
    public let path: String
    /// Memory-mapped file contents; never mutated, so reads from any thread are safe.
    private let contents: Data
    private let pixelsOffset = 12

    /// Opens a shard, checking its structure and (unless `verify` is false) its checksum.
    public init(path: String, verify: Bool = true) throws {
        self.path = path
        // Too short to be a shard: refused before mapping (Foundation leaks a page mapping an empty file).
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size < 24 {
            throw DataError.invalidShard(path: path, reason: "missing the shard magic (truncated or not a shard)")
        }
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
        let bytes = contents
        guard bytes.count >= 24, Array(bytes.prefix(8)) == Self.magic, Array(bytes.suffix(8)) == Self.magic else {
            throw DataError.invalidShard(path: path, reason: "missing the shard magic (truncated or not a shard)")
        }
        let version = bytes.loadLittleEndianUInt32(at: 8)
        guard version == Self.version else {
            throw DataError.invalidShard(path: path, reason: "format version \(version); this Kennel reads \(Self.version)")
        }
        let headerLength = Int(bytes.loadLittleEndianUInt32(at: bytes.count - 12))
        guard headerLength > 0, headerLength <= bytes.count - 24 else {
            throw DataError.invalidShard(path: path, reason: "header length \(headerLength) does not fit the file")
        }
        let headerStart = bytes.count - 12 - headerLength
        do {
            header = try JSONDecoder().decode(ShardHeader.self, from: bytes.subdata(in: headerStart..<(bytes.count - 12)))
        } catch {
            throw DataError.invalidShard(path: path, reason: "header is not valid: \(error)")
        }
        let examples = header.trainCount + header.testCount
        guard pixelsOffset + examples * (header.preprocessing.exampleBytes + 4) == headerStart else {
            throw DataError.invalidShard(path: path, reason: "sections do not add up to the file size")
        }
        if verify {
            let crc = bytes.withUnsafeBytes { raw in
                Compression.crc32(UnsafeRawBufferPointer(rebasing: raw[pixelsOffset..<headerStart]))
            }
            guard crc == header.checksum else { throw DataError.checksumMismatch(path: path) }
        }
    }

    public var count: Int { header.trainCount + header.testCount }
    /// Example indices of the training split.
    public var trainIndices: Range<Int> { 0..<header.trainCount }
    /// Example indices of the test split.
    public var testIndices: Range<Int> { header.trainCount..<count }

    /// The label (class index) of example `index`.
    public func label(_ index: Int) -> Int32 {
        let offset = pixelsOffset + count * header.preprocessing.exampleBytes + index * 4
        return Int32(bitPattern: contents.loadLittleEndianUInt32(at: offset))
    }

    /// Calls `body` with example `index`'s pixels (H×W×C bytes).
    public func withPixels<Result>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows
        -> Result {
        let size = header.preprocessing.exampleBytes
        return try contents.withUnsafeBytes { raw in
            let start = pixelsOffset + index * size
            return try body(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[start..<(start + size)]))
        }
    }
}

/// Writes a shard in one pass: examples are appended as they are prepared, the header last.
final class ShardWriter {
    private let handle: FileHandle
    private let temporaryPath: String
    let path: String
    private var labels: [Int32] = []
    private var checksum: UInt32 = 0
    private let exampleBytes: Int

    /// Starts a shard for `examples` examples of `exampleBytes`, after checking that its projected size fits
    /// `maxBytes` and the free space of the file system it goes to (a shard is never started that cannot finish).
    init(path: String, exampleBytes: Int, examples: Int, maxBytes: Int = ShardWriter.maxBytes) throws {
        self.path = path
        self.exampleBytes = exampleBytes
        // The writer's pid in the name lets a starting server remove what a dead writer left.
        temporaryPath = path + ".\(getpid()).\(UUID().uuidString).tmp"
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (product, overflow) = (exampleBytes + 4).multipliedReportingOverflow(by: examples)
        let projected = overflow ? Int.max : product
        guard projected <= maxBytes else {
            throw DataError.tooLarge(what: "the shard of \(examples) examples of \(exampleBytes) bytes", bytes: projected,
                                     limit: "the shard limit of \(maxBytes) bytes")
        }
        if let free = Self.freeBytes(at: folder), projected > free {
            throw DataError.tooLarge(what: "the shard", bytes: projected, limit: "the \(free) bytes free at \(folder)")
        }
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil) else {
            throw DataError.unreadable(path: temporaryPath, reason: "cannot create the shard file")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporaryPath))
        var start = Shard.magic
        withUnsafeBytes(of: Shard.version.littleEndian) { start += $0 }
        try handle.write(contentsOf: start)
    }

    /// The largest shard an import may write (projected before it starts): 64 GiB.
    static let maxBytes = 64 << 30

    /// Bytes available to this process on the file system holding `path`.
    static func freeBytes(at path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (free, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : free
    }

    /// Appends one prepared example.
    func append(_ pixels: [UInt8], label: Int32) throws {
        precondition(pixels.count == exampleBytes, "example of \(pixels.count) bytes, expected \(exampleBytes)")
        checksum = pixels.withUnsafeBytes { Compression.crc32($0, continuing: checksum) }
        try handle.write(contentsOf: pixels)
        labels.append(label)
    }

    /// Writes labels and header, flushes to disk and moves the file into place.
    func finish(header: (UInt32) -> ShardHeader) throws -> ShardHeader {
        var labelBytes: [UInt8] = []
        labelBytes.reserveCapacity(labels.count * 4)
        for label in labels { withUnsafeBytes(of: UInt32(bitPattern: label).littleEndian) { labelBytes += $0 } }
        checksum = labelBytes.withUnsafeBytes { Compression.crc32($0, continuing: checksum) }
        let finished = header(checksum)
        let json = try JSONEncoder().encode(finished)
        var tail = labelBytes + json
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { tail += $0 }
        tail += Shard.magic
        try handle.write(contentsOf: tail)
        try handle.synchronize()
        try handle.close()
        guard rename(temporaryPath, path) == 0 else {
            throw DataError.unreadable(path: path, reason: "cannot move the shard into place (errno \(errno))")
        }
        return finished
    }

    /// Removes the partial file after a failure.
    func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }
}

extension Data {
    func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[self.startIndex + offset + $1]) << (8 * UInt32($1)) }
    }
}
