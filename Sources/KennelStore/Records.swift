import Foundation

// One record per table of DESIGN.md's data model. Swift names are camelCase; the tables' columns snake_case.
// `*_json` columns hold JSON text, decoded by the layers that own their meaning. Times are stored as seconds since
// 1970, like TensorBoard's wall times, so they round-trip exactly.

/// An imported dataset (`datasets`).
public struct DatasetRecord: Codable, Equatable, StoredRecord {
    public static let table = "datasets"

    public var name: String
    /// `imagefolder` or `idx`.
    public var format: String
    public var path: String
    public var width: Int
    public var height: Int
    public var channels: Int
    public var classesJson: String
    public var trainCount: Int
    public var testCount: Int
    public var skippedJson: String
    public var shardPath: String?
    public var createdAt: Date

    public init(name: String, format: String, path: String, width: Int, height: Int, channels: Int,
                classesJson: String = "[]", trainCount: Int = 0, testCount: Int = 0, skippedJson: String = "[]",
                shardPath: String? = nil, createdAt: Date = Date()) {
        self.name = name
        self.format = format
        self.path = path
        self.width = width
        self.height = height
        self.channels = channels
        self.classesJson = classesJson
        self.trainCount = trainCount
        self.testCount = testCount
        self.skippedJson = skippedJson
        self.shardPath = shardPath
        self.createdAt = createdAt
    }
}

/// The state of a job as stored: `queued → running → succeeded | failed | cancelled`.
public enum JobState: String, Codable, Sendable, CaseIterable, SQLValueConvertible {
    case queued
    case running
    case succeeded
    case failed
    case cancelled

    /// True for the states a job never leaves.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: return true
        case .queued, .running: return false
        }
    }

    /// Whether a job in this state may move to `next`. A queued job may be cancelled, or fail validation,
    /// before it runs; a running job found at start-up after a crash stays running while it resumes.
    public func canMove(to next: JobState) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled), (.queued, .failed): return true
        case (.running, .succeeded), (.running, .failed), (.running, .cancelled): return true
        default: return false
        }
    }
}

/// What a job does.
public enum JobKind: String, Codable, Sendable, CaseIterable, SQLValueConvertible {
    case train
    case `import`
}

/// A training or import job (`jobs`).
public struct JobRecord: Codable, Equatable, StoredRecord {
    public static let table = "jobs"

    /// Assigned by the database on insert.
    public var id: Int64?
    public var kind: JobKind
    public var state: JobState
    public var specJson: String
    public var dataset: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// 0…1.
    public var progress: Double
    public var error: String?
    /// The checkpoint a resumed job continued from.
    public var resumedFrom: Int64?
    /// The process running the job (`host:pid:start-time`), while it runs.
    public var owner: String?

    public init(kind: JobKind, specJson: String, dataset: String, state: JobState = .queued,
                createdAt: Date = Date()) {
        self.kind = kind
        self.state = state
        self.specJson = specJson
        self.dataset = dataset
        self.createdAt = createdAt
        progress = 0
    }
}

/// One scalar of a job's run (`metrics`), keyed by (job, tag, step).
public struct MetricRecord: Codable, Equatable, StoredRecord {
    public static let table = "metrics"

    public var jobId: Int64
    /// `train/loss`, `test/accuracy`, …
    public var tag: String
    public var step: Int
    /// Seconds since 1970, as TensorBoard records it.
    public var wallTime: Double
    public var value: Double

    public init(jobId: Int64, tag: String, step: Int, wallTime: Double, value: Double) {
        self.jobId = jobId
        self.tag = tag
        self.step = step
        self.wallTime = wallTime
        self.value = value
    }
}

/// A checkpoint file written by a job (`checkpoints`).
public struct CheckpointRecord: Codable, Equatable, StoredRecord {
    public static let table = "checkpoints"

    public var id: Int64?
    public var jobId: Int64
    public var step: Int
    public var epoch: Int
    public var path: String
    public var bytes: Int
    /// Lower-case hex digest of the file.
    public var sha256: String
    public var metricsJson: String
    public var createdAt: Date

    public init(jobId: Int64, step: Int, epoch: Int, path: String, bytes: Int, sha256: String,
                metricsJson: String = "{}", createdAt: Date = Date()) {
        self.jobId = jobId
        self.step = step
        self.epoch = epoch
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
        self.metricsJson = metricsJson
        self.createdAt = createdAt
    }
}

/// One numbered version of a served model (`models`).
public struct ModelRecord: Codable, Equatable, StoredRecord {
    public static let table = "models"

    public var name: String
    public var version: Int
    public var checkpointId: Int64
    public var labelsJson: String
    public var createdAt: Date
    /// `fp32`, `bf16` or `int8`.
    public var precision: String
    /// bf16/int8: this version's test-split accuracy and the checkpoint's in float32, measured at promotion.
    public var testAccuracy: Double?
    public var fp32TestAccuracy: Double?
    /// int8: the calibration it was quantized with.
    public var calibrationJson: String?
    /// Where the version came from: `trained` (a checkpoint of a job here) or an imported file's kind.
    public var origin: String

    public init(name: String, version: Int, checkpointId: Int64, labelsJson: String, createdAt: Date = Date(),
                precision: String = "fp32", testAccuracy: Double? = nil, fp32TestAccuracy: Double? = nil,
                calibrationJson: String? = nil, origin: String = "trained") {
        self.name = name
        self.version = version
        self.checkpointId = checkpointId
        self.labelsJson = labelsJson
        self.createdAt = createdAt
        self.precision = precision
        self.testAccuracy = testAccuracy
        self.fp32TestAccuracy = fp32TestAccuracy
        self.calibrationJson = calibrationJson
        self.origin = origin
    }
}

// How each record maps to its table's columns, in the order the migrations create them.

extension DatasetRecord {
    public static let columns = ["name", "format", "path", "width", "height", "channels", "classes_json", "train_count",
                                 "test_count", "skipped_json", "shard_path", "created_at"]

    public init(row: SQLRow) throws {
        self.init(name: try row.get("name"), format: try row.get("format"), path: try row.get("path"),
                  width: try row.get("width"), height: try row.get("height"), channels: try row.get("channels"),
                  classesJson: try row.get("classes_json"), trainCount: try row.get("train_count"),
                  testCount: try row.get("test_count"), skippedJson: try row.get("skipped_json"),
                  shardPath: try row.get("shard_path"), createdAt: try row.get("created_at"))
    }

    public var values: [SQLValue] {
        [name.sqlValue, format.sqlValue, path.sqlValue, width.sqlValue, height.sqlValue, channels.sqlValue,
         classesJson.sqlValue, trainCount.sqlValue, testCount.sqlValue, skippedJson.sqlValue, shardPath.sqlValue,
         createdAt.sqlValue]
    }
}

extension JobRecord {
    public static let columns = ["id", "kind", "state", "spec_json", "dataset", "created_at", "started_at", "finished_at",
                                 "progress", "error", "resumed_from", "owner"]
    public static let generatedKey: String? = "id"

    public init(row: SQLRow) throws {
        self.init(kind: try row.get("kind"), specJson: try row.get("spec_json"), dataset: try row.get("dataset"),
                  state: try row.get("state"), createdAt: try row.get("created_at"))
        id = try row.get("id")
        startedAt = try row.get("started_at")
        finishedAt = try row.get("finished_at")
        progress = try row.get("progress")
        error = try row.get("error")
        resumedFrom = try row.get("resumed_from")
        owner = try row.get("owner")
    }

    public var values: [SQLValue] {
        [id.sqlValue, kind.sqlValue, state.sqlValue, specJson.sqlValue, dataset.sqlValue, createdAt.sqlValue,
         startedAt.sqlValue, finishedAt.sqlValue, progress.sqlValue, error.sqlValue, resumedFrom.sqlValue, owner.sqlValue]
    }
}

extension MetricRecord {
    public static let columns = ["job_id", "tag", "step", "wall_time", "value"]

    public init(row: SQLRow) throws {
        self.init(jobId: try row.get("job_id"), tag: try row.get("tag"), step: try row.get("step"),
                  wallTime: try row.get("wall_time"), value: try row.get("value"))
    }

    public var values: [SQLValue] {
        [jobId.sqlValue, tag.sqlValue, step.sqlValue, wallTime.sqlValue, value.sqlValue]
    }
}

extension CheckpointRecord {
    public static let columns = ["id", "job_id", "step", "epoch", "path", "bytes", "sha256", "metrics_json", "created_at"]
    public static let generatedKey: String? = "id"

    public init(row: SQLRow) throws {
        self.init(jobId: try row.get("job_id"), step: try row.get("step"), epoch: try row.get("epoch"),
                  path: try row.get("path"), bytes: try row.get("bytes"), sha256: try row.get("sha256"),
                  metricsJson: try row.get("metrics_json"), createdAt: try row.get("created_at"))
        id = try row.get("id")
    }

    public var values: [SQLValue] {
        [id.sqlValue, jobId.sqlValue, step.sqlValue, epoch.sqlValue, path.sqlValue, bytes.sqlValue, sha256.sqlValue,
         metricsJson.sqlValue, createdAt.sqlValue]
    }
}

extension ModelRecord {
    public static let columns = ["name", "version", "checkpoint_id", "labels_json", "created_at", "precision",
                                 "test_accuracy", "fp32_test_accuracy", "calibration_json", "origin"]

    public init(row: SQLRow) throws {
        self.init(name: try row.get("name"), version: try row.get("version"), checkpointId: try row.get("checkpoint_id"),
                  labelsJson: try row.get("labels_json"), createdAt: try row.get("created_at"),
                  precision: try row.get("precision"), testAccuracy: try row.get("test_accuracy"),
                  fp32TestAccuracy: try row.get("fp32_test_accuracy"), calibrationJson: try row.get("calibration_json"),
                  origin: try row.get("origin"))
    }

    public var values: [SQLValue] {
        [name.sqlValue, version.sqlValue, checkpointId.sqlValue, labelsJson.sqlValue, createdAt.sqlValue,
         precision.sqlValue, testAccuracy.sqlValue, fp32TestAccuracy.sqlValue, calibrationJson.sqlValue, origin.sqlValue]
    }
}
