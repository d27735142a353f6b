import Foundation

/// A response as read off the socket.
public struct RawResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why a raw exchange failed.
public struct RawHTTPError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking HTTP/1.1 client over one TCP connection to 127.0.0.1, sending bytes exactly as given (no path
/// normalisation, unlike curl or URLSession), so tests can send traversal attempts and oversized bodies.
public final class RawHTTPConnection {
    private let socket: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`, from `source` when given (any 127.x.y.z address is this machine's
    /// loopback, so tests can be several clients with addresses of their own).
    public init(port: UInt16, timeoutSeconds: Int = 20, source: String? = nil) throws {
        socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw RawHTTPError("socket() failed: errno \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        /// `call` (bind or connect) on the IPv4 `host`:`port`; throws when it fails. The socket is not closed
        /// here: every stored property is set by now, so a throw runs `deinit`, which closes it. Closing it here
        /// too closed it twice, and in between the number could already belong to a server's connection.
        func on(_ host: String, port: UInt16, _ what: String,
                _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr(host)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    call(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else { throw RawHTTPError("\(what) failed: errno \(errno)") }
        }
        if let source { try on(source, port: 0, "bind to \(source)", bind) }
        try on("127.0.0.1", port: port, "connect to port \(port)", connect)
    }

    deinit { Foundation.close(socket) }

    /// Writes all of `bytes`; throws when the peer closed (EPIPE/ECONNRESET) or the write timed out.
    public func send(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.send(socket, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            guard written > 0 else { throw RawHTTPError("send failed: errno \(errno)") }
            offset += written
        }
    }

    public func send(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try send($0) } }
    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `chunks` as a chunked body (each with its hex size line), then the closing zero-size chunk.
    public func sendChunks(_ chunks: some Sequence<[UInt8]>) throws {
        for chunk in chunks {
            try send("\(String(chunk.count, radix: 16))\r\n")
            try send(chunk)
            try send("\r\n")
        }
        try send("0\r\n\r\n")
    }

    /// Sends a request with `Content-Length` when it has a body.
    public func sendRequest(_ method: String, _ target: String, headers: [String: String] = [:],
                            body: [UInt8] = []) throws {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        try send(head + "\r\n")
        if !body.isEmpty { try send(body) }
    }

    /// Reads one response: its body delimited by Content-Length, chunked encoding, or the connection closing.
    public func readResponse(bodyExpected: Bool = true) throws -> RawResponse {
        let (status, headers) = try readHead()
        var body: [UInt8] = []
        if !bodyExpected || status == 304 || status == 204 {
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while case let chunk = try readChunk(), !chunk.isEmpty { body += chunk }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            try fill(length)
            body = Array(buffer[..<length])
            buffer.removeFirst(length)
        } else {
            while try receiveMore() {}
            body = buffer
            buffer = []
        }
        return RawResponse(status: status, headers: headers, body: body)
    }

    /// Reads a response's status line and headers (lower-cased names); a streamed body follows by `readChunk`.
    public func readHead() throws -> (status: Int, headers: [String: String]) {
        let headerEnd = try readUntil(Array("\r\n\r\n".utf8))
        let head = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        buffer.removeFirst(headerEnd + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw RawHTTPError("bad status line in: \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// Reads the next chunk of a chunked body, waiting for it; empty at the body's end.
    public func readChunk() throws -> [UInt8] {
        let lineEnd = try readUntil(Array("\r\n".utf8))
        let sizeText = String(decoding: buffer[..<lineEnd], as: UTF8.self).split(separator: ";")[0]
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
            throw RawHTTPError("bad chunk size '\(sizeText)'")
        }
        buffer.removeFirst(lineEnd + 2)
        try fill(size + 2)
        defer { buffer.removeFirst(size + 2) }
        return Array(buffer[..<size])
    }

    /// True when the server has closed the connection (reads end of stream).
    public func isClosedByPeer() -> Bool {
        buffer.isEmpty && ((try? receiveMore()) ?? true) == false
    }

    /// Half-closes the connection: the server reads end of stream, and can still answer.
    public func closeWriting() { shutdown(socket, Int32(SHUT_WR)) }

    /// Whether the server has closed (or reset) the connection by now, without waiting.
    public func isClosedNow() -> Bool {
        var byte: UInt8 = 0
        let received = recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    private func readUntil(_ marker: [UInt8]) throws -> Int {
        var searchFrom = 0
        while true {
            if buffer.count >= marker.count {
                for start in searchFrom...(buffer.count - marker.count)
                where buffer[start..<start + marker.count].elementsEqual(marker) {
                    return start
                }
                searchFrom = buffer.count - marker.count + 1
            }
            guard try receiveMore() else { throw RawHTTPError("connection closed before \(marker)") }
        }
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            guard try receiveMore() else { throw RawHTTPError("connection closed with \(buffer.count)/\(count) bytes") }
        }
    }

    /// Reads what is available; false at end of stream.
    private func receiveMore() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(socket, &chunk, chunk.count, 0)
        if count < 0 { throw RawHTTPError("recv failed: errno \(errno)") }
        buffer += chunk[..<count]
        return count > 0
    }
}

/// One request on a fresh connection.
public func rawRequest(port: UInt16, _ method: String, _ target: String, headers: [String: String] = [:],
                       body: [UInt8] = []) throws -> RawResponse {
    let connection = try RawHTTPConnection(port: port)
    try connection.sendRequest(method, target, headers: headers, body: body)
    return try connection.readResponse(bodyExpected: method != "HEAD")
}

/// A fresh directory under the system's temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public var path: String { url.path }

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kennel-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The repository's root, found from this file's location.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
