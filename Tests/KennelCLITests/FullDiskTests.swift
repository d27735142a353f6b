import Foundation
import KennelTestSupport
import Testing

/// A disk that fills up while a job trains, on a real tmpfs: the job once failed for good with a raw
/// "NSCocoaErrorDomain Code=640" although valid checkpoints existed. Now it fails with a message that says
/// where and what to do, space can be freed through the API, and the job resumes from its newest checkpoint
/// with every step recorded once and the same metrics as an uninterrupted run.
@Suite(.serialized) struct FullDiskTests {
    /// (tag, step) → value for the tags that do not depend on timing.
    private func metrics(_ server: ServerProcess, _ id: Int) throws -> [String: Double] {
        let points = try #require(try server.json(try rawRequest(port: server.port, "GET", "/v1/jobs/\(id)/metrics"))
            as? [[String: Any]])
        var values: [String: Double] = [:]
        for point in points {
            let tag = point["tag"] as? String ?? ""
            guard ["train/loss", "train/accuracy", "test/loss", "test/accuracy"].contains(tag) else { continue }
            let key = "\(tag)@\(point["step"] as? Int ?? -1)"
            #expect(values[key] == nil, "\(key) recorded twice")
            values[key] = point["value"] as? Double
        }
        return values
    }

    @Test func aJobStoppedByAFullDiskResumesOnceSpaceIsFreed() throws {
        let server = try ServerProcess(tmpfsSize: "10m")
        let port = server.port
        let images = try writeToneImages(under: FileManager.default.temporaryDirectory.path + "/kennel-full-\(UUID())")
        defer { try? FileManager.default.removeItem(atPath: (images as NSString).deletingLastPathComponent) }
        func imported(_ name: String, _ side: Int, channels: Int) throws {
            let imported = try server.runJob("/v1/datasets", #"""
                {"name":"\#(name)","format":"imagefolder","path":"\#(images)","width":\#(side),"height":\#(side),
                 "channels":\#(channels)}
                """#)
            #expect(imported.state == "succeeded")
        }
        try imported("tones", 8, channels: 1)
        try imported("bulk", 256, channels: 3)  // 4.7 MB of the 10 MB disk (2 MB of it the reserve)
        // 1.6 MB checkpoints (weights and Adam's two moments): the second one does not fit.
        let spec = #"""
            {"dataset":"tones","layers":[{"type":"flatten"},{"type":"dense","units":2048,"activation":"relu"},
             {"type":"dense","units":2}],"epochs":4,"batch_size":4,"optimizer":{"name":"adam","learning_rate":0.001},
             "seed":7,"keep_checkpoints":1}
            """#
        let id = try #require(try server.object(try server.post("/v1/jobs", spec))["id"] as? Int)
        let stopped = try server.waitForJob(id)
        #expect(stopped["state"] as? String == "failed")
        let error = stopped["error"] as? String ?? ""
        #expect(error.contains("disk full at") && error.contains("POST /v1/jobs/\(id)/resume"), "\(error)")
        #expect(!error.contains("NSCocoaErrorDomain"))

        #expect(try rawRequest(port: port, "DELETE", "/v1/datasets/bulk").status == 204)
        #expect(try server.post("/v1/jobs/\(id)/resume", "").status == 202)
        let resumed = try server.waitForJob(id)
        #expect(resumed["state"] as? String == "succeeded", "\(resumed["error"] ?? "")")
        #expect(resumed["resumed_from"] as? Int != nil)
        let interrupted = try metrics(server, id)
        #expect(interrupted.keys.filter { $0.hasPrefix("train/loss@") }.count == 20)

        // The same spec, never interrupted, once the first job's files are gone.
        #expect(try rawRequest(port: port, "DELETE", "/v1/jobs/\(id)").status == 204)
        let (second, state) = try server.runJob("/v1/jobs", spec)
        #expect(state == "succeeded")
        #expect(try metrics(server, second) == interrupted)

        // What a served model needs cannot be deleted; once it is unserved (and its versions' job kept), the
        // dataset can go.
        #expect(try server.post("/v1/models", #"{"name":"tones","job_id":\#(second)}"#).status == 201)
        let refused = try rawRequest(port: port, "DELETE", "/v1/datasets/tones")
        #expect(refused.status == 409 && refused.text.contains("DELETE /v1/models/tones"))
        #expect(try rawRequest(port: port, "DELETE", "/v1/jobs/\(second)").status == 409)
        #expect(try rawRequest(port: port, "DELETE", "/v1/models/tones").status == 204)
        #expect(try rawRequest(port: port, "DELETE", "/v1/datasets/tones").status == 204)
        #expect(try rawRequest(port: port, "DELETE", "/v1/jobs/\(second)").status == 409)
    }
}
