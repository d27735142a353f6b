import Foundation
import KennelTestSupport
import Testing

/// The demo `make run` shows, end to end on a small Fashion-MNIST stand-in: it serves the model of the job it
/// trained itself, never a job a user submitted meanwhile.
@Suite(.serialized) struct DemoTests {
    /// MNIST-style IDX files (uncompressed) of `count` 28×28 images per split, ten classes, each class a band of
    /// rows lit, so that the demo's network learns something.
    private func writeIDX(under directory: String, train: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func bigEndian(_ value: Int) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * $0)) & 0xFF) } }
        for (prefix, count) in [("train", train), ("t10k", test)] {
            var images = [0, 0, 8, 3].map(UInt8.init) + bigEndian(count) + bigEndian(28) + bigEndian(28)
            var labels = [0, 0, 8, 1].map(UInt8.init) + bigEndian(count)
            for index in 0..<count {
                let label = index % 10
                images += (0..<784).map { pixel in
                    pixel / 28 / 3 == label ? UInt8(200 + (pixel + index) % 50) : UInt8((pixel * 7 + index) % 40)
                }
                labels.append(UInt8(label))
            }
            try Data(images).write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte"))
        }
    }

    @Test func theDemoServesItsOwnJobNotOneAUserSubmittedMeanwhile() throws {
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("kennel-demo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: source) }
        try writeIDX(under: source, train: 600, test: 100)
        let server = try ServerProcess(arguments: ["--demo-source", source], demo: true)

        // The demo imports, then submits its training job: find it.
        var demoJob: Int?
        let deadline = Date().addingTimeInterval(60)
        while demoJob == nil && Date() < deadline {
            let jobs = try server.json(try rawRequest(port: server.port, "GET", "/v1/jobs")) as? [[String: Any]] ?? []
            demoJob = jobs.first { $0["kind"] as? String == "train" }?["id"] as? Int
            Thread.sleep(forTimeInterval: 0.05)
        }
        let demo = try #require(demoJob, "the demo submitted no training job")
        // README step 2: a user trains their own model on the same dataset while the demo trains.
        let submitted = try server.post("/v1/jobs", #"""
            {"dataset":"fashion","layers":[{"type":"flatten"},{"type":"dense","units":10}],"epochs":1}
            """#)
        #expect(submitted.status == 201, "\(submitted.text)")
        let own = try #require(try server.object(submitted)["id"] as? Int)
        #expect(own > demo)
        #expect(try server.job(demo)["state"] as? String != "succeeded", "the demo's job ended before the user's began")

        #expect(try server.waitForJob(demo, seconds: 300)["state"] as? String == "succeeded")
        #expect(try server.waitForJob(own, seconds: 300)["state"] as? String == "succeeded")
        let finished = Date().addingTimeInterval(30)
        while !server.output.contains("demo: model 'fashion'") && Date() < finished { Thread.sleep(forTimeInterval: 0.05) }
        #expect(server.output.contains("demo: model 'fashion' version 1 is served"))
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.path + "/demo-in-progress"))

        let versions = try server.json(try rawRequest(port: server.port, "GET", "/v1/models/fashion")) as? [[String: Any]]
        #expect(versions?.count == 1 && versions?.first?["job_id"] as? Int == demo,
                "model 'fashion' is \(versions ?? []), not from the demo's job \(demo)")
    }
}
