import Foundation
import Synchronization
import KennelTestSupport
import Testing
@testable import KennelStore

/// The store's behaviour, once per engine: each test gets a fresh database (a data directory for SQLite, a new
/// database on the throwaway PostgreSQL server for PostgreSQL) and must see the same answers from both.
struct StoreTests {
    static let everyTable = ["checkpoints", "datasets", "jobs", "metrics", "models", "served_models"]
    static let everyMigration = ["0001_init", "0002_served_models", "0003_job_owner", "0004_job_crashes",
                                 "0005_model_precision", "0006_job_lease", "0007_model_origin"]

    private func withStore(_ engine: Engine, _ body: (Store, ScratchDatabase) throws -> Void) throws {
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let store = try scratch.open()
        defer { try? store.close() }
        try body(store, scratch)
    }

    /// Tables and indexes as the engine's catalog lists them.
    private func catalog(_ store: Store, _ engine: Engine) throws -> (tables: [String], indexes: [String]) {
        try store.read { db in
            switch engine {
            case .sqlite:
                return (try db.values(String.self, """
                            SELECT name AS value FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                            AND name != 'grdb_migrations' ORDER BY name
                            """),
                        try db.values(String.self, "SELECT name AS value FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
            case .postgres:
                return (try db.values(String.self, """
                            SELECT table_name::text AS value FROM information_schema.tables
                            WHERE table_schema = 'public' AND table_name != 'kennel_migrations' ORDER BY table_name
                            """),
                        try db.values(String.self, "SELECT indexname::text AS value FROM pg_indexes WHERE schemaname = 'public'"))
            }
        }
    }

    @Test(arguments: Engine.allCases)
    func freshDatabaseHasEveryTableAndIndex(engine: Engine) throws {
        try withStore(engine) { store, _ in
            let (tables, indexes) = try catalog(store, engine)
            #expect(tables == Self.everyTable)
            #expect(Set(indexes).isSuperset(of: ["jobs_by_state", "jobs_by_dataset", "models_by_checkpoint"]))
            #expect(try store.appliedMigrations() == Self.everyMigration)
        }
    }

    @Test func sqliteRunsInWALModeWithTheMetricKeyAsItsPrimaryIndex() throws {
        try withStore(.sqlite) { store, scratch in
            #expect(FileManager.default.fileExists(atPath: scratch.dataDirectory.path + "/kennel.sqlite"))
            #expect(try store.read { try $0.scalar(String.self, "SELECT journal_mode AS value FROM pragma_journal_mode") } == "wal")
            let key = try store.read { db in
                try db.values(String.self, "SELECT name AS value FROM pragma_index_info((SELECT name FROM "
                              + "pragma_index_list('metrics') WHERE origin = 'pk'))")
            }
            #expect(key == ["job_id", "tag", "step"])
        }
    }

    @Test(arguments: Engine.allCases)
    func openingTwiceChangesNothing(engine: Engine) throws {
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let first = try scratch.open()
        let before = try catalog(first, engine)
        try first.close()
        let second = try scratch.open()
        defer { try? second.close() }
        #expect(try catalog(second, engine) == before)
        #expect(try second.appliedMigrations() == Self.everyMigration)
    }

    /// Two processes opening one PostgreSQL database at the same moment (two replicas starting) migrate it once.
    @Test func concurrentOpeningsMigrateOnce() throws {
        let scratch = try ScratchDatabase(.postgres)
        defer { scratch.remove() }
        let results = Mutex<[Result<[String], any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let result = Result { () throws -> [String] in
                let store = try scratch.open()
                defer { try? store.close() }
                return try store.appliedMigrations()
            }
            results.withLock { $0.append(result) }
        }
        for result in results.withLock({ $0 }) { #expect(try result.get() == Self.everyMigration) }
    }

    @Test(arguments: Engine.allCases)
    func aLaterNumberedFileAppliesOnceInOrder(engine: Engine) throws {
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let root = scratch.directory.url.appendingPathComponent("migrations")
        let folder = root.appendingPathComponent(engine.rawValue)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("migrations/\(engine.rawValue)/0001_init.sql"),
                                         to: folder.appendingPathComponent("0001_init.sql"))
        let open = { try Store.open(scratch.location, migrationsRoot: root) }
        try open().close()

        // 10 runs after 0002 although "10" sorts before "0002" as text: order is by number.
        try "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
            .write(to: folder.appendingPathComponent("0002_job_priority.sql"), atomically: true, encoding: .utf8)
        try "-- an index for the new column\nCREATE INDEX jobs_by_priority ON jobs(priority);\n-- done\n"
            .write(to: folder.appendingPathComponent("10_priority_index.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let store = try open()
        #expect(try store.appliedMigrations() == ["0001_init", "0002_job_priority", "10_priority_index"])
        #expect(try store.read { try $0.fetch("SELECT priority FROM jobs") }.isEmpty)
        try store.close()
        // Applied once: a third opening would fail on the duplicate column if 0002 ran again.
        let reopened = try open()
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

    @Test(arguments: Engine.allCases)
    func aFailingMigrationNamesItselfAndLeavesNothingHalfApplied(engine: Engine) throws {
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let broken = [Migration(number: 1, identifier: "0001_broken",
                                sql: "CREATE TABLE a (x INTEGER); CREATE TABLE oops (;")]
        let open = { (migrations: [Migration]) throws -> Store in
            switch scratch.location {
            case .sqlite(let dataDirectory): return try Store(dataDirectory: dataDirectory, migrations: migrations)
            case .postgres(let url): return Store(engine: try PostgresEngine(url: url, migrations: migrations, logger: .init(label: "test")))
            }
        }
        do {
            _ = try open(broken)
            Issue.record("a broken migration was applied")
        } catch let error as StoreError {
            #expect(error.description.contains("0001_broken"))
        }
        // Table `a` of the broken file was rolled back with it: the fixed file creates it again.
        let store = try open([Migration(number: 1, identifier: "0001_fixed", sql: "CREATE TABLE a (x INTEGER);")])
        #expect(try store.appliedMigrations() == ["0001_fixed"])
        try store.close()
    }

    @Test(arguments: Engine.allCases)
    func recordsRoundTripThroughEveryTable(engine: Engine) throws {
        try withStore(engine) { store, _ in
            let created = Date(timeIntervalSince1970: 1_790_000_000.5)
            let dataset = DatasetRecord(name: "fashion", format: "idx", path: "/usr/share/datasets/fashion-mnist",
                                        width: 28, height: 28, channels: 1, classesJson: #"["T-shirt/top"]"#,
                                        trainCount: 60000, testCount: 10000, createdAt: created)
            var job = JobRecord(kind: .train, specJson: #"{"preset":"fashion-convnet"}"#, dataset: "fashion",
                                createdAt: created)
            job.startedAt = Date(timeIntervalSince1970: 1_790_000_001.25)
            job.owner = "host:1:2"
            job.progress = 0.375
            try store.write { db in
                try db.insert(dataset)
                job.id = try db.insert(job)
                let jobId = try #require(job.id)
                let metric = MetricRecord(jobId: jobId, tag: "train/loss", step: 10, wallTime: 1.5, value: 0.25)
                try db.insert(metric)
                var checkpoint = CheckpointRecord(jobId: jobId, step: 100, epoch: 1, path: "ckpt/1.kennel", bytes: 1024,
                                                  sha256: String(repeating: "a", count: 64), createdAt: created)
                checkpoint.id = try db.insert(checkpoint)
                let model = ModelRecord(name: "fashion", version: 1, checkpointId: try #require(checkpoint.id),
                                        labelsJson: "[]", createdAt: created, precision: "int8", testAccuracy: 0.5,
                                        fp32TestAccuracy: 0.625, calibrationJson: "[1]")
                try db.insert(model)

                #expect(try db.record(DatasetRecord.self, "WHERE name = ?", "fashion") == dataset)
                #expect(try db.record(JobRecord.self, "WHERE id = ?", jobId) == job)
                #expect(try db.records(MetricRecord.self, "WHERE job_id = ?", jobId) == [metric])
                #expect(try db.record(CheckpointRecord.self, "WHERE id = ?", checkpoint.id) == checkpoint)
                #expect(try db.record(ModelRecord.self, "WHERE name = ? AND version = ?", "fashion", 1) == model)
            }
            // Committed: a later read sees the same rows.
            #expect(try store.read { try $0.record(JobRecord.self, "WHERE id = ?", job.id) } == job)
        }
    }

    @Test(arguments: Engine.allCases)
    func upsertsReplaceTheRowWithTheSameKey(engine: Engine) throws {
        try withStore(engine) { store, _ in
            let jobId = try #require(try store.write { try $0.insert(JobRecord(kind: .train, specJson: "{}", dataset: "d")) })
            try store.write { db in
                let point = MetricRecord(jobId: jobId, tag: "train/loss", step: 1, wallTime: 1, value: 1)
                try db.insert(point, updatingOnConflict: ["job_id", "tag", "step"])
                var again = point
                again.value = 2
                try db.insert(again, updatingOnConflict: ["job_id", "tag", "step"])
            }
            #expect(try store.read { try $0.values(Double.self, "SELECT value AS value FROM metrics") } == [2])
        }
    }

    @Test(arguments: Engine.allCases)
    func constraintsRejectBadRowsAndTheTransactionRollsBack(engine: Engine) throws {
        try withStore(engine) { store, _ in
            #expect(throws: StoreError.self) {
                try store.write { try $0.insert(MetricRecord(jobId: 999, tag: "train/loss", step: 1, wallTime: 0, value: 1)) }
            }
            let jobId = try #require(try store.write { try $0.insert(JobRecord(kind: .train, specJson: "{}", dataset: "d")) })
            let metric = MetricRecord(jobId: jobId, tag: "train/loss", step: 1, wallTime: 0, value: 1)
            try store.write { try $0.insert(metric) }
            do {
                try store.write { db in
                    try db.execute("UPDATE jobs SET progress = 0.5 WHERE id = ?", jobId)
                    try db.insert(metric)
                }
                Issue.record("a duplicate metric was written")
            } catch let error as StoreError {
                guard case .constraintViolated = error else { throw error }
            }
            // The whole transaction rolled back, the update before the failure included.
            #expect(try store.read { try $0.scalar(Double.self, "SELECT progress AS value FROM jobs") } == 0)
            #expect(throws: StoreError.self) {
                try store.write { try $0.execute("UPDATE jobs SET state = ? WHERE id = ?", "exploded", jobId) }
            }
        }
    }

    /// Errors a transaction's body throws reach the caller unchanged, and nothing of it is committed.
    @Test(arguments: Engine.allCases)
    func aThrowingBodyRollsBack(engine: Engine) throws {
        struct Refused: Error {}
        let scratch = try ScratchDatabase(engine)
        defer { scratch.remove() }
        let store = try scratch.open()
        defer { try? store.close() }
        #expect(throws: Refused.self) {
            try store.write { db -> Void in
                try db.insert(JobRecord(kind: .train, specJson: "{}", dataset: "d"))
                throw Refused()
            }
        }
        #expect(try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM jobs") } == 0)
    }

    /// Concurrent conditional updates of one row: exactly one wins on either engine (a claim is taken once).
    @Test(arguments: Engine.allCases)
    func concurrentClaimsOfOneJobHaveOneWinner(engine: Engine) throws {
        try withStore(engine) { store, _ in
            let ids = try store.write { db in
                try (0..<20).map { _ in try #require(try db.insert(JobRecord(kind: .train, specJson: "{}", dataset: "d"))) }
            }
            let wins = Mutex([Int64: Int]())
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                for id in ids {
                    let won = (try? store.write { db in
                        try db.execute("UPDATE jobs SET state = 'running', owner = ? WHERE id = ? AND state = 'queued'",
                                       "worker-\(worker)", id) == 1
                    }) ?? false
                    if won { wins.withLock { $0[id, default: 0] += 1 } }
                }
            }
            #expect(wins.withLock { $0 } == Dictionary(uniqueKeysWithValues: ids.map { ($0, 1) }))
        }
    }

    @Test func sqlitesFullDiskIsAStoreError() throws {
        try withStore(.sqlite) { store, _ in
            try store.write { try $0.execute("PRAGMA max_page_count = 30") }
            let error = try #require(throws: StoreError.self) {
                try store.write { db in
                    for index in 0..<2000 {
                        try db.insert(JobRecord(kind: .train, specJson: String(repeating: "x", count: 500 + index),
                                                dataset: "d"))
                    }
                }
            }
            #expect(DiskFull.matches(error))
        }
    }

    @Test func postgresURLsAreCheckedAndNeverPrintTheirPassword() throws {
        let url = try PostgresURL("postgres://kennel:s3cr%40t@db.internal:6543/jobs")
        #expect(url.host == "db.internal" && url.port == 6543 && url.user == "kennel" && url.database == "jobs")
        #expect(url.password == "s3cr@t")
        #expect(url.description == "postgres://kennel@db.internal:6543/jobs")
        #expect(try PostgresURL(url.connectionString) == url)
        #expect(try PostgresURL("postgresql://me@localhost/k").port == 5432)
        for bad in ["mysql://me@host/db", "postgres://host/db", "postgres://me@host", "postgres://me@host/db?sslmode=verify"] {
            #expect(throws: StoreError.self) { try PostgresURL(bad) }
        }
        do {
            _ = try PostgresURL("http://kennel:hunter2@host/db")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    /// A server that does not answer is `unavailable` within seconds, with the address in the message.
    @Test func anUnreachableServerIsUnavailable() throws {
        let started = ContinuousClock.now
        do {
            _ = try PostgresEngine(url: try PostgresURL("postgres://kennel@127.0.0.1:1/none"), migrations: [],
                                   logger: .init(label: "test"))
            Issue.record("connected to a closed port")
        } catch let error as StoreError {
            guard case .unavailable(let reason) = error else { throw error }
            #expect(reason.contains("127.0.0.1:1"))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func scriptsSplitIntoStatementsAndPlaceholdersAreNumbered() {
        #expect(SQLScript.statements(of: """
            -- a comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT 'a;b');
            /* block; comment */ INSERT INTO a VALUES ('it''s');
            -- trailing
            """) == ["-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT 'a;b')",
                     "/* block; comment */ INSERT INTO a VALUES ('it''s')"])
        #expect(SQLScript.numberingPlaceholders("SELECT '?' || ? FROM t WHERE a = ? -- ?\nAND b = ?")
                == "SELECT '?' || $1 FROM t WHERE a = $2 -- ?\nAND b = $3")
    }
}
