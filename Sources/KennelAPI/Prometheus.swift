import Foundation
import KennelHTTP
import KennelJobs
import KennelStore
import Metrics
import Prometheus

/// The server's measurements, kept in one swift-prometheus registry and rendered by `GET /metrics`.
///
/// Request counts and latencies, and the classify queue's batch sizes and timings, arrive through swift-metrics
/// handlers made by `factory`; job counts and queue gauges are read when scraped.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Hands swift-metrics `Counter`/`Recorder`/`Timer`s backed by `registry` (give it to `ModelRegistry`).
    public let factory: PrometheusMetricsFactory
    private let latency: Metrics.Timer

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(10),
        ]
        factory.valueHistogramBuckets[ClassifyStatistics.batchSizeLabel] = [1, 2, 4, 8, 16, 32]
        self.factory = factory
        latency = Metrics.Timer(label: "kennel_http_request_duration_seconds", factory: factory)
    }

    /// Counts one finished exchange by method, route pattern (so the label set stays bounded) and status.
    @Sendable public func record(_ exchange: ExchangeSummary) {
        Counter(label: "kennel_http_requests_total",
                dimensions: [("method", exchange.method.label), ("route", exchange.route),
                             ("status", String(exchange.status))],
                factory: factory).increment()
        latency.recordNanoseconds(Int64(exchange.seconds * 1e9))
    }

    /// The Prometheus text, after refreshing the gauges read from the database and the queues.
    func render(_ context: APIContext) throws -> String {
        let states = try context.store.read { db in
            try Dictionary(uniqueKeysWithValues: db.fetch("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                .map { row -> (String, Int) in (try row.get("state"), try row.get("n")) })
        }
        gauge("kennel_process", "info", "This process: its role in the deployment and its instance name.",
              labels: [("role", context.role.rawValue), ("instance", context.instance)]).set(Double(1))
        for state in JobState.allCases {
            gauge("kennel", "jobs", "Jobs by state.", labels: [("state", state.rawValue)])
                .set(Double(states[state.rawValue] ?? 0))
        }
        gauge("kennel_job_queue", "depth", "Jobs waiting to run.").set(Double(states[JobState.queued.rawValue] ?? 0))
        gauge("kennel_metric_points", "dropped", "Training scalars dropped because writing lagged.")
            .set(Double(context.jobs.metrics.dropped))
        gauge("kennel_classify", "in_flight", "Classification requests waiting or running.")
            .set(Double(context.classifyLimit.occupancy))
        gauge("kennel_classify", "capacity", "Classification requests admitted at once; more are answered 429.")
            .set(Double(context.classifyLimit.capacity))
        return registry.emitToString()
    }
}

extension ServerMetrics {
    /// The registry's gauge `<name>_<unit>` with `labels`, made on first use.
    private func gauge(_ name: String, _ unit: String, _ help: String, labels: [(String, String)] = []) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help),
                           labels: labels)
    }
}

extension Router.Builder {
    /// `GET /metrics`: Prometheus text.
    mutating func addPrometheusRoute(_ context: APIContext) {
        get("/metrics", execution: .queue(context.work)) { _ in
            var response = Response.text(try context.metrics.render(context))
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
    }
}
