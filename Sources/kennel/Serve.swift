import ArgumentParser
import Dispatch
import Foundation
import KennelAPI
import KennelHTTP
import KennelJobs
import KennelStore
import Logging

/// `kennel serve`: the HTTP server, the job system and the dashboard in one process.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the HTTP server (stops cleanly on SIGINT or SIGTERM).",
        discussion: """
            Every option can also come from the environment: KENNEL_HOST, KENNEL_PORT, KENNEL_DATA_DIR, \
            KENNEL_DATABASE_URL, KENNEL_ROLE, KENNEL_ARTIFACTS, KENNEL_LEASE_SECONDS, \
            KENNEL_PUBLIC, KENNEL_MIGRATIONS, KENNEL_DATASETS_ROOT, KENNEL_DEMO_SOURCE, and each limit's variable (the flag's name in \
            capitals with KENNEL_ before it: KENNEL_MAX_BODY_MB, KENNEL_REQUEST_DEADLINE, …; GET /v1/limits lists \
            them). A flag wins over the environment. KENNEL_TOKEN, when set, is the bearer token every POST needs.
            On an empty data directory the server runs a demo: it imports Fashion-MNIST (Debian's \
            dataset-fashion-mnist), trains fashion-convnet and serves the result as model 'fashion'.
            """)

    @Option(help: "Address to listen on (default 127.0.0.1; 0.0.0.0 exposes Kennel to the network).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free one).")
    var port: UInt16?

    @OptionGroup var storage: StorageOptions

    @Option(help: ArgumentHelp("What this process does: all (the API and the jobs), api (the API; workers run the "
                               + "jobs) or worker (runs jobs; answers /healthz, /readyz and /metrics). api and worker "
                               + "share a PostgreSQL --database. Default all.", valueName: "role"))
    var role: String?

    @Option(help: ArgumentHelp("Where datasets' shards and checkpoints live; every process of a deployment must see "
                               + "the same files at the same path (an NFS mount). Default: the data directory.",
                               valueName: "dir"))
    var artifacts: String?

    @Option(name: .customLong("lease-seconds"),
            help: "How long a worker that stopped answering keeps its jobs before another takes them over (default 15).")
    var leaseSeconds: Int?

    @Option(name: .customLong("public"), help: "The dashboard's static files (default ./public).")
    var publicDirectory: String?

    @Option(name: .customLong("max-body-mb"), help: "Largest accepted request body in MiB (default 32).")
    var maxBodyMiB: Int?

    @Option(name: .customLong("max-connections"), help: "HTTP connections held at once (default 4096).")
    var maxConnections: Int?

    @Option(name: .customLong("max-connections-per-address"),
            help: "HTTP connections from one client address (default 256).")
    var maxConnectionsPerAddress: Int?

    @Option(name: .customLong("request-deadline"),
            help: "Seconds a connection has to send one whole request, headers and body (default 30).")
    var requestDeadline: Int?

    @Option(name: .customLong("max-image-pixels"), help: "Pixels an uploaded image may have (default 40000000).")
    var maxImagePixels: Int?

    @Option(name: .customLong("decode-budget-mb"),
            help: "MiB that decoding images may hold at once across requests (default 1024).")
    var decodeBudgetMiB: Int?

    @Option(name: .customLong("max-resident-models-mb"),
            help: "MiB the served models kept loaded may hold; the least recently used load again on demand (default 1024).")
    var maxResidentModelsMiB: Int?

    @Option(name: .customLong("max-layer-size"),
            help: "Largest filters, units, kernel, size or stride of a job's layer (default 65536).")
    var maxLayerSize: Int?

    @Option(name: .customLong("max-parameters"), help: "Trainable values a job's model may hold (default 100000000).")
    var maxParameters: Int?

    @Option(name: .customLong("max-activation-values"),
            help: "Values one example's activation may hold after any layer (default 16777216).")
    var maxActivationValues: Int?

    @Option(name: .customLong("datasets-root"),
            help: "Only import datasets from below this directory (symlinks and '..' resolved first).")
    var datasetsRoot: String?

    @Option(name: .customLong("classify-capacity"),
            help: "Classification requests waiting or running at once; more are answered 429 (default 64).")
    var classifyCapacity: Int?

    @Flag(name: .customLong("no-demo"), help: "Do not import Fashion-MNIST and train a model on an empty data dir.")
    var noDemo = false

    @Option(name: .customLong("demo-source"),
            help: "Where the demo finds Fashion-MNIST's IDX files (default \(Demo.defaultSource)).")
    var demoSource: String?

    /// The limit flags by their names in `ServerLimits.settings`.
    var limitFlags: [String: Int] {
        let given: [String: Int?] = [
            "max-connections": maxConnections, "max-connections-per-address": maxConnectionsPerAddress,
            "request-deadline": requestDeadline, "max-body-mb": maxBodyMiB, "max-image-pixels": maxImagePixels,
            "decode-budget-mb": decodeBudgetMiB, "classify-capacity": classifyCapacity, "max-layer-size": maxLayerSize,
            "max-parameters": maxParameters, "max-activation-values": maxActivationValues,
            "max-resident-models-mb": maxResidentModelsMiB,
        ]
        return given.compactMapValues { $0 }
    }

    func run() throws {
        LogSetup.bootstrap()
        defer { LogSetup.flush() }
        let logger = Logger(label: "kennel")
        let settings = try ServeSettings(flags: self, environment: ProcessInfo.processInfo.environment)

        let dataDirectory = URL(fileURLWithPath: storage.resolvedDataDirectory)
        let artifacts = settings.artifacts.map { URL(fileURLWithPath: $0) } ?? dataDirectory
        let lock = try DataDirectoryLock(directory: dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        let swept = TemporaryFiles.sweep(under: dataDirectory)
        if swept.files > 0 {
            logger.notice("removed \(swept.files) temporary file(s) of interrupted writes (\(swept.bytes) bytes)")
        }
        let store = try storage.openStore()
        guard settings.role == .all || store.engine.notifiesOtherProcesses else {
            throw ValidationError("--role \(settings.role.rawValue) shares a PostgreSQL database with other processes: "
                                  + "give it --database postgres://… (KENNEL_DATABASE_URL)")
        }
        let jobs = JobQueue(store: store, dataDirectory: artifacts, modelLimits: settings.limits.model,
                            datasetsRoot: settings.datasetsRoot.map { URL(fileURLWithPath: $0) },
                            leaseSeconds: Double(settings.leaseSeconds))
        if settings.role.runsJobs { jobs.start() }
        // With a shared database: job events cross between processes, and replicas follow each other's promotions.
        try EventRelay(store: store, bus: jobs.bus).start()
        let staticFiles = try StaticFiles(directory: settings.publicDirectory)
        let metrics = ServerMetrics()
        let models = ModelRegistry(store: store, dataDirectory: artifacts, metrics: metrics.factory,
                                   residentBudget: settings.limits.residentModelBytes)
        if settings.role != .worker {
            try models.followOtherProcesses()
            DispatchQueue.global(qos: .utility).async { models.warmAll() }
        }
        let context = APIContext(store: store, jobs: jobs, models: models, metrics: metrics,
                                 token: ProcessInfo.processInfo.environment["KENNEL_TOKEN"],
                                 datasetsRoot: settings.datasetsRoot.map { URL(fileURLWithPath: $0) },
                                 limits: settings.limits, role: settings.role)
        let server = HTTPServer(configuration: settings.limits.http(settings.http),
                                router: APIRouter.make(staticFiles: staticFiles, context: context),
                                observer: metrics.record)
        try server.start()
        let demo = noDemo || settings.role != .all ? nil
            : Demo(store: store, jobs: jobs, models: models, dataDirectory: dataDirectory, source: settings.demoSource)
        if let demo { try demo.start() } else if noDemo { logger.info("demo disabled (--no-demo)") }
        logger.info("""
            \(settings.role.rawValue) listening on http://\(settings.http.host.contains(":") ? "[\(settings.http.host)]" : settings.http.host):\
            \(server.port) (database \(store.engine.location), dashboard \(staticFiles.root))
            """)

        let signal = SignalWaiter.wait(for: [SIGINT, SIGTERM])
        logger.info("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), finishing in-flight requests")
        server.stop()
        demo?.stop()
        jobs.stop()
        try store.close()
        logger.info("stopped")
    }
}

/// `serve`'s settings after applying flags over `KENNEL_*` variables over defaults.
struct ServeSettings {
    var http = HTTPServerConfiguration()
    var limits = ServerLimits()
    var publicDirectory: String
    var datasetsRoot: String?
    var demoSource: String
    var role: ServerRole
    var artifacts: String?
    var leaseSeconds: Int

    init(flags: Serve, environment: [String: String]) throws {
        let roleName = flags.role ?? environment["KENNEL_ROLE"].flatMap { $0.isEmpty ? nil : $0 } ?? "all"
        guard let role = ServerRole(rawValue: roleName) else {
            throw ValidationError("--role must be all, api or worker, got '\(roleName)'")
        }
        self.role = role
        artifacts = flags.artifacts ?? environment["KENNEL_ARTIFACTS"].flatMap { $0.isEmpty ? nil : $0 }
        leaseSeconds = try flags.leaseSeconds ?? Self.parse(environment, "KENNEL_LEASE_SECONDS", as: Int.self) ?? 15
        guard (2...3600).contains(leaseSeconds) else {
            throw ValidationError("--lease-seconds (KENNEL_LEASE_SECONDS) must be 2…3600, got \(leaseSeconds)")
        }
        http.host = flags.host ?? environment["KENNEL_HOST"] ?? "127.0.0.1"
        http.port = try flags.port ?? Self.parse(environment, "KENNEL_PORT", as: UInt16.self) ?? 8080
        let limitFlags = flags.limitFlags
        for setting in ServerLimits.settings {
            guard let value = try limitFlags[setting.flag] ?? Self.parse(environment, setting.environment, as: Int.self)
            else { continue }
            guard setting.range.contains(value) else {
                throw ValidationError("--\(setting.flag) (\(setting.environment)) must be \(setting.range.lowerBound)…"
                                      + "\(setting.range.upperBound), got \(value)")
            }
            limits[keyPath: setting.keyPath] = value * setting.unit
        }
        publicDirectory = flags.publicDirectory ?? environment["KENNEL_PUBLIC"] ?? "./public"
        datasetsRoot = flags.datasetsRoot ?? environment["KENNEL_DATASETS_ROOT"].flatMap { $0.isEmpty ? nil : $0 }
        demoSource = flags.demoSource ?? environment["KENNEL_DEMO_SOURCE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Demo.defaultSource
    }

    private static func parse<Value: LosslessStringConvertible>(_ environment: [String: String], _ name: String,
                                                                as type: Value.Type) throws -> Value? {
        guard let raw = environment[name], !raw.isEmpty else { return nil }
        guard let value = Value(raw) else { throw ValidationError("\(name)='\(raw)' is not a valid \(Value.self)") }
        return value
    }
}

/// Blocks the calling thread until one of the given signals arrives.
enum SignalWaiter {
    static func wait(for signals: [Int32]) -> Int32 {
        let received = DispatchSemaphore(value: 0)
        let caught = SignalBox()
        let sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                caught.set(number)
                received.signal()
            }
            source.resume()
            return source
        }
        received.wait()
        sources.forEach { $0.cancel() }
        return caught.value
    }
}

/// The first signal caught, shared between the signal queue and the waiting thread.
final class SignalBox: @unchecked Sendable {
    private let lock = NSLock()
    private var number: Int32 = 0

    func set(_ value: Int32) { lock.withLock { if number == 0 { number = value } } }
    var value: Int32 { lock.withLock { number } }
}
