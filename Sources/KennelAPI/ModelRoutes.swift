import Foundation
import KennelEngine
import KennelHTTP
import KennelImage
import KennelJobs
import KennelStore

extension Router.Builder {
    /// `/v1/models…`: promote, list, roll back, classify; and `/readyz`.
    mutating func addModelRoutes(_ context: APIContext) {
        struct Promotion: Decodable {
            let name: String
            let jobId: Int64
            let checkpoint: Int64?
            let precision: String?
            enum CodingKeys: String, CodingKey { case name, jobId = "job_id", checkpoint, precision }
        }

        post("/v1/models", execution: .queue(context.work)) { request in
            try context.authorize(request)
            if let form = request.form { return try Self.importKeras(form, context) }
            let promotion = try request.decode(Promotion.self)
            let precision = try promotion.precision.map { text in
                guard let precision = Precision(rawValue: text) else {
                    throw HTTPError(.unprocessableContent, code: "invalid_field",
                                    message: "precision must be one of "
                                        + Precision.allCases.map(\.rawValue).joined(separator: ", ") + ", got '\(text)'",
                                    headers: ["X-Invalid-Field": "precision"])
                }
                return precision
            } ?? .fp32
            let served = try APIErrors.map {
                try context.models.promote(name: promotion.name, job: promotion.jobId, checkpoint: promotion.checkpoint,
                                           precision: precision)
            }
            return .json(try Self.model(named: served.name, version: served.version, context), status: .created)
        }

        get("/v1/models") { request in
            let page = try PageRequest(request)
            // The cursor is `name@version`, the last row of the previous page.
            let (afterName, afterVersion) = try page.after.map { cursor -> (String, Int) in
                let at = cursor.lastIndex(of: "@")
                let version = at.map { cursor[cursor.index(after: $0)...] } ?? ""
                switch version.allSatisfy({ $0.isASCII && $0.isNumber }) ? DecimalText(version) : nil {
                case .value(let number)?: return (String(cursor[..<at!]), Int(number))
                // A version past Int64 is past every version.
                case .beyondRange?: return (String(cursor[..<at!]), .max)
                case nil:
                    throw HTTPError.badRequest("after must be NAME@VERSION, the last model of the previous page, "
                                               + "got '\(cursor)'")
                }
            } ?? ("", 0)
            let models = try context.store.read { db in
                try ModelBody.list(try db.records(ModelRecord.self, """
                    WHERE name > ? OR (name = ? AND version > ?) ORDER BY name, version LIMIT ?
                    """, afterName, afterName, afterVersion, page.limit), db)
            }
            return page.response(models, path: "/v1/models") { "\($0.name)@\($0.version)" }
        }

        get("/v1/models/{name}") { request in
            let name = try request.parameters.require("name")
            let models = try context.store.read { db in
                try ModelBody.list(try db.records(ModelRecord.self, "WHERE name = ? ORDER BY version", name), db)
            }
            guard !models.isEmpty else { throw HTTPError.notFound("no model named '\(name)'") }
            return .json(models)
        }

        // One version: its origin, accuracy, input and recorded preprocessing (read from its checkpoint's header).
        get("/v1/models/{name}/versions/{version}", execution: .queue(context.work)) { request in
            let name = try request.parameters.require("name"), version = try Self.version(request, of: name)
            let (body, checkpoint) = try context.store.read { db -> (ModelBody, CheckpointRecord?) in
                guard let record = try db.record(ModelRecord.self, "WHERE name = ? AND version = ?", name, version) else {
                    throw HTTPError.notFound("model '\(name)' has no version \(version)")
                }
                return (try ModelBody.list([record], db)[0],
                        try db.record(CheckpointRecord.self, "WHERE id = ?", record.checkpointId))
            }
            guard let checkpoint, let header = try? Checkpoint.header(atPath: checkpoint.path) else {
                throw HTTPError(.internalServerError, code: "checkpoint_unreadable",
                                message: "the checkpoint of version \(version) of '\(name)' cannot be read")
            }
            var answer = body
            answer.inputShape = header.inputShape
            answer.preprocessing = header.preprocessing
            return .json(answer)
        }

        get("/v1/models/{name}/versions/{version}/model.onnx", execution: .queue(context.work)) { request in
            let name = try request.parameters.require("name"), version = try Self.version(request, of: name)
            let (model, bytes) = try APIErrors.map { try context.models.onnx(of: name, version: version) }
            var response = Response(body: .bytes(bytes))
            response.headers["Content-Type"] = "application/octet-stream"
            response.headers["Content-Disposition"] = "attachment; filename=\"\(model.name)-v\(model.version).onnx\""
            return response
        }

        post("/v1/models/{name}/rollback", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let name = try request.parameters.require("name")
            let served = try APIErrors.map { try context.models.rollback(name: name) }
            return .json(try Self.model(named: served.name, version: served.version, context))
        }

        // PUT too: `curl -T image.jpg URL` uploads with PUT. A small image of few pixels for a loaded model is
        // decoded on the polling thread and answered from the model's thread: no lane, one handoff each way.
        for method in [HTTPMethod.post, .put] {
            on(method, "/v1/models/{name}:classify",
               execution: .lanes(context.classify, limit: context.classifyLimit,
                                 runsInline: { Self.runsInline($0, context) })) { request in
                try context.authorize(request)
                return try Self.classify(request, context)
            }
        }

        post("/v1/models/{name}:predict", execution: .lanes(context.classify, limit: context.classifyLimit)) { request in
            try context.authorize(request)
            return try Self.predict(request, context)
        }

        get("/v1/models/{name}/filters.png", execution: .queue(context.work)) { request in
            let model = try APIErrors.map { try context.models.served(try request.parameters.require("name")) }
            guard let kernel = model.firstKernel else {
                throw HTTPError.notFound("model '\(model.name)' has no convolution layer to draw")
            }
            var response = Response(body: .bytes(try ImageEncoder.png(FilterGrid.image(kernel: kernel))))
            response.headers["Content-Type"] = "image/png"
            response.headers["Cache-Control"] = "no-cache"
            return response
        }

        get("/v1/models/{name}/confusion") { request in
            let name = try request.parameters.require("name")
            return .json(try Self.confusion(of: name, context))
        }

        // Ready once every served model is loaded, or was let go to keep within the resident-model budget (it
        // then loads on its next request, which `on_demand` says).
        get("/readyz") { _ in
            let models = try context.models.readiness()
            struct Status: Encodable {
                let status: String
                let role: String
                let instance: String
                let models: [Entry]
                struct Entry: Encodable {
                    let name: String
                    let version: Int
                    let ready: Bool
                    let onDemand: Bool
                    enum CodingKeys: String, CodingKey { case name, version, ready, onDemand = "on_demand" }
                }
            }
            let ready = models.allSatisfy { $0.ready || $0.onDemand }
            return .json(Status(status: ready ? "ready" : "loading", role: context.role.rawValue,
                                instance: context.instance, models: models.map { .init(name: $0.name, version: $0.version, ready: $0.ready,
                                                           onDemand: $0.onDemand) }),
                         status: ready ? .ok : .serviceUnavailable)
        }

        on(.delete, "/v1/models/{name}", execution: .queue(context.work)) { request in
            try context.authorize(request)
            let name = try request.parameters.require("name")
            try APIErrors.map { try context.models.unserve(name: name) }
            return Response(status: .noContent)
        }
    }

    /// `POST /v1/models` with a multipart form: a Keras file (`file`, `.keras` or `.h5`), the model's `name`, and
    /// optionally its `labels` (a JSON array or comma-separated). Answers 201 with the new, served version.
    private static func importKeras(_ form: [FormPart], _ context: APIContext) throws -> Response {
        func field(_ name: String) -> String? {
            form.first { $0.name == name && $0.filename == nil }.map { String(decoding: $0.body, as: UTF8.self) }
        }
        guard let file = form.first(where: { $0.filename != nil || $0.name == "file" }) else {
            throw HTTPError.badRequest("the form has no file; send the Keras model as field 'file' "
                                       + "(curl -F file=@model.keras -F name=dogs)")
        }
        guard let name = field("name")?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
            throw HTTPError(.unprocessableContent, code: "invalid_field", message: "name the model: -F name=NAME",
                            headers: ["X-Invalid-Field": "name"])
        }
        let labels = try field("labels").map { text -> [String] in
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("[") {
                guard let list = try? JSONDecoder().decode([String].self, from: Data(trimmed.utf8)) else {
                    throw HTTPError(.unprocessableContent, code: "invalid_field",
                                    message: "labels: a JSON array of strings, or names separated by commas",
                                    headers: ["X-Invalid-Field": "labels"])
                }
                return list
            }
            return trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let served = try APIErrors.map {
            try context.models.importKeras(name: name, file: [UInt8](file.body), filename: file.filename ?? "model",
                                           labels: labels)
        }
        return .json(try Self.model(named: served.name, version: served.version, context), status: .created)
    }

    /// The `{version}` path parameter of model `name`: a version number, else 404.
    static func version(_ request: Request, of name: String) throws -> Int {
        let text = try request.parameters.require("version")
        guard let version = Int(text), version >= 1 else {
            throw HTTPError.notFound("model '\(name)' has no version '\(text)'")
        }
        return version
    }

    /// The served checkpoint's confusion matrix on its test split, as the trainer recorded it.
    private static func confusion(of name: String, _ context: APIContext) throws -> ConfusionBody {
        let (model, checkpoint) = try context.store.read { db -> (ModelRecord, CheckpointRecord) in
            guard let version = try ModelRegistry.servedVersion(of: name, in: db),
                  let model = try db.record(ModelRecord.self, "WHERE name = ? AND version = ?", name, version),
                  let checkpoint = try db.record(CheckpointRecord.self, "WHERE id = ?", model.checkpointId) else {
                throw HTTPError.notFound("no model named '\(name)'")
            }
            return (model, checkpoint)
        }
        let recorded = checkpoint.recordedTestMetrics
        let labels = (try? JSONDecoder().decode([String].self, from: Data(model.labelsJson.utf8))) ?? []
        guard let matrix = recorded?.confusion else {
            throw HTTPError.notFound("model '\(name)' version \(model.version) has no confusion matrix recorded")
        }
        return ConfusionBody(model: name, version: model.version, labels: labels, matrix: matrix,
                             accuracy: recorded?.accuracy)
    }

    private static func model(named name: String, version: Int, _ context: APIContext) throws -> ModelBody {
        try context.store.read { db in
            guard let record = try db.record(ModelRecord.self, "WHERE name = ? AND version = ?", name, version) else {
                throw HTTPError.notFound("no model named '\(name)'")
            }
            return try ModelBody.list([record], db)[0]
        }
    }
}
