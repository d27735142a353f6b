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
    /// `{"instances":[{"b64":"…"}]}` (an array of answers, one per instance). Several images are one forward pass.
    static func classify(_ request: Request, _ context: APIContext) throws -> Response {
        let name = try request.parameters.require("name")
        let model = try APIErrors.map { try Self.model(name, for: request, context) }
        let topK = try request.query["top_k"].map { raw -> Int in
            guard let value = Int(raw), value >= 1 else { throw HTTPError.badRequest("top_k must be a positive integer") }
            return value
        } ?? 5
        let contentType = (request.headers["Content-Type"] ?? "").lowercased()
        if contentType.hasPrefix("application/json") {
            let images = try request.decode(ImageInstances.self).images
            return try classifyLater(images, model, topK: topK, context) { .json($0.map { ClassifyAnswer(model, $0) }) }
        }
        if let form = request.form {
            let files = form.filter { $0.filename != nil || $0.name == "image" }
            guard !files.isEmpty else {
                throw HTTPError.badRequest("the form has no file; send it as field 'image' (curl -F image=@dog.jpg)")
            }
            return try classifyLater(files.map { [UInt8]($0.body) }, model, topK: topK, context) { answers in
                files.count == 1 ? .json(ClassifyAnswer(model, answers[0])) : .json(answers.map { ClassifyAnswer(model, $0) })
            }
        }
        guard !request.body.isEmpty else {
            throw HTTPError(.unsupportedMediaType, code: "not_an_image",
                            message: "the body is empty; send a JPEG or PNG (image/jpeg, image/png)")
        }
        return try classifyLater([[UInt8](request.body)], model, topK: topK, context) {
            .json(ClassifyAnswer(model, $0[0]))
        }
    }

    /// Answers with `images`' classifications once their forward pass (one, whatever their number) is done, with
    /// no thread waiting for it; `respond` builds the answer on the thread that sends it.
    static func classifyLater(_ images: [[UInt8]], _ model: ServedModel, topK: Int, _ context: APIContext,
                              respond: @escaping @Sendable ([ServedModel.Classification]) throws -> Response) throws
        -> Response {
        try probabilitiesLater(of: images, model, context) { probabilities in
            try respond(model.classifications(probabilities, topK: topK))
        }
    }

    /// Answers once the forward pass of encoded `images` is done: one image is decoded here, several on the
    /// model's thread (`ServedModel.probabilities(decoding:)`); `respond` builds the answer from their
    /// probabilities on the thread that sends it.
    static func probabilitiesLater(of images: [[UInt8]], _ model: ServedModel, _ context: APIContext,
                                   respond: @escaping @Sendable (Probabilities) throws -> Response) throws -> Response {
        try checkImageCount(images.count, model)
        let decoder = images.count == 1 && images[0].count <= inlineImageBytes ? context.impatientDecoder : context.decoder
        return try answerLater(respond) { completion in
            try model.probabilities(decoding: images, decoder: decoder, completion: completion)
        }
    }

    /// Answers once the forward pass of `count` inputs in the model's shape is done, as `probabilitiesLater(of:)`.
    static func probabilitiesLater(_ input: [Float], count: Int, _ model: ServedModel,
                                   respond: @escaping @Sendable (Probabilities) throws -> Response) throws -> Response {
        try answerLater(respond) { completion in try model.probabilities(input, count: count, completion: completion) }
    }

    /// A pending answer that `start`'s completion resolves through `respond`; errors answer as a handler's do.
    private static func answerLater(
        _ respond: @escaping @Sendable (Probabilities) throws -> Response,
        start: (@escaping @Sendable (Result<Probabilities, any Error>) -> Void) throws -> Void) throws -> Response {
        let pending = PendingResponse()
        try APIErrors.map {
            try start { result in pending.resolve { try respond(try APIErrors.map { try result.get() }) } }
        }
        return Response(body: .pending(pending))
    }

    /// TF Serving's `:predict`: `{"instances": […]}` of encoded images answers `{"predictions": [[p0, …], …]}`,
    /// each image's class probabilities in class index order.
    static func predict(_ request: Request, _ context: APIContext) throws -> Response {
        let model = try APIErrors.map { try Self.model(try request.parameters.require("name"), for: request, context) }
        let images = try request.decode(ImageInstances.self).images
        return try probabilitiesLater(of: images, model, context) { result in
            .json(bytes: Response.jsonObject([("predictions", try Response.jsonArray(of: result.values,
                                                                                    rowLength: result.classes))]))
        }
    }

    /// Refuses a request of no images, or of more than one forward pass of the model may take.
    static func checkImageCount(_ count: Int, _ model: ServedModel) throws {
        guard count >= 1 else { throw HTTPError.badRequest("the request holds no image") }
        guard count <= model.maximumImagesPerPass else {
            throw HTTPError(.contentTooLarge, code: "too_many_images",
                            message: "\(count) images in one request; model '\(model.name)' takes at most "
                                + "\(model.maximumImagesPerPass) per request: split them")
        }
    }
}

/// TF Serving's request of encoded images: `{"instances": [{"b64": "…"} or {"image_bytes": {"b64": "…"}}, …]}`.
struct ImageInstances: Decodable {
    let images: [[UInt8]]

    private struct Encoded: Decodable {
        let b64: String
    }
    private struct Instance: Decodable {
        let bytes: [UInt8]
        enum CodingKeys: String, CodingKey { case b64, imageBytes = "image_bytes" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let text = try container.decodeIfPresent(String.self, forKey: .b64)
                ?? container.decodeIfPresent(Encoded.self, forKey: .imageBytes)?.b64
            guard let text else {
                throw HTTPError.badRequest("an instance must be {\"b64\": \"…\"} or {\"image_bytes\": {\"b64\": \"…\"}}")
            }
            guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw HTTPError.badRequest("an instance's b64 is not base64")
            }
            bytes = [UInt8](data)
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        images = try container.decode([Instance].self, forKey: .instances).map(\.bytes)
        guard !images.isEmpty else { throw HTTPError.badRequest("instances is empty") }
    }

    private enum CodingKeys: String, CodingKey { case instances }
}
