import Foundation
import KennelHTTP
import KennelJobs
import KennelStore

/// A decimal integer as a client wrote it (what `Int64` parses, or a `-` and ASCII digits): its value, or digits beyond
/// Int64's range, which no id, step or version can have. Nil for any other text.
enum DecimalText: Equatable {
    case value(Int64)
    case beyondRange(negative: Bool)

    init?(_ text: some StringProtocol) {
        if let value = Int64(text) {
            self = .value(value)
            return
        }
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : text[...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        self = .beyondRange(negative: negative)
    }
}

/// `limit` and `after` of a list request.
struct PageRequest {
    let limit: Int
    let after: String?

    init(_ request: Request) throws {
        let raw = request.query["limit"] ?? "100"
        guard let limit = Int(raw), (1...1000).contains(limit) else {
            throw HTTPError.badRequest("limit must be 1…1000, got '\(raw)'")
        }
        self.limit = limit
        // An empty cursor is no cursor: the first page.
        after = request.query["after"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A numeric cursor: the number, nil for digits past Int64 (past every row: an empty page), or a 400
    /// naming `what` it should be.
    static func number(_ raw: String, of what: String) throws -> Int64? {
        switch DecimalText(raw) {
        case .value(let value)?: return value
        case .beyondRange(let negative)?: return negative ? .min : nil
        case nil: throw HTTPError.badRequest("after must be \(what), got '\(raw)'")
        }
    }

    /// A JSON array of `items`, with a `Link: <…>; rel="next"` header when the page is full.
    func response<Item: Encodable>(_ items: [Item], path: String, query: String = "", cursor: (Item) -> String)
        -> Response {
        var response = Response.json(items)
        if items.count == limit, let last = items.last {
            let cursorValue = cursor(last).addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
            response.headers["Link"] = "<\(path)?limit=\(limit)&after=\(cursorValue)\(query)>; rel=\"next\""
        }
        return response
    }
}

extension Response {
    /// A newly recorded job, with a `Location` pointing at it.
    static func job(_ job: JobRecord, status: HTTPStatus) -> Response {
        var response = Response.json(JobBody(job), status: status)
        response.headers["Location"] = "/v1/jobs/\(job.id ?? 0)"
        return response
    }
}

extension Router.Builder {
    /// `/v1/jobs…`: submit, list, inspect, cancel, metrics, checkpoints.
    mutating func addJobRoutes(_ context: APIContext) {
        post("/v1/jobs", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let spec = try request.decode(TrainingSpec.self)
            return .job(try APIErrors.map { try context.jobs.submit(spec) }, status: .created)
        }

        get("/v1/jobs") { request in
            let page = try PageRequest(request)
            let state = try request.query["state"].map { raw -> JobState in
                guard let state = JobState(rawValue: raw) else {
                    throw HTTPError.badRequest("state must be queued, running, succeeded, failed or cancelled")
                }
                return state
            }
            guard let after = try PageRequest.number(page.after ?? "0", of: "a job id") else {
                return page.response([JobBody](), path: "/v1/jobs") { String($0.id) }
            }
            let jobs = try context.store.read { db in
                let jobs = try db.records(JobRecord.self, "WHERE id > ? \(state == nil ? "" : "AND state = ?") ORDER BY id LIMIT ?",
                                          [after.sqlValue] + (state.map { [$0.sqlValue] } ?? []) + [page.limit.sqlValue])
                return try JobBody.list(jobs, db)
            }
            return page.response(jobs, path: "/v1/jobs",
                                 query: state.map { "&state=\($0.rawValue)" } ?? "") { String($0.id) }
        }

        get("/v1/jobs/{id}") { request in .json(try Self.jobBody(request, context)) }

        post("/v1/jobs/{id}/resume", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let id = try request.parameters.require("id", as: Int64.self)
            return .job(try APIErrors.map { try context.jobs.resume(id) }, status: .accepted)
        }

        on(.delete, "/v1/jobs/{id}", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let id = try request.parameters.require("id", as: Int64.self)
            try APIErrors.map { try context.jobs.delete(id) }
            return Response(status: .noContent)
        }

        post("/v1/jobs/{id}/cancel", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let id = try request.parameters.require("id", as: Int64.self)
            try APIErrors.map { _ = try context.jobs.cancel(id) }
            return .json(try Self.jobBody(request, context), status: .accepted)
        }

        get("/v1/jobs/{id}/metrics") { request in
            let job = try Self.job(request, context)
            let afterStep = try request.query["after_step"].map { raw -> Int in
                guard let step = Int(raw) else { throw HTTPError.badRequest("after_step must be an integer") }
                return step
            } ?? -1
            let points = try context.store.read { db in
                let tag = request.query["tag"]
                return try db.records(MetricRecord.self,
                                      "WHERE job_id = ? AND step > ? \(tag == nil ? "" : "AND tag = ?") ORDER BY step, tag",
                                      [job.id.sqlValue, afterStep.sqlValue] + (tag.map { [$0.sqlValue] } ?? []))
            }
            return .json(points.map(MetricBody.init))
        }

        get("/v1/jobs/{id}/checkpoints") { request in
            let job = try Self.job(request, context)
            let page = try PageRequest(request)
            guard let afterStep = try PageRequest.number(page.after ?? "-1", of: "a checkpoint's step") else {
                return page.response([CheckpointBody](), path: "/v1/jobs/\(job.id!)/checkpoints") { String($0.step) }
            }
            let records = try context.store.read { db in
                try db.records(CheckpointRecord.self, "WHERE job_id = ? AND step > ? ORDER BY step LIMIT ?",
                               job.id, afterStep, page.limit)
            }
            return page.response(records.map(CheckpointBody.init), path: "/v1/jobs/\(job.id!)/checkpoints") {
                String($0.step)
            }
        }
    }

    /// The answer for the job named by the `{id}` parameter, or 404.
    static func jobBody(_ request: Request, _ context: APIContext) throws -> JobBody {
        let job = try Self.job(request, context)
        return try context.store.read { db in try JobBody.list([job], db)[0] }
    }

    /// The job named by the `{id}` parameter, or 404.
    static func job(_ request: Request, _ context: APIContext) throws -> JobRecord {
        let id = try request.parameters.require("id", as: Int64.self)
        guard let job = try JobLedger(store: context.store).job(id) else { throw HTTPError.notFound("no job with id \(id)") }
        return job
    }
}
