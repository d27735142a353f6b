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

/// Pending answers: a handler returns at once and another thread resolves the answer later, with no thread
/// waiting for it; the connection is answered then, errors included, whether the handler ran on a queue or on
/// the polling thread.
extension HTTPServerTests {
    /// Routes whose answers a test resolves by hand, by key, on a thread of its own.
    private final class Resolver: Sendable {
        let pending = Mutex([String: PendingResponse]())

        func register(_ key: String) -> Response {
            let response = PendingResponse()
            pending.withLock { $0[key] = response }
            return Response(body: .pending(response))
        }

        func resolve(_ key: String, _ make: @escaping @Sendable () throws -> Response) {
            var response: PendingResponse?
            while response == nil {
                response = pending.withLock { $0.removeValue(forKey: key) }
                if response == nil { Thread.sleep(forTimeInterval: 0.005) }
            }
            response!.resolve(make)
        }
    }

    private struct Refusal: Error {}

    @Test func pendingAnswersArriveWhenResolvedWithoutBlockingOthers() throws {
        let resolver = Resolver()
        let server = try startServer(pollingThreads: 1) { routes in
            routes.get("/later/{key}", execution: .queue(Self.slowQueue)) { request in
                resolver.register(request.parameters["key"]!)
            }
            routes.get("/inline/{key}") { request in resolver.register(request.parameters["key"]!) }
        }
        defer { server.stop() }
        for path in ["later", "inline"] {
            let waiting = try RawHTTPConnection(port: server.port)
            try waiting.sendRequest("GET", "/\(path)/a")
            let failing = try RawHTTPConnection(port: server.port)
            try failing.sendRequest("GET", "/\(path)/b")
            // Both wait unresolved while the polling thread answers others.
            Thread.sleep(forTimeInterval: 0.05)
            #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
            DispatchQueue.global().async {
                resolver.resolve("b") { throw Refusal() }
                resolver.resolve("a") { .text("resolved \(path)") }
            }
            let answer = try waiting.readResponse()
            #expect(answer.status == 200 && answer.text == "resolved \(path)")
            #expect(try failing.readResponse().status == 500)
            // The connection stays usable.
            try waiting.sendRequest("GET", "/healthz")
            #expect(try waiting.readResponse().status == 200)
        }
    }

    @Test func resolvingBeforeTheServerWaitsStillAnswers() throws {
        let server = try startServer { routes in
            routes.get("/ready", execution: .queue(Self.slowQueue)) { _ in
                let pending = PendingResponse()
                pending.resolve { .text("already") }
                return Response(body: .pending(pending))
            }
        }
        defer { server.stop() }
        let answer = try rawRequest(port: server.port, "GET", "/ready")
        #expect(answer.status == 200 && answer.text == "already")
        // The socket-free entry point waits for it as well.
        #expect(server.router.respond(to: Request(method: .get, path: "/ready")).status == .ok)
    }
}

extension HTTPServerTests {
    /// A lanes route runs the requests its `runsInline` picks on the polling thread, the others on a lane; both
    /// hold the admission limit until their (pending) answer is resolved.
    @Test func picksOfALanesRouteRunInlineAndHoldTheLimitUntilAnswered() throws {
        let resolver = Resolver()
        let threads = Mutex([String: String]())
        let lanes = QueueLanes(label: "test.lanes", count: 2)
        let limit = AdmissionLimit(capacity: 1, work: "test")
        let server = try startServer(pollingThreads: 1) { routes in
            routes.get("/pick/{key}", execution: .lanes(lanes, limit: limit,
                                                        runsInline: { $0.parameters["key"]!.hasPrefix("in") })) {
                request in
                let key = request.parameters["key"]!
                // The kernel's name of the handler's thread: libmicrohttpd's polling threads are MHD-something.
                let thread = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                threads.withLock { $0[key] = thread.trimmingCharacters(in: .newlines) }
                return resolver.register(key)
            }
        }
        defer { server.stop() }
        for key in ["inline", "lane"] {
            let first = try RawHTTPConnection(port: server.port)
            try first.sendRequest("GET", "/pick/\(key)")
            Thread.sleep(forTimeInterval: 0.05)
            // The unresolved answer holds the only place.
            #expect(try rawRequest(port: server.port, "GET", "/pick/\(key)-second").status == 429)
            resolver.resolve(key) { .text(key) }
            #expect(try first.readResponse().text == key)
            Thread.sleep(forTimeInterval: 0.02)
            let again = try RawHTTPConnection(port: server.port)
            try again.sendRequest("GET", "/pick/\(key)-third")
            resolver.resolve("\(key)-third") { .text("third") }
            #expect(try again.readResponse().text == "third")
        }
        let names = threads.withLock { $0 }
        #expect(names["inline"]?.hasPrefix("MHD-") == true && names["inline-third"]?.hasPrefix("MHD-") == true,
                "\(names)")
        #expect(names["lane"].map { !$0.isEmpty && !$0.hasPrefix("MHD-") } == true, "\(names)")
    }
}
