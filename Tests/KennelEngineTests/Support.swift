import Foundation
import KennelTestSupport
@testable import KennelEngine

/// TensorFlow's reference cases (../shared/testdata/tf_reference.json).
struct ReferenceCase: Decodable {
    struct Array: Decodable {
        let shape: [Int]
        let data: [Float]
        var tensor: Tensor { Tensor(shape: shape, data: data) }
    }
    let name: String
    let attrs: [String: Attribute]?
    let inputs: [String: Array]?
    let output: Output?
    let upstream: Array?
    let grads: [String: Array]?

    enum Attribute: Decodable {
        case number(Double), text(String), flag(Bool), none
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .none } else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let b = try? c.decode(Bool.self) { self = .flag(b) }
            else { self = .text(try c.decode(String.self)) }
        }
        var number: Double? { if case .number(let n) = self { return n } else { return nil } }
        var text: String? { if case .text(let t) = self { return t } else { return nil } }
    }

    /// Either one array, or named arrays (optimizer steps, schedules).
    struct Output: Decodable {
        let array: Array?
        let steps: [Array]?
        let smooth: Array?
        let staircase: Array?
        let scheduleSteps: [Int]?

        enum Keys: String, CodingKey { case shape, data, steps, smooth, staircase }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            array = c.contains(.data) ? try Array(from: decoder) : nil
            steps = try? c.decode([Array].self, forKey: .steps)
            scheduleSteps = try? c.decode([Int].self, forKey: .steps)
            smooth = try c.decodeIfPresent(Array.self, forKey: .smooth)
            staircase = try c.decodeIfPresent(Array.self, forKey: .staircase)
        }
    }

    func attr(_ key: String) -> Double { attrs?[key]?.number ?? .nan }

    static let all: [ReferenceCase] = {
        let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata/tf_reference.json")
        struct File: Decodable { let cases: [ReferenceCase] }
        do {
            return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
        } catch {
            fatalError("cannot read TensorFlow reference at \(url.path): \(error)")
        }
    }()

    static func named(_ name: String) -> ReferenceCase {
        guard let found = all.first(where: { $0.name == name }) else { fatalError("no reference case \(name)") }
        return found
    }
}

/// |a − b| ≤ tolerance·max(1, |b|) for every element (relative, or absolute near zero).
func assertClose(_ got: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ what: String) -> String? {
    guard got.count == expected.count else { return "\(what): \(got.count) values, expected \(expected.count)" }
    for (index, (a, b)) in zip(got, expected).enumerated() where abs(a - b) > tolerance * max(1, abs(b)) {
        return "\(what)[\(index)] = \(a), expected \(b)"
    }
    return nil
}
