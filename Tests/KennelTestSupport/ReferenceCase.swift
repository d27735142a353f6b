import Foundation

/// TensorFlow's reference cases, committed as Tests/Fixtures/tf_reference.json (tools/import_tf_reference.py).
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

    /// The committed fixture's cases, or why it could not be read (a test reports that; nothing crashes).
    public static let loaded: Result<[ReferenceCase], ReferenceFixtureError> = {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/tf_reference.json")
        struct File: Decodable { let cases: [ReferenceCase] }
        do {
            return .success(try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases)
        } catch {
            return .failure(ReferenceFixtureError(message: "cannot read TensorFlow reference at \(url.path): \(error)"))
        }
    }()

    /// Every case; empty when the fixture is missing (`loaded` says why).
    public static var all: [ReferenceCase] { (try? loaded.get()) ?? [] }

    /// The case called `name`; throws when the fixture is missing or lacks it.
    public static func named(_ name: String) throws -> ReferenceCase {
        guard let found = try loaded.get().first(where: { $0.name == name }) else {
            throw ReferenceFixtureError(message: "no reference case \(name)")
        }
        return found
    }
}

/// The reference fixture is missing, unreadable or lacks a case.
public struct ReferenceFixtureError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// |a − b| ≤ tolerance·max(1, |b|) for every element (relative, or absolute near zero).
public func assertClose(_ got: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String) -> String? {
    guard got.count == expected.count else { return "\(what): \(got.count) values, expected \(expected.count)" }
    for (index, (a, b)) in zip(got, expected).enumerated() where abs(a - b) > tolerance * max(1, abs(b)) {
        return "\(what)[\(index)] = \(a), expected \(b)"
    }
    return nil
}
