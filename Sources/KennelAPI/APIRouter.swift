import KennelHTTP

/// Builds Kennel's HTTP routes: the REST API under `/v1`, health and the dashboard's static files.
public enum APIRouter {
    /// The router for a server serving `staticFiles` as the dashboard.
    public static func make(staticFiles: StaticFiles) -> Router {
        var routes = Router.Builder()
        routes.addHealthRoutes()
        routes.fallback { request in try staticFiles.response(for: request) }
        return Router(routes)
    }
}
