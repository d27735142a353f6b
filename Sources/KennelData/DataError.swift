/// Why a dataset could not be imported, read or loaded.
public enum DataError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case notADirectory(path: String)
    case unreadable(path: String, reason: String)
    case invalidIDX(path: String, reason: String)
    case invalidShard(path: String, reason: String)
    case checksumMismatch(path: String)
    case noClasses(path: String)
    case noImages(path: String)
    case invalidSetting(name: String, reason: String)
    /// What an import would write does not fit: `what` would take `bytes`, past `limit`.
    case tooLarge(what: String, bytes: Int, limit: String)
    /// The import was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .notFound(let path): return "\(path) does not exist"
        case .notADirectory(let path): return "\(path) is not a directory"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .invalidIDX(let path, let reason): return "\(path) is not a usable IDX file: \(reason)"
        case .invalidShard(let path, let reason): return "\(path) is not a usable shard: \(reason)"
        case .checksumMismatch(let path): return "\(path) is damaged: its checksum does not match; import the dataset again"
        case .noClasses(let path):
            return "\(path) has no class folders (expected ROOT/<class>/<image files>, as ImageNet or Stanford Dogs)"
        case .noImages(let path): return "no image in \(path) could be decoded"
        case .invalidSetting(let name, let reason): return "\(name): \(reason)"
        case .tooLarge(let what, let bytes, let limit):
            return "\(what) would take \(bytes == Int.max ? "more than \(Int.max)" : String(bytes)) bytes, past \(limit); "
                + "import fewer or smaller examples (width, height, channels)"
        case .cancelled: return "the import was cancelled"
        }
    }
}
