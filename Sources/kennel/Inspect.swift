import ArgumentParser
import Foundation
import KennelAPI
import KennelHTTP
import KennelJobs
import KennelStore

/// `kennel classify`: classifies image files with a served model, printing the HTTP API's JSON answer.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify JPEG or PNG files with a served model (prints JSON like POST /v1/models/NAME:classify).")

    @Option(help: "The served model's name.")
    var model: String

    @Option(name: .customLong("top-k"), help: "How many classes to list per image (default 5).")
    var topK = 5

    @OptionGroup var storage: StorageOptions

    @Argument(help: "Image files.")
    var files: [String]

    mutating func validate() throws {
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        guard !files.isEmpty else { throw ValidationError("name at least one image file") }
    }

    func run() throws {
        let store = try storage.openStore()
        defer { try? store.close() }
        let registry = ModelRegistry(store: store, dataDirectory: URL(fileURLWithPath: storage.resolvedDataDirectory))
        let served: ServedModel
        do { served = try registry.served(model) } catch { throw CommandFailure("\(error)") }
        let answers = try files.map { file -> ClassifyAnswer in
            guard let bytes = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("cannot read \(file)")
            }
            do {
                return ClassifyAnswer(served, try served.classify([UInt8](bytes), topK: topK))
            } catch {
                throw CommandFailure("\(file): \(error)")
            }
        }
        let json = answers.count == 1 ? try Response.jsonBytes(answers[0]) : try Response.jsonBytes(answers)
        print(String(decoding: json, as: UTF8.self))
    }
}

/// `kennel jobs list`.
struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the jobs in the database.",
                                                    subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs: id, kind, state, dataset, progress.")

        @OptionGroup var storage: StorageOptions

        func run() throws {
            let store = try storage.openStore()
            defer { try? store.close() }
            let jobs = try store.read { try $0.records(JobRecord.self, "ORDER BY id") }
            print(Table.render(header: ["id", "kind", "state", "dataset", "progress", "error"], rows: jobs.map { job in
                [String(job.id ?? 0), job.kind.rawValue, job.state.rawValue, job.dataset,
                 String(format: "%.0f%%", job.progress * 100), job.error ?? ""]
            }))
        }
    }
}

/// `kennel models list`.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the models in the database.",
                                                    subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List model versions and which one is served.")

        @OptionGroup var storage: StorageOptions

        func run() throws {
            let store = try storage.openStore()
            defer { try? store.close() }
            let rows = try store.read { db in
                try db.fetch("""
                    SELECT m.name, m.version, m.checkpoint_id, c.job_id, s.version AS served
                    FROM models m JOIN checkpoints c ON c.id = m.checkpoint_id
                    LEFT JOIN served_models s ON s.name = m.name ORDER BY m.name, m.version
                    """)
            }
            print(Table.render(header: ["name", "version", "checkpoint", "job", "served"], rows: try rows.map { row in
                let version: Int = try row.get("version"), served: Int? = try row.get("served")
                return [try row.get("name"), String(version), String(try row.get("checkpoint_id", as: Int64.self)),
                        String(try row.get("job_id", as: Int64.self)), served == version ? "yes" : ""]
            }))
        }
    }
}

/// Left-aligned columns separated by two spaces.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
