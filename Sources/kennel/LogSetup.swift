import Foundation
import Logging

/// Process-wide logging: one line per event on standard error, level from `KENNEL_LOG_LEVEL`
/// (trace, debug, info, notice, warning, error, critical; default info).
enum LogSetup {
    static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["KENNEL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
