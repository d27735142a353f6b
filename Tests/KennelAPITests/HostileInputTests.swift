import Foundation
import KennelTestSupport
import Testing

/// Requests that once crashed the server or got a false answer, through the real server: each is now a 4xx
/// that names what is wrong, and the server answers the next request.
@Suite(.serialized) struct HostileInputTests {
    /// A server with the two-tone dataset imported as `tones`.
    private func serverWithDataset() throws -> LiveServer {
        let live = try LiveServer()
        let imported = try live.object(try live.request("POST", "/v1/datasets", json: #"""
            {"name":"tones","format":"imagefolder","path":"\#(live.directory.path)/images","width":8,"height":8}
            """#))
        #expect(try live.waitForJob(try #require(imported["id"] as? Int)) == "succeeded")
        return live
    }

    @Test func emptyAndMalformedCursorsAre400() throws {
        let live = try LiveServer()
        for query in ["after=@", "after=fashion", "after=fashion@x", "after=@@"] {
            let response = try live.request("GET", "/v1/models?\(query)")
            #expect(response.status == 400, "\(query)")
            #expect(response.text.contains("NAME@VERSION"))
        }
        #expect(try live.request("GET", "/v1/models?after=fashion@1").status == 200)
        #expect(try live.request("GET", "/v1/models?after=").status == 200, "an empty cursor is the first page")
        #expect(try live.request("GET", "/v1/models?after=a@b@3").status == 200)
        #expect(try live.request("GET", "/v1/jobs/1/checkpoints?after=x").status == 404)
        #expect(try live.request("GET", "/healthz").status == 200)
    }

    /// Layer sizes that once trapped the handler (overflow, a failed allocation) or a job (an LRN window past
    /// Int.max) are 422s naming the field.
    @Test(arguments: [
        (#"{"type":"dense","units":1000000000000}"#, "units"),
        (#"{"type":"conv2d","filters":4611686018427387904,"kernel":3}"#, "filters"),
        (#"{"type":"conv2d","filters":4,"kernel":9223372036854775807}"#, "kernel"),
        (#"{"type":"conv2d","filters":4,"kernel":3,"stride":9223372036854775807}"#, "stride"),
        (#"{"type":"maxpool","size":9223372036854775807}"#, "size"),
        (#"{"type":"lrn","depth_radius":9223372036854775807}"#, "depth_radius"),
    ])
    func absurdLayersAre422(layer: String, field: String) throws {
        let live = try serverWithDataset()
        let response = try live.request("POST", "/v1/jobs", json: """
            {"dataset":"tones","layers":[\(layer),{"type":"flatten"},{"type":"dense","units":2}],"epochs":1,
             "batch_size":4}
            """)
        #expect(response.status == 422, "\(response.text)")
        #expect(response.text.contains(field))
        #expect(try live.request("GET", "/healthz").status == 200)
        let jobs = try live.array(try live.request("GET", "/v1/jobs"))
        #expect(jobs.count == 1, "only the import job is recorded")
    }

    /// Valid JSON with numbers beyond their field's type once answered 400 "not valid JSON".
    @Test func outOfRangeNumbersAre422NamingTheField() throws {
        let live = try serverWithDataset()
        for (patch, field) in [(#""epochs":1e30"#, "epochs"), (#""epochs":1,"seed":-1"#, "seed"),
                               (#""epochs":1,"optimizer":{"name":"adam","learning_rate":1e308}"#, "optimizer.learning_rate"),
                               (#""epochs":1,"batch_size":1e300"#, "batch_size")] {
            let response = try live.request("POST", "/v1/jobs", json: #"{"dataset":"tones","preset":"fashion-convnet",\#(patch)}"#)
            #expect(response.status == 422, "\(patch): \(response.text)")
            #expect(response.headers["x-invalid-field"] == field, "\(patch): \(response.text)")
        }
    }

    @Test func aNulInThePathIsNotFound() throws {
        let live = try serverWithDataset()
        #expect(try live.request("GET", "/v1/jobs/1").status == 200)
        #expect(try live.request("GET", "/v1/jobs/1%00x").status == 404)
        #expect(try live.request("GET", "/index.html").status == 200)
        #expect(try live.request("GET", "/index.html%00.js").status == 404)
    }
}

/// The limits are listed where clients can read them, with the flag and variable that set each.
struct LimitsRouteTests {
    @Test func everyLimitIsListedWithItsFlagAndVariable() throws {
        let live = try LiveServer()
        let response = try live.request("GET", "/v1/limits")
        #expect(response.status == 200)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0["name"] as? String ?? "", $0) })
        #expect(byName.count == 11)
        #expect(byName["max_body_bytes"]?["value"] as? Int == 32 << 20)
        #expect(byName["max_body_bytes"]?["flag"] as? String == "--max-body-mb")
        #expect(byName["request_deadline_seconds"]?["env"] as? String == "KENNEL_REQUEST_DEADLINE")
        #expect(byName["max_parameters"]?["value"] as? Int == 100_000_000)
    }
}

/// Symbolic links inside the datasets root once let an import read every file of /etc (shadow included) and
/// import images from outside; each entry is now resolved, and what leaves the root is skipped and listed.
struct DatasetsRootConfinementTests {
    @Test func entriesThatResolveOutsideTheRootAreSkippedAndListed() throws {
        let live = try LiveServer(datasetsRoot: "images")
        let images = live.directory.path + "/images"
        let outside = live.directory.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/n9-stolen", withIntermediateDirectories: true)
        let sample = try FileManager.default.contentsOfDirectory(atPath: images + "/n0-dark").sorted()[0]
        for index in 0..<3 {
            try FileManager.default.copyItem(atPath: images + "/n0-dark/" + sample,
                                            toPath: outside + "/n9-stolen/\(index).png")
        }
        try FileManager.default.createSymbolicLink(atPath: images + "/n9-stolen", withDestinationPath: outside + "/n9-stolen")
        try FileManager.default.createSymbolicLink(atPath: images + "/n0-dark/zz-passwd", withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: images + "/n0-dark/zz-outside.png",
                                                   withDestinationPath: outside + "/n9-stolen/0.png")
        let submitted = try live.request("POST", "/v1/datasets", json: #"{"name":"confined","format":"imagefolder","path":"."}"#)
        #expect(submitted.status == 202)
        #expect(try live.waitForJob(try #require(try live.object(submitted)["id"] as? Int)) == "succeeded")
        let dataset = try live.object(try live.request("GET", "/v1/datasets/confined"))
        let classes = try #require(dataset["classes"] as? [[String: Any]]).compactMap { $0["id"] as? String }
        #expect(classes == ["n0-dark", "n1-bright"])
        #expect(dataset["train_count"] as? Int == 18 && dataset["test_count"] as? Int == 6)
        let skipped = try #require(dataset["skipped"] as? [[String: Any]])
        let reasons = Dictionary(uniqueKeysWithValues: skipped.map { entry -> (String, String) in
            (((entry["path"] as? String ?? "") as NSString).lastPathComponent, entry["reason"] as? String ?? "")
        })
        #expect(reasons.keys.sorted() == ["n9-stolen", "zz-outside.png", "zz-passwd"])
        #expect(reasons.values.allSatisfy { $0.contains("outside the datasets root") })
    }
}

struct UnserveRouteTests {
    @Test func deletingAModelStopsServingItAndNeedsTheToken() throws {
        let live = try LiveServer(token: "s3cret")
        #expect(try live.request("DELETE", "/v1/models/none").status == 401)
        #expect(try live.request("DELETE", "/v1/models/none", headers: ["Authorization": "Bearer s3cret"]).status == 404)
    }
}
