import Dispatch
import Foundation
import KennelImage
import KennelTestSupport
import Synchronization
import Testing

/// Classification at 16 connections for 60 s while fashion-convnet trains on Fashion-MNIST, in one server
/// process: no request fails, training goes on, memory stays bounded. (`bench/load/run.sh` measures the same
/// on a release build with wrk; this is the debug-build check that nothing breaks under it.)
@Suite(.serialized) struct LoadWhileTrainingTests {
    /// Mean `train/images_per_s` of the points after `step`, and the last step seen.
    private func imagesPerSecond(_ server: ServerProcess, _ job: Int, after step: Int) throws
        -> (mean: Double, last: Int) {
        let answer = try rawRequest(port: server.port, "GET", "/v1/jobs/\(job)/metrics?tag=train/images_per_s")
        let points = (try server.json(answer) as? [[String: Any]]) ?? []
        let later = points.filter { ($0["step"] as? Int ?? 0) > step }
        let values = later.compactMap { $0["value"] as? Double }
        return (values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count),
                later.compactMap { $0["step"] as? Int }.max() ?? step)
    }

    @Test func sixtySecondsOfClassificationWhileATrainingJobRuns() throws {
        let server = try ServerProcess()
        let port = server.port
        let imported = try server.runJob("/v1/datasets", #"""
            {"name":"fashion","format":"idx","path":"/usr/share/datasets/fashion-mnist"}
            """#)
        #expect(imported.state == "succeeded")
        let small = try server.runJob("/v1/jobs", #"""
            {"dataset":"fashion","layers":[{"type":"flatten"},{"type":"dense","units":10}],"epochs":1,"batch_size":512}
            """#)
        #expect(small.state == "succeeded")
        #expect(try server.post("/v1/models", #"{"name":"fashion","job_id":\#(small.id)}"#).status == 201)

        let training = try #require(try server.object(try server.post("/v1/jobs", #"""
            {"dataset":"fashion","preset":"fashion-convnet","epochs":5,"batch_size":64}
            """#))["id"] as? Int)
        #expect(try server.waitForJob(training, until: ["running"], seconds: 60)["state"] as? String == "running")
        // Its speed alone: the points of its first seconds of training (written every 2 s).
        var idle = (mean: 0.0, last: 0)
        let idleDeadline = Date().addingTimeInterval(120)
        while idle.last == 0 && Date() < idleDeadline {
            Thread.sleep(forTimeInterval: 1)
            idle = try imagesPerSecond(server, training, after: 0)
        }
        #expect(idle.last > 0, "no training point within two minutes")

        var image = Image(width: 28, height: 28, channels: 1)
        for index in 0..<(28 * 28) { image.pixels[index] = Float((index * 37) % 256) }
        let png = try ImageEncoder.png(image)
        // Failures by status, or by what the client saw when no answer came.
        let outcomes = Mutex((ok: 0, failed: [String: Int]()))
        let end = Date().addingTimeInterval(60)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            while Date() < end {
                let outcome = Result { try rawRequest(port: port, "POST", "/v1/models/fashion:classify", body: png) }
                outcomes.withLock { outcomes in
                    switch outcome {
                    case .success(let answer) where answer.status == 200: outcomes.ok += 1
                    case .success(let answer): outcomes.failed["status \(answer.status)", default: 0] += 1
                    case .failure(let error): outcomes.failed["\(error)", default: 0] += 1
                    }
                }
            }
        }
        Thread.sleep(forTimeInterval: 3)  // the trainer writes its points every 2 s
        let loaded = try imagesPerSecond(server, training, after: idle.last)
        let (ok, failed) = outcomes.withLock { ($0.ok, $0.failed) }
        let peak = try server.peakResidentMiB()
        #expect(failed.isEmpty, "failed requests: \(failed)")
        #expect(ok > 0)
        #expect(["running", "succeeded"].contains(try server.job(training)["state"] as? String ?? ""))
        #expect(loaded.last > idle.last, "training made no progress under load")
        #expect(peak < 500, "peak RSS \(peak) MiB")
        print("load while training (debug build): \(ok) classifications in 60 s at 16 connections, failures \(failed); "
              + "training \(Int(idle.mean)) images/s idle, \(Int(loaded.mean)) under load; peak RSS \(Int(peak)) MiB")
    }
}
