import Foundation
import GRDB

// One Codable record per table of DESIGN.md's data model. Swift names are camelCase; GRDB maps them to the
// tables' snake_case columns. `*_json` columns hold JSON text, decoded by the layers that own their meaning.
// Times are stored as seconds since 1970 (REAL), like TensorBoard's wall times, so they round-trip exactly.

/// Shared column naming for every Kennel record.
public protocol KennelRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {}

extension KennelRecord {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy {
        .timeIntervalSince1970
    }
    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .timeIntervalSince1970
    }
}

/// An imported dataset (`datasets`).
public struct DatasetRecord: KennelRecord, Equatable {
    public static let databaseTableName = "datasets"

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

    /// Column names as the migrations spell them.
    public enum Columns {
        public static let name = Column("name")
        public static let createdAt = Column("created_at")
    }

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
public enum JobState: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
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
public enum JobKind: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case train
    case `import`
}

/// A training or import job (`jobs`).
public struct JobRecord: KennelRecord, Equatable {
    public static let databaseTableName = "jobs"

    /// Assigned by SQLite on insert.
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

    /// Column names as the migrations spell them.
    public enum Columns {
        public static let id = Column("id")
        public static let kind = Column("kind")
        public static let state = Column("state")
        public static let dataset = Column("dataset")
    }

    public init(kind: JobKind, specJson: String, dataset: String, state: JobState = .queued,
                createdAt: Date = Date()) {
        self.kind = kind
        self.state = state
        self.specJson = specJson
        self.dataset = dataset
        self.createdAt = createdAt
        progress = 0
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// One scalar of a job's run (`metrics`), keyed by (job, tag, step).
public struct MetricRecord: KennelRecord, Equatable {
    public static let databaseTableName = "metrics"

    public var jobId: Int64
    /// `train/loss`, `test/accuracy`, …
    public var tag: String
    public var step: Int
    /// Seconds since 1970, as TensorBoard records it.
    public var wallTime: Double
    public var value: Double

    /// Column names as the migrations spell them.
    public enum Columns {
        public static let jobId = Column("job_id")
        public static let tag = Column("tag")
        public static let step = Column("step")
    }

    public init(jobId: Int64, tag: String, step: Int, wallTime: Double, value: Double) {
        self.jobId = jobId
        self.tag = tag
        self.step = step
        self.wallTime = wallTime
        self.value = value
    }
}

/// A checkpoint file written by a job (`checkpoints`).
public struct CheckpointRecord: KennelRecord, Equatable {
    public static let databaseTableName = "checkpoints"

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

    /// Column names as the migrations spell them.
    public enum Columns {
        public static let jobId = Column("job_id")
        public static let step = Column("step")
    }

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

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// One numbered version of a served model (`models`).
public struct ModelRecord: KennelRecord, Equatable {
    public static let databaseTableName = "models"

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

    /// Column names as the migrations spell them.
    public enum Columns {
        public static let name = Column("name")
        public static let version = Column("version")
    }

    public init(name: String, version: Int, checkpointId: Int64, labelsJson: String, createdAt: Date = Date(),
                precision: String = "fp32", testAccuracy: Double? = nil, fp32TestAccuracy: Double? = nil,
                calibrationJson: String? = nil) {
        self.name = name
        self.version = version
        self.checkpointId = checkpointId
        self.labelsJson = labelsJson
        self.createdAt = createdAt
        self.precision = precision
        self.testAccuracy = testAccuracy
        self.fp32TestAccuracy = fp32TestAccuracy
        self.calibrationJson = calibrationJson
    }
}
