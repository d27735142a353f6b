import Crypto
import Foundation
import KennelEngine
import KennelStore

/// Checkpoint files of training jobs under `<data-dir>/checkpoints/<job>/`, with their database rows: written
/// atomically, hashed, and thinned to the newest few plus the best.
public struct CheckpointStore: Sendable {
    public let store: Store
    public let directory: URL

    public init(store: Store, dataDirectory: URL) {
        self.store = store
        directory = dataDirectory.appendingPathComponent("checkpoints")
    }

    /// Writes `bytes` for `job` at `step` and records it with its sha256 and `metricsJson`.
    public func save(_ bytes: [UInt8], job: Int64, step: Int, epoch: Int, metricsJson: String) throws -> CheckpointRecord {
        let folder = directory.appendingPathComponent(String(job))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent(String(format: "step-%09d.kennel", step))
        try Checkpoint.write(bytes, to: file)
        let digest = Self.sha256(bytes)
        return try store.write { db in
            var record = CheckpointRecord(jobId: job, step: step, epoch: epoch, path: file.path, bytes: bytes.count,
                                          sha256: digest, metricsJson: metricsJson)
            record.id = try db.insert(record, updatingOnConflict: ["job_id", "step"])
            return record
        }
    }

    /// The checkpoint's bytes after checking them against the recorded sha256; a file that does not match is
    /// never returned.
    public func load(_ record: CheckpointRecord) throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: record.path)))
        } catch {
            throw CheckpointStoreError.missing(path: record.path)
        }
        guard Self.sha256(bytes) == record.sha256 else { throw CheckpointStoreError.damaged(path: record.path) }
        return bytes
    }

    /// Lower-case hex SHA-256, as the checkpoints table stores it.
    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// Deletes all but the newest `keep` checkpoints of `job`, the one with id `best`, and any a model version
    /// serves or a job resumed from (files and rows).
    public func prune(job: Int64, keep: Int, best: Int64?) throws {
        let doomed = try store.write { db -> [CheckpointRecord] in
            let all = try db.records(CheckpointRecord.self, "WHERE job_id = ? ORDER BY step DESC", job)
            let doomed = all.dropFirst(keep).filter { $0.id != best }
            // Checkpoints a model version serves or a job resumed from are kept.
            var removed: [CheckpointRecord] = []
            for record in doomed {
                let referenced = try !db.fetch("""
                    SELECT 1 FROM models WHERE checkpoint_id = ? UNION ALL SELECT 1 FROM jobs WHERE resumed_from = ?
                    """, record.id, record.id).isEmpty
                if !referenced, try db.execute("DELETE FROM checkpoints WHERE id = ?", record.id) == 1 {
                    removed.append(record)
                }
            }
            return removed
        }
        for record in doomed { try? FileManager.default.removeItem(atPath: record.path) }
    }
}

/// Why a checkpoint could not be loaded.
public enum CheckpointStoreError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case damaged(path: String)

    public var description: String {
        switch self {
        case .missing(let path): return "checkpoint \(path) is missing"
        case .damaged(let path): return "checkpoint \(path) does not match its recorded sha256; it is not loaded"
        }
    }
}
