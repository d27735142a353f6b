import Foundation

/// Why the data directory cannot be used.
public enum DataDirectoryError: Error, Equatable, CustomStringConvertible {
    case inUse(path: String, owner: String)
    case cannotLock(path: String, reason: String)

    public var description: String {
        switch self {
        case .inUse(let path, let owner):
            return "another kennel serve (\(owner)) is using the data directory \(path); stop it first, or give "
                + "this one its own --data-dir"
        case .cannotLock(let path, let reason):
            return "cannot lock the data directory \(path): \(reason)"
        }
    }
}

/// One server per data directory: an advisory lock on `<data-dir>/serve.lock`, held while the process lives
/// (the kernel drops it when the process dies, however it dies). The file names the holder for the message a
/// second server gets. `kennel train` and `kennel import` take no lock: they share the database by design.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock, or throws `inUse` naming the process that holds it.
    public init(directory: URL) throws {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("serve.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DataDirectoryError.cannotLock(path: directory.path, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw DataDirectoryError.inUse(path: directory.path, owner: owner.map { "process \($0)" } ?? "a process")
        }
        let identity = Array(ProcessIdentity.current.utf8)
        _ = ftruncate(descriptor, 0)
        _ = identity.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}

/// Files that interrupted atomic writes leave behind (`NAME.PID.UUID.tmp` beside shards and checkpoints).
public enum TemporaryFiles {
    /// Removes every `*.tmp` file under `directory` whose writer process is gone, or, when the name carries no
    /// pid, that was not written to for `idleSeconds` (one a foreground `kennel train` or `kennel import` is
    /// writing now stays). Returns how many files and bytes went.
    @discardableResult
    public static func sweep(under directory: URL, idleSeconds: TimeInterval = 60) -> (files: Int, bytes: Int) {
        guard let walker = FileManager.default.enumerator(
            at: directory, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey, .isRegularFileKey])
        else { return (0, 0) }
        var removed = (files: 0, bytes: 0)
        let cutoff = Date().addingTimeInterval(-idleSeconds)
        for case let url as URL in walker where url.pathExtension == "tmp" {
            guard let values = try? url.resourceValues(forKeys: [.contentModificationDateKey, .fileSizeKey,
                                                                 .isRegularFileKey]),
                  values.isRegularFile == true,
                  writerIsGone(url.lastPathComponent) ?? ((values.contentModificationDate ?? .distantFuture) < cutoff),
                  (try? FileManager.default.removeItem(at: url)) != nil else { continue }
            removed.files += 1
            removed.bytes += values.fileSize ?? 0
        }
        return removed
    }

    /// For `NAME.PID.UUID.tmp`: whether process PID no longer exists; nil when the name carries no pid.
    static func writerIsGone(_ name: String) -> Bool? {
        let parts = name.split(separator: ".")
        guard parts.count >= 4, UUID(uuidString: String(parts[parts.count - 2])) != nil,
              let pid = Int32(parts[parts.count - 3]), pid > 0 else { return nil }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// Space held back in the data directory (`reserve.bin`) and given back when the disk fills, so the database
/// can still record why a job stopped: SQLite cannot commit even a one-row change on a full disk.
public struct DiskReserve: Sendable {
    public let path: String
    public let bytes: Int

    public init(directory: URL, bytes: Int = 2 << 20) {
        path = directory.appendingPathComponent("reserve.bin").path
        self.bytes = bytes
    }

    /// Allocates the reserve when it is missing and the disk has room for it; true when it is in place.
    @discardableResult
    public func restore() -> Bool {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size == bytes {
            return true
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        guard posix_fallocate(descriptor, 0, off_t(bytes)) == 0 else {
            unlink(path)
            return false
        }
        return true
    }

    /// Gives the reserved space back to the file system.
    public func release() {
        unlink(path)
    }
}
