import Foundation

/// One HTTP request as a handler sees it: the whole body is already received (within the server's cap).
public struct Request: Sendable {
    public var method: HTTPMethod
    /// The decoded path, without the query string, as libmicrohttpd unescapes it.
    public var path: String
    /// Decoded query arguments; the first value wins when a name repeats.
    public var query: [String: String]
    public var headers: HTTPHeaders
    /// The raw body; empty for `multipart/form-data`, whose parts are in `form`.
    public var body: Data
    /// The parts of a `multipart/form-data` body, parsed while it arrived; nil for other bodies.
    public var form: [FormPart]?
    /// Values captured by the matched route pattern (`{id}` → `parameters["id"]`).
    public var parameters: Parameters

    public init(method: HTTPMethod, path: String, query: [String: String] = [:], headers: HTTPHeaders = HTTPHeaders(),
                body: Data = Data(), form: [FormPart]? = nil, parameters: Parameters = Parameters()) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.form = form
        self.parameters = parameters
    }

    /// Decodes the body as JSON, answering 400 with the decoder's reason when it is malformed.
    public func decode<Value: Decodable>(_ type: Value.Type, decoder: JSONDecoder = JSONDecoder()) throws -> Value {
        do {
            return try decoder.decode(type, from: body)
        } catch let error as DecodingError {
            throw HTTPError.badRequest("malformed JSON body: \(error.readableReason)")
        }
    }
}

/// Path parameters captured by a route.
public struct Parameters: Sendable, Equatable {
    private var values: [String: String] = [:]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public subscript(name: String) -> String? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// The parameter `name` converted to `Value`, or a 400 naming the parameter.
    public func require<Value: LosslessStringConvertible>(_ name: String, as type: Value.Type = String.self) throws
        -> Value {
        guard let raw = values[name] else {
            throw HTTPError.badRequest("missing path parameter '\(name)'")
        }
        guard let value = Value(raw) else {
            throw HTTPError.badRequest("path parameter '\(name)' is not a valid \(Value.self): '\(raw)'")
        }
        return value
    }
}

extension DecodingError {
    /// A one-line account of what was wrong and where.
    var readableReason: String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "" : " at '" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }
                .joined(separator: ".") + "'"
        }
        switch self {
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return (underlying ?? context.debugDescription) + at(context.codingPath)
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'" + at(context.codingPath)
        case .typeMismatch(let type, let context):
            return "expected \(type)" + at(context.codingPath)
        case .valueNotFound(let type, let context):
            return "expected \(type), found null" + at(context.codingPath)
        @unknown default:
            return String(describing: self)
        }
    }
}
