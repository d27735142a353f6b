/// What one `kennel serve` process does in a deployment that shares one PostgreSQL database.
public enum ServerRole: String, CaseIterable, Sendable {
    /// Serves the whole API and runs jobs: the single-machine default.
    case all
    /// Serves the whole API; jobs it accepts are run by workers.
    case api
    /// Runs jobs; answers only `/healthz`, `/readyz` and `/metrics`.
    case worker

    /// Whether this process claims and runs jobs.
    public var runsJobs: Bool { self != .api }
}
