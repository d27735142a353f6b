import Foundation
import KennelStore
import KennelTestSupport
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
}
