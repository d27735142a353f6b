import Foundation

/// How KennelJobs writes `*_json` columns: JSON text with sorted keys, so equal values store equal text.
enum ColumnJSON {
    static func text(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}
