import Dispatch
import Foundation
import KennelEngine
import KennelHTTP
import KennelImage
import KennelJobs
import KennelKeras
import KennelStore

/// What the REST handlers work with: the database, the job queue, the served models and the access token.
public struct APIContext: Sendable {
    public let store: Store
    public let jobs: JobQueue
    public let models: ModelRegistry
    /// When set, every POST (and PUT upload) needs `Authorization: Bearer <token>`.
    public let token: String?
    /// When set, dataset imports may only read below this directory (after resolving symlinks and `..`).
    public let datasetsRoot: URL?
    /// Classification requests waiting or running at once; more are answered 429.
    public let classifyLimit: AdmissionLimit
    /// How often an idle event stream gets a comment line, so proxies and clients see it alive.
    public let heartbeatSeconds: TimeInterval
    /// What `GET /metrics` reports; the server's exchange observer is `metrics.record`.
    public let metrics: ServerMetrics
    /// The bounds this server enforces (`GET /v1/limits`).
    public let limits: ServerLimits
    /// What this process does, and its name among the deployment's processes (labels of `/metrics`, `/readyz`).
    public let role: ServerRole
    public let instance: String
    /// Decodes request images under the limits' pixel cap and decode budget.
    let decoder: ImageDecoder
    /// Where requests that touch the disk or the queue run, off the HTTP polling threads.
    let work = DispatchQueue(label: "kennel.api", qos: .userInitiated, attributes: .concurrent)
    /// Classification runs on its own lanes, never behind other requests; a lane per admitted request (up to 128),
    /// so requests that wait (several images, a model loading) each wait on their own thread. One image leaves
    /// its lane once it is decoded and queued for the model.
    let classify: QueueLanes

    public init(store: Store, jobs: JobQueue, models: ModelRegistry, metrics: ServerMetrics, token: String? = nil,
                datasetsRoot: URL? = nil, limits: ServerLimits = ServerLimits(), heartbeatSeconds: TimeInterval = 15,
                role: ServerRole = .all,
                instance: String = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)") {
        self.limits = limits
        self.role = role
        self.instance = instance
        decoder = limits.decoder()
        let classifyCapacity = limits.classifyCapacity
        self.metrics = metrics
        self.store = store
        self.jobs = jobs
        self.models = models
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.datasetsRoot = datasetsRoot
        classifyLimit = AdmissionLimit(capacity: classifyCapacity, work: "classification")
        classify = QueueLanes(label: "kennel.classify", count: min(classifyCapacity, 128))
        self.heartbeatSeconds = heartbeatSeconds
    }

    /// The same decoder without waiting for the budget, for images that must not hold their thread.
    var impatientDecoder: ImageDecoder {
        var impatient = decoder
        impatient.waitsForBudget = false
        return impatient
    }

    /// Refuses a mutating request without the configured token (constant-time comparison).
    func authorize(_ request: Request) throws {
        guard let token else { return }
        let presented = Array((request.headers["Authorization"] ?? "").utf8)
        let expected = Array("Bearer \(token)".utf8)
        var difference = presented.count ^ expected.count
        for index in 0..<max(presented.count, expected.count) {
            let a = index < presented.count ? presented[index] : 0
            let b = index < expected.count ? expected[index] : 0
            difference |= Int(a ^ b)
        }
        guard difference == 0 else {
            throw HTTPError(.unauthorized, code: "unauthorized",
                            message: "this server needs 'Authorization: Bearer <token>' (KENNEL_TOKEN) for changes")
        }
    }
}

/// Turns the job system's typed errors into HTTP answers with the status DESIGN.md names.
enum APIErrors {
    /// What the router answers for an error no handler mapped: 507 when the disk is full (any write, anywhere), 503
    /// while the database cannot be reached.
    static func translate(_ error: any Error, dataDirectory: URL?) -> HTTPError? {
        if case StoreError.unavailable(let reason) = error {
            return HTTPError(.serviceUnavailable, code: "database_unavailable",
                             message: "the database is unavailable (\(reason)); nothing was lost, retry shortly",
                             headers: ["Retry-After": "2"])
        }
        guard DiskFull.matches(error) else { return nil }
        let message = dataDirectory.map { DiskFull.message(at: $0, then: "retry") }
            ?? "disk full: free space on the server, then retry"
        return HTTPError(.insufficientStorage, code: "insufficient_storage", message: message)
    }

    static func map<Value>(_ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as HTTPError {
            throw error
        } catch let error as SpecError {
            throw HTTPError(.unprocessableContent, code: "invalid_field", message: error.description,
                            headers: ["X-Invalid-Field": error.field])
        } catch let error as TrainingError {
            throw HTTPError(.unprocessableContent, code: "invalid_field", message: "dataset: \(error.description)")
        } catch let error as JobQueueError {
            switch error {
            case .unknownJob: throw HTTPError.notFound(error.description)
            case .alreadyFinished, .notResumable, .inUse:
                throw HTTPError(.conflict, code: "conflict", message: error.description)
            }
        } catch let error as DatasetCatalogError {
            switch error {
            case .unknown: throw HTTPError.notFound(error.description)
            case .inUse: throw HTTPError(.conflict, code: "conflict", message: error.description)
            }
        } catch let error as RegistryError {
            switch error {
            case .unknownModel, .unknownVersion, .unknownCheckpoint: throw HTTPError.notFound(error.description)
            case .invalidName, .checkpointOfAnotherJob, .labelCount:
                throw HTTPError(.unprocessableContent, code: "invalid_field", message: error.description)
            case .jobHasNoCheckpoint, .nothingToRollBackTo, .changedMeanwhile:
                throw HTTPError(.conflict, code: "conflict", message: error.description)
            case .costsAccuracy, .noTestSplit:
                throw HTTPError(.unprocessableContent, code: "precision_refused", message: error.description,
                                headers: ["X-Invalid-Field": "precision"])
            }
        } catch let error as PrecisionError {
            throw HTTPError(.unprocessableContent, code: "precision_refused", message: error.description,
                            headers: ["X-Invalid-Field": "precision"])
        } catch let error as KerasImportError {
            throw HTTPError(.unprocessableContent, code: "unsupported_model", message: error.description)
        } catch let error as ImageError {
            throw imageError(error, description: error.description)
        } catch let error as BatchImageError {
            throw imageError(error.error, description: error.description)
        }
    }

    /// An error's answer: Kennel's `{"error": {"code": …, "message": …}}`, except under the protocols that fix their
    /// own, the Open Inference Protocol (`/v2…`) and TF Serving's `:predict`, which answer `{"error": "message"}`.
    static func render(_ error: HTTPError, path: String) -> Response {
        guard path == "/v2" || path.hasPrefix("/v2/") || path.hasSuffix(":predict") else { return error.response }
        struct Body: Encodable { let error: String }
        var response = Response.json(Body(error: error.message), status: error.status)
        for (name, value) in error.headers { response.headers[name] = value }
        return response
    }

    /// The answer for an image that could not be decoded, described as `description`.
    private static func imageError(_ error: ImageError, description: String) -> HTTPError {
        switch error {
        case .tooLarge, .overBudget:
            HTTPError(.contentTooLarge, code: "image_too_large", message: description)
        case .budgetExhausted:
            HTTPError(.serviceUnavailable, code: "busy", message: description, headers: ["Retry-After": "1"])
        default:
            HTTPError(.unsupportedMediaType, code: "not_an_image",
                      message: "\(description); send a JPEG or PNG (image/jpeg, image/png)")
        }
    }
}
