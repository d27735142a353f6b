import Foundation

/// TensorFlow's reference cases (../shared/testdata/tf_reference.json).
public struct ReferenceCase: Decodable, Sendable {
    public struct Array: Decodable, Sendable {
        public let shape: [Int]
        public let data: [Float]
    }
    public let name: String
    public let attrs: [String: Attribute]?
    public let inputs: [String: Array]?
    public let output: Output?
    public let upstream: Array?
    public let grads: [String: Array]?

    public enum Attribute: Decodable, Sendable {
        case number(Double), text(String), flag(Bool), none
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .none } else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let b = try? c.decode(Bool.self) { self = .flag(b) }
            else { self = .text(try c.decode(String.self)) }
        }
        public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
        public var text: String? { if case .text(let t) = self { return t } else { return nil } }
    }

    /// Either one array, or named arrays (optimizer steps, schedules).
    public struct Output: Decodable, Sendable {
        public let array: Array?
        public let steps: [Array]?
        public let smooth: Array?
        public let staircase: Array?
        public let scheduleSteps: [Int]?

        enum Keys: String, CodingKey { case shape, data, steps, smooth, staircase }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            array = c.contains(.data) ? try Array(from: decoder) : nil
            steps = try? c.decode([Array].self, forKey: .steps)
            scheduleSteps = try? c.decode([Int].self, forKey: .steps)
            smooth = try c.decodeIfPresent(Array.self, forKey: .smooth)
            staircase = try c.decodeIfPresent(Array.self, forKey: .staircase)
        }
    }

    public func attr(_ key: String) -> Double { attrs?[key]?.number ?? .nan }

    public static let all: [ReferenceCase] = {
        let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata/tf_reference.json")
        struct File: Decodable { let cases: [ReferenceCase] }
        do {
            return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
        } catch {
            fatalError("cannot read TensorFlow reference at \(url.path): \(error)")
        }
    }()

    public static func named(_ name: String) -> ReferenceCase {
        guard let found = all.first(where: { $0.name == name }) else { fatalError("no reference case \(name)") }
        return found
    }
}

/// |a − b| ≤ tolerance·max(1, |b|) for every element (relative, or absolute near zero).
public func assertClose(_ got: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String) -> String? {
    guard got.count == expected.count else { return "\(what): \(got.count) values, expected \(expected.count)" }
    for (index, (a, b)) in zip(got, expected).enumerated() where abs(a - b) > tolerance * max(1, abs(b)) {
        return "\(what)[\(index)] = \(a), expected \(b)"
    }
    return nil
}
