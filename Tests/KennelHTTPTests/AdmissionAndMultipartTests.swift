import Dispatch
import Foundation
import KennelTestSupport
import Synchronization
import Testing
@testable import KennelHTTP

/// Multipart bodies parsed by libmicrohttpd's post processor as they arrive, over real sockets.
struct MultipartFormTests {
    private func startServer(maxBodyBytes: Int = 4 << 20) throws -> HTTPServer {
        var routes = Router.Builder()
        routes.post("/form") { request in
            guard let form = request.form else { return .text("not a form") }
            return .text(form.map { part in
                "\(part.name ?? "-")|\(part.filename ?? "-")|\(part.contentType ?? "-")|\(part.body.count)|"
                    + "\(part.body.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFFFF })"
            }.joined(separator: "\n"))
        }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.maxBodyBytes = maxBodyBytes
        let server = HTTPServer(configuration: configuration, router: Router(routes))
        try server.start()
        return server
    }

    private func form(_ boundary: String, _ parts: [(headers: String, content: [UInt8])], close: Bool = true) -> [UInt8] {
        var body: [UInt8] = []
        for part in parts { body += Array("--\(boundary)\r\n\(part.headers)\r\n\r\n".utf8) + part.content + Array("\r\n".utf8) }
        return body + (close ? Array("--\(boundary)--\r\n".utf8) : [])
    }

    private func digest(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFFFF } }

    @Test func filesAndFieldsArriveAsPartsWhateverTheirBytes() throws {
        let server = try startServer()
        defer { server.stop() }
        // Binary content that contains CRLF, dashes and part of the boundary, and a file larger than the parser's buffer.
        let tricky = Array("AAA\r\n--xy\r\n\u{0}\u{1}".utf8)
        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let body = form("xyz", [
            ("Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png", tricky),
            ("Content-Disposition: form-data; name=\"image\"; filename=\"b.jpg\"\r\nContent-Type: image/jpeg", large),
            ("Content-Disposition: form-data; name=\"note\"", Array("hello".utf8)),
        ])
        let response = try rawRequest(port: server.port, "POST", "/form",
                                      headers: ["Content-Type": "multipart/form-data; boundary=xyz"], body: body)
        #expect(response.status == 200)
        #expect(response.text.split(separator: "\n") == [
            "image|a.png|image/png|\(tricky.count)|\(digest(tricky))",
            "image|b.jpg|image/jpeg|\(large.count)|\(digest(large))",
            "note|-|-|5|\(digest(Array("hello".utf8)))",
        ])
        #expect(try rawRequest(port: server.port, "POST", "/form", body: Array("raw".utf8)).text == "not a form")
    }

    @Test func malformedAndOversizedFormsAreRefused() throws {
        let server = try startServer(maxBodyBytes: 64 * 1024)
        defer { server.stop() }
        let part = [("Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"", Array("data".utf8))]
        let unclosed = try rawRequest(port: server.port, "POST", "/form",
                                      headers: ["Content-Type": "multipart/form-data; boundary=b"],
                                      body: form("b", part, close: false))
        #expect(unclosed.status == 400 && unclosed.text.contains("multipart"))
        let noBoundary = try rawRequest(port: server.port, "POST", "/form",
                                        headers: ["Content-Type": "multipart/form-data"], body: form("b", part))
        #expect(noBoundary.status == 400 && noBoundary.text.contains("boundary"))
        let huge = form("b", [("Content-Disposition: form-data; name=\"image\"; filename=\"big\"",
                               [UInt8](repeating: 7, count: 100_000))])
        let announced = try rawRequest(port: server.port, "POST", "/form",
                                       headers: ["Content-Type": "multipart/form-data; boundary=b"], body: huge)
        #expect(announced.status == 413)
        // Chunked, so the cap is only found while the form is being parsed.
        let connection = try RawHTTPConnection(port: server.port)
        try connection.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n")
        try connection.sendChunks(stride(from: 0, to: huge.count, by: 16384).map {
            Array(huge[$0..<min($0 + 16384, huge.count)])
        })
        let chunked = try connection.readResponse()
        #expect(chunked.status == 413 && chunked.text.contains("65536"))
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
