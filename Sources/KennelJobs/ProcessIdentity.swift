import Foundation

/// Names a process so that another can tell, later, whether it still runs: host, pid and the process's start
/// time (which tells a reused pid apart).
enum ProcessIdentity {
    /// This process.
    static let current: String = {
        let pid = ProcessInfo.processInfo.processIdentifier
        return "\(ProcessInfo.processInfo.hostName):\(pid):\(startTime(of: pid) ?? "?")"
    }()

    /// True when `owner` names a process of this host that no longer runs. Another host's processes cannot be
    /// asked: their jobs are taken over only when their lease lapses.
    static func diedOnThisHost(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { return false }
        let host = parts.dropLast(2).joined(separator: ":")
        guard host == ProcessInfo.processInfo.hostName else { return false }
        return startTime(of: pid) != String(parts[parts.count - 1])
    }

    /// Field 22 of /proc/PID/stat: the process's start time in clock ticks since boot; nil when it does not exist.
    private static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the parenthesised command name start at field 3.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }
}
