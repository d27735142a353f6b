import Foundation
import Synchronization

/// A failure a command reports as one line (no usage text, unlike `ValidationError`).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A one-line progress bar on a terminal; occasional plain lines otherwise (logs, CI).
final class ProgressBar: Sendable {
    private let title: String
    private let interactive = isatty(STDERR_FILENO) != 0
    private let lastPercent = Mutex(-1)

    init(title: String) { self.title = title }

    /// Reports `done` of `total`, with optional extra text.
    @Sendable func update(_ done: Int, _ total: Int) { update(done, total, detail: "") }

    func update(_ done: Int, _ total: Int, detail: String) {
        let percent = total > 0 ? done * 100 / total : 100
        let changed = lastPercent.withLock { last -> Bool in
            let step = interactive ? 1 : 10
            guard percent / step != last / step || last < 0 else { return false }
            last = percent
            return true
        }
        guard changed else { return }
        let line: String
        if interactive {
            let filled = percent * 30 / 100
            line = "\r\(title) [\(String(repeating: "#", count: filled))\(String(repeating: " ", count: 30 - filled))] "
                + "\(done)/\(total) \(percent)% \(detail)"
        } else {
            line = "\(title): \(done)/\(total) (\(percent)%) \(detail)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
