import Foundation
import KennelHTTP
import KennelJobs

/// One inference request of the Open Inference Protocol (KServe v2), parsed from its JSON, or from its JSON header
/// and binary tensor data (the `binary_tensor_data` extension). Kennel's models take one input: encoded JPEG/PNG
/// images as `BYTES [N]` (base64 strings in JSON, raw bytes in binary data), or the model input itself as
/// `FP32 [N, H, W, C]`; they give one output, `probabilities`.
struct InferenceRequest {
    enum Tensor {
        case images([[UInt8]])
        case values([Float], shape: [Int])
    }

    /// What the client asked of the output: the classification extension's top-K, and binary data.
    struct Output {
        let classification: Int?
        let binary: Bool
    }

    let id: String?
    let input: Tensor
    let output: Output

    static let inputNames = "'images' (BYTES [N], encoded JPEG or PNG) or 'input' (FP32 [N, H, W, C])"

    /// Parses `body`; with `headerLength` (the `Inference-Header-Content-Length` header) the JSON is the body's
    /// first `headerLength` bytes and binary tensor data follows it.
    init(body: [UInt8], headerLength: String?) throws {
        var split = body.count
        if let headerLength {
            guard let length = Int(headerLength), (0...body.count).contains(length) else {
                throw HTTPError.badRequest("Inference-Header-Content-Length must be a byte count within the body "
                                           + "(\(body.count) bytes), got '\(headerLength)'")
            }
            split = length
        }
        guard let header = try? JSONSerialization.jsonObject(with: Data(body[..<split])) as? [String: Any] else {
            throw HTTPError.badRequest("the inference request is not a JSON object"
                                       + (headerLength == nil ? "" : " in its first \(split) bytes"))
        }
        var binary = body[split...]
        id = header["id"] as? String
        guard let inputs = header["inputs"] as? [[String: Any]], !inputs.isEmpty else {
            throw HTTPError.badRequest("the request has no inputs; send one, \(Self.inputNames)")
        }
        guard inputs.count == 1 else {
            throw HTTPError.badRequest("the request has \(inputs.count) inputs; Kennel's models take one, \(Self.inputNames)")
        }
        input = try Self.tensor(inputs[0], binary: &binary)
        guard binary.isEmpty else {
            throw HTTPError.badRequest("\(binary.count) bytes of binary data follow the inputs' binary_data_size")
        }
        let parameters = header["parameters"] as? [String: Any] ?? [:]
        let binaryByDefault = parameters["binary_data_output"] as? Bool ?? false
        let outputs = header["outputs"] as? [[String: Any]] ?? []
        for output in outputs where output["name"] as? String != InferenceProtocol.outputName {
            throw HTTPError.badRequest("unknown output '\(output["name"] ?? "")'; the model's output is "
                                       + "'\(InferenceProtocol.outputName)'")
        }
        let asked = outputs.first?["parameters"] as? [String: Any] ?? [:]
        var classification: Int?
        if let value = asked["classification"] {
            guard let k = value as? Int, k >= 1 else {
                throw HTTPError.badRequest("the classification parameter must be a positive integer, got \(value)")
            }
            classification = k
        }
        output = Output(classification: classification, binary: asked["binary_data"] as? Bool ?? binaryByDefault)
    }

    /// The input tensor, its data from JSON or taken from the front of `binary`.
    private static func tensor(_ input: [String: Any], binary: inout ArraySlice<UInt8>) throws -> Tensor {
        let name = input["name"] as? String ?? ""
        guard let datatype = input["datatype"] as? String else {
            throw HTTPError.badRequest("input '\(name)' has no datatype; send \(inputNames)")
        }
        guard let shape = input["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
            throw HTTPError.badRequest("input '\(name)' needs a shape of non-negative integers")
        }
        let count = shape.reduce(1, *)
        var raw: ArraySlice<UInt8>?
        if let size = (input["parameters"] as? [String: Any])?["binary_data_size"] {
            guard let size = size as? Int, size >= 0, size <= binary.count else {
                throw HTTPError.badRequest("input '\(name)': binary_data_size \(size) is more than the "
                                           + "\(binary.count) bytes of binary data the body carries")
            }
            raw = binary.prefix(size)
            binary = binary.dropFirst(size)
        }
        let data = raw == nil ? try flattened(input["data"], name: name) : []
        switch datatype {
        case "BYTES":
            guard shape.count == 1 || (shape.count == 2 && shape[1] == 1) else {
                throw HTTPError.badRequest("input '\(name)': BYTES images take shape [N] or [N, 1], got \(shape)")
            }
            let images = try raw.map { try elements(of: $0, name: name) } ?? data.map { element -> [UInt8] in
                guard let text = element as? String,
                      let decoded = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                    throw HTTPError.badRequest("input '\(name)': in JSON, each BYTES element is an image as a "
                                               + "base64 string")
                }
                return [UInt8](decoded)
            }
            guard images.count == count else {
                throw HTTPError.badRequest("input '\(name)' has shape \(shape) but \(images.count) elements")
            }
            return .images(images)
        case "FP32":
            let values: [Float]
            if let raw {
                guard raw.count == count * 4 else {
                    throw HTTPError.badRequest("input '\(name)': shape \(shape) is \(count * 4) bytes of FP32, "
                                               + "binary_data_size says \(raw.count)")
                }
                values = stride(from: raw.startIndex, to: raw.endIndex, by: 4).map { at in
                    Float(bitPattern: UInt32(raw[at]) | UInt32(raw[at + 1]) << 8 | UInt32(raw[at + 2]) << 16
                        | UInt32(raw[at + 3]) << 24)
                }
            } else {
                values = try data.map { element in
                    guard let number = element as? NSNumber else {
                        throw HTTPError.badRequest("input '\(name)': FP32 data must be numbers")
                    }
                    return number.floatValue
                }
            }
            guard values.count == count else {
                throw HTTPError.badRequest("input '\(name)' has shape \(shape) but \(values.count) values")
            }
            return .values(values, shape: shape)
        default:
            throw HTTPError.badRequest("input '\(name)' is \(datatype); send \(inputNames)")
        }
    }

    /// JSON tensor data, flat or nested in row-major order, as one flat array.
    private static func flattened(_ data: Any?, name: String) throws -> [Any] {
        guard let data = data as? [Any] else {
            throw HTTPError.badRequest("input '\(name)' has neither data nor a binary_data_size parameter")
        }
        func flat(_ elements: [Any]) -> [Any] { elements.flatMap { ($0 as? [Any]).map(flat) ?? [$0] } }
        return flat(data)
    }

    /// BYTES elements in binary form: each a 4-byte little-endian length, then that many bytes.
    private static func elements(of raw: ArraySlice<UInt8>, name: String) throws -> [[UInt8]] {
        var elements: [[UInt8]] = [], at = raw.startIndex
        while at < raw.endIndex {
            guard raw.endIndex - at >= 4 else {
                throw HTTPError.badRequest("input '\(name)': BYTES data ends inside an element's length")
            }
            let length = Int(UInt32(raw[at]) | UInt32(raw[at + 1]) << 8 | UInt32(raw[at + 2]) << 16
                             | UInt32(raw[at + 3]) << 24)
            at += 4
            guard raw.endIndex - at >= length else {
                throw HTTPError.badRequest("input '\(name)': a BYTES element of \(length) bytes runs past the data")
            }
            elements.append(Array(raw[at..<(at + length)]))
            at += length
        }
        return elements
    }
}

/// The Open Inference Protocol's answers for Kennel's served models.
enum InferenceProtocol {
    static let outputName = "probabilities"
    static let platform = "kennel"

    /// The model's metadata: its versions, the two inputs it takes (either one per request) and its output.
    static func metadata(_ model: ServedModel, versions: [Int]) -> [String: Any] {
        let preprocessing = model.preprocessing
        return [
            "name": model.name,
            "versions": versions.map(String.init),
            "platform": platform,
            "inputs": [
                ["name": "images", "datatype": "BYTES", "shape": [-1]],
                ["name": "input", "datatype": "FP32",
                 "shape": [-1, preprocessing.height, preprocessing.width, preprocessing.channels]],
            ],
            "outputs": [["name": outputName, "datatype": "FP32", "shape": [-1, model.labels.count]]],
        ]
    }

    /// The inference response for `count` inputs' probabilities, as JSON or with binary data as asked.
    static func response(_ probabilities: Probabilities, count: Int, model: ServedModel, id: String?,
                         output: InferenceRequest.Output) throws -> Response {
        let datatype: String, shape: [Int]
        var data: [UInt8] // the tensor's elements: JSON text, or binary data after the JSON
        if let k = output.classification {
            let k = min(k, model.labels.count)
            // Triton's classification strings: "score:index:label".
            let strings = (0..<count).flatMap { row in
                model.top(k, of: probabilities.row(row)).map { String(format: "%f", $0.probability) + ":\($0.index):\($0.label)" }
            }
            (datatype, shape) = ("BYTES", [count, k])
            data = output.binary
                ? strings.flatMap { string in withUnsafeBytes(of: UInt32(string.utf8.count).littleEndian, Array.init) + Array(string.utf8) }
                : try Response.jsonBytes(strings)
        } else {
            (datatype, shape) = ("FP32", [count, probabilities.classes])
            data = output.binary
                ? probabilities.values.map { $0.bitPattern.littleEndian }.withUnsafeBytes(Array.init)
                : try Response.jsonArray(of: probabilities.values)
        }
        var tensor: [(key: String, value: [UInt8])] = output.binary ? [] : [("data", data)]
        tensor += [("datatype", try Response.jsonBytes(datatype)), ("name", try Response.jsonBytes(outputName))]
        if output.binary { tensor.append(("parameters", Response.jsonObject([("binary_data_size", Array(String(data.count).utf8))]))) }
        tensor.append(("shape", try Response.jsonBytes(shape)))
        var members: [(key: String, value: [UInt8])] = []
        if let id { members.append(("id", try Response.jsonBytes(id))) }
        members += [("model_name", try Response.jsonBytes(model.name)),
                    ("model_version", try Response.jsonBytes(String(model.version))),
                    ("outputs", [UInt8(ascii: "[")] + Response.jsonObject(tensor) + [UInt8(ascii: "]")])]
        // Written around the tensor's numbers, which JSONEncoder would box one by one (Response.jsonArray).
        let json = Response.jsonObject(members)
        guard output.binary else { return Response.json(bytes: json) }
        var response = Response(body: .bytes(json + data))
        response.headers["Content-Type"] = "application/octet-stream"
        response.headers["Inference-Header-Content-Length"] = String(json.count)
        return response
    }
}

extension Router.Builder {
    /// The Open Inference Protocol (KServe v2) REST endpoints under `/v2`: server and model health, metadata and
    /// inference, with the binary tensor data and classification extensions. Errors answer `{"error": "…"}`.
    mutating func addInferenceProtocolRoutes(_ context: APIContext) {
        let live = Response.json(bytes: Array("{}".utf8))
        get("/v2") { _ in
            .json(bytes: [UInt8](try JSONSerialization.data(withJSONObject: [
                "name": "kennel", "version": "1", "extensions": ["binary_tensor_data", "classification"],
            ])))
        }
        get("/v2/health/live") { _ in live }
        get("/v2/health/ready") { _ in
            let waiting = try context.models.readiness().filter { !$0.ready && !$0.onDemand }.map(\.name)
            guard waiting.isEmpty else {
                throw HTTPError.badRequest("models still loading: \(waiting.joined(separator: ", "))")
            }
            return live
        }

        for prefix in ["/v2/models/{name}", "/v2/models/{name}/versions/{version}"] {
            get(prefix, execution: .queue(context.work)) { request in
                let model = try Self.servedModel(request, context)
                let versions = try context.store.read { db in
                    try db.values(Int.self, "SELECT version AS value FROM models WHERE name = ? ORDER BY version", model.name)
                }
                return .json(bytes: [UInt8](try JSONSerialization.data(
                    withJSONObject: InferenceProtocol.metadata(model, versions: versions))))
            }
            get(prefix + "/ready", execution: .queue(context.work)) { request in
                _ = try Self.servedModel(request, context)
                return live
            }
            post(prefix + "/infer", execution: .lanes(context.classify, limit: context.classifyLimit)) { request in
                try context.authorize(request)
                let model = try Self.servedModel(request, context)
                let inference = try InferenceRequest(body: [UInt8](request.body),
                                                     headerLength: request.headers["Inference-Header-Content-Length"])
                let respond: @Sendable (Probabilities, Int) throws -> Response = { probabilities, count in
                    try InferenceProtocol.response(probabilities, count: count, model: model, id: inference.id,
                                                   output: inference.output)
                }
                switch inference.input {
                case .images(let images):
                    return try Self.probabilitiesLater(of: images, model, context) { try respond($0, images.count) }
                case .values(let values, let shape):
                    let expected = [model.preprocessing.height, model.preprocessing.width, model.preprocessing.channels]
                    guard shape.count == 4, Array(shape.dropFirst()) == expected else {
                        throw HTTPError.badRequest("an FP32 input of model '\(model.name)' has shape [N, "
                                                   + "\(expected.map(String.init).joined(separator: ", "))], got \(shape)")
                    }
                    try Self.checkImageCount(shape[0], model)
                    return try Self.probabilitiesLater(values, count: shape[0], model) { try respond($0, shape[0]) }
                }
            }
        }
    }

    /// The served model a `/v2/models/{name}[/versions/{version}]` path names: 404 for an unknown model or version,
    /// 400 (not ready) for a version that exists but is not the one served.
    private static func servedModel(_ request: Request, _ context: APIContext) throws -> ServedModel {
        let name = try request.parameters.require("name")
        let model = try APIErrors.map { try context.models.served(name) }
        guard request.parameters["version"] != nil else { return model }
        let version = try Self.version(request, of: name)
        guard version != model.version else { return model }
        let exists = try context.store.read { db in
            try db.scalar(Int.self, "SELECT COUNT(*) AS value FROM models WHERE name = ? AND version = ?", name, version)
        } ?? 0 > 0
        guard exists else { throw HTTPError.notFound("model '\(name)' has no version \(version)") }
        throw HTTPError.badRequest("version \(version) of model '\(name)' is not ready: version \(model.version) is "
                                   + "served (promote or roll back to serve another)")
    }
}
