import KennelHTTP
import KennelStore

extension Router.Builder {
    /// `GET /healthz`: the process is up and answering.
    mutating func addHealthRoutes() {
        let healthy = Response.json(bytes: Array(#"{"status":"ok"}"#.utf8))
        get("/healthz") { _ in healthy }
    }

    /// `GET /readyz` of a worker: ready while it reaches the database it takes jobs from.
    mutating func addWorkerReadiness(_ context: APIContext) {
        get("/readyz") { _ in
            struct Status: Encodable {
                let status: String
                let role: String
                let instance: String
                let error: String?
            }
            do {
                _ = try context.store.read { try $0.fetch("SELECT 1 AS value") }
                return .json(Status(status: "ready", role: context.role.rawValue, instance: context.instance, error: nil))
            } catch {
                return .json(Status(status: "unavailable", role: context.role.rawValue, instance: context.instance,
                                    error: "\(error)"), status: .serviceUnavailable)
            }
        }
    }

    /// `GET /openapi.json`: the OpenAPI 3.1 description of this API (Sources/KennelAPI/openapi.json, embedded).
    mutating func addOpenAPIRoute() {
        let document = Response.json(bytes: PackageResources.openapi_json)
        get("/openapi.json") { _ in document }
    }
}
