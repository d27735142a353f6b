import KennelHTTP

/// Builds Kennel's HTTP routes: the REST API under `/v1`, health and the dashboard's static files.
public enum APIRouter {
    /// The router for a server serving `staticFiles` as the dashboard and, given `context`, the REST API.
    public static func make(staticFiles: StaticFiles, context: APIContext? = nil) -> Router {
        var routes = Router.Builder()
        routes.addHealthRoutes()
        if let context, context.role == .worker {
            routes.addPrometheusRoute(context)
            routes.addWorkerReadiness(context)
        } else if let context {
            routes.addOpenAPIRoute()
            routes.addLimitsRoute(context)
            routes.addDatasetRoutes(context)
            routes.addJobRoutes(context)
            routes.addJobEventRoutes(context)
            routes.addPrometheusRoute(context)
            routes.addModelRoutes(context)
            routes.addInferenceProtocolRoutes(context)
        }
        routes.fallback { request in try staticFiles.response(for: request) }
        let dataDirectory = context?.jobs.dataDirectory
        return Router(routes, translate: { APIErrors.translate($0, dataDirectory: dataDirectory) }, render: APIErrors.render)
    }
}
