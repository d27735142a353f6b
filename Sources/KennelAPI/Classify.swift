import Foundation
import KennelHTTP
import KennelJobs

extension Router.Builder {
    /// One classification answer (DESIGN.md: model, version, top-K predictions, timing).
    struct ClassifyAnswer: Encodable {
        struct Prediction: Encodable {
            let label: String
            let `class`: String
            let probability: Float
        }
        struct Timing: Encodable {
            let decode: Double
            let infer: Double
        }
        let model: String
        let version: Int
        let predictions: [Prediction]
        let timingMs: Timing

        enum CodingKeys: String, CodingKey { case model, version, predictions, timingMs = "timing_ms" }
    }

    /// Classifies the request's image: a raw JPEG/PNG body (curl -T, --data-binary), or TF Serving's JSON
    /// `{"instances":[{"b64":"…"}]}` (an array of answers, one per instance).
    static func classify(_ request: Request, _ context: APIContext) throws -> Response {
        let name = try request.parameters.require("name")
        let model = try APIErrors.map { try context.models.served(name) }
        let topK = try request.query["top_k"].map { raw -> Int in
            guard let value = Int(raw), value >= 1 else { throw HTTPError.badRequest("top_k must be a positive integer") }
            return value
        } ?? 5
        func answer(_ bytes: [UInt8]) throws -> ClassifyAnswer {
            let result = try APIErrors.map { try model.classify(bytes, topK: topK, decoder: context.decoder) }
            return ClassifyAnswer(
                model: model.name, version: model.version,
                predictions: result.predictions.map { .init(label: $0.label, class: $0.classId, probability: $0.probability) },
                timingMs: .init(decode: result.decodeMilliseconds, infer: result.inferMilliseconds))
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
        if contentType.hasPrefix("multipart/") {
            throw HTTPError(.unsupportedMediaType, code: "unsupported_media_type",
                            message: "multipart uploads are not accepted yet; send the image as the body "
                                + "(curl -T image.jpg, or --data-binary @image.jpg) or as JSON instances")
        }
        guard !request.body.isEmpty else {
            throw HTTPError(.unsupportedMediaType, code: "not_an_image",
                            message: "the body is empty; send a JPEG or PNG (image/jpeg, image/png)")
        }
        return .json(try answer([UInt8](request.body)))
    }
}
