import Foundation
@testable import KennelHTTP
import KennelImage
import KennelJobs
import KennelStore
import KennelTestSupport
import Synchronization
import Testing
@testable import KennelAPI

struct EventStreamTests {
    @Test func aFinishedJobReplaysEverythingInOrderThenEndsAndResumesFromLastEventID() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 3)
        let stream = try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events")
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"] == "text/event-stream")
        let events = try stream.read()
        #expect(stream.ended)
        let metrics = try live.array(try live.request("GET", "/v1/jobs/\(job)/metrics"))
        let checkpoints = try live.array(try live.request("GET", "/v1/jobs/\(job)/checkpoints"))
        #expect(events.filter { $0.name == "metric" }.count == metrics.count)
        #expect(events.filter { $0.name == "checkpoint" }.count == checkpoints.count)
        #expect(events.last?.name == "state" && events.last?.json["state"] as? String == "succeeded")
        #expect(events.last?.json["progress"] as? Double == 1)
        #expect(events.allSatisfy { $0.id != nil })
        // Ids follow the stream's order, and each epoch's test scalars and checkpoint come after its train scalars.
        let cursors = events.dropLast().compactMap { $0.id.flatMap(EventCursor.init(id:)) }
        #expect(cursors.count == events.count - 1 && cursors == cursors.sorted() && Set(cursors.map(\.id)).count == cursors.count)

        let resumeAt = events[10].id!
        let resumed = try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events", lastEventID: resumeAt)
        let rest = try resumed.read()
        #expect(rest.map(\.id) == events[11...].map(\.id))
        #expect(rest.map(\.data) == events[11...].map(\.data))

        // An id the server cannot place replays everything.
        let unplaced = try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events", lastEventID: "nonsense")
        #expect(try unplaced.read().map(\.id) == events.map(\.id))
        #expect(try live.request("GET", "/v1/jobs/424242/events").status == 404)
    }

    @Test func liveEventsUnwrittenPointsAndHeartbeatsReachAnOpenStream() throws {
        let live = try LiveServer(heartbeatSeconds: 0.05)
        let job = try #require(try JobLedger(store: live.store).submitRunning(kind: .train, dataset: "tones",
                                                                                specJson: "{}").id)
        // Recorded but not yet written to SQLite: the replay still has it.
        live.jobs.metrics.record(job: job, tag: "train/loss", step: 1, value: 0.9)
        let stream = try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events")
        let replay = try stream.read { $0.name == "state" }
        #expect(replay.map(\.name) == ["metric", "state"])
        #expect(replay[0].json["value"] as? Double == 0.9 && replay[1].json["state"] as? String == "running")

        // A step's scalars as the trainer records them: every one arrives, in id order.
        live.jobs.metrics.record(job: job, step: 2, ["train/loss": 0.7, "train/accuracy": 0.6, "train/learning_rate": 0.01])
        let arrived = try stream.read { $0.id == "2:0:train/loss" }.filter { $0.name == "metric" }
        #expect(arrived.map(\.id) == ["2:0:train/accuracy", "2:0:train/learning_rate", "2:0:train/loss"])
        let quiet = try stream.read { $0.isComment }
        #expect(quiet.last?.isComment == true)

        try JobLedger(store: live.store).move(job, to: .succeeded)
        live.jobs.bus.publish(.state(job: job, state: .succeeded))
        let ending = try stream.read()
        #expect(ending.last(where: { !$0.isComment })?.json["state"] as? String == "succeeded")
        #expect(stream.ended)
    }
}

extension EventStreamTests {
    /// A replica's stream of a job another process trains: the points that process had published but not yet
    /// written when the stream opened are neither in the database nor live on the replica at that moment. The
    /// stream still carries them, in order, before the live ones.
    @Test func aStreamOnAReplicaCarriesPointsTheTrainingProcessHadNotYetWritten() throws {
        let database = try ScratchDatabase(.postgres)
        defer { database.remove() }
        let replica = try LiveServer(database: database)
        // The training process: its own connection to the database, bus, relay and buffer.
        let workerStore = try database.open()
        let workerBus = EventBus()
        try EventRelay(store: workerStore, bus: workerBus).start()
        let workerMetrics = MetricsBuffer(store: workerStore, bus: workerBus)
        let job = try #require(try JobLedger(store: workerStore).submitRunning(kind: .train, dataset: "tones",
                                                                                 specJson: "{}").id)
        for step in 1...3 { workerMetrics.record(job: job, tag: "train/loss", step: step, value: 1 / Double(step)) }
        Thread.sleep(forTimeInterval: 0.5)  // relayed to the replica while no stream listens there

        let stream = try EventStreamClient(port: replica.port, path: "/v1/jobs/\(job)/events")
        #expect(try stream.read { $0.name == "state" }.filter { $0.name == "metric" }.isEmpty)
        workerMetrics.record(job: job, tag: "train/loss", step: 4, value: 0.25)
        #expect(workerMetrics.flush())
        let arrived = try stream.read { $0.id == "4:0:train/loss" }.filter { $0.name == "metric" }
        #expect(arrived.map { $0.json["step"] as? Int } == [1, 2, 3, 4])
    }

    func threadCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
    }

    @Test func manyOpenStreamsHoldNoThreadEach() throws {
        let live = try LiveServer()
        let job = try #require(try JobLedger(store: live.store).submitRunning(kind: .train, dataset: "tones",
                                                                                specJson: "{}").id)
        let baseline = try threadCount()
        let clients = try (0..<60).map { _ in try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events") }
        for client in clients { _ = try client.read { $0.name == "state" } }
        Thread.sleep(forTimeInterval: 0.2)
        live.jobs.metrics.record(job: job, step: 7, ["train/loss": 0.25])
        for client in clients {
            #expect(try client.read { $0.name == "metric" }.last?.json["value"] as? Double == 0.25)
        }
        // Sixty parked streams: the server's threads did not grow with them.
        #expect(try threadCount() < baseline + 20, "threads grew from \(baseline) with 60 streams")
        try JobLedger(store: live.store).move(job, to: .cancelled)
        live.jobs.bus.publish(.state(job: job, state: .cancelled))
        for client in clients { _ = try client.read(); #expect(client.ended) }
    }
}

extension EventStreamTests {
    private func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    /// 200 clients open a job's event stream and drop it without a word, in waves, while the job publishes:
    /// every dropped stream is let go (descriptors and threads back near where they were) and others are served.
    @Test func twoHundredStreamsThatDropAreLetGo() throws {
        let live = try LiveServer()
        let job = try #require(try JobLedger(store: live.store).submitRunning(kind: .train, dataset: "tones",
                                                                                specJson: "{}").id)
        let (threads, descriptors) = (try threadCount(), try openDescriptors())
        for wave in 0..<4 {
            var clients = try (0..<50).map { _ in try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events") }
            for client in clients { _ = try client.read { $0.name == "state" } }
            clients.removeAll()
            live.jobs.metrics.record(job: job, step: wave + 1, ["train/loss": 0.5])
        }
        let settled = Date().addingTimeInterval(5)
        while try openDescriptors() > descriptors + 10 && Date() < settled { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try openDescriptors() <= descriptors + 10, "descriptors grew from \(descriptors)")
        #expect(try threadCount() < threads + 20, "threads grew from \(threads)")
        let survivor = try EventStreamClient(port: live.port, path: "/v1/jobs/\(job)/events")
        #expect(survivor.status == 200)
        #expect(try live.request("GET", "/healthz").status == 200)
    }
}

struct ServingAPITests {
    private func png(level: Float) throws -> [UInt8] {
        try ImageEncoder.png(Image(width: 8, height: 8, channels: 1, pixels: (0..<64).map { level + Float($0 % 23) }))
    }

    private func multipart(_ files: [(field: String, filename: String?, bytes: [UInt8])]) -> (body: [UInt8], type: String) {
        var body: [UInt8] = []
        for file in files {
            let filename = file.filename.map { "; filename=\"\($0)\"" } ?? ""
            body += Array("--KennelBoundary\r\nContent-Disposition: form-data; name=\"\(file.field)\"\(filename)\r\n\r\n".utf8)
            body += file.bytes + Array("\r\n".utf8)
        }
        return (body + Array("--KennelBoundary--\r\n".utf8), "multipart/form-data; boundary=KennelBoundary")
    }

    @Test func multipartCSVFiltersConfusionAndPrometheus() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 3)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)

        // Several files answer an array in order; one file answers one object.
        let form = multipart([("image", "dark.png", try png(level: 40)), ("image", "bright.png", try png(level: 210))])
        let answers = try live.array(try live.request("POST", "/v1/models/tones:classify?top_k=1", body: form.body,
                                                      headers: ["Content-Type": form.type]))
        #expect(answers.map { ($0["predictions"] as? [[String: Any]])?.first?["label"] as? String } == ["dark", "bright"])
        #expect(answers.allSatisfy { ($0["predictions"] as? [Any])?.count == 1 })
        let single = multipart([("image", "dark.png", try png(level: 40))])
        let one = try live.object(try live.request("POST", "/v1/models/tones:classify", body: single.body,
                                                   headers: ["Content-Type": single.type]))
        #expect((one["timing_ms"] as? [String: Any])?["queue"] is Double)
        let noFile = multipart([("note", nil, Array("hi".utf8))])
        let refused = try live.request("POST", "/v1/models/tones:classify", body: noFile.body,
                                       headers: ["Content-Type": noFile.type])
        #expect(refused.status == 400 && refused.text.contains("image=@"))
        let broken = try live.request("POST", "/v1/models/tones:classify", body: Array("--x\r\n".utf8),
                                      headers: ["Content-Type": "multipart/form-data; boundary=x"])
        #expect(broken.status == 400 && broken.text.contains("multipart"))
        let notImage = multipart([("image", "a.txt", Array("text".utf8))])
        #expect(try live.request("POST", "/v1/models/tones:classify", body: notImage.body,
                                 headers: ["Content-Type": notImage.type]).status == 415)

        // Several runs' scalars as CSV.
        let csv = try live.request("GET", "/v1/metrics.csv?jobs=\(job)&tags=test/accuracy,test/loss")
        #expect(csv.status == 200 && csv.headers["content-type"]?.hasPrefix("text/csv") == true)
        let rows = csv.text.split(separator: "\n")
        #expect(rows.first == "job_id,tag,step,wall_time,value" && rows.count == 1 + 2 * 3)
        #expect(rows.dropFirst().allSatisfy { $0.hasPrefix("\(job),test/") })
        #expect(try live.request("GET", "/v1/metrics.csv").status == 400)
        #expect(try live.request("GET", "/v1/metrics.csv?jobs=\(job),x").status == 400)
        #expect(try live.request("GET", "/v1/metrics.csv?jobs=\(job),9999").status == 404)

        // The first layer's four 3×3 filters: a 2×2 grid of 24-pixel tiles with 2-pixel rules.
        let filters = try live.request("GET", "/v1/models/tones/filters.png")
        #expect(filters.status == 200 && filters.headers["content-type"] == "image/png")
        let grid = try ImageDecoder().decode(filters.body, color: .gray)
        #expect(grid.width == 54 && grid.height == 54)
        #expect(grid.pixels.contains(0) && grid.pixels.contains(255))
        #expect(try live.request("GET", "/v1/models/none/filters.png").status == 404)

        let confusion = try live.object(try live.request("GET", "/v1/models/tones/confusion"))
        #expect(confusion["labels"] as? [String] == ["dark", "bright"])
        let matrix = try #require(confusion["matrix"] as? [[Int]])
        #expect(matrix.count == 2 && matrix.joined().reduce(0, +) == 6)

        let jobs = try live.array(try live.request("GET", "/v1/jobs?state=succeeded"))
        #expect(jobs.first { $0["id"] as? Int == job }?["best_test_accuracy"] is Double)

        let metrics = try live.request("GET", "/metrics")
        #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for line in [#"kennel_http_requests_total{method="GET",route="/v1/jobs/{id}",status="200"}"#,
                     #"kennel_http_requests_total{method="POST",route="/v1/models/{name}:classify",status="415"} 1"#,
                     #"kennel_jobs{state="succeeded"} 2"#, "kennel_job_queue_depth 0", "kennel_classify_capacity 64",
                     "kennel_classify_batch_size_count", "kennel_classify_queue_wait_seconds_bucket{le=\"+Inf\"}",
                     "kennel_http_request_duration_seconds_count"] {
            #expect(metrics.text.contains(line), "missing \(line)")
        }
    }

    @Test func aVersionIsAResourceWithItsOriginAccuracyAndPreprocessing() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 2)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        let version = try live.object(try live.request("GET", "/v1/models/tones/versions/1"))
        #expect(version["name"] as? String == "tones" && version["version"] as? Int == 1)
        #expect(version["origin"] as? String == "trained" && version["job_id"] as? Int == job)
        #expect(version["test_accuracy"] is Double && version["served"] as? Bool == true)
        #expect(version["input_shape"] as? [Int] == [8, 8, 1])
        let preprocessing = try #require(version["preprocessing"] as? [String: String])
        #expect(preprocessing["width"] == "8" && preprocessing["height"] == "8")
        let listed = try live.array(try live.request("GET", "/v1/models/tones"))
        #expect(listed.first?["origin"] as? String == "trained" && listed.first?["preprocessing"] == nil)
        #expect(try live.request("GET", "/v1/models/tones/versions/2").status == 404)
        #expect(try live.request("GET", "/v1/models/tones/versions/x").status == 404)
        #expect(try live.request("GET", "/v1/models/none/versions/1").status == 404)
    }

    @Test func promotionAndRollbackUnderConcurrentClassificationFailNothing() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 2)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        let image = try png(level: 40)
        let stop = Atomic(false)
        let outcomes = Mutex((ok: 0, failures: [String](), versions: Set<Int>()))
        let group = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                while !stop.load(ordering: .relaxed) {
                    do {
                        let answer = try live.request("POST", "/v1/models/tones:classify", body: image)
                        let version = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["version"] as? Int
                        outcomes.withLock {
                            if answer.status == 200, let version { $0.ok += 1; $0.versions.insert(version) }
                            else { $0.failures.append("\(answer.status) \(answer.text)") }
                        }
                    } catch {
                        outcomes.withLock { $0.failures.append("\(error)") }
                    }
                }
            }
        }
        // Swap versions while requests are in flight, letting some answers through between swaps.
        func waitForMoreAnswers() {
            let target = outcomes.withLock { $0.ok } + 10
            while outcomes.withLock({ $0.ok < target && $0.failures.isEmpty }) { Thread.sleep(forTimeInterval: 0.005) }
        }
        waitForMoreAnswers()
        for _ in 0..<3 {
            #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
            waitForMoreAnswers()
        }
        #expect(try live.request("POST", "/v1/models/tones/rollback").status == 200)
        Thread.sleep(forTimeInterval: 0.2)
        stop.store(true, ordering: .relaxed)
        group.wait()
        let result = outcomes.withLock { $0 }
        #expect(result.failures.isEmpty, "\(result.failures.prefix(3))")
        #expect(result.ok >= 40 && result.versions == [1, 2, 3, 4])
        #expect(try live.object(try live.request("GET", "/readyz"))["status"] as? String == "ready")
    }

    @Test func aFullClassifyQueueIs429AndAnUnloadedModelKeepsReadyz503() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 1)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        // Occupy every place in the classify queue, as 64 slow requests would.
        let limit = live.context.classifyLimit
        for _ in 0..<limit.capacity { #expect(limit.enter()) }
        let refused = try live.request("POST", "/v1/models/tones:classify", body: try png(level: 40))
        #expect(refused.status == 429 && refused.headers["retry-after"] == "1")
        #expect(refused.text.contains("classification queue is full"))
        for _ in 0..<limit.capacity { limit.leave() }
        #expect(try live.request("POST", "/v1/models/tones:classify", body: try png(level: 40)).status == 200)

        // A process that has not loaded the served model yet is not ready; warming it makes it ready.
        let fresh = ModelRegistry(store: live.store, dataDirectory: live.directory.url.appendingPathComponent("var"))
        let metrics = ServerMetrics()
        let router = APIRouter.make(staticFiles: try StaticFiles(directory: repositoryRoot.path + "/public"),
                                    context: APIContext(store: live.store, jobs: live.jobs, models: fresh,
                                                        metrics: metrics))
        let loading = router.respond(to: Request(method: .get, path: "/readyz"))
        #expect(loading.status == .serviceUnavailable)
        guard case .bytes(let body) = loading.body else { Issue.record("readyz should answer bytes"); return }
        #expect(String(decoding: body, as: UTF8.self).contains(#""ready":false"#))
        fresh.warmAll()
        #expect(router.respond(to: Request(method: .get, path: "/readyz")).status == .ok)
    }

    @Test func importsOutsideTheDatasetsRootAreRefused() throws {
        let live = try LiveServer(datasetsRoot: "images")
        for path in ["\(live.directory.path)/images/../var", "/etc", "../var"] {
            let outside = try live.request("POST", "/v1/datasets", json: #"{"name":"escape","format":"imagefolder","path":"\#(path)"}"#)
            #expect(outside.status == 422 && outside.headers["x-invalid-field"] == "path", "\(path)")
            #expect(outside.text.contains("outside the datasets root"))
        }
        let inside = try live.request("POST", "/v1/datasets", json: #"{"name":"inside","format":"imagefolder","path":"."}"#)
        #expect(inside.status == 202)
        #expect(try live.waitForJob(try #require(try live.object(inside)["id"] as? Int)) == "succeeded")
        #expect(try live.object(try live.request("GET", "/v1/datasets/inside"))["path"] as? String
            == live.directory.url.appendingPathComponent("images").resolvingSymlinksInPath().path)
    }
}

extension ServingAPITests {
    /// `"precision"` on POST /v1/models: an unknown one is a 422 naming the field; int8 and bf16 versions carry
    /// their precision and measured accuracies in the API and classify as before.
    @Test func promotionTakesAPrecisionAndTheListShowsItsAccuracy() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 4)
        let unknown = try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job),"precision":"int4"}"#)
        #expect(unknown.status == 422 && unknown.headers["x-invalid-field"] == "precision")
        #expect(unknown.text.contains("fp32, bf16, int8") && unknown.text.contains("int4"))
        for precision in ["int8", "bf16"] {
            let created = try live.object(try live.request(
                "POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job),"precision":"\#(precision)"}"#))
            #expect(created["precision"] as? String == precision)
            let accuracy = try #require(created["test_accuracy"] as? Double)
            let fp32 = try #require(created["fp32_test_accuracy"] as? Double)
            #expect(fp32 - accuracy <= 0.005)
            let answer = try live.object(try live.request("POST", "/v1/models/tones:classify", body: try png(level: 40),
                                                          headers: ["Content-Type": "image/png"]))
            #expect((answer["predictions"] as? [[String: Any]])?.first?["label"] as? String == "dark")
        }
        let versions = try live.array(try live.request("GET", "/v1/models/tones"))
        #expect(versions.map { $0["precision"] as? String } == ["int8", "bf16"])
    }
}

extension ServingAPITests {
    /// A small image runs on the polling thread only for a model already loaded; if the model was let go in
    /// between, that thread does not read it from disk: the client is asked to retry while it loads elsewhere.
    @Test func aModelEvictedBeforeAnInlineRequestLoadsInTheBackground() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 1)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        // Another process's registry: the model is served but not loaded here.
        let fresh = ModelRegistry(store: live.store, dataDirectory: live.directory.url.appendingPathComponent("var"))
        let router = APIRouter.make(staticFiles: try StaticFiles(directory: repositoryRoot.path + "/public"),
                                    context: APIContext(store: live.store, jobs: live.jobs, models: fresh,
                                                        metrics: ServerMetrics()))
        var request = Request(method: .post, path: "/v1/models/tones:classify", body: Data(try png(level: 40)))
        request.runsOnPollingThread = true
        let loading = router.respond(to: request)
        #expect(loading.status == .serviceUnavailable && loading.headers["Retry-After"] == "1")
        let deadline = Date().addingTimeInterval(10)
        while fresh.resident("tones") == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(router.respond(to: request).status == .ok)
    }
}

extension ServingAPITests {
    /// What runs on a polling thread: one small raw image of few pixels for a loaded model; a small file that
    /// announces millions of pixels, several files, JSON, a large body or a model not loaded go to a lane.
    @Test func onlySmallFewPixelImagesForLoadedModelsRunInline() throws {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 1)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        func request(_ body: [UInt8], model: String = "tones", type: String = "image/png") -> Request {
            var request = Request(method: .post, path: "/v1/models/\(model):classify", headers: ["Content-Type": type],
                                  body: Data(body))
            request.parameters = Parameters(["name": model])
            return request
        }
        let small = try png(level: 40)
        // 2000×2000 of one gray: 4 megapixels in a few kilobytes.
        let flat = try ImageEncoder.png(Image(width: 2000, height: 2000, channels: 1))
        #expect(flat.count <= Router.Builder.inlineImageBytes, "the flat image takes \(flat.count) bytes")
        let large = try ImageEncoder.png(Image(width: 300, height: 300, channels: 1,
                                               pixels: (0..<90_000).map { Float(($0 * 7919) % 251) }))
        #expect(Router.Builder.runsInline(request(small), live.context))
        #expect(!Router.Builder.runsInline(request(flat), live.context))
        #expect(!Router.Builder.runsInline(request(large), live.context))
        #expect(!Router.Builder.runsInline(request(small, model: "absent"), live.context))
        #expect(!Router.Builder.runsInline(request(small, type: "application/json"), live.context))
        // Both ways answer the same.
        let flatAnswer = try live.request("POST", "/v1/models/tones:classify", body: flat)
        #expect(flatAnswer.status == 200)
    }
}
