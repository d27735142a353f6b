import Dispatch
import Foundation
import Logging
import Synchronization

/// Process-wide logging on standard error, one line per event, level from `KENNEL_LOG_LEVEL`
/// (trace, debug, info, notice, warning, error, critical; default info).
enum LogSetup {
    static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["KENNEL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .info
        LoggingSystem.bootstrap { label in
            var handler = BufferedLogHandler(label: label, sink: LogSink.standardError)
            handler.logLevel = level
            return handler
        }
    }

    /// Writes out every buffered line; call before the process exits.
    static func flush() { LogSink.standardError.flush() }
}

/// A swift-log handler writing through a shared `LogSink`.
struct BufferedLogHandler: LogHandler {
    let label: String
    let sink: LogSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(sink.timestamp()) \(event.level) \(label): \(event.message)"
        let merged = event.metadata.map { metadata.merging($0) { _, new in new } } ?? metadata
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        sink.append(line, urgent: event.level >= .warning)
    }
}

/// Lines for a file descriptor, written in batches: at most every 100 ms, when 64 KiB are waiting, or at once
/// for warnings and errors. One write per request (the access log at tens of thousands of requests a
/// second) would otherwise cost as much as answering the request.
final class LogSink: Sendable {
    static let standardError = LogSink(descriptor: STDERR_FILENO)

    private struct Pending {
        var bytes: [UInt8] = []
        var flushScheduled = false
        var second = 0
        var stamp = ""
    }

    private let descriptor: Int32
    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "kennel.log")

    init(descriptor: Int32) { self.descriptor = descriptor }

    func append(_ line: String, urgent: Bool) {
        let (flushNow, schedule) = pending.withLock { pending -> (Bool, Bool) in
            pending.bytes.append(contentsOf: line.utf8)
            pending.bytes.append(0x0A)
            if urgent || pending.bytes.count >= 64 << 10 { return (true, false) }
            defer { pending.flushScheduled = true }
            return (false, !pending.flushScheduled)
        }
        if flushNow {
            flush()
        } else if schedule {
            queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in flush() }
        }
    }

    func flush() {
        let bytes = pending.withLock { pending -> [UInt8] in
            pending.flushScheduled = false
            defer { pending.bytes.removeAll(keepingCapacity: true) }
            return pending.bytes
        }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    /// `2026-11-23T13:49:19+0000`, formatted once per second.
    func timestamp() -> String {
        var now = time(nil)
        return pending.withLock { pending in
            if pending.second != now {
                var parts = tm()
                localtime_r(&now, &parts)
                var buffer = [CChar](repeating: 0, count: 32)
                let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
                pending.stamp = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                pending.second = now
            }
            return pending.stamp
        }
    }
}
