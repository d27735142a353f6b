import Foundation
import KennelData
import KennelImage
import KennelStore

/// What an import is asked to do, as the API (`POST /v1/datasets`) and `kennel import` accept it.
public struct DatasetImportSpec: Codable, Equatable, Sendable {
    public enum Format: String, Codable, Sendable { case imagefolder, idx }

    public var name: String
    public var format: Format
    public var path: String
    public var width: Int?
    public var height: Int?
    /// 1 (gray, default) or 3 (RGB).
    public var channels: Int?
    public var resize: ResizeMode?
    /// For IDX: class names, index = label.
    public var labels: [String]?

    public init(name: String, format: Format, path: String) {
        self.name = name
        self.format = format
        self.path = path
    }
}

/// Why a dataset could not be deleted.
public enum DatasetCatalogError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case inUse(String)

    public var description: String {
        switch self {
        case .unknown(let name): return "no dataset named '\(name)'"
        case .inUse(let reason): return reason
        }
    }
}

/// Imports datasets into shards under `<data-dir>/datasets/` and records them in the `datasets` table.
public struct DatasetCatalog: Sendable {
    public let store: Store
    public let dataDirectory: URL
    /// When set, imports read only files that resolve below it (`KENNEL_DATASETS_ROOT`).
    public let datasetsRoot: URL?

    public init(store: Store, dataDirectory: URL, datasetsRoot: URL? = nil) {
        self.store = store
        self.dataDirectory = dataDirectory
        self.datasetsRoot = datasetsRoot
    }

    /// Refuses a spec that cannot run: bad or taken name, missing path, impossible size or channels.
    /// `path` (relative ones taken from `root`) with symlinks and `..` resolved; refused unless it lies under
    /// `root`, itself resolved. What the server imports when `KENNEL_DATASETS_ROOT` is set.
    public static func resolve(_ path: String, under root: URL) throws -> String {
        let base = root.resolvingSymlinksInPath().standardizedFileURL.path
        let absolute = path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
        let resolved = absolute.resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved == base || resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw SpecError(field: "path", message: "\(path) lies outside the datasets root \(base) (KENNEL_DATASETS_ROOT)")
        }
        return resolved
    }

    public func validate(_ spec: DatasetImportSpec) throws {
        guard spec.name.range(of: #"^[A-Za-z0-9._-]{1,100}$"#, options: .regularExpression) != nil else {
            throw SpecError(field: "name", message: "must be 1–100 letters, digits, '.', '_' or '-', got '\(spec.name)'")
        }
        if try store.read({ try $0.record(DatasetRecord.self, "WHERE name = ?", spec.name) }) != nil {
            throw DatasetCatalogError.inUse("a dataset named '\(spec.name)' already exists; pick another name, or "
                                            + "DELETE /v1/datasets/\(spec.name) first")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SpecError(field: "path", message: "\(spec.path) does not exist or is not a directory")
        }
        if let channels = spec.channels, channels != 1 && channels != 3 {
            throw SpecError(field: "channels", message: "must be 1 or 3, got \(channels)")
        }
        for (field, value) in [("width", spec.width), ("height", spec.height)] {
            if let value, !(1...4096).contains(value) {
                throw SpecError(field: field, message: "must be 1…4096, got \(value)")
            }
        }
    }

    /// Deletes a dataset's row and shard, to free space. Refused while a job on it is queued or running, and
    /// while a served model was trained on it (its confusion matrix reads the test split).
    public func delete(_ name: String) throws {
        let dataset = try store.read { db -> DatasetRecord in
            guard let dataset = try db.record(DatasetRecord.self, "WHERE name = ?", name) else {
                throw DatasetCatalogError.unknown(name)
            }
            if let active = try db.scalar(Int64.self, """
                SELECT id AS value FROM jobs WHERE dataset = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1
                """, name) {
                throw DatasetCatalogError.inUse("job \(active) uses dataset '\(name)'; cancel it first")
            }
            if let served = try db.scalar(String.self, """
                SELECT s.name AS value FROM served_models s JOIN models m ON m.name = s.name AND m.version = s.version
                JOIN checkpoints c ON c.id = m.checkpoint_id JOIN jobs j ON j.id = c.job_id
                WHERE j.dataset = ? LIMIT 1
                """, name) {
                throw DatasetCatalogError.inUse("the served model '\(served)' was trained on dataset '\(name)'; "
                                                + "unserve it first (DELETE /v1/models/\(served))")
            }
            return dataset
        }
        // The shard first: on a full disk the database cannot commit until it is gone.
        if let shard = dataset.shardPath { try? FileManager.default.removeItem(atPath: shard) }
        try store.write { db in try db.execute("DELETE FROM datasets WHERE name = ?", name) }
    }

    /// Runs the import and records the dataset; returns the row and the import's summary. `isCancelled` is
    /// polled as it goes (a cancelled import throws `DataError.cancelled` and leaves nothing behind).
    public func importDataset(_ spec: DatasetImportSpec, isCancelled: @Sendable () -> Bool = { false },
                              progress: ImportProgress = { _, _ in }) throws -> (DatasetRecord, ImportSummary) {
        try validate(spec)
        let shardPath = dataDirectory.appendingPathComponent("datasets/\(spec.name).shard").path
        let color: ColorMode = (spec.channels ?? 1) == 1 ? .gray : .rgb
        let summary: ImportSummary
        switch spec.format {
        case .imagefolder:
            let preprocessing = try Preprocessing(width: spec.width ?? 151, height: spec.height ?? 250, color: color,
                                                  resize: spec.resize ?? .pad)
            summary = try ImageFolderImport.run(root: spec.path, preprocessing: preprocessing, shardPath: shardPath,
                                                bounds: ImportBounds(root: datasetsRoot?.path),
                                                isCancelled: isCancelled, progress: progress)
        case .idx:
            var preprocessing: Preprocessing?
            if spec.width != nil || spec.height != nil || color != .gray {
                preprocessing = try Preprocessing(width: spec.width ?? 28, height: spec.height ?? 28, color: color,
                                                  resize: spec.resize ?? .pad)
            }
            summary = try IDXImport.run(directory: spec.path, preprocessing: preprocessing, labelNames: spec.labels,
                                        shardPath: shardPath, isCancelled: isCancelled, progress: progress)
        }
        let preprocessing = summary.header.preprocessing
        let dataset = DatasetRecord(
            name: spec.name, format: spec.format.rawValue, path: URL(fileURLWithPath: spec.path).standardizedFileURL.path,
            width: preprocessing.width, height: preprocessing.height, channels: preprocessing.channels,
            classesJson: try ColumnJSON.text(summary.header.classes),
            trainCount: summary.header.trainCount, testCount: summary.header.testCount,
            skippedJson: try ColumnJSON.text(summary.skipped),
            shardPath: summary.shardPath)
        try store.write { db in try db.insert(dataset) }
        return (dataset, summary)
    }
}
