import Foundation

/// An error that carries its HTTP answer: rendered as `{"error":{"code":…,"message":…}}` at one catch site
/// (the router), so handlers simply throw.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPStatus
    /// A stable machine-readable code, such as `not_found` or `invalid_field`.
    public var code: String
    /// A sentence a user can act on.
    public var message: String
    /// Extra headers for the answer (`Allow` on 405, `Retry-After` on 429).
    public var headers: [String: String]

    public init(_ status: HTTPStatus, code: String, message: String, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.rawValue) \(code): \(message)" }

    /// 400 for a request that cannot be understood.
    public static func badRequest(_ message: String) -> HTTPError {
        HTTPError(.badRequest, code: "bad_request", message: message)
    }

    /// 404 for anything unknown.
    public static func notFound(_ message: String = "no such resource") -> HTTPError {
        HTTPError(.notFound, code: "not_found", message: message)
    }

    /// 413 naming the limit that was exceeded.
    public static func contentTooLarge(limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, code: "content_too_large",
                  message: "request body exceeds the limit of \(limit) bytes")
    }

    /// The JSON body of this error.
    public var response: Response {
        struct Body: Encodable {
            struct Detail: Encodable { let code: String; let message: String }
            let error: Detail
        }
        var response = Response.json(Body(error: .init(code: code, message: message)), status: status)
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { response.headers[name] = value }
        return response
    }
}
