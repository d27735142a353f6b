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
    /// Whether the handler runs on a polling thread (a lanes route's `runsInline` pick): it must not block, and
    /// hands anything slow on, answering `.pending`.
    public internal(set) var runsOnPollingThread = false

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

    /// The same request with the parameters its route captured.
    func with(_ parameters: Parameters) -> Request {
        var request = self
        request.parameters = parameters
        return request
    }

    /// Decodes the body as JSON. A body that is not JSON is a 400 with the parser's reason; valid JSON with a
    /// field of the wrong type or out of its type's range (`"epochs": 1e30`) is a 422 naming the field.
    public func decode<Value: Decodable>(_ type: Value.Type, decoder: JSONDecoder = JSONDecoder()) throws -> Value {
        do {
            return try decoder.decode(type, from: body)
        } catch let error as DecodingError {
            guard let document = try? JSONSerialization.jsonObject(with: body, options: .fragmentsAllowed) else {
                throw HTTPError.badRequest("malformed JSON body: \(error.readableReason)")
            }
            let field: String, reason: String
            if let named = error.field {
                (field, reason) = (named, error.readableReason)
            } else if let number = Self.unrepresentableNumber(in: document, decoding: type, with: decoder) {
                (field, reason) = (number.path, "\(number.value) is out of range for this field")
            } else {
                throw HTTPError(.unprocessableContent, code: "invalid_field", message: error.readableReason)
            }
            throw HTTPError(.unprocessableContent, code: "invalid_field", message: "\(field): \(reason)",
                            headers: ["X-Invalid-Field": field])
        }
    }

    /// Foundation's decoder reports a number its field's type cannot hold (`1e30` for an Int, `-1` for a
    /// UInt64) as "not valid JSON", with no path. This finds the field: the first number whose replacement by
    /// 0 lets decoding get past it.
    private static func unrepresentableNumber<Value: Decodable>(in document: Any, decoding type: Value.Type,
                                                               with decoder: JSONDecoder) -> (path: String, value: String)? {
        func numbers(_ node: Any, _ path: [String]) -> [([String], NSNumber)] {
            if let object = node as? [String: Any] {
                return object.keys.sorted().flatMap { numbers(object[$0]!, path + [$0]) }
            }
            if let array = node as? [Any] { return array.enumerated().flatMap { numbers($1, path + [String($0)]) } }
            if let number = node as? NSNumber, !(node is Bool) { return [(path, number)] }
            return []
        }
        func replacing(_ node: Any, at path: ArraySlice<String>) -> Any {
            guard let key = path.first else { return 0 }
            if var object = node as? [String: Any], let child = object[key] {
                object[key] = replacing(child, at: path.dropFirst())
                return object
            }
            if var array = node as? [Any], let index = Int(key), array.indices.contains(index) {
                array[index] = replacing(array[index], at: path.dropFirst())
                return array
            }
            return node
        }
        for (path, number) in numbers(document, []) {
            guard let data = try? JSONSerialization.data(withJSONObject: replacing(document, at: path[...]),
                                                         options: .fragmentsAllowed) else { continue }
            do {
                _ = try decoder.decode(type, from: data)
            } catch let error as DecodingError where error.field == nil {
                continue
            } catch {}
            return (path.joined(separator: "."), number.stringValue)
        }
        return nil
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
    private var context: Context? {
        switch self {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context),
             .valueNotFound(_, let context):
            return context
        @unknown default:
            return nil
        }
    }

    /// The dotted path of the field at fault (`optimizer.learning_rate`); nil for the document as a whole.
    var field: String? {
        var path = context?.codingPath ?? []
        if case .keyNotFound(let key, _) = self { path.append(key) }
        return path.isEmpty ? nil : Self.dotted(path)
    }

    private static func dotted(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    /// A one-line account of what was wrong and where.
    var readableReason: String {
        func at(_ path: [CodingKey]) -> String { path.isEmpty ? "" : " at '" + Self.dotted(path) + "'" }
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
