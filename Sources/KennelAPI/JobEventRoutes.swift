import Dispatch
import Foundation
import KennelHTTP
import KennelJobs
import KennelStore
import Synchronization

/// A position in a job's event sequence. Events are ordered by step, then train scalars before test scalars
/// before the epoch's checkpoint, then tag: the order the trainer emits them in. The SSE `id:` of an event is
/// its cursor, so `Last-Event-ID` says exactly what a reconnecting client has already seen.
struct EventCursor: Comparable, Sendable {
    let step: Int
    let rank: Int
    let tag: String

    static let start = EventCursor(step: -1, rank: 0, tag: "")

    init(step: Int, rank: Int, tag: String) {
        (self.step, self.rank, self.tag) = (step, rank, tag)
    }

    init(_ point: MetricRecord) {
        self.init(step: point.step, rank: point.tag.hasPrefix("train/") ? 0 : 1, tag: point.tag)
    }

    init(_ checkpoint: CheckpointRecord) { self.init(step: checkpoint.step, rank: 2, tag: "checkpoint") }

    /// Parses an `id:` this server sent (`step:rank:tag`).
    init?(id: String) {
        let parts = id.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let step = Int(parts[0]), let rank = Int(parts[1]) else { return nil }
        self.init(step: step, rank: rank, tag: String(parts[2]))
    }

    var id: String { "\(step):\(rank):\(tag)" }

    static func < (a: EventCursor, b: EventCursor) -> Bool { (a.step, a.rank, a.tag) < (b.step, b.rank, b.tag) }
}

/// One client's `text/event-stream` of a job: the history after its cursor, then live events from the bus,
/// then the end after the job's final state. Live events that arrive during the replay are held and sent after
/// it, skipping what the replay already covered.
final class JobEventStream: Sendable {
    let job: Int64
    let stream = ResponseStream()
    private let store: Store
    private let state: Mutex<(cursor: EventCursor, replaying: Bool, held: [JobEvent])>

    init(job: Int64, after cursor: EventCursor, store: Store) {
        self.job = job
        self.store = store
        state = Mutex((cursor: cursor, replaying: true, held: []))
    }

    /// The position of the last metric or checkpoint sent.
    var cursor: EventCursor { state.withLock { $0.cursor } }

    /// A live event from the bus (on the publisher's thread).
    func receive(_ event: JobEvent) {
        state.withLock { state in
            if state.replaying { state.held.append(event) } else { send(event, cursor: &state.cursor) }
        }
    }

    /// Sends the stored history in order and the job's current state; live events stay held until `goLive`.
    func replay(_ history: [JobEvent], current: JobState) {
        state.withLock { state in
            for event in history { send(event, cursor: &state.cursor) }
            send(.state(job: job, state: current), cursor: &state.cursor)
        }
    }

    /// Sends `late` history (points stored since the replay) and the held live events, in cursor order and
    /// each once, held state changes last; from then on live events go straight out.
    func goLive(after late: [JobEvent]) {
        state.withLock { state in
            let changes = state.held.filter { if case .state = $0 { true } else { false } }
            let points = (late + state.held).compactMap { event in Self.cursor(of: event).map { ($0, event) } }
            for (_, event) in points.sorted(by: { $0.0 < $1.0 }) { send(event, cursor: &state.cursor) }
            for change in changes { send(change, cursor: &state.cursor) }
            state.held = []
            state.replaying = false
        }
    }

    /// Where a metric or checkpoint sorts in the stream; nil for a state change, which carries no position.
    static func cursor(of event: JobEvent) -> EventCursor? {
        switch event {
        case .metric(let point): EventCursor(point)
        case .checkpoint(let record): EventCursor(record)
        case .state: nil
        }
    }

    /// Writes a comment line every `seconds` until the stream ends, so clients and proxies see it alive.
    func keepAlive(every seconds: TimeInterval, on queue: DispatchQueue) {
        queue.asyncAfter(deadline: .now() + seconds) { [weak self] in
            guard let self, !self.stream.isFinished else { return }
            self.stream.write(": heartbeat\n\n")
            self.keepAlive(every: seconds, on: queue)
        }
    }

    private func send(_ event: JobEvent, cursor: inout EventCursor) {
        guard !stream.isFinished else { return }
        switch event {
        case .metric(let point):
            guard advance(&cursor, to: EventCursor(point)) else { return }
            write("metric", id: cursor.id, MetricBody(point))
        case .checkpoint(let record):
            guard advance(&cursor, to: EventCursor(record)) else { return }
            write("checkpoint", id: cursor.id, CheckpointBody(record))
        case .state(_, let next):
            struct Body: Encodable {
                let jobId: Int64, state: String, progress: Double
                enum CodingKeys: String, CodingKey { case jobId = "job_id", state, progress }
            }
            let progress = (try? JobLedger(store: store).job(job))?.progress ?? 0
            write("state", id: cursor.id, Body(jobId: job, state: next.rawValue, progress: progress))
            if next.isFinal { stream.finish() }
        }
    }

    private func advance(_ cursor: inout EventCursor, to next: EventCursor) -> Bool {
        guard next > cursor else { return false }
        cursor = next
        return true
    }

    private func write(_ name: String, id: String, _ body: some Encodable) {
        guard let data = try? Response.jsonBytes(body) else { return }
        stream.write("id: \(id)\nevent: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }
}

extension Router.Builder {
    /// `GET /v1/jobs/{id}/events` and `GET /v1/metrics.csv`.
    mutating func addJobEventRoutes(_ context: APIContext) {
        let heartbeats = DispatchQueue(label: "kennel.events.heartbeat")

        get("/v1/jobs/{id}/events", execution: .queue(context.work)) { request in
            let job = try Self.job(request, context)
            let id = job.id!
            // An id this server cannot place (another server's, or none it sent) replays the whole history,
            // as a first connection does: the client gets everything rather than an error it cannot act on.
            let cursor = request.headers["Last-Event-ID"].flatMap(EventCursor.init(id:)) ?? .start
            let events = JobEventStream(job: id, after: cursor, store: context.store)
            // Subscribe before reading history so nothing published in between is missed.
            let token = context.jobs.bus.subscribe(job: id) { events.receive($0) }
            events.stream.onTermination { context.jobs.bus.unsubscribe(token) }
            events.keepAlive(every: context.heartbeatSeconds, on: heartbeats)
            let (history, current) = try Self.storedEvents(of: id, after: cursor, context)
            events.replay(history, current: current ?? job.state)
            // On a shared database the trainer may be another process, holding up to one flush interval of points
            // that are neither stored yet nor live here (published before this stream subscribed). Read them once
            // that process has flushed, then go live; a stream of a finished job has nothing outstanding.
            if context.store.engine.notifiesOtherProcesses, !(current ?? job.state).isFinal {
                let wait = context.jobs.metrics.flushInterval + .milliseconds(500)
                heartbeats.asyncAfter(deadline: .now() + .milliseconds(Int(wait / .milliseconds(1)))) {
                    let late = (try? Self.storedEvents(of: id, after: events.cursor, context))?.events ?? []
                    events.goLive(after: late)
                }
            } else {
                events.goLive(after: [])
            }
            return Response(headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                      "X-Accel-Buffering": "no"],
                            body: .stream(events.stream))
        }

        get("/v1/metrics.csv", execution: .queue(context.work)) { request in
            let ids = try (request.query["jobs"] ?? "").split(separator: ",").map { raw -> Int64 in
                let text = raw.trimmingCharacters(in: .whitespaces)
                switch DecimalText(text) {
                case .value(let id)?: return id
                // Digits past Int64 are an id no job can have.
                case .beyondRange?: throw HTTPError.notFound("no job \(text)")
                case nil: throw HTTPError.badRequest("jobs must be a comma-separated list of job ids, got '\(raw)'")
                }
            }
            guard !ids.isEmpty else { throw HTTPError.badRequest("name the runs: /v1/metrics.csv?jobs=1,2[&tags=…]") }
            let tags = request.query["tags"].map { $0.split(separator: ",").map(String.init) } ?? []
            let points = try context.store.read { db -> [MetricRecord] in
                let unique = Array(Set(ids))
                let known = try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM jobs WHERE \(SQL.in("id", unique.count))",
                                          unique.map(\.sqlValue))
                guard known == unique.count else { throw HTTPError.notFound("jobs \(ids) are not all known") }
                let tagFilter = tags.isEmpty ? "" : "AND \(SQL.in("tag", tags.count))"
                return try db.records(MetricRecord.self, "WHERE \(SQL.in("job_id", unique.count)) \(tagFilter) ORDER BY job_id, tag, step",
                                      unique.map(\.sqlValue) + tags.map(\.sqlValue))
            }
            var csv = "job_id,tag,step,wall_time,value\n"
            csv.reserveCapacity(points.count * 48)
            for point in points {
                csv += "\(point.jobId),\(Self.csvField(point.tag)),\(point.step),\(point.wallTime),\(point.value)\n"
            }
            var response = Response.text(csv)
            response.headers["Content-Type"] = "text/csv; charset=utf-8"
            response.headers["Content-Disposition"] = "attachment; filename=\"kennel-metrics.csv\""
            return response
        }
    }

    /// A job's stored metrics and checkpoints from `cursor`'s step on, in stream order, with the points this
    /// process has recorded but not yet written (they replace stored ones of the same key), and its stored state.
    private static func storedEvents(of job: Int64, after cursor: EventCursor, _ context: APIContext) throws
        -> (events: [JobEvent], state: JobState?) {
        let (stored, checkpoints, state) = try context.store.read { db in
            (try db.records(MetricRecord.self, "WHERE job_id = ? AND step >= ?", job, cursor.step),
             try db.records(CheckpointRecord.self, "WHERE job_id = ? AND step >= ?", job, cursor.step),
             try db.record(JobRecord.self, "WHERE id = ?", job)?.state)
        }
        var points: [String: MetricRecord] = [:]
        for point in stored + context.jobs.metrics.pending(job: job) { points["\(point.tag)@\(point.step)"] = point }
        let events = (points.values.map(JobEvent.metric) + checkpoints.map(JobEvent.checkpoint))
            .map { (JobEventStream.cursor(of: $0)!, $0) }
            .sorted { $0.0 < $1.0 }.map(\.1)
        return (events, state)
    }

    /// A CSV field, quoted when it holds a comma, quote or line break.
    private static func csvField(_ text: String) -> String {
        guard text.contains(where: { ",\"\n\r".contains($0) }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
