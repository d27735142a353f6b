import Foundation
import KennelJobs
import KennelStore

// The JSON shapes of DESIGN.md: the data model's snake_case column names, `*_json` columns decoded under the
// name without the suffix, times as seconds since 1970.

struct DatasetBody: Encodable {
    let name, format, path: String
    let width, height, channels, trainCount, testCount: Int
    let classes, skipped: JSONValue
    let createdAt: Double

    init(_ record: DatasetRecord) {
        (name, format, path) = (record.name, record.format, record.path)
        (width, height, channels) = (record.width, record.height, record.channels)
        (trainCount, testCount) = (record.trainCount, record.testCount)
        classes = JSONValue(text: record.classesJson)
        skipped = JSONValue(text: record.skippedJson)
        createdAt = record.createdAt.timeIntervalSince1970
    }

    enum CodingKeys: String, CodingKey {
        case name, format, path, width, height, channels, trainCount = "train_count", testCount = "test_count"
        case classes, skipped, createdAt = "created_at"
    }
}

struct JobBody: Encodable {
    let id: Int64
    let kind, state, dataset: String
    let spec: JSONValue
    let createdAt: Double
    let startedAt, finishedAt: Double?
    let progress: Double
    let error: String?
    let resumedFrom: Int64?
    /// The highest `test/accuracy` the job has recorded.
    let bestTestAccuracy: Double?

    init(_ record: JobRecord, bestTestAccuracy: Double? = nil) {
        self.bestTestAccuracy = bestTestAccuracy
        id = record.id ?? 0
        (kind, state, dataset) = (record.kind.rawValue, record.state.rawValue, record.dataset)
        spec = JSONValue(text: record.specJson)
        createdAt = record.createdAt.timeIntervalSince1970
        startedAt = record.startedAt?.timeIntervalSince1970
        finishedAt = record.finishedAt?.timeIntervalSince1970
        (progress, error, resumedFrom) = (record.progress, record.error, record.resumedFrom)
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, state, dataset, spec, createdAt = "created_at", startedAt = "started_at"
        case finishedAt = "finished_at", progress, error, resumedFrom = "resumed_from"
        case bestTestAccuracy = "best_test_accuracy"
    }

    /// The answers for `jobs`, with their best test accuracies read in one query.
    static func list(_ jobs: [JobRecord], _ db: any SQLSession) throws -> [JobBody] {
        let ids = jobs.compactMap(\.id)
        let best = try Dictionary(uniqueKeysWithValues: db.fetch("""
            SELECT job_id, MAX(value) AS best FROM metrics
            WHERE tag = 'test/accuracy' AND \(SQL.in("job_id", ids.count)) GROUP BY job_id
            """, ids.map(\.sqlValue)).map { row -> (Int64, Double) in (try row.get("job_id"), try row.get("best")) })
        return jobs.map { JobBody($0, bestTestAccuracy: $0.id.flatMap { best[$0] }) }
    }
}

struct CheckpointBody: Encodable {
    let id, jobId: Int64
    let step, epoch, bytes: Int
    let sha256: String
    let metrics: JSONValue
    let createdAt: Double

    init(_ record: CheckpointRecord) {
        (id, jobId) = (record.id ?? 0, record.jobId)
        (step, epoch, bytes, sha256) = (record.step, record.epoch, record.bytes, record.sha256)
        metrics = JSONValue(text: record.metricsJson)
        createdAt = record.createdAt.timeIntervalSince1970
    }

    enum CodingKeys: String, CodingKey {
        case id, jobId = "job_id", step, epoch, bytes, sha256, metrics, createdAt = "created_at"
    }
}

struct ModelBody: Encodable {
    let name: String
    let version: Int
    let checkpointId: Int64
    /// The training job the checkpoint came from.
    let jobId: Int64?
    /// The number format the version is served in.
    let precision: String
    /// This version's test accuracy: the checkpoint's for fp32, measured at promotion for bf16 and int8.
    let testAccuracy: Double?
    /// The same checkpoint's test accuracy in fp32 (equal to `testAccuracy` for an fp32 version).
    let fp32TestAccuracy: Double?
    let labels: JSONValue
    let createdAt: Double
    let served: Bool
    /// `trained`, or the kind of file the version was imported from.
    let origin: String
    /// One version's answer only: the model's input (height, width, channels) and how images are brought to it.
    var inputShape: [Int]?
    var preprocessing: [String: String]?

    enum CodingKeys: String, CodingKey {
        case name, version, checkpointId = "checkpoint_id", jobId = "job_id", precision
        case testAccuracy = "test_accuracy", fp32TestAccuracy = "fp32_test_accuracy", labels
        case createdAt = "created_at", served, origin, inputShape = "input_shape", preprocessing
    }

    /// The answers for `models`, with their checkpoints' job and accuracy and which versions are served.
    static func list(_ models: [ModelRecord], _ db: any SQLSession) throws -> [ModelBody] {
        let served = Dictionary(try db.fetch("SELECT name, version FROM served_models")
            .map { row -> (String, Int) in (try row.get("name"), try row.get("version")) },
                                uniquingKeysWith: { first, _ in first })
        let keys = Array(Set(models.map(\.checkpointId)))
        let checkpoints = Dictionary(uniqueKeysWithValues: try db.records(CheckpointRecord.self,
                                                                          "WHERE \(SQL.in("id", keys.count))",
                                                                          keys.map(\.sqlValue))
            .map { ($0.id ?? 0, $0) })
        return models.map { model in
            let checkpoint = checkpoints[model.checkpointId]
            let recorded = checkpoint?.recordedTestMetrics?.accuracy
            let reduced = model.precision != "fp32"
            return ModelBody(name: model.name, version: model.version, checkpointId: model.checkpointId,
                             jobId: checkpoint?.jobId, precision: model.precision,
                             testAccuracy: reduced ? model.testAccuracy : recorded,
                             fp32TestAccuracy: reduced ? model.fp32TestAccuracy : recorded,
                             labels: JSONValue(text: model.labelsJson),
                             createdAt: model.createdAt.timeIntervalSince1970, served: served[model.name] == model.version,
                             origin: model.origin)
        }
    }
}

struct MetricBody: Encodable {
    let tag: String
    let step: Int
    let wallTime: Double
    let value: Double

    init(_ record: MetricRecord) {
        (tag, step, wallTime, value) = (record.tag, record.step, record.wallTime, record.value)
    }

    enum CodingKeys: String, CodingKey { case tag, step, wallTime = "wall_time", value }
}

/// A served model's confusion matrix on its test split: `matrix[true class][predicted class]`.
struct ConfusionBody: Encodable {
    let model: String
    let version: Int
    let labels: [String]
    let matrix: [[Int]]
    let accuracy: Double?
}
