import Dispatch
import Foundation
import KennelImage
import KennelTestSupport
import Synchronization
import Testing

/// Small files that decode to huge images, many at once, against a real server process: streaming decode and
/// the decode budget keep its memory bounded (24 × a 6300×6300 PNG once reached 5.3 GB).
@Suite(.serialized) struct DecodeBombTests {
    @Test func twentyFourConcurrentPNGBombsCostAFewRowsEach() throws {
        let server = try ServerProcess()
        let port = server.port
        let images = try writeToneImages(under: server.dataDirectory.path + "/source")
        let imported = try server.runJob("/v1/datasets", #"""
            {"name":"tones","format":"imagefolder","path":"\#(images)","width":8,"height":8}
            """#)
        #expect(imported.state == "succeeded")
        let trained = try server.runJob("/v1/jobs", #"""
            {"dataset":"tones","layers":[{"type":"flatten"},{"type":"dense","units":2}],"epochs":1,"batch_size":4}
            """#)
        #expect(trained.state == "succeeded")
        #expect(try server.post("/v1/models", #"{"name":"tones","job_id":\#(trained.id)}"#).status == 201)

        let bomb = try ImageEncoder.png(Image(width: 6300, height: 6300, channels: 1))
        #expect(bomb.count < 200_000)
        let baseline = try server.peakResidentMiB(), residentBefore = try server.residentMiB()
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 24) { _ in
            let status = (try? rawRequest(port: port, "POST", "/v1/models/tones:classify", body: bomb).status) ?? -1
            statuses.withLock { $0.append(status) }
        }
        let answered = statuses.withLock { $0 }
        // PNGs are read row by row into the model's 8×8 box, so each bomb holds a few rows, not 40 MP: all 24 fit
        // the budget at once and are classified (before rows were streamed they held 5.3 GB, then queued for the
        // budget with a peak of 346 MiB).
        #expect(answered.allSatisfy { $0 == 200 }, "\(answered)")
        let peak = try server.peakResidentMiB()
        #expect(peak < baseline + 64, "peak RSS \(peak) MiB with 24 bombs in flight (baseline \(baseline) MiB)")
        #expect(try rawRequest(port: port, "GET", "/healthz").status == 200)
        let residentAfter = try server.residentMiB()
        print("decode bombs: \(answered.count) classified; peak RSS \(Int(peak)) MiB (baseline \(Int(baseline)) MiB), "
              + "RSS \(Int(residentBefore)) MiB before, \(Int(residentAfter)) MiB after")
    }
}
