import Foundation
import GRDB
import KennelHTTP
import KennelJobs
import KennelStore
import Synchronization

/// Requests answered, by method, route pattern and status, and their latencies: fed by the server's
/// exchange observer. Route patterns (not paths) keep the label set bounded.
public final class RequestMetrics: Sendable {
    fileprivate struct Key: Hashable, Comparable {
        let method: String, route: String, status: Int
        static func < (a: Key, b: Key) -> Bool { (a.route, a.method, a.status) < (b.route, b.method, b.status) }
    }

    private let counts = Mutex([Key: Int]())
    let latency = Histogram.latencySeconds()

    public init() {}

    /// Counts one finished exchange.
    @Sendable public func record(_ exchange: ExchangeSummary) {
        counts.withLock { $0[Key(method: exchange.method.rawValue, route: exchange.route, status: exchange.status), default: 0] += 1 }
        latency.observe(exchange.seconds)
    }

    fileprivate var sortedCounts: [(Key, Int)] { counts.withLock { $0.sorted { $0.key < $1.key } } }
}

/// The Prometheus text exposition of `GET /metrics`.
struct PrometheusText {
    private var lines: [String] = []

    /// Renders everything the server measures, reading job counts from the database.
    static func render(_ context: APIContext) throws -> String {
        var text = PrometheusText()
        text.family("kennel_http_requests_total", "counter", "HTTP requests answered, by method, route and status.")
        for (key, count) in context.requestMetrics.sortedCounts {
            text.sample("kennel_http_requests_total",
                        ["method": key.method, "route": key.route, "status": String(key.status)], Double(count))
        }
        text.histogram("kennel_http_request_duration_seconds", "Time from a request's first byte to its answer.",
                       context.requestMetrics.latency)

        let states = try context.store.pool.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                .map { (row: Row) -> (String, Int) in (row["state"], row["n"]) })
        }
        text.family("kennel_jobs", "gauge", "Jobs in the database, by state.")
        for state in JobState.allCases {
            text.sample("kennel_jobs", ["state": state.rawValue], Double(states[state.rawValue] ?? 0))
        }
        text.family("kennel_job_queue_depth", "gauge", "Jobs waiting to run.")
        text.sample("kennel_job_queue_depth", [:], Double(states[JobState.queued.rawValue] ?? 0))
        text.family("kennel_metric_points_dropped_total", "counter", "Training scalars dropped because writing lagged.")
        text.sample("kennel_metric_points_dropped_total", [:], Double(context.jobs.metrics.dropped))

        text.family("kennel_classify_in_flight", "gauge", "Classification requests waiting or running.")
        text.sample("kennel_classify_in_flight", [:], Double(context.classifyLimit.occupancy))
        text.family("kennel_classify_capacity", "gauge", "Classification requests admitted at once; more get 429.")
        text.sample("kennel_classify_capacity", [:], Double(context.classifyLimit.capacity))
        let statistics = context.models.statistics
        text.histogram("kennel_classify_batch_size", "Images per forward pass.", statistics.batchSizes)
        text.histogram("kennel_classify_queue_wait_seconds", "Time an image waited for its forward pass.",
                       statistics.queueWait)
        text.histogram("kennel_classify_compute_seconds", "Time of forward passes.", statistics.compute)
        return text.lines.joined(separator: "\n") + "\n"
    }

    private mutating func family(_ name: String, _ type: String, _ help: String) {
        lines.append("# HELP \(name) \(help)")
        lines.append("# TYPE \(name) \(type)")
    }

    private mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }
        lines.append(name + (rendered.isEmpty ? "" : "{\(rendered.joined(separator: ","))}") + " " + Self.number(value))
    }

    private mutating func histogram(_ name: String, _ help: String, _ histogram: Histogram) {
        family(name, "histogram", help)
        let (cumulative, sum) = histogram.snapshot
        for (bound, count) in zip(histogram.bounds.map(Self.number) + ["+Inf"], cumulative) {
            sample(name + "_bucket", ["le": bound], Double(count))
        }
        sample(name + "_sum", [:], sum)
        sample(name + "_count", [:], Double(cumulative.last ?? 0))
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension Router.Builder {
    /// `GET /metrics`: Prometheus text.
    mutating func addPrometheusRoute(_ context: APIContext) {
        get("/metrics", execution: .queue(context.work)) { _ in
            var response = Response.text(try PrometheusText.render(context))
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
    }
}
