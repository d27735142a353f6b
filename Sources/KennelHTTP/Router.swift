import Dispatch
import Logging
import Synchronization

/// Produces the answer to a request. Throw `HTTPError` for a deliberate error answer.
public typealias RequestHandler = @Sendable (Request) throws -> Response

/// Where a route's handler runs.
public enum RouteExecution: Sendable {
    /// On the server's polling thread: for quick handlers (health, small reads).
    case inline
    /// On `queue`, with the connection suspended meanwhile, so slow work (decoding, inference, large
    /// queries) never holds up other connections on the same polling thread. With a `limit`, requests past
    /// its capacity are answered 429 at once instead of waiting.
    case queue(DispatchQueue, limit: AdmissionLimit? = nil)
    /// On one of `lanes`' serial queues in turn: for handlers that wait on a shared resource, so many can wait
    /// at once (a concurrent queue runs only about one blocked handler per core at a time). Requests
    /// `runsInline` picks run on the polling thread instead: ones quick to start whose answer another thread
    /// finishes (`PendingResponse`), for which the hop to a lane would cost more than the work. They count against
    /// `limit` all the same.
    case lanes(QueueLanes, limit: AdmissionLimit? = nil, runsInline: (@Sendable (Request) -> Bool)? = nil)

    /// Where an offloaded handler runs, what limits it, and which requests stay on the polling thread anyway;
    /// nil for inline handlers.
    var offload: (queue: DispatchQueue, limit: AdmissionLimit?, runsInline: (@Sendable (Request) -> Bool)?)? {
        switch self {
        case .inline: return nil
        case .queue(let queue, let limit): return (queue, limit, nil)
        case .lanes(let lanes, let limit, let runsInline): return (lanes.next(), limit, runsInline)
        }
    }
}

/// Serial dispatch queues taken in turn. Each serial queue brings its own thread when it has work, so
/// handlers that block do not hold Dispatch's few per-core worker threads.
public final class QueueLanes: Sendable {
    private let lanes: [DispatchQueue]
    private let turn = Atomic(0)

    public init(label: String, count: Int, qos: DispatchQoS = .userInitiated) {
        precondition(count > 0, "a lane pool needs at least one lane")
        lanes = (0..<count).map { DispatchQueue(label: "\(label).\($0)", qos: qos) }
    }

    func next() -> DispatchQueue {
        lanes[Int(UInt(bitPattern: turn.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(lanes.count))]
    }
}

/// A registered route: method, pattern and handler.
public struct Route: Sendable {
    public let method: HTTPMethod
    /// The pattern as registered, such as `/v1/models/{name}:classify`.
    public let pattern: String
    public let execution: RouteExecution
    let handler: RequestHandler
}

/// What the router found for a method and path.
public enum RouteResolution: Sendable {
    case matched(Route, Parameters)
    /// The path exists but not for this method; `allowed` lists the methods that do.
    case methodNotAllowed(allowed: [HTTPMethod])
    case notFound
}

/// Maps method and path to handlers. Routes are added to a `Router.Builder`, then frozen into a trie of path
/// segments; a segment pattern is a literal (`jobs`), a capture (`{id}`) or a capture with a literal suffix
/// (`{name}:classify`). Literals win over captures, longer suffixes over shorter ones.
public struct Router: Sendable {
    private let root: RouteNode
    private let fallback: RequestHandler?
    private let logger: Logger
    private let translate: @Sendable (any Error) -> HTTPError?
    private let render: @Sendable (HTTPError, String) -> Response

    /// Collects routes before they are frozen.
    public struct Builder {
        fileprivate var root = RouteNode()
        fileprivate var fallback: RequestHandler?

        public init() {}

        /// Registers `handler` for `method` on `pattern`. A second registration of the same method and pattern
        /// is a programming error.
        public mutating func on(_ method: HTTPMethod, _ pattern: String, execution: RouteExecution = .inline,
                                handler: @escaping RequestHandler) {
            let route = Route(method: method, pattern: pattern, execution: execution, handler: handler)
            root.insert(route, segments: RoutePattern.segments(of: pattern)[...])
        }

        public mutating func get(_ pattern: String, execution: RouteExecution = .inline,
                                 handler: @escaping RequestHandler) {
            on(.get, pattern, execution: execution, handler: handler)
        }

        public mutating func post(_ pattern: String, execution: RouteExecution = .inline,
                                  handler: @escaping RequestHandler) {
            on(.post, pattern, execution: execution, handler: handler)
        }

        /// Answers GET and HEAD requests that match no route (static files); others still get 404/405.
        public mutating func fallback(_ handler: @escaping RequestHandler) {
            fallback = handler
        }
    }

    /// `translate` turns errors that are not `HTTPError`s into answers where it knows them (nil: 500); `render`
    /// writes an error's answer for a request path (a protocol served under some paths may spell errors its way).
    public init(_ builder: Builder, logger: Logger = Logger(label: "kennel.http"),
                translate: @escaping @Sendable (any Error) -> HTTPError? = { _ in nil },
                render: @escaping @Sendable (HTTPError, _ path: String) -> Response = { error, _ in error.response }) {
        root = builder.root
        fallback = builder.fallback
        self.logger = logger
        self.translate = translate
        self.render = render
    }

    /// The answer for `error` on a request for `path`: every error answer the server sends is written here.
    public func errorResponse(_ error: HTTPError, path: String) -> Response {
        render(error, path)
    }

    /// Every registered route (not the fallback), sorted by pattern and method: what an API description lists.
    public var routes: [Route] {
        root.allRoutes.sorted { ($0.pattern, $0.method.rawValue) < ($1.pattern, $1.method.rawValue) }
    }

    /// Finds the route for `method` and `path`; HEAD is served by GET routes.
    public func resolve(_ method: HTTPMethod, path: String) -> RouteResolution {
        var captured: [String: String] = [:]
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard let node = root.match(segments[...], captured: &captured) else {
            if let fallback, method == .get || method == .head {
                return .matched(Route(method: method, pattern: "*", execution: .inline, handler: fallback),
                                Parameters())
            }
            return .notFound
        }
        if let route = node.routes[method] ?? (method == .head ? node.routes[.get] : nil) {
            return .matched(route, Parameters(captured))
        }
        var allowed = Set(node.routes.keys)
        if allowed.contains(.get) { allowed.insert(.head) }
        return .methodNotAllowed(allowed: allowed.sorted { $0.rawValue < $1.rawValue })
    }

    /// Runs `route` for `request`: the single place where thrown errors become answers.
    private func run(_ route: Route, parameters: Parameters, request: Request) -> Response {
        let request = request.with(parameters)
        return answering(request.method, request.path) { try route.handler(request) }
    }

    /// `make`'s answer, or the error answer for what it threw (logged when it is not an `HTTPError`).
    private func answering(_ method: HTTPMethod, _ path: String, _ make: () throws -> Response) -> Response {
        do {
            return try make()
        } catch let error as HTTPError {
            return render(error, path)
        } catch {
            logger.error("\(method) \(path) failed: \(error)")
            return render(translate(error) ?? HTTPError(.internalServerError, code: "internal",
                                                        message: "internal server error"), path)
        }
    }

    /// The answer a resolved `pending` builds, for the request `method path`; errors answer as a handler's do.
    func finish(_ pending: PendingResponse, method: HTTPMethod, path: String) -> Response {
        guard let make = pending.resolution else { preconditionFailure("finishing an unresolved pending response") }
        return answering(method, path, make)
    }

    /// The answer for `request` given how it resolved: the route's handler, or a 404/405 error.
    public func answer(_ resolution: RouteResolution, request: Request) -> Response {
        switch resolution {
        case .matched(let route, let parameters):
            return run(route, parameters: parameters, request: request)
        case .methodNotAllowed(let allowed):
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            return render(HTTPError(.methodNotAllowed, code: "method_not_allowed",
                                    message: "\(request.method) is not allowed on \(request.path); allowed: \(list)",
                                    headers: ["Allow": list]), request.path)
        case .notFound:
            return render(.notFound("no route for \(request.method) \(request.path)"), request.path)
        }
    }

    /// Resolves and answers `request` on the calling thread, whatever the route's execution: the socket-free
    /// entry point for tests and for callers that are already off the polling threads.
    public func respond(to request: Request) -> Response {
        let response = answer(resolve(request.method, path: request.path), request: request)
        guard case .pending(let pending) = response.body else { return response }
        let resolved = DispatchSemaphore(value: 0)
        pending.whenResolved { resolved.signal() }
        resolved.wait()
        return finish(pending, method: request.method, path: request.path)
    }
}

/// One parsed segment of a route pattern.
enum RoutePattern: Equatable {
    case literal(String)
    case capture(name: String, suffix: String)

    static func segments(of pattern: String) -> [RoutePattern] {
        pattern.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            guard segment.first == "{", let close = segment.firstIndex(of: "}") else {
                return .literal(String(segment))
            }
            let name = segment[segment.index(after: segment.startIndex)..<close]
            precondition(!name.isEmpty, "empty capture name in route pattern \(pattern)")
            return .capture(name: String(name), suffix: String(segment[segment.index(after: close)...]))
        }
    }
}

/// A node of the frozen route trie.
struct RouteNode: Sendable {
    struct CaptureEdge: Sendable {
        let name: String
        let suffix: String
        var node: RouteNode
    }

    var literals: [String: RouteNode] = [:]
    /// Ordered longest suffix first, so `{name}:classify` is tried before a bare `{name}`.
    var captures: [CaptureEdge] = []
    var routes: [HTTPMethod: Route] = [:]

    mutating func insert(_ route: Route, segments: ArraySlice<RoutePattern>) {
        guard let first = segments.first else {
            precondition(routes[route.method] == nil, "route \(route.method) \(route.pattern) registered twice")
            routes[route.method] = route
            return
        }
        switch first {
        case .literal(let text):
            literals[text, default: RouteNode()].insert(route, segments: segments.dropFirst())
        case .capture(let name, let suffix):
            if let index = captures.firstIndex(where: { $0.suffix == suffix }) {
                precondition(captures[index].name == name,
                             "route \(route.pattern) names capture '\(name)' where another route has "
                             + "'\(captures[index].name)'")
                captures[index].node.insert(route, segments: segments.dropFirst())
            } else {
                var node = RouteNode()
                node.insert(route, segments: segments.dropFirst())
                captures.append(CaptureEdge(name: name, suffix: suffix, node: node))
                captures.sort { $0.suffix.count > $1.suffix.count }
            }
        }
    }

    /// Every route registered at or below this node.
    var allRoutes: [Route] {
        Array(routes.values) + literals.values.flatMap(\.allRoutes) + captures.flatMap(\.node.allRoutes)
    }

    /// The deepest node matching all of `segments` that has routes, backtracking from literals to captures.
    func match(_ segments: ArraySlice<Substring>, captured: inout [String: String]) -> RouteNode? {
        guard let segment = segments.first else { return routes.isEmpty ? nil : self }
        let rest = segments.dropFirst()
        if let literal = literals[String(segment)], let found = literal.match(rest, captured: &captured) {
            return found
        }
        for edge in captures where segment.count > edge.suffix.count && segment.hasSuffix(edge.suffix) {
            if let found = edge.node.match(rest, captured: &captured) {
                captured[edge.name] = String(segment.dropLast(edge.suffix.count))
                return found
            }
        }
        return nil
    }
}
