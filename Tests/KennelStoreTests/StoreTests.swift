import Foundation
import GRDB
import KennelTestSupport
import Testing
@testable import KennelStore

/// Each test gets a fresh data directory holding a fresh database (one factory, as GRDB's own tests do).
struct StoreTests {
    static let projectMigrations = repositoryRoot.appendingPathComponent("migrations")

    private func makeStore(_ directory: TemporaryDirectory, migrations: URL = projectMigrations) throws -> Store {
        try Store(dataDirectory: directory.url.appendingPathComponent("data"),
                  migrations: try Migration.load(from: migrations))
    }

    private func schema(_ store: Store) throws -> [String] {
        try store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master "
                                + "WHERE sql IS NOT NULL ORDER BY name")
        }
    }

    @Test func freshDatabaseHasEveryTableAndIndexInWALMode() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try makeStore(directory)
        defer { try? store.close() }
        #expect(FileManager.default.fileExists(atPath: directory.path + "/data/kennel.sqlite"))
        let tables = try store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                + "AND name != 'grdb_migrations' ORDER BY name")
        }
        #expect(tables == ["checkpoints", "datasets", "jobs", "metrics", "models", "served_models"])
        let indexes = try store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        }
        #expect(Set(indexes).isSuperset(of: ["jobs_by_state", "jobs_by_dataset", "models_by_checkpoint"]))
        let metricKey = try store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM pragma_index_info((SELECT name FROM pragma_index_list('metrics') "
                                + "WHERE origin = 'pk'))")
        }
        #expect(metricKey == ["job_id", "tag", "step"])
        let journal = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        #expect(try store.appliedMigrations() == ["0001_init", "0002_served_models", "0003_job_owner", "0004_job_crashes",
                                                    "0005_model_precision"])
    }

    @Test func openingTwiceChangesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try makeStore(directory)
        let before = try schema(first)
        try first.close()
        let second = try makeStore(directory)
        defer { try? second.close() }
        #expect(try schema(second) == before)
        #expect(try second.appliedMigrations() == ["0001_init", "0002_served_models", "0003_job_owner", "0004_job_crashes",
                                                     "0005_model_precision"])
    }

    @Test func aSecondNumberedFileAppliesOnceInOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let migrations = directory.url.appendingPathComponent("migrations")
        try FileManager.default.createDirectory(at: migrations, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.projectMigrations.appendingPathComponent("0001_init.sql"),
                                         to: migrations.appendingPathComponent("0001_init.sql"))
        try makeStore(directory, migrations: migrations).close()

        // 0010 must run after 0002 even though "0010" < "0002" is false only numerically: order is by number.
        try "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
            .write(to: migrations.appendingPathComponent("0002_job_priority.sql"), atomically: true, encoding: .utf8)
        try "CREATE INDEX jobs_by_priority ON jobs(priority);"
            .write(to: migrations.appendingPathComponent("10_priority_index.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: migrations.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let store = try makeStore(directory, migrations: migrations)
        #expect(try store.appliedMigrations() == ["0001_init", "0002_job_priority", "10_priority_index"])
        let columns = try store.pool.read { db in try db.columns(in: "jobs").map(\.name) }
        #expect(columns.contains("priority"))
        try store.close()
        // Applied once: a third opening would fail on the duplicate column if 0002 ran again.
        let reopened = try makeStore(directory, migrations: migrations)
        #expect(try reopened.appliedMigrations().count == 3)
        try reopened.close()
    }

    @Test func migrationFilesAreValidated() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: StoreError.noMigrations(path: directory.path)) { try Migration.load(from: directory.url) }
        try "SELECT 1;".write(to: directory.url.appendingPathComponent("init.sql"), atomically: true, encoding: .utf8)
        #expect(throws: StoreError.badMigrationName("init.sql")) { try Migration.load(from: directory.url) }
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent("init.sql"))
        try "SELECT 1;".write(to: directory.url.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.url.appendingPathComponent("001_b.sql"), atomically: true, encoding: .utf8)
        #expect(throws: StoreError.self) { try Migration.load(from: directory.url) }
        let missing = directory.url.appendingPathComponent("absent")
        #expect(throws: StoreError.self) { try Migration.load(from: missing) }
    }

    @Test func aFailingMigrationNamesItselfAndLeavesNothingHalfApplied() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let broken = [Migration(number: 1, identifier: "0001_broken",
                                sql: "CREATE TABLE a (x INTEGER); CREATE TABLE oops (;")]
        #expect(throws: StoreError.self) { try Store(dataDirectory: directory.url, migrations: broken) }
        do {
            _ = try Store(dataDirectory: directory.url, migrations: broken)
        } catch let error as StoreError {
            #expect(error.description.contains("0001_broken"))
        }
        let fixed = [Migration(number: 1, identifier: "0001_fixed", sql: "CREATE TABLE a (x INTEGER);")]
        let store = try Store(dataDirectory: directory.url, migrations: fixed)
        #expect(try store.appliedMigrations() == ["0001_fixed"])
        try store.close()
    }

    @Test func recordsRoundTripThroughEveryTable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try makeStore(directory)
        defer { try? store.close() }
        let created = Date(timeIntervalSince1970: 1_790_000_000.5)
        try store.pool.write { db in
            var dataset = DatasetRecord(name: "fashion", format: "idx", path: "/usr/share/datasets/fashion-mnist",
                                        width: 28, height: 28, channels: 1, classesJson: #"["T-shirt/top"]"#,
                                        trainCount: 60000, testCount: 10000, createdAt: created)
            try dataset.insert(db)
            var job = JobRecord(kind: .train, specJson: #"{"preset":"fashion-convnet"}"#, dataset: "fashion",
                                createdAt: created)
            try job.insert(db)
            let jobId = try #require(job.id)
            var metric = MetricRecord(jobId: jobId, tag: "train/loss", step: 10, wallTime: 1.5, value: 0.25)
            try metric.insert(db)
            var checkpoint = CheckpointRecord(jobId: jobId, step: 100, epoch: 1, path: "ckpt/1.kennel", bytes: 1024,
                                              sha256: String(repeating: "a", count: 64), createdAt: created)
            try checkpoint.insert(db)
            var model = ModelRecord(name: "fashion", version: 1, checkpointId: try #require(checkpoint.id),
                                    labelsJson: "[]", createdAt: created)
            try model.insert(db)

            #expect(try DatasetRecord.fetchOne(db, key: "fashion") == dataset)
            #expect(try JobRecord.fetchOne(db, key: jobId) == job)
            #expect(try MetricRecord.filter(MetricRecord.Columns.jobId == jobId).fetchAll(db) == [metric])
            #expect(try CheckpointRecord.fetchOne(db, key: checkpoint.id) == checkpoint)
            #expect(try ModelRecord.fetchOne(db, key: ["name": "fashion", "version": 1]) == model)
            #expect(try Row.fetchOne(db, sql: "SELECT state, spec_json FROM jobs")?["state"] as String? == "queued")
        }
    }

    @Test func constraintsRejectBadRows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try makeStore(directory)
        defer { try? store.close() }
        try store.pool.write { db in
            var orphan = MetricRecord(jobId: 999, tag: "train/loss", step: 1, wallTime: 0, value: 1)
            #expect(throws: DatabaseError.self) { try orphan.insert(db) }
            var job = JobRecord(kind: .train, specJson: "{}", dataset: "d")
            try job.insert(db)
            var metric = MetricRecord(jobId: job.id!, tag: "train/loss", step: 1, wallTime: 0, value: 1)
            try metric.insert(db)
            var duplicate = metric
            #expect(throws: DatabaseError.self) { try duplicate.insert(db) }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE jobs SET state = ? WHERE id = ?", arguments: ["exploded", job.id])
            }
        }
    }
}
