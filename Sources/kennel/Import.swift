import ArgumentParser
import Foundation
import KennelData
import KennelJobs
import KennelImage
import KennelStore

/// `kennel import`: prepares a dataset once into a shard and records it in the database.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an image-folder tree (ROOT/<class>/<images>) or MNIST-style IDX files as a dataset.")

    enum Format: String, ExpressibleByArgument { case imagefolder, idx }

    @Option(help: "The dataset's name (letters, digits, '.', '_' and '-').")
    var name: String

    @Option(help: "imagefolder or idx.")
    var format: Format

    @Option(help: "Width of the prepared images (default: 151 for image folders, the files' own for IDX).")
    var width: Int?

    @Option(help: "Height of the prepared images (default: 250 for image folders, the files' own for IDX).")
    var height: Int?

    @Option(help: "1 (gray, default) or 3 (RGB).")
    var channels = 1

    @Option(help: "How to reach the size: pad (keep aspect, default), crop (keep aspect) or stretch.")
    var resize = "pad"

    @Option(help: "For IDX: a file with one class name per line.")
    var labels: String?

    @OptionGroup var storage: StorageOptions

    @Argument(help: "The image-folder root, or the directory holding the IDX files.")
    var path: String

    mutating func validate() throws {
        guard name.range(of: #"^[A-Za-z0-9._-]{1,100}$"#, options: .regularExpression) != nil else {
            throw ValidationError("--name must be 1–100 letters, digits, '.', '_' or '-', got '\(name)'")
        }
        guard channels == 1 || channels == 3 else { throw ValidationError("--channels must be 1 or 3") }
        guard ResizeMode(rawValue: resize) != nil else { throw ValidationError("--resize must be pad, crop or stretch") }
        if labels != nil && format != .idx { throw ValidationError("--labels applies to --format idx only") }
    }

    func run() throws {
        LogSetup.bootstrap()
        defer { LogSetup.flush() }
        let store = try storage.openStore()
        defer { try? store.close() }
        var spec = DatasetImportSpec(name: name, format: format == .idx ? .idx : .imagefolder, path: path)
        spec.width = width
        spec.height = height
        spec.channels = channels
        spec.resize = ResizeMode(rawValue: resize)
        spec.labels = try labels.map { file in
            try String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let catalog = DatasetCatalog(store: store, dataDirectory: URL(fileURLWithPath: storage.resolvedDataDirectory))
        let bar = ProgressBar(title: "importing \(name)")
        let summary: ImportSummary
        do {
            summary = try catalog.importDataset(spec, progress: bar.update).1
        } catch {
            bar.finish()
            throw CommandFailure("\(error)")
        }
        bar.finish()
        for skipped in summary.skipped.prefix(20) {
            FileHandle.standardError.write(Data("skipped \(skipped.path): \(skipped.reason)\n".utf8))
        }
        print("""
            imported \(summary.imported) (train \(summary.header.trainCount), test \(summary.header.testCount)), \
            skipped \(summary.skipped.count), \(String(format: "%.1f", summary.seconds)) s, \
            \(String(format: "%.0f", summary.imagesPerSecond)) images/s; \(summary.header.classes.count) classes \
            into \(summary.shardPath)
            """)
    }
}
