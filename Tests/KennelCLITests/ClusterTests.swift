import Foundation
import KennelImage
import KennelStore
import KennelTestSupport
import Synchronization
import Testing

/// Several `kennel serve` processes on one PostgreSQL database and one artifact root, as on several machines:
/// workers that claim and run jobs, API replicas that accept them.
@Suite(.serialized) struct ClusterTests {
    /// A small network on the tones images: 18 training images at batch 4 are 5 steps an epoch.
    static func spec(epochs: Int, seed: Int) -> String {
        #"{"dataset":"tones","layers":[{"type":"conv2d","filters":4,"kernel":3,"padding":"same","activation":"relu"},"#
            + #"{"type":"flatten"},{"type":"dense","units":2}],"epochs":\#(epochs),"batch_size":4,"#
            + #""optimizer":{"name":"adam","learning_rate":0.01},"seed":\#(seed),"keep_checkpoints":2}"#
    }

    /// The shared database and artifact root, and the processes started on them.
    final class Deployment {
        let database: ScratchDatabase
        let artifacts: String
        let images: String

        init() throws {
            database = try ScratchDatabase(.postgres)
            artifacts = database.directory.path + "/artifacts"
            images = try writeToneImages(under: database.directory.path)
        }

        /// A `kennel serve --role ROLE` process of this deployment, with a 3 s lease.
        func start(_ role: String) throws -> ServerProcess {
            try ServerProcess(arguments: ["--role", role, "--artifacts", artifacts, "--lease-seconds", "3"]
                              + database.arguments)
        }

        /// Imports the tones images through `replica` (a worker runs the import) and waits for it.
        func importTones(through replica: ServerProcess) throws {
            let body = #"{"name":"tones","format":"imagefolder","path":"\#(images)","width":8,"height":8,"channels":1}"#
            let (_, state) = try replica.runJob("/v1/datasets", body)
            try #require(state == "succeeded")
        }

        /// The store as the processes see it, for checks the API does not expose.
        func store() throws -> Store { try database.open() }

        deinit { database.remove() }
    }

    /// Lines "job N: claimed by …" in a worker's log: the jobs it started or took over.
    static func claims(in worker: ServerProcess) -> [Int] {
        worker.output.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: #"job \d+: claimed by"#, options: .regularExpression) else { return nil }
            return Int(line[range].dropFirst(4).prefix { $0.isNumber })
        }
    }

    /// train/loss and test/accuracy of `job` by step: what an exact resume must reproduce.
    static func trajectory(_ job: Int, in store: Store) throws -> [String: Double] {
        let rows = try store.read { db in
            try db.fetch("""
                SELECT tag, step, value FROM metrics WHERE job_id = ? AND tag IN ('train/loss', 'test/accuracy')
                """, job)
        }
        return Dictionary(uniqueKeysWithValues: try rows.map { row in
            ("\(try row.get("tag", as: String.self))@\(try row.get("step", as: Int.self))", try row.get("value", as: Double.self))
        })
    }

    @Test func sixJobsSubmittedToOneReplicaRunOnceEachOnTwoWorkers() throws {
        let deployment = try Deployment()
        let workers = try (0..<2).map { _ in try deployment.start("worker") }
        let replicas = try (0..<2).map { _ in try deployment.start("api") }
        try deployment.importTones(through: replicas[0])

        let ids = try (0..<6).map { seed in
            try #require(try replicas[0].object(try replicas[0].post("/v1/jobs", Self.spec(epochs: 20, seed: seed)))["id"]
                         as? Int)
        }
        for id in ids {
            let job = try replicas[1].waitForJob(id, seconds: 180)
            #expect(job["state"] as? String == "succeeded", "job \(id): \(job)")
        }
        // Each job was claimed once, by one worker, and both workers took jobs.
        let claims = workers.map(Self.claims)
        #expect(claims.flatMap { $0 }.filter(ids.contains).sorted() == ids.sorted(), "claims: \(claims)")
        #expect(claims.allSatisfy { !$0.isEmpty }, "claims: \(claims)")
        let store = try deployment.store()
        defer { try? store.close() }
        for id in ids {
            let steps = try store.read { db in
                try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = ? AND tag = 'train/loss' ORDER BY step",
                              id)
            }
            #expect(steps == Array(1...100), "job \(id)")
        }
        // API replicas run no jobs; workers answer only health, readiness and metrics.
        #expect(replicas.allSatisfy { Self.claims(in: $0).isEmpty })
        let readiness = try workers[0].object(try rawRequest(port: workers[0].port, "GET", "/readyz"))
        #expect(readiness["status"] as? String == "ready" && readiness["role"] as? String == "worker")
        #expect(try rawRequest(port: workers[0].port, "GET", "/v1/jobs").status == 404)
        let metrics = try rawRequest(port: workers[1].port, "GET", "/metrics").text
        #expect(metrics.contains(#"kennel_process_info{role="worker""#))
    }

    /// kill -9 of the worker training a job: after its lease lapses the other worker takes the job over under
    /// the same id, resumes it from the newest checkpoint, and it ends with the steps and values of an
    /// uninterrupted run of the same seed. A cancellation sent to a replica reaches the worker that runs a job.
    @Test func aKilledWorkersJobIsResumedByTheOtherExactly() throws {
        let deployment = try Deployment()
        let workers = try (0..<2).map { _ in try deployment.start("worker") }
        let replica = try deployment.start("api")
        try deployment.importTones(through: replica)
        let store = try deployment.store()
        defer { try? store.close() }

        let interrupted = try #require(try replica.object(try replica.post("/v1/jobs", Self.spec(epochs: 150, seed: 7)))["id"]
                                       as? Int)
        let deadline = Date().addingTimeInterval(120)
        var checkpoints = 0
        while checkpoints < 2 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            checkpoints = try store.read { try $0.scalar(Int.self, "SELECT COUNT(*) AS value FROM checkpoints WHERE job_id = ?",
                                                         interrupted) } ?? 0
        }
        let victim = try #require(workers.first { Self.claims(in: $0).contains(interrupted) })
        let survivor = try #require(workers.first { $0 !== victim })
        kill(victim.process.processIdentifier, SIGKILL)
        victim.process.waitUntilExit()
        try #require(try replica.job(interrupted)["state"] as? String == "running", "the job ended before the kill")

        let finished = try replica.waitForJob(interrupted, seconds: 240)
        #expect(finished["state"] as? String == "succeeded", "\(finished)\n\(survivor.output)")
        #expect(finished["resumed_from"] is Int)
        #expect(Self.claims(in: survivor).contains(interrupted))
        #expect(survivor.output.contains("job \(interrupted): claimed by") && survivor.output.contains("(taken over)"))

        let reference = try #require(try replica.object(try replica.post("/v1/jobs", Self.spec(epochs: 150, seed: 7)))["id"]
                                     as? Int)
        #expect(try replica.waitForJob(reference, seconds: 240)["state"] as? String == "succeeded")
        let resumed = try Self.trajectory(interrupted, in: store), uninterrupted = try Self.trajectory(reference, in: store)
        #expect(resumed.count == 150 * 5 + 150)
        #expect(resumed == uninterrupted)

        let cancelled = try #require(try replica.object(try replica.post("/v1/jobs", Self.spec(epochs: 5000, seed: 1)))["id"]
                                     as? Int)
        try replica.waitForJob(cancelled, until: ["running"])
        #expect(try replica.post("/v1/jobs/\(cancelled)/cancel", "").status == 202)
        #expect(try replica.waitForJob(cancelled, seconds: 30)["state"] as? String == "cancelled")
    }

    /// A promotion through replica A reaches replica B: B loads and warms the new version and swaps it in within
    /// 2 s, answering every request meanwhile. An event stream on B follows a job a worker trains.
    @Test func replicasFollowPromotionsAndStreamEventsOfJobsOnWorkers() throws {
        let deployment = try Deployment()
        let worker = try deployment.start("worker")
        let replicas = try (0..<2).map { _ in try deployment.start("api") }
        try deployment.importTones(through: replicas[0])
        let jobs = try (1...2).map { seed in try replicas[0].runJob("/v1/jobs", Self.spec(epochs: 2, seed: seed)) }
        #expect(jobs.allSatisfy { $0.state == "succeeded" })
        let (portA, portB) = (replicas[0].port, replicas[1].port)
        let promote: @Sendable (Int) throws -> Int = { job in
            try rawRequest(port: portA, "POST", "/v1/models", headers: ["Content-Type": "application/json"],
                           body: Array(#"{"name":"tones","job_id":\#(job)}"#.utf8)).status
        }
        #expect(try promote(jobs[0].id) == 201)
        let png = try ImageEncoder.png(Image(width: 8, height: 8, channels: 1, pixels: Array(repeating: 200, count: 64)))
        let classify: @Sendable () throws -> (status: Int, version: Int?) = {
            let answer = try rawRequest(port: portB, "POST", "/v1/models/tones:classify", body: png)
            let body = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            return (answer.status, body?["version"] as? Int)
        }
        #expect(try classify() == (200, 1))

        // Replica B under steady requests while A promotes version 2.
        let seen = Mutex((failures: [Int](), firstNewVersion: ContinuousClock.Instant?.none, done: false))
        let promoted = Mutex((at: ContinuousClock.now, status: 0))
        let secondJob = jobs[1].id
        DispatchQueue.concurrentPerform(iterations: 2) { role in
            if role == 0 {
                while !seen.withLock({ $0.done }) {
                    let (status, version) = (try? classify()) ?? (-1, nil)
                    seen.withLock { seen in
                        if status != 200 { seen.failures.append(status) }
                        if version == 2, seen.firstNewVersion == nil { seen.firstNewVersion = .now }
                    }
                }
                return
            }
            Thread.sleep(forTimeInterval: 0.3)
            promoted.withLock { $0.at = .now }
            let status = (try? promote(secondJob)) ?? -1
            promoted.withLock { $0.status = status }
            let deadline = Date().addingTimeInterval(10)
            while seen.withLock({ $0.firstNewVersion }) == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            Thread.sleep(forTimeInterval: 0.3)
            seen.withLock { $0.done = true }
        }
        #expect(promoted.withLock { $0.status } == 201)
        let (failures, switched) = seen.withLock { ($0.failures, $0.firstNewVersion) }
        #expect(failures.isEmpty, "failed requests on replica B: \(failures)")
        let delay = try #require(switched, "replica B never answered version 2") - promoted.withLock { $0.at }
        #expect(delay < .seconds(2), "replica B answered version 2 after \(delay)")
        #expect(try classify() == (200, 2))
        let readiness = try replicas[1].object(try rawRequest(port: replicas[1].port, "GET", "/readyz"))
        #expect(readiness["status"] as? String == "ready" && readiness["role"] as? String == "api")

        // Rolling back through B reaches A.
        #expect(try replicas[1].post("/v1/models/tones/rollback", "").status == 200)
        let rolledBack = Date().addingTimeInterval(5)
        var versionOnA: Int?
        repeat {
            let answer = try rawRequest(port: replicas[0].port, "POST", "/v1/models/tones:classify", body: png)
            versionOnA = (try? replicas[0].object(answer))?["version"] as? Int
        } while versionOnA != 1 && Date() < rolledBack
        #expect(versionOnA == 1)

        // Live metrics of a job the worker trains, on replica B's stream.
        let long = try #require(try replicas[0].object(try replicas[0].post("/v1/jobs", Self.spec(epochs: 3000, seed: 3)))["id"]
                                as? Int)
        try replicas[1].waitForJob(long, until: ["running"])
        let stream = try EventStreamClient(port: replicas[1].port, path: "/v1/jobs/\(long)/events")
        #expect(stream.status == 200)
        let started = Date()
        var newest = 0
        let events = try stream.read { event in
            // Past the history it replayed: a metric written after the stream opened.
            if event.name == "metric", event.json["tag"] as? String == "train/loss", let step = event.json["step"] as? Int {
                newest = max(newest, step)
            }
            return newest > 0 && Date().timeIntervalSince(started) > 1.5
        }
        #expect(events.contains { $0.name == "metric" && $0.json["tag"] as? String == "train/loss" })
        let later = try stream.read { event in
            event.name == "metric" && event.json["tag"] as? String == "train/loss" && (event.json["step"] as? Int ?? 0) > newest + 5
        }
        #expect(later.last.map { ($0.json["step"] as? Int ?? 0) > newest } == true, "no live metric reached replica B")
        // Every step once, from the history into the live events: none the worker had not yet written when the
        // stream opened is skipped.
        let lossSteps = (events + later).filter { $0.name == "metric" && $0.json["tag"] as? String == "train/loss" }
            .compactMap { $0.json["step"] as? Int }
        #expect(!lossSteps.isEmpty && lossSteps == Array(1...lossSteps.count), "train/loss steps on replica B: \(lossSteps)")
        // Last-Event-ID given to the other replica: its stream goes on after the last event B delivered, never
        // repeating it or anything before it.
        let lastID = try #require(later.last?.id)
        let onA = try EventStreamClient(port: replicas[0].port, path: "/v1/jobs/\(long)/events", lastEventID: lastID)
        let next = try #require(try onA.read { $0.name == "metric" }.last { $0.name == "metric" })
        let cursor = { (id: String) -> (Int, Int, String) in
            let parts = id.split(separator: ":", maxSplits: 2)
            return (Int(parts[0]) ?? -1, Int(parts[1]) ?? -1, String(parts[2]))
        }
        #expect(cursor(try #require(next.id)) > cursor(lastID), "\(next.id ?? "") after \(lastID)")
        #expect(try replicas[1].post("/v1/jobs/\(long)/cancel", "").status == 202)
        #expect(try replicas[1].waitForJob(long, seconds: 30)["state"] as? String == "cancelled")
        _ = worker
    }

    /// PostgreSQL stopped while a worker trains: replicas answer 503 with a clear message at once rather than
    /// hang, and once the server is back the worker and the replicas reconnect and the job completes, each step
    /// recorded once.
    @Test func aDatabaseRestartMidTrainingLosesNothing() throws {
        let control = try #require(ProcessInfo.processInfo.environment["KENNEL_TEST_POSTGRES_CTL"],
                                   "run under tools/postgres/throwaway.sh (make test)")
        let deployment = try Deployment()
        let worker = try deployment.start("worker")
        let replica = try deployment.start("api")
        try deployment.importTones(through: replica)
        let id = try #require(try replica.object(try replica.post("/v1/jobs", Self.spec(epochs: 120, seed: 5)))["id"] as? Int)
        try replica.waitForJob(id, until: ["running"])
        Thread.sleep(forTimeInterval: 1)

        try runTool(control, ["stop", "-m", "fast"])
        let asked = ContinuousClock.now
        let during = try rawRequest(port: replica.port, "GET", "/v1/jobs/\(id)")
        #expect(ContinuousClock.now - asked < .seconds(10))
        #expect(during.status == 503, "\(during.status) \(during.text)")
        #expect(during.text.contains("database is unavailable"))
        #expect(during.headers["retry-after"] == "2")
        Thread.sleep(forTimeInterval: 2)
        try runTool(control, ["start"])

        let finished = try replica.waitForJob(id, seconds: 240)
        #expect(finished["state"] as? String == "succeeded", "\(finished)\n\(worker.output)")
        let store = try deployment.store()
        defer { try? store.close() }
        let steps = try store.read { db in
            try db.values(Int.self, "SELECT step AS value FROM metrics WHERE job_id = ? AND tag = 'train/loss' ORDER BY step", id)
        }
        #expect(steps == Array(1...600))
    }

    /// Runs `path` with `arguments` and waits for it (posix_spawn and waitpid: Foundation's `Process` was seen
    /// never to notice the exit of a `pg_ctl start`, whose server lives on).
    private func runTool(_ path: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, path, &actions, nil, argv, environ) == 0, "cannot start \(path)")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        try #require(status == 0, "\(path) \(arguments) failed (wait status \(status))")
    }
}
