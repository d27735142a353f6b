import CMicroHTTPD
import Dispatch
import Foundation
import Logging
import Synchronization

/// How an `HTTPServer` listens and what it accepts.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: a numeric IPv4/IPv6 address or a name such as `localhost`.
    public var host = "127.0.0.1"
    /// Port to bind; 0 lets the kernel choose (read it back from `HTTPServer.port`).
    public var port: UInt16 = 8080
    /// Largest request body accepted; larger ones are answered 413 without being kept.
    public var maxBodyBytes = 32 << 20
    /// Polling threads, each running its own epoll loop over its share of the connections.
    public var pollingThreads = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// Seconds of inactivity after which an idle connection is closed.
    public var connectionTimeoutSeconds = 60
    /// Seconds a connection has to deliver a whole request (headers and body) once it is ready for one; a
    /// client trickling bytes past it is disconnected, however active it keeps the socket.
    public var requestDeadlineSeconds = 30
    /// Connections held at once; past it new ones are closed at accept.
    public var connectionLimit = 4096
    /// Connections held at once from one client address.
    public var perAddressConnectionLimit = 256
    public var listenBacklog = 1024

    public init() {}
}

/// One finished request, as request metrics count it.
public struct ExchangeSummary: Sendable {
    public let method: HTTPMethod
    /// The route pattern that answered (`/v1/jobs/{id}`), `*` for static files, `unmatched` otherwise.
    public let route: String
    public let status: Int
    public let seconds: Double
}

/// Why the server could not start.
public enum HTTPServerError: Error, Equatable, CustomStringConvertible {
    case invalidHost(String, reason: String)
    case cannotListen(host: String, port: UInt16)
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidHost(let host, let reason):
            return "cannot use '\(host)' as a listening address: \(reason)"
        case .cannotListen(let host, let port):
            return "cannot listen on \(host):\(port) (is the port in use, or the address not on this machine?)"
        case .alreadyStarted:
            return "the server is already running"
        }
    }
}

/// The HTTP server: libmicrohttpd in epoll thread-pool mode, answering through a `Router`.
///
/// Bodies are collected up to `maxBodyBytes`. Routes with `.queue` execution run off the polling threads
/// while their connection is suspended; streaming bodies park their connection while they have nothing to send.
/// `stop` stops accepting, lets in-flight requests finish, ends open streams and then closes the daemon.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    let router: Router
    let logger: Logger
    /// Told about every finished exchange (for request metrics); runs on a polling thread, so it must be quick.
    let observer: (@Sendable (ExchangeSummary) -> Void)?

    private struct Running {
        var daemon: CPointer<OpaquePointer>?
        var port: UInt16 = 0
    }

    private let running = Mutex(Running())
    /// Set once `stop` begins: answers then ask clients to close their connections.
    private let stopping = Atomic(false)
    /// Requests between their first byte and libmicrohttpd's completion notice.
    private let inFlight = Atomic(0)
    /// Streaming answers still open, with their connection's clock: ended by `stop`, or by the once-a-second
    /// check when their client has gone.
    private let streams = Mutex([ObjectIdentifier: (stream: ResponseStream, clock: ConnectionClock?)]())
    /// The C callback table handed to libmicrohttpd; it points back at this server, which outlives the daemon.
    private let callbacks: CPointer<UnsafeMutablePointer<kennel_mhd_callbacks>>
    /// Open connections, for the request deadline.
    private let connections = Mutex([ObjectIdentifier: ConnectionClock]())

    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), router: Router,
                logger: Logger = Logger(label: "kennel.http"),
                observer: (@Sendable (ExchangeSummary) -> Void)? = nil) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.observer = observer
        let table = UnsafeMutablePointer<kennel_mhd_callbacks>.allocate(capacity: 1)
        table.initialize(to: kennel_mhd_callbacks(access: nil, completed: nil, connection: nil, log: nil, context: nil))
        callbacks = CPointer(table)
    }

    deinit {
        stop(gracePeriod: .zero)
        callbacks.value.deallocate()
    }

    /// The bound port (the kernel's pick when configured with 0); 0 before `start`.
    public var port: UInt16 { running.withLock { $0.port } }

    /// Binds and starts serving on background threads.
    public func start() throws {
        let address = try SocketAddress(host: configuration.host, port: configuration.port)
        try running.withLock { running in
            guard running.daemon == nil else { throw HTTPServerError.alreadyStarted }
            callbacks.value.pointee = kennel_mhd_callbacks(
                access: HTTPServer.accessHandler, completed: HTTPServer.completedHandler,
                connection: HTTPServer.connectionHandler, log: HTTPServer.logHandler,
                context: Unmanaged.passUnretained(self).toOpaque())
            Self.raiseDescriptorLimit(toHold: configuration.connectionLimit)
            let daemon = address.withSockaddr { sockaddr in
                kennel_mhd_start(sockaddr, address.isIPv6 ? 1 : 0, callbacks.value,
                                 UInt32(configuration.pollingThreads), UInt32(configuration.connectionTimeoutSeconds),
                                 UInt32(configuration.listenBacklog), UInt32(configuration.connectionLimit),
                                 UInt32(configuration.perAddressConnectionLimit))
            }
            guard let daemon else {
                throw HTTPServerError.cannotListen(host: configuration.host, port: configuration.port)
            }
            running = Running(daemon: CPointer(daemon), port: kennel_mhd_bound_port(daemon))
        }
        scheduleDeadlineCheck()
    }

    /// Lifts the soft open-file limit towards the hard one so `connectionLimit` sockets fit beside the
    /// process's files (the usual soft limit of 1024 would otherwise be the real connection limit).
    private static func raiseDescriptorLimit(toHold connections: Int) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(connections + 1024)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Once a second while the daemon runs, disconnects every connection that has waited longer than the
    /// deadline for its request to arrive or whose client has gone, and ends streams whose client has gone.
    private func scheduleDeadlineCheck() {
        let deadline = UInt64(configuration.requestDeadlineSeconds) * 1_000_000_000
        Self.deadlineQueue.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self, running.withLock({ $0.daemon != nil }) else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            let (late, gone) = connections.withLock { connections in
                (connections.values.filter { $0.isLate(now: now, deadline: deadline) },
                 connections.values.filter { $0.isWaiting && $0.peerHasClosed() })
            }
            for connection in late {
                logger.info("closing a connection that sent no complete request in \(configuration.requestDeadlineSeconds) s")
                connection.disconnect()
            }
            // A client that closed its end while the connection waits for (the rest of) a request: libmicrohttpd
            // does not always notice, after a keep-alive answer or part-way through a body.
            gone.forEach { $0.disconnect() }
            // A parked stream's socket is not watched by libmicrohttpd: a client that left is only noticed here.
            let abandoned = streams.withLock { $0.values.filter { $0.clock?.peerHasClosed() == true }.map(\.stream) }
            abandoned.forEach { $0.finish() }
            scheduleDeadlineCheck()
        }
    }

    private static let deadlineQueue = DispatchQueue(label: "kennel.http.deadline")

    /// Stops accepting connections, ends open streams, waits up to `gracePeriod` for in-flight requests, then
    /// shuts the daemon down. Safe to call more than once.
    public func stop(gracePeriod: Duration = .seconds(10)) {
        guard let daemon = running.withLock({ $0.daemon?.value }),
              stopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let listenSocket = MHD_quiesce_daemon(daemon)
        streams.withLock { Array($0.values) }.forEach { $0.stream.finish() }
        let deadline = ContinuousClock.now + gracePeriod
        while inFlight.load(ordering: .acquiring) > 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        let unfinished = inFlight.load(ordering: .acquiring)
        if unfinished > 0 {
            logger.warning("stopping with \(unfinished) request(s) still in flight after \(gracePeriod)")
        }
        MHD_stop_daemon(daemon)
        if listenSocket >= 0 { close(listenSocket) }
        running.withLock { $0 = Running() }
        stopping.store(false, ordering: .releasing)
    }
}

// MARK: - libmicrohttpd callbacks

extension HTTPServer {
    /// libmicrohttpd calls this several times per request: once with the headers, once per body chunk, once
    /// when the body is complete, and once more after a suspended connection is resumed.
    private static let accessHandler: kennel_mhd_access_handler = { cls, connection, url, method, upload, size,
                                                                     context in
        guard let cls, let connection, let url, let method, let size, let context else { return kennel_mhd_no }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        guard let existing = context.pointee else {
            let exchange = Exchange(method: HTTPMethod(rawValue: String(cString: method)), path: String(cString: url))
            context.pointee = Unmanaged.passRetained(exchange).toOpaque()
            return server.begin(exchange, connection: connection) ? kennel_mhd_yes : kennel_mhd_no
        }
        let exchange = Unmanaged<Exchange>.fromOpaque(existing).takeUnretainedValue()
        if size.pointee > 0 {
            server.receive(UnsafeRawBufferPointer(start: upload, count: size.pointee), into: exchange)
            size.pointee = 0
            return kennel_mhd_yes
        }
        return server.complete(exchange, connection: connection) ? kennel_mhd_yes : kennel_mhd_no
    }

    /// Called once per request when libmicrohttpd is done with it.
    private static let completedHandler: kennel_mhd_completed_handler = { cls, context, completedNormally in
        guard let cls, let context else { return }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeRetainedValue()
        server.finish(exchange, completedNormally: completedNormally != 0)
    }

    /// A socket was accepted or closed: its clock is kept in the socket context and the server's table.
    private static let connectionHandler: kennel_mhd_connection_handler = { cls, _, fd, socketContext, started in
        guard let cls, let socketContext else { return }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        if started != 0 {
            let clock = ConnectionClock(fd: fd)
            socketContext.pointee = Unmanaged.passRetained(clock).toOpaque()
            server.connections.withLock { $0[ObjectIdentifier(clock)] = clock }
        } else if let pointer = socketContext.pointee {
            let clock = Unmanaged<ConnectionClock>.fromOpaque(pointer).takeRetainedValue()
            socketContext.pointee = nil
            server.connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(clock)) }
        }
    }

    /// libmicrohttpd's own messages, through the server's logger like every other line.
    private static let logHandler: kennel_mhd_log_handler = { cls, message in
        guard let cls, let message else { return }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        server.logger.warning("libmicrohttpd: \(text)")
    }

    /// Reads an exchange's streaming body.
    private static let streamReader: MHD_ContentReaderCallback = { cls, _, buffer, max in
        guard let cls, let buffer else { return kennel_mhd_end_with_error }
        let stream = Unmanaged<StreamContext>.fromOpaque(cls).takeUnretainedValue()
        let connection = stream.connection
        let result = stream.stream.read(
            into: UnsafeMutableRawBufferPointer(start: buffer, count: max),
            park: { MHD_suspend_connection(connection.value) },
            wake: { MHD_resume_connection(connection.value) })
        switch result {
        case .bytes(let count): return count
        case .parked: return 0
        case .end: return kennel_mhd_end_of_stream
        }
    }

    private static let streamRelease: MHD_ContentReaderFreeCallback = { cls in
        guard let cls else { return }
        Unmanaged<StreamContext>.fromOpaque(cls).release()
    }

    /// Collects the parts libmicrohttpd's post processor finds in a multipart body.
    private static let formIterator: kennel_mhd_form_iterator = { cls, key, filename, contentType, data, offset, size in
        guard let cls else { return kennel_mhd_no }
        let exchange = Unmanaged<Exchange>.fromOpaque(cls).takeUnretainedValue()
        let name = key.map { String(cString: $0) }, file = filename.map { String(cString: $0) }
        // Offset 0 starts a part, unless it repeats the start of the empty part just begun.
        if offset == 0, exchange.formParts.last.map({ !$0.pieces.isEmpty || $0.name != name || $0.filename != file }) ?? true {
            exchange.formParts.append(Exchange.PendingPart(name: name, filename: file,
                                                           contentType: contentType.map { String(cString: $0) }))
        }
        if let data, size > 0 {
            exchange.formParts[exchange.formParts.count - 1].pieces
                .append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
        }
        return kennel_mhd_yes
    }

    /// First call: headers are in. Refuses an announced oversized body before reading any of it.
    private func begin(_ exchange: Exchange, connection: OpaquePointer) -> Bool {
        inFlight.add(1, ordering: .relaxed)
        exchange.clock = kennel_mhd_socket_context(connection).map {
            Unmanaged<ConnectionClock>.fromOpaque($0).takeUnretainedValue()
        }
        guard HTTPMethod.standard.contains(exchange.method) else {
            return send(router.errorResponse(HTTPError(.notImplemented, code: "not_implemented",
                                                       message: "unknown method; this server knows GET, HEAD, POST, PUT, "
                                                           + "PATCH, DELETE, OPTIONS, TRACE, CONNECT and QUERY"),
                                             path: exchange.path), for: exchange, on: connection)
        }
        // libmicrohttpd leaves %00 undecoded (kennel_mhd_unescape): no path holding a NUL names anything here.
        guard !exchange.path.contains("%00") else {
            return send(router.errorResponse(HTTPError.notFound("no such resource: the path holds a NUL byte (%00)"),
                                             path: exchange.path),
                        for: exchange, on: connection)
        }
        exchange.headers = Self.values(of: connection, arguments: false)
        if exchange.headers["Content-Type"]?.lowercased().hasPrefix("multipart/form-data") == true {
            exchange.form = kennel_mhd_form_create(connection, 64 * 1024, Self.formIterator,
                                                   Unmanaged.passUnretained(exchange).toOpaque())
            if exchange.form == nil {
                exchange.formError = "the multipart Content-Type needs a boundary parameter"
            }
        }
        // The announced length only refuses; memory is taken as bytes arrive, never on a header's say-so.
        if let declared = exchange.headers["Content-Length"].flatMap(Int.init), declared > configuration.maxBodyBytes {
            return send(router.errorResponse(.contentTooLarge(limit: configuration.maxBodyBytes), path: exchange.path),
                        for: exchange, on: connection)
        }
        return true
    }

    /// A body chunk. Past the cap the body collected so far is released at once and the rest is discarded.
    /// A multipart body goes to the form parser instead of the body buffer.
    private func receive(_ chunk: UnsafeRawBufferPointer, into exchange: Exchange) {
        guard !exchange.bodyRejected else { return }
        exchange.received += chunk.count
        if exchange.received > configuration.maxBodyBytes {
            exchange.bodyRejected = true
            exchange.body = []
            exchange.formParts = []
        } else if let form = exchange.form {
            if kennel_mhd_form_feed(form, chunk.baseAddress?.assumingMemoryBound(to: CChar.self), chunk.count) == 0 {
                exchange.formError = "the multipart body is malformed"
                exchange.endForm()
            }
        } else if exchange.formError == nil {
            exchange.body.append([UInt8](chunk))
        }
    }

    /// The body is complete (or a suspended handler has finished): route, or send the finished answer.
    private func complete(_ exchange: Exchange, connection: OpaquePointer) -> Bool {
        if exchange.awaitingHandler {
            guard let response = exchange.takeHandlerResponse() else { return false }
            return send(response, for: exchange, on: connection)
        }
        exchange.clock?.requestArrived()
        let isForm = exchange.form != nil || exchange.formError != nil
        if exchange.form != nil, !exchange.endForm() {
            exchange.formError = exchange.formError ?? "the multipart body ends before its closing boundary"
        }
        if exchange.bodyRejected {
            return send(router.errorResponse(.contentTooLarge(limit: configuration.maxBodyBytes), path: exchange.path),
                        for: exchange, on: connection)
        }
        if let problem = exchange.formError {
            return send(router.errorResponse(.badRequest("malformed multipart/form-data: \(problem)"), path: exchange.path),
                        for: exchange, on: connection)
        }
        let request = Request(method: exchange.method, path: exchange.path,
                              query: Dictionary(Self.values(of: connection, arguments: true).fields,
                                                uniquingKeysWith: { first, _ in first }),
                              headers: exchange.headers, body: Exchange.joined(exchange.body),
                              form: isForm ? exchange.formParts.map(\.part) : nil)
        exchange.body = []
        exchange.formParts = []
        let resolution = router.resolve(request.method, path: request.path)
        guard case .matched(let route, let parameters) = resolution else {
            return send(router.answer(resolution, request: request), for: exchange, on: connection)
        }
        exchange.route = route.pattern
        guard let (queue, limit, runsInline) = route.execution.offload else {
            return send(router.answer(resolution, request: request), for: exchange, on: connection)
        }
        if let limit, !limit.enter() {
            return send(router.errorResponse(limit.rejection, path: request.path), for: exchange, on: connection)
        }
        if let runsInline, runsInline(request.with(parameters)) {
            var request = request
            request.runsOnPollingThread = true
            let response = router.answer(resolution, request: request)
            guard case .pending(let pending) = response.body, pending.resolution == nil else {
                limit?.leave()
                return send(response, for: exchange, on: connection)
            }
            return suspend(exchange, until: pending, answering: response, leaving: limit, connection: connection)
        }
        exchange.awaitingHandler = true
        MHD_suspend_connection(connection)
        let handle = CPointer(connection)
        queue.async { [router] in
            let response = router.answer(resolution, request: request)
            let answered = Self.answered(exchange, response, limit, handle)
            // A pending answer keeps its place in the limit and its connection suspended until it is resolved.
            if case .pending(let pending) = response.body { pending.whenResolved(answered) } else { answered() }
        }
        return true
    }

    /// Suspends the connection until `pending` is resolved; then `response` (whose body it is) is handed over, its
    /// place in `limit` left, and the connection woken to send it through `complete`.
    private func suspend(_ exchange: Exchange, until pending: PendingResponse, answering response: Response,
                         leaving limit: AdmissionLimit?, connection: OpaquePointer) -> Bool {
        exchange.awaitingHandler = true
        MHD_suspend_connection(connection)
        pending.whenResolved(Self.answered(exchange, response, limit, CPointer(connection)))
        return true
    }

    /// Hands a suspended connection its answer and wakes it (its polling thread then sends it).
    private static func answered(_ exchange: Exchange, _ response: Response, _ limit: AdmissionLimit?,
                                 _ connection: CPointer<OpaquePointer>) -> @Sendable () -> Void {
        {
            exchange.setHandlerResponse(response)
            limit?.leave()
            MHD_resume_connection(connection.value)
        }
    }

    /// Hands `response` to libmicrohttpd.
    private func send(_ response: Response, for exchange: Exchange, on connection: OpaquePointer) -> Bool {
        let reply: OpaquePointer?
        switch response.body {
        case .pending(let pending) where pending.resolution == nil:
            // Answered later by an inline route's handler.
            return suspend(exchange, until: pending, answering: response, leaving: nil, connection: connection)
        case .pending(let pending):
            return send(router.finish(pending, method: exchange.method, path: exchange.path), for: exchange,
                        on: connection)
        case .bytes(let bytes):
            reply = bytes.withUnsafeBytes { kennel_mhd_response_copying($0.baseAddress, $0.count) }
        case .stream(let stream):
            exchange.stream = stream
            streams.withLock { $0[ObjectIdentifier(stream)] = (stream, exchange.clock) }
            let context = Unmanaged.passRetained(StreamContext(stream: stream, connection: CPointer(connection)))
            reply = MHD_create_response_from_callback(kennel_mhd_size_unknown, 16 * 1024, Self.streamReader,
                                                      context.toOpaque(), Self.streamRelease)
            if reply == nil { context.release() }
        }
        guard let reply else { return false }
        defer { MHD_destroy_response(reply) }
        for field in response.headers {
            _ = kennel_mhd_add_header(reply, field.name, field.value)
        }
        if stopping.load(ordering: .relaxed) { _ = kennel_mhd_add_header(reply, "Connection", "close") }
        exchange.status = response.status.rawValue
        return kennel_mhd_queue(connection, UInt32(response.status.rawValue), reply) != 0
    }

    /// The exchange is over: end its stream, write the access-log line, count it out.
    private func finish(_ exchange: Exchange, completedNormally: Bool) {
        exchange.clock?.awaitRequest()
        exchange.endForm()
        if let stream = exchange.stream {
            stream.terminate()
            streams.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(stream)) }
        }
        let micros = (DispatchTime.now().uptimeNanoseconds - exchange.startedAt) / 1000
        let milliseconds = "\(micros / 1000).\(String(micros % 1000 + 1000).dropFirst())"
        let outcome = completedNormally ? "" : " (connection closed early)"
        logger.info("\(exchange.method) \(exchange.path) \(exchange.status) \(milliseconds) ms\(outcome)")
        observer?(ExchangeSummary(method: exchange.method, route: exchange.route, status: exchange.status,
                                  seconds: Double(micros) / 1e6))
        inFlight.subtract(1, ordering: .releasing)
    }

    /// The request's headers, or its decoded query arguments.
    private static func values(of connection: OpaquePointer, arguments: Bool) -> HTTPHeaders {
        var fields = HTTPHeaders()
        withUnsafeMutablePointer(to: &fields) { pointer in
            kennel_mhd_visit_values(connection, arguments ? 1 : 0, { context, key, keySize, value, valueSize in
                guard let context, let key else { return kennel_mhd_yes }
                let name = String(decoding: UnsafeRawBufferPointer(start: key, count: keySize), as: UTF8.self)
                let text = value.map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: valueSize), as: UTF8.self)
                } ?? ""
                context.assumingMemoryBound(to: HTTPHeaders.self).pointee.add(name: name, value: text)
                return kennel_mhd_yes
            }, pointer)
        }
        return fields
    }
}

/// One request's state across libmicrohttpd's calls. libmicrohttpd serializes the calls for a connection, so
/// the plain fields are touched by one thread at a time; the only cross-thread hand-off, an offloaded
/// handler's answer, goes through `handlerResponse` under its lock.
private final class Exchange: @unchecked Sendable {
    let method: HTTPMethod
    let path: String
    let startedAt = DispatchTime.now().uptimeNanoseconds
    var headers = HTTPHeaders()
    /// The body so far, in the pieces it arrived in: no buffer is regrown (which would hold two copies of a
    /// large body at once), and a body refused part-way is dropped without ever being joined.
    var body: [[UInt8]] = []
    /// Body bytes received so far, whether kept in `body` or handed to the form parser.
    var received = 0
    var bodyRejected = false
    /// The multipart parser while a form body arrives, its parts, and why it was refused.
    var form: UnsafeMutablePointer<kennel_mhd_form>?
    var formParts: [PendingPart] = []
    var formError: String?
    var awaitingHandler = false
    var status = 0
    /// The matched route's pattern (`*` for static files), for metrics that must not grow per path.
    var route = "unmatched"
    var stream: ResponseStream?
    /// The connection's deadline clock.
    var clock: ConnectionClock?
    private let handlerResponse = Mutex<Response?>(nil)

    init(method: HTTPMethod, path: String) {
        self.method = method
        self.path = path
    }

    /// A multipart part as it arrives: its body in pieces, like the request body.
    struct PendingPart {
        let name, filename, contentType: String?
        var pieces: [[UInt8]] = []

        var part: FormPart {
            FormPart(name: name, filename: filename, contentType: contentType, body: Exchange.joined(pieces))
        }
    }

    /// Pieces of a body in one buffer of exactly their size. (Appending pieces to a `Data` leaked its storage
    /// under LeakSanitizer, a Foundation fault found by the HTTP fuzz target.)
    static func joined(_ pieces: [[UInt8]]) -> Data {
        var joined = Data(count: pieces.reduce(0) { $0 + $1.count })
        joined.withUnsafeMutableBytes { target in
            var offset = 0
            for piece in pieces {
                piece.withUnsafeBytes { source in
                    target.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                offset += piece.count
            }
        }
        return joined
    }

    /// Frees the form parser; false when the body it saw was incomplete.
    @discardableResult
    func endForm() -> Bool {
        guard let parser = form else { return true }
        form = nil
        return kennel_mhd_form_destroy(parser) != 0
    }

    func setHandlerResponse(_ response: Response) { handlerResponse.withLock { $0 = response } }
    func takeHandlerResponse() -> Response? { handlerResponse.withLock { $0.take() } }
}

/// When one connection began waiting for its current request (headers and body), for the request deadline.
/// Set on a polling thread, read by the deadline timer.
private final class ConnectionClock: Sendable {
    let fd: Int32
    /// Uptime nanoseconds since the connection became ready for a request; 0 while a request is being answered.
    private let waitingSince = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    init(fd: Int32) { self.fd = fd }

    /// The request is complete: no deadline while it is answered (handlers and event streams take their time).
    func requestArrived() { waitingSince.store(0, ordering: .relaxed) }
    /// The answer is done; the connection waits for the next request.
    func awaitRequest() { waitingSince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }

    /// Waiting for (the rest of) a request, rather than answering one.
    var isWaiting: Bool { waitingSince.load(ordering: .relaxed) != 0 }

    func isLate(now: UInt64, deadline: UInt64) -> Bool {
        let since = waitingSince.load(ordering: .relaxed)
        return since != 0 && now > since && now - since > deadline
    }

    /// Whether the client has closed its end (reads end of stream), checked without waiting.
    func peerHasClosed() -> Bool {
        guard fd >= 0 else { return false }
        var byte: UInt8 = 0
        let received = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    }

    /// Shuts the socket down (libmicrohttpd still owns and closes the descriptor, so it cannot be reused under it).
    func disconnect() {
        waitingSince.store(0, ordering: .relaxed)
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}

/// A streaming body and the connection it parks.
private final class StreamContext: Sendable {
    let stream: ResponseStream
    let connection: CPointer<OpaquePointer>

    init(stream: ResponseStream, connection: CPointer<OpaquePointer>) {
        self.stream = stream
        self.connection = connection
    }
}

/// A C pointer carried across threads. libmicrohttpd allows resuming a connection, and using the daemon and
/// the callback table, from any thread; nothing else is done with these pointers off their own thread.
struct CPointer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
