import Foundation
import KennelHTTP
import KennelJobs

/// One classification answer (DESIGN.md: model, version, top-K predictions, timing), as `POST …:classify` and
/// `kennel classify` print it.
public struct ClassifyAnswer: Encodable, Sendable {
    struct Prediction: Encodable {
        let label: String
        let `class`: String
        let probability: Float
    }
    struct Timing: Encodable {
        let decode: Double
        let queue: Double
        let infer: Double
    }
    let model: String
    let version: Int
    let predictions: [Prediction]
    let timingMs: Timing

    enum CodingKeys: String, CodingKey { case model, version, predictions, timingMs = "timing_ms" }

    public init(_ model: ServedModel, _ result: ServedModel.Classification) {
        self.model = model.name
        version = model.version
        predictions = result.predictions.map { .init(label: $0.label, class: $0.classId, probability: $0.probability) }
        timingMs = .init(decode: result.decodeMilliseconds, queue: result.queueMilliseconds,
                         infer: result.inferMilliseconds)
    }
}

extension Router.Builder {
    /// A raw image body this small never waits for the decode budget (a busy budget is a 503 at once).
    static let inlineImageBytes = 4096
    /// … and is decoded where the request arrived (a polling thread) when its header announces at most this many
    /// pixels: a fraction of a millisecond. A 4 KB file can announce far more (megapixels of flat color compress
    /// that well), and those go to a lane like any other.
    static let inlinePixels = 256 * 256

    /// The served model; on a polling thread only one already loaded (evicted since the server chose to run the
    /// request there, it is loaded in the background and the client asked to retry, rather than read from disk
    /// on a thread that serves other connections).
    private static func model(_ name: String, for request: Request, _ context: APIContext) throws -> ServedModel {
        guard request.runsOnPollingThread else { return try context.models.served(name) }
        if let model = context.models.resident(name) { return model }
        context.work.async { _ = try? context.models.served(name) }
        throw HTTPError(.serviceUnavailable, code: "loading", message: "model '\(name)' is loading; retry",
                        headers: ["Retry-After": "1"])
    }

    /// Whether a classification is quick enough to start on the polling thread: one small raw image of few
    /// pixels, for a model already loaded.
    static func runsInline(_ request: Request, _ context: APIContext) -> Bool {
        guard request.form == nil, request.body.count <= inlineImageBytes,
              !(request.headers["Content-Type"] ?? "").lowercased().hasPrefix("application/json"),
              let header = try? context.decoder.inspect([UInt8](request.body)),
              header.width * header.height <= inlinePixels else { return false }
        return context.models.resident(request.parameters["name"] ?? "") != nil
    }

    /// Classifies the request's images: a raw JPEG/PNG body (curl -T, --data-binary), multipart form files
    /// (curl -F image=@dog.jpg; several files answer an array), or TF Serving's JSON
    /// `{"instances":[{"b64":"…"}]}` (an array of answers, one per instance).
    static func classify(_ request: Request, _ context: APIContext) throws -> Response {
        let name = try request.parameters.require("name")
        let model = try APIErrors.map { try Self.model(name, for: request, context) }
        let topK = try request.query["top_k"].map { raw -> Int in
            guard let value = Int(raw), value >= 1 else { throw HTTPError.badRequest("top_k must be a positive integer") }
            return value
        } ?? 5
        func answer(_ bytes: [UInt8]) throws -> ClassifyAnswer {
            let result = try APIErrors.map { try model.classify(bytes, topK: topK, decoder: context.decoder) }
            return ClassifyAnswer(model, result)
        }
        // One image is answered when its pass is done, with no thread waiting for it; the answer is encoded by
        // the thread that sends it.
        func answerLater(_ bytes: [UInt8]) throws -> Response {
            let pending = PendingResponse()
            let decoder = bytes.count <= inlineImageBytes ? context.impatientDecoder : context.decoder
            try APIErrors.map {
                try model.classify(bytes, topK: topK, decoder: decoder) { classification in
                    pending.resolve { .json(ClassifyAnswer(model, try APIErrors.map(classification))) }
                }
            }
            return Response(body: .pending(pending))
        }
        let contentType = (request.headers["Content-Type"] ?? "").lowercased()
        if contentType.hasPrefix("application/json") {
            struct Instances: Decodable {
                struct Instance: Decodable { let b64: String }
                let instances: [Instance]
            }
            let body = try request.decode(Instances.self)
            guard !body.instances.isEmpty else { throw HTTPError.badRequest("instances is empty") }
            return .json(try body.instances.map { instance in
                guard let data = Data(base64Encoded: instance.b64, options: .ignoreUnknownCharacters) else {
                    throw HTTPError.badRequest("an instance's b64 is not base64")
                }
                return try answer([UInt8](data))
            })
        }
        if let form = request.form {
            let files = form.filter { $0.filename != nil || $0.name == "image" }
            guard !files.isEmpty else {
                throw HTTPError.badRequest("the form has no file; send it as field 'image' (curl -F image=@dog.jpg)")
            }
            if files.count == 1 { return try answerLater([UInt8](files[0].body)) }
            return .json(try files.map { try answer([UInt8]($0.body)) })
        }
        guard !request.body.isEmpty else {
            throw HTTPError(.unsupportedMediaType, code: "not_an_image",
                            message: "the body is empty; send a JPEG or PNG (image/jpeg, image/png)")
        }
        return try answerLater([UInt8](request.body))
    }
}
