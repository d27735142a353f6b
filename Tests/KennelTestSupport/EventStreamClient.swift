import Foundation

/// One server-sent event as a client parses it.
public struct ServerSentEvent: Equatable {
    public var id: String?
    public var name: String?
    public var data: String?
    public var isComment = false

    public var json: [String: Any] {
        (data.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]) ?? [:]
    }

    /// Splits stream text into events (blank-line separated), keeping comment lines as their own entries.
    public static func parse(_ text: String) -> [ServerSentEvent] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            var event = ServerSentEvent()
            for line in block.split(separator: "\n") {
                if line.hasPrefix(":") { event.isComment = true }
                if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event.name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)) }
            }
            return event
        }
    }
}

/// Reads an event stream chunk by chunk from an open connection.
public final class EventStreamClient {
    public let connection: RawHTTPConnection
    public let status: Int
    public let headers: [String: String]
    private var pending = ""
    public private(set) var ended = false

    public init(port: UInt16, path: String, lastEventID: String? = nil) throws {
        connection = try RawHTTPConnection(port: port)
        try connection.sendRequest("GET", path, headers: lastEventID.map { ["Last-Event-ID": $0] } ?? [:])
        (status, headers) = try connection.readHead()
    }

    /// Reads until `stop` holds for an event (returned last) or the stream ends.
    public func read(until stop: (ServerSentEvent) -> Bool = { _ in false }) throws -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        while !ended {
            while let end = pending.range(of: "\n\n") {
                let event = ServerSentEvent.parse(String(pending[..<end.upperBound]))[0]
                pending.removeSubrange(..<end.upperBound)
                events.append(event)
                if stop(event) { return events }
            }
            let chunk = try connection.readChunk()
            if chunk.isEmpty { ended = true } else { pending += String(decoding: chunk, as: UTF8.self) }
        }
        return events
    }
}
