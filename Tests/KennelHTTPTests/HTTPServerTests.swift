import Dispatch
import Foundation
import KennelTestSupport
import Synchronization
import Testing
@testable import KennelHTTP

/// The libmicrohttpd layer over real sockets on 127.0.0.1 with kernel-chosen ports.
@Suite struct HTTPServerTests {
    static let slowQueue = DispatchQueue(label: "test.slow", attributes: .concurrent)

    /// A started server on an ephemeral port; `pollingThreads` 1 makes blocking visible.
    private func startServer(maxBodyBytes: Int = 1 << 20, pollingThreads: Int = 1,
                             extraRoutes: (inout Router.Builder) -> Void = { _ in }) throws -> HTTPServer {
        var routes = Router.Builder()
        routes.get("/healthz") { _ in .json(bytes: Array(#"{"status":"ok"}"#.utf8)) }
        routes.post("/echo") { request in
            Response(headers: ["Content-Type": "application/octet-stream"], body: .bytes(Array(request.body)))
        }
        routes.get("/query") { request in .text(request.query.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")) }
        routes.get("/slow/{n}", execution: .queue(Self.slowQueue)) { request in
            Thread.sleep(forTimeInterval: Double(request.query["ms"] ?? "300")! / 1000)
            return .text("slow \(request.parameters["n"]!)")
        }
        extraRoutes(&routes)
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.maxBodyBytes = maxBodyBytes
        configuration.pollingThreads = pollingThreads
        let server = HTTPServer(configuration: configuration, router: Router(routes))
        try server.start()
        return server
    }

    @Test func answersHealthAndJSONErrors() throws {
        let server = try startServer()
        defer { server.stop() }
        #expect(server.port != 0)
        let health = try rawRequest(port: server.port, "GET", "/healthz")
        #expect(health.status == 200)
        #expect(health.text == #"{"status":"ok"}"#)
        #expect(health.headers["content-type"] == "application/json")
        let missing = try rawRequest(port: server.port, "GET", "/nope")
        #expect(missing.status == 404)
        #expect(missing.text.contains(#""code":"not_found""#))
        let wrongMethod = try rawRequest(port: server.port, "DELETE", "/healthz")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers["allow"] == "GET, HEAD")
    }

    @Test func echoesBodiesAndDecodesQueryArguments() throws {
        let server = try startServer()
        defer { server.stop() }
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let echoed = try rawRequest(port: server.port, "POST", "/echo", body: payload)
        #expect(echoed.status == 200)
        #expect(echoed.body == payload)
        let query = try rawRequest(port: server.port, "GET", "/query?b=two%20words&a=1&a=2")
        #expect(query.text == "a=1&b=two words")
    }

    @Test func keepsConnectionsAliveAcrossRequests() throws {
        let server = try startServer()
        defer { server.stop() }
        let connection = try RawHTTPConnection(port: server.port)
        for _ in 0..<3 {
            try connection.sendRequest("GET", "/healthz")
            #expect(try connection.readResponse().status == 200)
        }
    }

    @Test func announcedOversizedBodyIsRefusedBeforeItIsSent() throws {
        let server = try startServer(maxBodyBytes: 1024)
        defer { server.stop() }
        let connection = try RawHTTPConnection(port: server.port)
        // Only the headers go out: the 413 must come without the server waiting for the body.
        try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.status == 413)
        #expect(response.text.contains("1024 bytes"))
        #expect(response.text.contains(#""code":"content_too_large""#))
    }

    @Test func chunkedBodyOverTheCapIs413AndTheServerKeepsWorking() throws {
        let server = try startServer(maxBodyBytes: 4096)
        defer { server.stop() }
        let connection = try RawHTTPConnection(port: server.port)
        try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try connection.sendChunks(repeatElement([UInt8](repeating: 0x61, count: 1000), count: 10))
        #expect(try connection.readResponse().status == 413)
        let small = try rawRequest(port: server.port, "POST", "/echo", body: Array(repeating: 1, count: 4096))
        #expect(small.status == 200)
        #expect(small.body.count == 4096)
    }

    @Test func giantHeadersAndURIsAreRefusedAndTheServerKeepsWorking() throws {
        let server = try startServer()
        defer { server.stop() }
        let header = try rawRequest(port: server.port, "GET", "/healthz",
                                    headers: ["X-Big": String(repeating: "a", count: 100_000)])
        #expect(header.status == 431)
        let uri = try rawRequest(port: server.port, "GET", "/healthz?" + String(repeating: "q", count: 60_000))
        #expect(uri.status == 414)
        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
    }

    @Test func queuedRoutesDoNotHoldUpThePollingThread() throws {
        let server = try startServer(pollingThreads: 1)
        defer { server.stop() }
        let slow = try RawHTTPConnection(port: server.port)
        try slow.sendRequest("GET", "/slow/1")
        Thread.sleep(forTimeInterval: 0.05)
        let started = ContinuousClock.now
        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
        #expect(ContinuousClock.now - started < .milliseconds(200))
        let answer = try slow.readResponse()
        #expect(answer.status == 200)
        #expect(answer.text == "slow 1")
    }

    @Test func twoHundredConcurrentRequestsAreAnsweredCorrectly() throws {
        let server = try startServer(pollingThreads: 2)
        defer { server.stop() }
        // Open all connections first so the server really holds 200 at once, then send, then read.
        let connections = try (0..<200).map { _ in try RawHTTPConnection(port: server.port) }
        for (index, connection) in connections.enumerated() {
            if index % 2 == 0 {
                try connection.sendRequest("GET", "/slow/\(index)?ms=1")
            } else {
                try connection.sendRequest("POST", "/echo", body: Array("request \(index)".utf8))
            }
        }
        for (index, connection) in connections.enumerated() {
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.text == (index % 2 == 0 ? "slow \(index)" : "request \(index)"))
        }
    }

    @Test func streamsBodiesWrittenOverTimeWithoutBlockingOthers() throws {
        let started = Mutex<ResponseStream?>(nil)
        let server = try startServer(pollingThreads: 1) { routes in
            routes.get("/events") { _ in
                let stream = ResponseStream()
                stream.write("data: first\n\n")
                started.withLock { $0 = stream }
                return Response(headers: ["Content-Type": "text/event-stream"], body: .stream(stream))
            }
        }
        defer { server.stop() }
        let client = try RawHTTPConnection(port: server.port)
        try client.sendRequest("GET", "/events")
        while started.withLock({ $0 }) == nil { Thread.sleep(forTimeInterval: 0.01) }
        let stream = started.withLock { $0! }
        // The stream is parked with nothing to send; the single polling thread still answers others.
        Thread.sleep(forTimeInterval: 0.1)
        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) {
            stream.write("data: second\n\n")
            stream.finish()
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.headers["transfer-encoding"] == "chunked")
        #expect(response.text == "data: first\n\ndata: second\n\n")
    }

    @Test func streamEndsWhenTheClientGoesAway() throws {
        let opened = Mutex<ResponseStream?>(nil)
        let terminated = Mutex(false)
        let server = try startServer { routes in
            routes.get("/events") { _ in
                let stream = ResponseStream()
                stream.onTermination { terminated.withLock { $0 = true } }
                stream.write("data: hello\n\n")
                opened.withLock { $0 = stream }
                return Response(body: .stream(stream))
            }
        }
        defer { server.stop() }
        do {
            let client = try RawHTTPConnection(port: server.port)
            try client.sendRequest("GET", "/events")
            while opened.withLock({ $0 }) == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        // A parked connection notices the hang-up when it next sends (SSE heartbeats do this).
        let stream = opened.withLock { $0! }
        let deadline = ContinuousClock.now + .seconds(5)
        while !terminated.withLock({ $0 }) && ContinuousClock.now < deadline {
            stream.write(": heartbeat\n\n")
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(terminated.withLock { $0 })
        #expect(stream.isFinished)
    }

    @Test func stopEndsOpenStreams() throws {
        let terminated = Mutex(false)
        let server = try startServer { routes in
            routes.get("/events") { _ in
                let stream = ResponseStream()
                stream.onTermination { terminated.withLock { $0 = true } }
                return Response(body: .stream(stream))
            }
        }
        let client = try RawHTTPConnection(port: server.port)
        try client.sendRequest("GET", "/events")
        Thread.sleep(forTimeInterval: 0.1)
        server.stop()
        #expect(terminated.withLock { $0 })
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
    }

    @Test func stopFinishesInFlightRequestsAndRefusesNewConnections() throws {
        let server = try startServer()
        let port = server.port
        let inFlight = try RawHTTPConnection(port: port)
        try inFlight.sendRequest("GET", "/slow/9")
        Thread.sleep(forTimeInterval: 0.05)
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.stop()
            stopped.signal()
        }
        let response = try inFlight.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "slow 9")
        stopped.wait()
        #expect(throws: RawHTTPError.self) { try RawHTTPConnection(port: port) }
    }

    @Test func refusesABusyPortAndABadHost() throws {
        let first = try startServer()
        defer { first.stop() }
        var configuration = HTTPServerConfiguration()
        configuration.port = first.port
        let second = HTTPServer(configuration: configuration, router: Router(Router.Builder()))
        #expect(throws: HTTPServerError.cannotListen(host: "127.0.0.1", port: first.port)) { try second.start() }
        configuration.host = "no such host.invalid"
        #expect(throws: HTTPServerError.self) {
            try HTTPServer(configuration: configuration, router: Router(Router.Builder())).start()
        }
    }
}
