import KennelHTTP

extension Router.Builder {
    /// `GET /healthz`: the process is up and answering.
    mutating func addHealthRoutes() {
        let healthy = Response.json(bytes: Array(#"{"status":"ok"}"#.utf8))
        get("/healthz") { _ in healthy }
    }

    /// `GET /openapi.json`: the OpenAPI 3.1 description of this API (Sources/KennelAPI/openapi.json, embedded).
    mutating func addOpenAPIRoute() {
        let document = Response.json(bytes: PackageResources.openapi_json)
        get("/openapi.json") { _ in document }
    }
}
