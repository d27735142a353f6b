import Dispatch
import Foundation
import KennelTestSupport
import Synchronization
import Testing
@testable import KennelHTTP

struct MultipartTests {
    private func body(_ boundary: String, _ parts: [(headers: String, content: String)], preamble: String = "") -> Data {
        var text = preamble
        for part in parts { text += "--\(boundary)\r\n\(part.headers)\r\n\r\n\(part.content)\r\n" }
        return Data((text + "--\(boundary)--\r\n").utf8)
    }

    @Test func splitsFilesAndFieldsAsCurlSendsThem() throws {
        let data = body("xyz", [
            ("Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png", "AAA\r\n--xy"),
            ("Content-Disposition: form-data; name=\"image\"; filename=\"b.jpg\"\r\nContent-Type: image/jpeg", "BBB"),
            ("Content-Disposition: form-data; name=\"note\"", "hello"),
        ], preamble: "ignored preamble\r\n")
        let parts = try Multipart.parts(of: data, contentType: "multipart/form-data; boundary=xyz")
        #expect(parts.count == 3)
        #expect(parts[0] == MultipartPart(name: "image", filename: "a.png", contentType: "image/png",
                                          body: Data("AAA\r\n--xy".utf8)))
        #expect(parts[1].filename == "b.jpg" && parts[1].body == Data("BBB".utf8))
        #expect(parts[2].name == "note" && parts[2].filename == nil)
        let quoted = try Multipart.parts(of: body("a b", [("Content-Disposition: form-data; name=x", "1")]),
                                         contentType: "multipart/form-data; boundary=\"a b\"")
        #expect(quoted.first?.body == Data("1".utf8))
    }

    @Test func malformedBodiesAreBadRequestsThatSayWhy() {
        let cases: [(Data, String, String)] = [
            (Data("--b\r\nx".utf8), "multipart/form-data", "boundary parameter"),
            (Data("no delimiter here".utf8), "multipart/form-data; boundary=b", "never appears"),
            (Data("--b\r\nContent-Disposition: form-data; name=a".utf8), "multipart/form-data; boundary=b", "headers never end"),
            (Data("--b\r\nContent-Disposition: form-data\r\n\r\ncontent".utf8), "multipart/form-data; boundary=b",
             "closing boundary"),
            (Data("--bXX".utf8), "multipart/form-data; boundary=b", "CRLF"),
        ]
        for (data, contentType, reason) in cases {
            let error = #expect(throws: HTTPError.self) { try Multipart.parts(of: data, contentType: contentType) }
            #expect(error?.status == .badRequest)
            #expect(error?.message.contains(reason) == true, "\(error?.message ?? "") should mention \(reason)")
        }
    }
}

struct AdmissionLimitTests {
    static let work = DispatchQueue(label: "test.admission", attributes: .concurrent)

    @Test func requestsPastTheCapacityAreAnswered429AndEveryExchangeIsObserved() throws {
        let release = DispatchSemaphore(value: 0)
        let limit = AdmissionLimit(capacity: 2, retryAfterSeconds: 3, work: "test")
        var routes = Router.Builder()
        routes.get("/held", execution: .queue(Self.work, limit: limit)) { _ in
            release.wait()
            return .text("done")
        }
        let seen = Mutex([String]())
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, router: Router(routes),
                                observer: { summary in seen.withLock { $0.append("\(summary.route) \(summary.status)") } })
        try server.start()
        defer { server.stop() }

        let held = try (0..<2).map { _ in
            let connection = try RawHTTPConnection(port: server.port)
            try connection.sendRequest("GET", "/held")
            return connection
        }
        // Wait until both are admitted, then a third is refused at once.
        let deadline = Date().addingTimeInterval(5)
        while limit.occupancy < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        let refused = try rawRequest(port: server.port, "GET", "/held")
        #expect(refused.status == 429)
        #expect(refused.headers["retry-after"] == "3")
        #expect(refused.text.contains("test queue is full"))
        release.signal()
        release.signal()
        for connection in held { #expect(try connection.readResponse().status == 200) }
        #expect(limit.occupancy == 0)
        #expect(try rawRequest(port: server.port, "GET", "/nowhere").status == 404)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(seen.withLock { $0.sorted() } == ["/held 200", "/held 200", "/held 429", "unmatched 404"])
    }
}
