import ArgumentParser
import Foundation
import KennelJobs
import KennelStore

/// `kennel export`: writes a model version as an ONNX file, as `GET /v1/models/NAME/versions/V/model.onnx` answers.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model version as ONNX (opset 17; labels and preprocessing in its metadata_props).")

    @Option(help: "The model's name.")
    var model: String

    @Option(help: "The version to export (default: the served one).")
    var version: Int?

    @Option(name: .shortAndLong, help: "Where to write the .onnx file.")
    var output: String

    @OptionGroup var storage: StorageOptions

    mutating func validate() throws {
        if let version, version < 1 { throw ValidationError("--version must be at least 1") }
    }

    func run() throws {
        let store = try storage.openStore()
        defer { try? store.close() }
        let registry = ModelRegistry(store: store, dataDirectory: URL(fileURLWithPath: storage.resolvedDataDirectory))
        let exported: (model: ModelRecord, bytes: [UInt8])
        do { exported = try registry.onnx(of: model, version: version) } catch { throw CommandFailure("\(error)") }
        let (record, bytes) = exported
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(output): \(error.localizedDescription)")
        }
        print("wrote \(output): \(record.name) version \(record.version), \(bytes.count) bytes")
    }
}
