import Foundation
import KennelHTTP

/// Serves the dashboard's files from one directory. No request can reach a file outside it: `.`/`..`
/// segments (however they were encoded — the server decodes the path first), NUL bytes and symbolic links
/// that resolve outside are all answered 404.
public struct StaticFiles: Sendable {
    /// The directory, with symbolic links resolved.
    public let root: String

    /// Why the directory cannot be served.
    public enum SetupError: Error, Equatable, CustomStringConvertible {
        case notADirectory(String)

        public var description: String {
            switch self {
            case .notADirectory(let path): return "static files directory '\(path)' does not exist or is not a directory"
            }
        }
    }

    public init(directory: String) throws {
        guard let resolved = Self.realPath(directory), Self.isDirectory(resolved) else {
            throw SetupError.notADirectory(directory)
        }
        root = resolved
    }

    /// The file for `request.path` (`index.html` for a directory), with its MIME type, ETag and Last-Modified;
    /// 304 when the client's `If-None-Match` already names this version.
    public func response(for request: Request) throws -> Response {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard !request.path.contains("\0"),
              segments.allSatisfy({ $0 != "." && $0 != ".." && !$0.contains("\\") }) else {
            throw HTTPError.notFound()
        }
        var relative = segments.joined(separator: "/")
        if relative.isEmpty || request.path.hasSuffix("/") { relative += relative.isEmpty ? "index.html" : "/index.html" }
        guard var file = Self.realPath(root + "/" + relative), file.hasPrefix(root + "/") else {
            throw HTTPError.notFound()
        }
        if Self.isDirectory(file) {
            guard let index = Self.realPath(file + "/index.html"), index.hasPrefix(root + "/") else {
                throw HTTPError.notFound()
            }
            file = index
        }
        var info = stat()
        guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw HTTPError.notFound() }

        let etag = "\"\(String(info.st_size, radix: 16))-\(String(info.st_mtim.tv_sec, radix: 16))"
            + "\(String(info.st_mtim.tv_nsec, radix: 16))\""
        var headers: HTTPHeaders = [
            "ETag": etag,
            "Last-Modified": Self.httpDate(info.st_mtim.tv_sec),
            "Cache-Control": "no-cache",
        ]
        if let match = request.headers["If-None-Match"],
           match == "*" || match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) {
            return Response(status: .notModified, headers: headers)
        }
        guard let contents = FileManager.default.contents(atPath: file) else { throw HTTPError.notFound() }
        headers["Content-Type"] = MIMEType.forPath(file)
        headers["X-Content-Type-Options"] = "nosniff"
        return Response(status: .ok, headers: headers, body: .bytes(Array(contents)))
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `seconds` since 1970.
    static func httpDate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Content types by file extension for what a dashboard holds.
enum MIMEType {
    private static let byExtension: [String: String] = [
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "json": "application/json",
        "map": "application/json",
        "svg": "image/svg+xml",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "ico": "image/x-icon",
        "txt": "text/plain; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
        "woff2": "font/woff2",
        "wasm": "application/wasm",
    ]

    /// The type for `path`'s extension, `application/octet-stream` when unknown.
    static func forPath(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        return byExtension[path[path.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }
}
