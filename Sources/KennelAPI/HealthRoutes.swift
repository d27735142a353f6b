import KennelHTTP

extension Router.Builder {
    /// `GET /healthz`: the process is up and answering.
    mutating func addHealthRoutes() {
        let healthy = Response.json(bytes: Array(#"{"status":"ok"}"#.utf8))
        get("/healthz") { _ in healthy }
    }
}
