/// How a kernel's starting values are drawn (Keras's definitions; the truncated normals redraw beyond 2σ).
public enum Initializer: Sendable, Equatable, Codable {
    case glorotUniform
    case glorotNormal
    case heNormal
    case truncatedNormal(stddev: Float)
    case zeros

    /// Parses `glorot_uniform`, `glorot_normal`, `he_normal`, `truncated_normal` (with `stddev`, default 0.1 as
    /// in the seed), `zeros`.
    public init(name: String, stddev: Float?) throws {
        switch name.lowercased() {
        case "glorot_uniform": self = .glorotUniform
        case "glorot_normal": self = .glorotNormal
        case "he_normal": self = .heNormal
        case "truncated_normal":
            let deviation = stddev ?? 0.1
            guard deviation > 0 else {
                throw EngineError.invalidHyperparameter(name: "stddev", reason: "must be > 0, got \(deviation)")
            }
            self = .truncatedNormal(stddev: deviation)
        case "zeros": self = .zeros
        default:
            throw EngineError.invalidHyperparameter(
                name: "initializer",
                reason: "unknown initializer '\(name)'; use glorot_uniform, glorot_normal, he_normal, truncated_normal or zeros")
        }
    }

    /// Keras scales truncated normals by this so their standard deviation is the one asked for.
    private static let truncationCorrection: Float = 0.879_625_66

    public func make(shape: [Int], fanIn: Int, fanOut: Int, random: inout SeededRandom) -> Tensor {
        let count = shape.reduce(1, *)
        switch self {
        case .zeros:
            return Tensor(zeros: shape)
        case .glorotUniform:
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            return Tensor(shape: shape, data: (0..<count).map { _ in (random.nextUnit() * 2 - 1) * limit })
        case .glorotNormal:
            let deviation = (2 / Float(fanIn + fanOut)).squareRoot() / Self.truncationCorrection
            return Tensor(shape: shape, data: (0..<count).map { _ in random.nextTruncatedNormal(stddev: deviation) })
        case .heNormal:
            let deviation = (2 / Float(fanIn)).squareRoot() / Self.truncationCorrection
            return Tensor(shape: shape, data: (0..<count).map { _ in random.nextTruncatedNormal(stddev: deviation) })
        case .truncatedNormal(let deviation):
            return Tensor(shape: shape, data: (0..<count).map { _ in random.nextTruncatedNormal(stddev: deviation) })
        }
    }
}
