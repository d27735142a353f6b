import Foundation
import KennelHTTP
import KennelImage
import KennelJobs
import KennelStore
import KennelTestSupport
import Testing
@testable import KennelAPI

/// A real server on an ephemeral port over a fresh data directory, with a folder of 8×8 images to import.
final class LiveServer: Sendable {
    let directory: TemporaryDirectory
    let store: Store
    let jobs: JobQueue
    let context: APIContext
    let server: HTTPServer
    var port: UInt16 { server.port }

    /// `datasetsRoot` is a folder inside the server's temporary directory. With a `database`, the server is one
    /// of the processes sharing it, relaying job events to and from the others as `kennel serve` does.
    init(token: String? = nil, datasetsRoot: String? = nil, heartbeatSeconds: TimeInterval = 15,
         database: ScratchDatabase? = nil) throws {
        directory = try TemporaryDirectory()
        try writeToneImages(under: directory.path)
        let root = directory.url
        let data = root.appendingPathComponent("var")
        store = try database?.open() ?? Store(
            dataDirectory: data, migrations: try Migration.load(from: repositoryRoot.appendingPathComponent("migrations/sqlite")))
        jobs = JobQueue(store: store, dataDirectory: data, datasetsRoot: datasetsRoot.map { root.appendingPathComponent($0) })
        jobs.start()
        if database != nil { try EventRelay(store: store, bus: jobs.bus).start() }
        let metrics = ServerMetrics()
        context = APIContext(store: store, jobs: jobs,
                             models: ModelRegistry(store: store, dataDirectory: data, metrics: metrics.factory),
                             metrics: metrics, token: token, datasetsRoot: datasetsRoot.map { root.appendingPathComponent($0) },
                             heartbeatSeconds: heartbeatSeconds)
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        server = HTTPServer(configuration: configuration,
                            router: APIRouter.make(staticFiles: try StaticFiles(directory: repositoryRoot.path + "/public"),
                                                   context: context),
                            observer: metrics.record)
        try server.start()
    }

    func request(_ method: String, _ path: String, json: String? = nil, body: [UInt8] = [],
                 headers: [String: String] = [:]) throws -> RawResponse {
        var headers = headers
        if json != nil { headers["Content-Type"] = "application/json" }
        return try rawRequest(port: port, method, path, headers: headers, body: json.map { Array($0.utf8) } ?? body)
    }

    func object(_ response: RawResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    func array(_ response: RawResponse) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
    }

    /// Imports the image folder as `tones` and trains a small model on it for `epochs`; returns the job id.
    func trainedJob(epochs: Int = 3) throws -> Int {
        let imported = try object(try request("POST", "/v1/datasets", json: #"""
            {"name":"tones","format":"imagefolder","path":"\#(directory.path)/images","width":8,"height":8}
            """#))
        #expect(try waitForJob(try #require(imported["id"] as? Int)) == "succeeded")
        let submitted = try object(try request("POST", "/v1/jobs", json: #"""
            {"dataset":"tones","layers":[{"type":"conv2d","filters":4,"kernel":3,"padding":"same","activation":"relu"},
             {"type":"flatten"},{"type":"dense","units":2}],"epochs":\#(epochs),"batch_size":4,
             "optimizer":{"name":"adam","learning_rate":0.01},"seed":3}
            """#))
        let job = try #require(submitted["id"] as? Int)
        #expect(try waitForJob(job) == "succeeded")
        return job
    }

    /// Polls a job until it reaches a final state.
    func waitForJob(_ id: Int) throws -> String {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let state = try object(try request("GET", "/v1/jobs/\(id)"))["state"] as? String ?? ""
            if ["succeeded", "failed", "cancelled"].contains(state) { return state }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return "timeout"
    }

    deinit {
        server.stop()
        jobs.stop()
        try? store.close()
        directory.remove()
    }
}

struct APIWalkthroughTests {
    private func darkPNG() throws -> [UInt8] {
        try ImageEncoder.png(Image(width: 8, height: 8, channels: 1, pixels: (0..<64).map { 45 + Float($0 % 23) }))
    }

    @Test func importTrainPromoteAndClassifyOverHTTP() throws {
        let live = try LiveServer()
        // Import as a job.
        let imported = try live.request("POST", "/v1/datasets", json: #"""
            {"name":"tones","format":"imagefolder","path":"\#(live.directory.path)/images","width":8,"height":8}
            """#)
        #expect(imported.status == 202)
        let importJob = try #require(try live.object(imported)["id"] as? Int)
        #expect(try live.waitForJob(importJob) == "succeeded")
        let dataset = try live.object(try live.request("GET", "/v1/datasets/tones"))
        #expect(dataset["train_count"] as? Int == 18 && dataset["test_count"] as? Int == 6)
        #expect((dataset["classes"] as? [[String: Any]])?.first?["label"] as? String == "dark")

        // Bad requests name what is wrong.
        let malformed = try live.request("POST", "/v1/jobs", json: "{\"dataset\": ")
        #expect(malformed.status == 400)
        let badEpochs = try live.request("POST", "/v1/jobs", json: #"""
            {"dataset":"tones","preset":"cifar-cnn","epochs":0,"batch_size":4,"optimizer":{"name":"adam","learning_rate":0.01}}
            """#)
        #expect(badEpochs.status == 422)
        #expect(badEpochs.text.contains("epochs"))
        let wrongShape = try live.request("POST", "/v1/jobs", json: #"""
            {"dataset":"tones","preset":"cifar-cnn","epochs":1,"batch_size":4,"optimizer":{"name":"adam","learning_rate":0.01}}
            """#)
        #expect(wrongShape.status == 422 && wrongShape.text.contains("preset"))

        // Train.
        let submitted = try live.request("POST", "/v1/jobs", json: #"""
            {"dataset":"tones","layers":[{"type":"conv2d","filters":4,"kernel":3,"padding":"same","activation":"relu"},
             {"type":"flatten"},{"type":"dense","units":2}],"epochs":4,"batch_size":4,
             "optimizer":{"name":"adam","learning_rate":0.01},"seed":3}
            """#)
        #expect(submitted.status == 201)
        let job = try #require(try live.object(submitted)["id"] as? Int)
        #expect(try live.waitForJob(job) == "succeeded")
        let metrics = try #require(try JSONSerialization.jsonObject(
            with: Data(try live.request("GET", "/v1/jobs/\(job)/metrics?tag=test/accuracy").body)) as? [[String: Any]])
        #expect(metrics.count == 4)
        #expect(metrics.allSatisfy { $0["tag"] as? String == "test/accuracy" && $0["wall_time"] is Double })
        let checkpoints = try #require(try JSONSerialization.jsonObject(
            with: Data(try live.request("GET", "/v1/jobs/\(job)/checkpoints").body)) as? [[String: Any]])
        #expect(!checkpoints.isEmpty && (checkpoints.first?["metrics"] as? [String: Any])?["confusion"] != nil)
        #expect(try live.request("POST", "/v1/jobs/\(job)/cancel").status == 409)
        #expect(try live.request("GET", "/v1/jobs/99999").status == 404)

        // Lists page with a Link header.
        let firstPage = try live.request("GET", "/v1/jobs?limit=1")
        #expect(firstPage.headers["link"]?.contains("after=\(importJob)") == true)
        #expect(try live.request("GET", "/v1/jobs?limit=0").status == 400)

        // Promote and classify.
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        #expect(try live.request("GET", "/readyz").status == 200)
        let answer = try live.object(try live.request("POST", "/v1/models/tones:classify?top_k=9", body: try darkPNG(),
                                                      headers: ["Content-Type": "image/png"]))
        #expect(answer["model"] as? String == "tones" && answer["version"] as? Int == 1)
        let predictions = try #require(answer["predictions"] as? [[String: Any]])
        #expect(predictions.count == 2)
        #expect(predictions.first?["label"] as? String == "dark" && predictions.first?["class"] as? String == "n0-dark")
        #expect((answer["timing_ms"] as? [String: Any])?["infer"] is Double)

        // curl -T uploads with PUT.
        let uploaded = try live.object(try live.request("PUT", "/v1/models/tones:classify", body: try darkPNG()))
        #expect((uploaded["predictions"] as? [[String: Any]])?.first?["label"] as? String == "dark")

        let instances = try live.request("POST", "/v1/models/tones:classify",
                                         json: "{\"instances\":[{\"b64\":\"\(Data(try darkPNG()).base64EncodedString())\"},"
                                             + "{\"b64\":\"\(Data(try darkPNG()).base64EncodedString())\"}]}")
        #expect(instances.status == 200)
        #expect((try JSONSerialization.jsonObject(with: Data(instances.body)) as? [Any])?.count == 2)
        let notImage = try live.request("POST", "/v1/models/tones:classify", body: Array("hello".utf8),
                                        headers: ["Content-Type": "image/jpeg"])
        #expect(notImage.status == 415 && notImage.text.contains("image/png"))
        #expect(try live.request("POST", "/v1/models/nothing:classify", body: try darkPNG()).status == 404)
        #expect(try live.request("POST", "/v1/models/tones/rollback").status == 409)
        let models = try #require(try JSONSerialization.jsonObject(
            with: Data(try live.request("GET", "/v1/models").body)) as? [[String: Any]])
        #expect(models.count == 1 && models.first?["served"] as? Bool == true)
        #expect(models.first?["job_id"] as? Int == job && models.first?["test_accuracy"] is Double)
    }

    @Test func aTokenGuardsChangesButNotReads() throws {
        let live = try LiveServer(token: "s3cret")
        let refused = try live.request("POST", "/v1/datasets", json: "{}")
        #expect(refused.status == 401)
        #expect(refused.text.contains("Bearer"))
        let wrong = try live.request("POST", "/v1/datasets", json: "{}", headers: ["Authorization": "Bearer s3cre"])
        #expect(wrong.status == 401)
        let allowed = try live.request("POST", "/v1/datasets", json: "{}", headers: ["Authorization": "Bearer s3cret"])
        #expect(allowed.status == 422)
        #expect(try live.request("GET", "/v1/jobs").status == 200)
        #expect(try live.request("GET", "/healthz").status == 200)
        #expect(try live.request("GET", "/readyz").status == 200)
    }
}
