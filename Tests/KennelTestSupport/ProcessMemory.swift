import Foundation

/// This process's memory as the kernel reports it in /proc/self/status, in bytes.
public struct ProcessMemory: Sendable {
    /// Resident set size now (VmRSS) and its peak (VmHWM).
    public let resident, peakResident: Int
    /// Address space reserved (VmSize).
    public let virtual: Int

    public static func current() -> ProcessMemory {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return ProcessMemory(resident: field("VmRSS"), peakResident: field("VmHWM"), virtual: field("VmSize"))
    }
}
