import Dispatch
import Foundation
import KennelTestSupport
import Synchronization
import Testing
@testable import KennelHTTP

/// What a hostile or careless client does to the server, over real sockets: each case once took a server down
/// or locked other clients out.
@Suite(.serialized) struct HostileClientTests {
    private func startServer(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in },
                             observer: (@Sendable (ExchangeSummary) -> Void)? = nil) throws -> HTTPServer {
        var routes = Router.Builder()
        routes.get("/healthz") { _ in .json(bytes: Array(#"{"status":"ok"}"#.utf8)) }
        routes.get("/query") { request in .text(request.query.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: "&")) }
        routes.post("/echo") { request in .text("\(request.body.count)") }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        adjust(&configuration)
        let server = HTTPServer(configuration: configuration, router: Router(routes), observer: observer)
        try server.start()
        return server
    }

    /// Milliseconds one GET /healthz from 127.0.0.1 takes, connection included.
    private func healthLatency(_ port: UInt16) throws -> (status: Int, milliseconds: Double) {
        let started = DispatchTime.now().uptimeNanoseconds
        let response = try rawRequest(port: port, "GET", "/healthz")
        return (response.status, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
    }

    @Test func unknownMethodsAre501AndShareOneMetricsLabel() throws {
        let labels = Mutex<Set<String>>([])
        let server = try startServer(observer: { summary in labels.withLock { _ = $0.insert(summary.method.label) } })
        defer { server.stop() }
        for index in 0..<50 {
            let response = try rawRequest(port: server.port, "X\(index)METHOD", "/healthz")
            #expect(response.status == 501)
            #expect(response.text.contains("not_implemented"))
        }
        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
        // The observer hears of an exchange when libmicrohttpd completes it, just after the answer is sent.
        let deadline = Date().addingTimeInterval(2)
        while labels.withLock({ $0.count }) < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(labels.withLock { $0 } == ["other", "GET"])
    }

    /// `%00` once cut the path short: `/healthz%00x` was `/healthz`, `/index.html%00.js` served index.html.
    @Test func aNulInThePathIsNotFoundAndStaysLiteralInQueries() throws {
        let server = try startServer()
        defer { server.stop() }
        for path in ["/healthz%00x", "/healthz%00", "/%00/healthz"] {
            #expect(try rawRequest(port: server.port, "GET", path).status == 404, "\(path)")
        }
        #expect(try rawRequest(port: server.port, "GET", "/query?a=%00b&c=%41").text == "a=%00b&c=A")
    }

    /// 900 requests announcing a 32 MB body and sending 10 bytes (from four addresses, within the per-address
    /// limit) once reserved 29 GB of address space.
    @Test func announcedBodiesReserveNothing() throws {
        let server = try startServer { $0.maxBodyBytes = 32 << 20 }
        defer { server.stop() }
        let before = ProcessMemory.current()
        var held: [RawHTTPConnection] = []
        for index in 0..<900 {
            let connection = try RawHTTPConnection(port: server.port, timeoutSeconds: 5, source: "127.0.0.\(10 + index % 4)")
            try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \((32 << 20) - 1)\r\n\r\n0123456789")
            held.append(connection)
        }
        Thread.sleep(forTimeInterval: 0.5)
        let during = ProcessMemory.current()
        #expect(held.allSatisfy { !$0.isClosedNow() }, "every request was accepted and is waiting for its body")
        #expect(during.virtual - before.virtual < 1 << 30,
                "address space grew by \((during.virtual - before.virtual) >> 20) MB for 900 announced bodies")
        #expect(during.resident - before.resident < 256 << 20)
        held.removeAll()
        #expect(try healthLatency(server.port).status == 200)
    }

    /// 1,500 idle sockets and a slowloris client from one address, while another address's /healthz answers.
    @Test func idleSocketsAndSlowlorisFromOneAddressLeaveOthersServed() throws {
        let server = try startServer {
            $0.perAddressConnectionLimit = 64
            $0.requestDeadlineSeconds = 3
        }
        defer { server.stop() }
        var idle: [RawHTTPConnection] = []
        for _ in 0..<1500 {
            idle.append(try RawHTTPConnection(port: server.port, timeoutSeconds: 2, source: "127.0.0.2"))
        }
        Thread.sleep(forTimeInterval: 0.3)
        // Past the per-address limit, sockets are closed at accept.
        #expect(idle.filter { !$0.isClosedNow() }.count <= 64)
        let slowloris = try RawHTTPConnection(port: server.port, timeoutSeconds: 2, source: "127.0.0.3")
        try slowloris.send("GET /healthz HTTP/1.1\r\n")
        var latencies: [Double] = []
        let started = Date()
        var slowlorisCut = false
        while Date().timeIntervalSince(started) < 6 {
            let (status, milliseconds) = try healthLatency(server.port)
            #expect(status == 200)
            latencies.append(milliseconds)
            if !slowlorisCut {
                // One header byte every 100 ms: never idle long enough for the inactivity timeout.
                do { try slowloris.send("X") } catch { slowlorisCut = true }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        latencies.sort()
        let worst = latencies.last ?? .infinity
        #expect(worst < 50, "slowest /healthz \(worst) ms, median \(latencies[latencies.count / 2]) ms")
        #expect(slowlorisCut, "the slowloris connection was still open after twice the request deadline")
        // The ones within the limit sent no request before the deadline either.
        #expect(idle.allSatisfy { $0.isClosedNow() })
    }

    /// A client that sends one HTTP/1.1 request and half-closes once held its connection until the request
    /// deadline; it is answered and let go within a second or two (pipelined requests before the close are all
    /// answered).
    @Test func aHalfClosedClientIsAnsweredAndLetGo() throws {
        let server = try startServer()
        defer { server.stop() }
        for (request, answers) in [("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1),
                                   ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2)] {
            let connection = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
            try connection.send(request)
            connection.closeWriting()
            let started = Date()
            for _ in 0..<answers { #expect(try connection.readResponse().status == 200) }
            #expect(connection.isClosedByPeer())
            #expect(Date().timeIntervalSince(started) < 3, "the connection stayed open after the answer")
        }
    }

    /// A client that announces a body, sends part of it and closes its end once held the connection until the
    /// request deadline; it is let go within a second or two.
    @Test func aClientThatLeavesMidBodyIsLetGo() throws {
        let server = try startServer()
        defer { server.stop() }
        let connection = try RawHTTPConnection(port: server.port, timeoutSeconds: 10)
        try connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        connection.closeWriting()
        let started = Date()
        #expect(connection.isClosedByPeer())
        #expect(Date().timeIntervalSince(started) < 3)
    }
}
