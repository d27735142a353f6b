import FuzzSupport
import Foundation
import KennelAPI
import KennelHTTP
import KennelJobs
import KennelStore

/// The REST router over a real store in a scratch directory; the job queue is not started, so accepted jobs
/// stay queued. Datasets may only come from the scratch directory.
let router: Router = {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kennel-fuzz-api-\(getpid())")
    let migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../migrations/sqlite")
    let store = try! Store(dataDirectory: scratch, migrations: try! Migration.load(from: migrations))
    let jobs = JobQueue(store: store, dataDirectory: scratch, datasetsRoot: scratch)
    let metrics = ServerMetrics()
    let context = APIContext(store: store, jobs: jobs, models: ModelRegistry(store: store, dataDirectory: scratch,
                                                                            metrics: metrics.factory),
                             metrics: metrics, datasetsRoot: scratch)
    return APIRouter.make(staticFiles: try! StaticFiles(directory: scratch.path), context: context)
}()

let methods: [HTTPMethod] = [.get, .post, .put, .delete, .head]
let paths = ["/v1/jobs", "/v1/datasets", "/v1/models", "/v1/models/m:classify", "/v1/jobs/1", "/v1/jobs/1/cancel",
             "/v1/jobs/1/resume", "/v1/jobs/1/metrics", "/v1/jobs/1/checkpoints", "/v1/metrics.csv", "/v1/models/m",
             "/v1/models/m/rollback", "/v1/datasets/d", "/v1/limits", "/readyz"]

/// The first byte picks method and path (or, past the table, the first line is the path itself); the next
/// line holds the query (`a=1&b=2`), the rest is the body. Nothing may answer 500.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPI(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let selector = Int(bytes[0])
    var rest = bytes.dropFirst()
    func line() -> String {
        let end = rest.firstIndex(of: 10) ?? rest.endIndex
        defer { rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end...] }
        return String(decoding: rest[..<end], as: UTF8.self)
    }
    let path = selector < methods.count * paths.count ? paths[selector % paths.count] : "/" + line()
    let query = Dictionary(line().split(separator: "&").map { pair -> (String, String) in
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }, uniquingKeysWith: { first, _ in first })
    var headers = HTTPHeaders()
    headers["Content-Type"] = selector & 1 == 0 ? "application/json" : "image/png"
    let request = Request(method: methods[(selector / paths.count) % methods.count], path: path, query: query,
                          headers: headers, body: Data(rest))
    let response = router.respond(to: request)
    precondition(response.status.rawValue < 500 || response.status.rawValue == 507,
                 "\(request.method) \(path) answered \(response.status)")
    return 0
}

/// The entry point SwiftPM's debug build links as `main`.
@_cdecl("FuzzAPI_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv)
}
