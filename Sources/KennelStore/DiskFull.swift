import Foundation

/// Recognises "no space left on device" however it surfaces: Foundation's file-write error (Cocoa 640),
/// POSIX ENOSPC or EDQUOT, or the database engine's own (`StoreError.diskFull`).
public enum DiskFull {
    /// Whether `error`, or an error it wraps, says the disk (or the quota) is full.
    public static func matches(_ error: any Error) -> Bool {
        if case StoreError.diskFull = error { return true }
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileWriteOutOfSpaceError { return true }
        if nsError.domain == NSPOSIXErrorDomain && (nsError.code == Int(ENOSPC) || nsError.code == Int(EDQUOT)) {
            return true
        }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? any Error { return matches(underlying) }
        return false
    }

    /// What to tell a user: where the disk is full and how to go on.
    public static func message(at directory: URL, then next: String) -> String {
        "disk full at \(directory.path): free space (DELETE /v1/datasets/NAME or /v1/jobs/ID removes what no "
            + "served model needs), then \(next)"
    }
}
