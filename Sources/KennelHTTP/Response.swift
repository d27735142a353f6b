import Foundation

/// An HTTP answer: status, headers and a body that is complete bytes, a stream produced over time, or an answer
/// another thread finishes.
public struct Response: Sendable {
    /// What follows the headers.
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Sent with chunked encoding as the producer writes; the connection is parked, not a thread, while
        /// the stream has nothing to send.
        case stream(ResponseStream)
        /// Finished later by another thread (`PendingResponse`); the connection waits suspended.
        case pending(PendingResponse)
    }

    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON answer; encoding failures of Kennel's own types are programming errors and answer 500.
    public static func json(_ value: some Encodable, status: HTTPStatus = .ok) -> Response {
        do {
            return json(bytes: try jsonBytes(value), status: status)
        } catch {
            return json(bytes: Array(#"{"error":{"code":"internal","message":"response encoding failed"}}"#.utf8),
                        status: .internalServerError)
        }
    }

    /// A JSON answer from bytes already encoded.
    public static func json(bytes: [UInt8], status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": "application/json"], body: .bytes(bytes))
    }

    /// `values` as a JSON array of numbers or, given `rowLength`, an array of arrays of that many numbers each.
    /// Each number is written as its shortest text that reads back to the same Float, straight into the text:
    /// JSONEncoder boxes every number, 0.3 ms for one 64-image batch of 10 class probabilities. Throws
    /// `EncodingError.invalidValue` for a NaN or an infinity, which JSON cannot carry.
    public static func jsonArray(of values: [Float], rowLength: Int? = nil) throws -> [UInt8] {
        let nested = rowLength != nil && !values.isEmpty
        let rowLength = max(1, rowLength ?? values.count)
        var text = nested ? "[[" : "["
        text.reserveCapacity(12 * values.count + 4)
        for (index, value) in values.enumerated() {
            guard value.isFinite else {
                throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(value) is not a JSON number"))
            }
            if index > 0 { text += nested && index % rowLength == 0 ? "],[" : "," }
            text += value.description
        }
        return Array((text + (nested ? "]]" : "]")).utf8)
    }

    /// A JSON object of `members` in the order given, each value JSON text already (from `jsonBytes` or
    /// `jsonArray`), for answers that carry a `jsonArray` of numbers. Keys are written as they are: plain names.
    public static func jsonObject(_ members: [(key: String, value: [UInt8])]) -> [UInt8] {
        var object: [UInt8] = [UInt8(ascii: "{")]
        for (index, member) in members.enumerated() {
            object += Array((index == 0 ? "\"" : ",\"").utf8) + Array(member.key.utf8) + Array("\":".utf8) + member.value
        }
        return object + [UInt8(ascii: "}")]
    }

    /// A plain-text answer.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Array(text.utf8)))
    }

    /// `value` as the API writes JSON everywhere (sorted keys, unescaped slashes): response bodies, event data,
    /// and the command line's answers.
    public static func jsonBytes(_ value: some Encodable) throws -> [UInt8] {
        Array(try jsonEncoder.encode(value))
    }

    private static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
