/// A dense float32 tensor in row-major (NHWC for images) order: `shape` and one contiguous buffer.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    /// A tensor over `data`, which must hold exactly `shape`'s element count.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(data.count == shape.reduce(1, *),
                     "\(data.count) values do not fill shape \(shape) (\(shape.reduce(1, *)) values)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor whose every value the caller writes before reading (skips zero-filling large outputs).
    public init(uninitialized shape: [Int]) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, data: [Float](unsafeUninitializedCapacity: count) { _, initialized in
            initialized = count
        })
    }

    /// A tensor whose values come from `value(index)` in storage order.
    public init(shape: [Int], _ value: (Int) -> Float) {
        self.init(shape: shape, data: (0..<shape.reduce(1, *)).map(value))
    }

    public var count: Int { data.count }
    /// The first dimension: the batch size for activations.
    public var batch: Int { shape.first ?? 1 }
    /// Elements per batch item.
    public var itemCount: Int { shape.dropFirst().reduce(1, *) }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }
}

/// Errors from building, running, saving or loading models, each naming what to fix.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(what: String, expected: [Int], got: [Int])
    case invalidLayer(index: Int, reason: String)
    case invalidHyperparameter(name: String, reason: String)
    case unknownPreset(String)
    case invalidLabels(reason: String)
    case checkpointUnreadable(reason: String)
    case checkpointMismatch(reason: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let what, let expected, let got):
            return "\(what): expected shape \(expected), got \(got)"
        case .invalidLayer(let index, let reason):
            return "layer \(index): \(reason)"
        case .invalidHyperparameter(let name, let reason):
            return "\(name): \(reason)"
        case .unknownPreset(let name):
            return "unknown preset '\(name)'; known presets: \(Preset.names.joined(separator: ", "))"
        case .invalidLabels(let reason):
            return "labels: \(reason)"
        case .checkpointUnreadable(let reason):
            return "checkpoint cannot be read: \(reason)"
        case .checkpointMismatch(let reason):
            return "checkpoint does not match its model: \(reason)"
        }
    }
}
