import Foundation

/// A tensor's place in a checkpoint's data section.
public struct TensorEntry: Codable, Equatable, Sendable {
    /// `conv1.kernel`, or `optimizer/conv1.kernel/m` for optimizer state.
    public let name: String
    public let shape: [Int]
}

/// The JSON header of a checkpoint: everything needed to rebuild the model and continue training.
public struct CheckpointHeader: Codable, Equatable, Sendable {
    public var layers: [LayerSpec]
    public var inputShape: [Int]
    public var classCount: Int
    /// Class names, index = class id.
    public var labels: [String]
    /// How inputs were prepared (size, color, resize mode…), applied again when serving.
    public var preprocessing: [String: String]
    /// The data section's tensors in order: the model's, then the optimizer's slots.
    public var tensors: [TensorEntry]
    public var optimizer: OptimizerConfig
    public var optimizerIterations: Int
    public var schedule: LearningRateSchedule
    /// The model's training-time random source (dropout), so a resumed run draws the same numbers.
    public var random: SeededRandom
    /// Free-form training state for the job system (epoch, step, data position…).
    public var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case layers, inputShape = "input_shape", classCount = "class_count", labels, preprocessing, tensors, optimizer
        case optimizerIterations = "optimizer_iterations", schedule, random, metadata
    }
}

/// A checkpoint decoded and turned back into a model.
public struct LoadedCheckpoint {
    public let model: Model
    public let header: CheckpointHeader
}

/// Kennel's checkpoint file: the magic `KNNLCKPT`, a little-endian UInt32 format version, a UInt32 header length,
/// the JSON header, then every tensor of the header's table as raw little-endian float32, in order.
public enum Checkpoint {
    public static let magic = Array("KNNLCKPT".utf8)
    public static let version: UInt32 = 1
    /// Headers beyond this are refused before being read (a corrupt length must not allocate gigabytes).
    static let maximumHeaderBytes = 64 << 20

    /// The checkpoint bytes for `model` as it stands.
    public static func encode(_ model: Model, labels: [String], preprocessing: [String: String] = [:],
                              metadata: [String: String] = [:]) throws -> [UInt8] {
        guard labels.count == model.classCount else {
            throw EngineError.invalidLabels(reason: "\(labels.count) labels for \(model.classCount) classes")
        }
        var tensors: [(String, Tensor)] = model.parameters.map { ($0.name, $0.value) }
        let trainable = model.parameters.filter(\.trainable)
        for (parameter, slots) in zip(trainable, model.optimizer.slots) {
            for (slotName, slot) in zip(model.optimizer.slotNames, slots) {
                tensors.append(("optimizer/\(parameter.name)/\(slotName)", slot))
            }
        }
        let header = CheckpointHeader(
            layers: model.specs, inputShape: model.inputShape, classCount: model.classCount, labels: labels,
            preprocessing: preprocessing, tensors: tensors.map { TensorEntry(name: $0.0, shape: $0.1.shape) },
            optimizer: model.optimizer.config, optimizerIterations: model.optimizer.iterations,
            schedule: model.schedule, random: model.random.generator, metadata: metadata)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        var bytes = magic
        bytes.reserveCapacity(16 + json.count + tensors.reduce(0) { $0 + $1.1.count * 4 })
        append(version, to: &bytes)
        append(UInt32(json.count), to: &bytes)
        bytes += json
        for (_, tensor) in tensors {
            tensor.data.withUnsafeBufferPointer { values in
                #if _endian(little)
                bytes += UnsafeRawBufferPointer(values)
                #else
                for value in values { append(value.bitPattern, to: &bytes) }
                #endif
            }
        }
        return bytes
    }

    /// The header of the checkpoint file at `path`, reading only the file's first bytes (a model version's input
    /// shape, labels and preprocessing, without loading its weights).
    public static func header(atPath path: String) throws -> CheckpointHeader {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw EngineError.checkpointUnreadable(reason: "cannot open \(path)")
        }
        defer { try? file.close() }
        var bytes = [UInt8](try file.read(upToCount: 16) ?? Data())
        if bytes.count == 16, Array(bytes[0..<8]) == magic {
            bytes += try file.read(upToCount: min(Int(readUInt32(bytes, at: 12)), maximumHeaderBytes)) ?? Data()
        }
        return try header(in: bytes)
    }

    /// The header at the front of `bytes`, after checking the magic, the format version and the header's length.
    private static func header(in bytes: [UInt8]) throws -> CheckpointHeader {
        guard bytes.count >= 16 else {
            throw EngineError.checkpointUnreadable(reason: "file is \(bytes.count) bytes, too short for a header")
        }
        guard Array(bytes[0..<8]) == magic else {
            throw EngineError.checkpointUnreadable(reason: "not a Kennel checkpoint (wrong magic)")
        }
        let fileVersion = readUInt32(bytes, at: 8)
        guard fileVersion == version else {
            throw EngineError.checkpointUnreadable(reason: "format version \(fileVersion); this Kennel reads \(version)")
        }
        let headerLength = Int(readUInt32(bytes, at: 12))
        guard headerLength <= maximumHeaderBytes, 16 + headerLength <= bytes.count else {
            throw EngineError.checkpointUnreadable(reason: "truncated: header of \(headerLength) bytes does not fit")
        }
        do {
            return try JSONDecoder().decode(CheckpointHeader.self, from: Data(bytes[16..<(16 + headerLength)]))
        } catch {
            throw EngineError.checkpointUnreadable(reason: "header is not valid: \(error)")
        }
    }

    /// Reads checkpoint bytes and rebuilds the model with its weights, optimizer state, schedule and random
    /// state. Refuses (never traps on) a wrong magic or version, a truncated file, or a tensor table that
    /// disagrees with the layer list.
    public static func decode(_ bytes: [UInt8]) throws -> LoadedCheckpoint {
        let header = try Self.header(in: bytes)
        let headerLength = Int(readUInt32(bytes, at: 12))
        let expectedData = try header.tensors.reduce(0) { total, entry in
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw EngineError.checkpointMismatch(reason: "tensor \(entry.name) has shape \(entry.shape)")
            }
            return total + entry.shape.reduce(1, *) * 4
        }
        guard bytes.count - 16 - headerLength == expectedData else {
            throw EngineError.checkpointUnreadable(
                reason: "truncated or padded: \(bytes.count - 16 - headerLength) data bytes, the table needs \(expectedData)")
        }
        let model = try Model(layers: header.layers, inputShape: header.inputShape, classCount: header.classCount,
                              optimizer: header.optimizer, schedule: header.schedule.kind)
        guard header.labels.count == header.classCount else {
            throw EngineError.checkpointMismatch(reason: "\(header.labels.count) labels for \(header.classCount) classes")
        }
        var stored: [String: Tensor] = [:]
        var offset = 16 + headerLength
        for entry in header.tensors {
            let count = entry.shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { target in
                bytes.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count * 4)]))
                }
            }
            #if _endian(big)
            values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
            #endif
            guard stored.updateValue(Tensor(shape: entry.shape, data: values), forKey: entry.name) == nil else {
                throw EngineError.checkpointMismatch(reason: "tensor \(entry.name) appears twice")
            }
            offset += count * 4
        }
        try restore(model, from: stored, header: header)
        return LoadedCheckpoint(model: model, header: header)
    }

    private static func restore(_ model: Model, from stored: [String: Tensor], header: CheckpointHeader) throws {
        var expected = Set<String>()
        func take(_ name: String, shape: [Int]) throws -> Tensor {
            expected.insert(name)
            guard let tensor = stored[name] else {
                throw EngineError.checkpointMismatch(reason: "the layer list needs \(name), which the file lacks")
            }
            guard tensor.shape == shape else {
                throw EngineError.checkpointMismatch(reason: "\(name) has shape \(tensor.shape), the layer list needs \(shape)")
            }
            return tensor
        }
        for parameter in model.parameters {
            parameter.value = try take(parameter.name, shape: parameter.value.shape)
        }
        if header.optimizerIterations > 0 {
            model.optimizer.slots = try model.parameters.filter(\.trainable).map { parameter in
                try model.optimizer.slotNames.map { slot in
                    try take("optimizer/\(parameter.name)/\(slot)", shape: parameter.value.shape)
                }
            }
        }
        if let extra = Set(stored.keys).subtracting(expected).sorted().first {
            throw EngineError.checkpointMismatch(reason: "the file holds \(extra), which the layer list does not have")
        }
        model.optimizer.iterations = header.optimizerIterations
        model.schedule = header.schedule
        model.random.generator = header.random
    }

    /// Writes `bytes` to `url` atomically: a temporary file beside it, flushed to disk, then renamed over it.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        // The writer's pid in the name lets a starting server remove what a dead writer left.
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw EngineError.checkpointUnreadable(reason: "cannot create \(temporary.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
            try handle.close()
            // rename(2) replaces the old file in one step: readers see the old checkpoint or the new one.
            guard rename(temporary.path, url.path) == 0 else {
                throw EngineError.checkpointUnreadable(reason: "cannot rename into \(url.path): errno \(errno)")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    private static func append<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
