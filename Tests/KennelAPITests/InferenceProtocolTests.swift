import Foundation
import KennelImage
import KennelTestSupport
import Testing

/// The Open Inference Protocol (KServe v2) and TF Serving's `:predict`, through the real server: the answers
/// equal `:classify`'s, several images are one forward pass, and errors are `{"error": "…"}`.
struct InferenceProtocolTests {
    /// A server with the tones model served.
    private static func served() throws -> LiveServer {
        let live = try LiveServer()
        let job = try live.trainedJob(epochs: 3)
        #expect(try live.request("POST", "/v1/models", json: #"{"name":"tones","job_id":\#(job)}"#).status == 201)
        return live
    }

    private static func png(level: Float) throws -> [UInt8] {
        try ImageEncoder.png(Image(width: 8, height: 8, channels: 1, pixels: (0..<64).map { level + Float($0 % 23) }))
    }

    /// The batch-size histogram's count of passes and sum of images.
    private static func passes(_ live: LiveServer) throws -> (passes: Double, images: Double) {
        let text = try live.request("GET", "/metrics").text
        func value(_ name: String) -> Double {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        }
        return (value("kennel_classify_batch_size_count"), value("kennel_classify_batch_size_sum"))
    }

    private static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// A BYTES element in binary form: its length (4 bytes, little-endian), then the bytes.
    private static func element(_ bytes: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init) + bytes
    }

    @Test func healthAndMetadataFollowTheProtocol() throws {
        let live = try Self.served()
        let server = try live.object(try live.request("GET", "/v2"))
        #expect(server["name"] as? String == "kennel")
        #expect((server["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        #expect(try live.request("GET", "/v2/health/live").status == 200)
        #expect(try live.request("GET", "/v2/health/ready").status == 200)
        let metadata = try live.object(try live.request("GET", "/v2/models/tones"))
        #expect(metadata["versions"] as? [String] == ["1"] && metadata["platform"] as? String == "kennel")
        let inputs = try #require(metadata["inputs"] as? [[String: Any]])
        #expect(inputs.map { $0["datatype"] as? String } == ["BYTES", "FP32"])
        #expect(inputs[1]["shape"] as? [Int] == [-1, 8, 8, 1])
        let outputs = try #require(metadata["outputs"] as? [[String: Any]])
        #expect(outputs.first?["name"] as? String == "probabilities" && outputs.first?["shape"] as? [Int] == [-1, 2])
        #expect(try live.request("GET", "/v2/models/tones/versions/1").status == 200)
        #expect(try live.request("GET", "/v2/models/tones/ready").status == 200)
        #expect(try live.request("GET", "/v2/models/tones/versions/1/ready").status == 200)

        let unknown = try live.request("GET", "/v2/models/none")
        #expect(unknown.status == 404)
        #expect(try live.object(unknown)["error"] is String)
        #expect(try live.request("GET", "/v2/models/none/ready").status == 404)
        #expect(try live.request("GET", "/v2/models/tones/versions/7").status == 404)
        #expect(try live.request("GET", "/v2/models/tones/versions/7/ready").status == 404)
    }

    @Test func inferAnswersWhatClassifyAnswersInOnePassJSONOrBinary() throws {
        let live = try Self.served()
        let images = [try Self.png(level: 40), try Self.png(level: 210), try Self.png(level: 120)]
        let classified = try images.map { image in
            let answer = try live.object(try live.request("POST", "/v1/models/tones:classify?top_k=2", body: image))
            return try #require(answer["predictions"] as? [[String: Any]])
        }
        // Probabilities in class order, as :classify gives them (sorted by probability, with their index).
        let expected = classified.map { predictions in
            [0, 1].map { index in predictions.first { $0["label"] as? String == ["dark", "bright"][index] }?["probability"]
                as? Double ?? -1 }
        }

        // JSON: BYTES elements are base64 strings.
        let before = try Self.passes(live)
        let request = try Self.json(["id": "r1", "inputs": [[
            "name": "images", "datatype": "BYTES", "shape": [3], "data": images.map { Data($0).base64EncodedString() },
        ]]])
        let answer = try live.object(try live.request("POST", "/v2/models/tones/infer", json: request))
        let after = try Self.passes(live)
        #expect(after.passes - before.passes == 1 && after.images - before.images == 3, "\(before) → \(after)")
        #expect(answer["model_name"] as? String == "tones" && answer["model_version"] as? String == "1")
        #expect(answer["id"] as? String == "r1")
        let output = try #require((answer["outputs"] as? [[String: Any]])?.first)
        #expect(output["name"] as? String == "probabilities" && output["datatype"] as? String == "FP32")
        #expect(output["shape"] as? [Int] == [3, 2])
        let flat = try #require(output["data"] as? [Double])
        for (row, probabilities) in expected.enumerated() {
            for (index, probability) in probabilities.enumerated() {
                #expect(abs(flat[row * 2 + index] - probability) < 1e-6)
            }
        }

        // Binary: the JSON header, then each image as a length-prefixed element; binary output asked for.
        let data = images.flatMap(Self.element)
        let header = Array(try Self.json([
            "inputs": [["name": "images", "datatype": "BYTES", "shape": [3, 1],
                        "parameters": ["binary_data_size": data.count]]],
            "outputs": [["name": "probabilities", "parameters": ["binary_data": true]]],
        ]).utf8)
        let binary = try live.request("POST", "/v2/models/tones/versions/1/infer", body: header + data,
                                      headers: ["Inference-Header-Content-Length": String(header.count),
                                                "Content-Type": "application/octet-stream"])
        #expect(binary.status == 200)
        let length = try #require(binary.headers["inference-header-content-length"].flatMap(Int.init))
        let described = try #require(try JSONSerialization.jsonObject(with: Data(binary.body.prefix(length))) as? [String: Any])
        let tensor = try #require((described["outputs"] as? [[String: Any]])?.first)
        #expect((tensor["parameters"] as? [String: Any])?["binary_data_size"] as? Int == 24 && tensor["data"] == nil)
        let values = stride(from: length, to: binary.body.count, by: 4).map { at in
            Float(bitPattern: UInt32(binary.body[at]) | UInt32(binary.body[at + 1]) << 8
                | UInt32(binary.body[at + 2]) << 16 | UInt32(binary.body[at + 3]) << 24)
        }
        #expect(values.map(Double.init) == flat.map { Double(Float($0)) })

        // FP32: the model input itself (pixels scaled to 0…1), nested as the shape says.
        let pixels = try images.map { try ImageDecoder().decode($0, color: .gray).pixels.map { $0 / 255 } }
        let nested = pixels.map { image in (0..<8).map { y in (0..<8).map { x in [image[y * 8 + x]] } } }
        let tensorRequest = try Self.json(["inputs": [["name": "input", "datatype": "FP32", "shape": [3, 8, 8, 1],
                                                       "data": nested]]])
        let fromTensor = try live.object(try live.request("POST", "/v2/models/tones/infer", json: tensorRequest))
        let tensorValues = try #require((fromTensor["outputs"] as? [[String: Any]])?.first?["data"] as? [Double])
        #expect(zip(tensorValues, flat).allSatisfy { abs($0 - $1) < 1e-6 })

        // The classification extension: "score:index:label", most probable first, as Triton writes them.
        let top = try Self.json(["inputs": [["name": "images", "datatype": "BYTES", "shape": [1],
                                             "data": [Data(images[1]).base64EncodedString()]]],
                                 "outputs": [["name": "probabilities", "parameters": ["classification": 1]]]])
        let classes = try live.object(try live.request("POST", "/v2/models/tones/infer", json: top))
        let strings = try #require((classes["outputs"] as? [[String: Any]])?.first)
        #expect(strings["datatype"] as? String == "BYTES" && strings["shape"] as? [Int] == [1, 1])
        let best = try #require(classified[1].first)
        #expect(strings["data"] as? [String]
                == [String(format: "%f", best["probability"] as? Double ?? 0) + ":1:bright"])
    }

    @Test func badRequestsAnswerTheProtocolsErrors() throws {
        let live = try Self.served()
        func refused(_ body: String, path: String = "/v2/models/tones/infer", headers: [String: String] = [:])
            throws -> (Int, String) {
            let answer = try live.request("POST", path, body: Array(body.utf8), headers: headers)
            let error = (try? live.object(answer))?["error"] as? String ?? "<\(answer.text)>"
            return (answer.status, error)
        }
        let cases: [(String, Int, String)] = [
            ("{", 400, "not a JSON object"),
            (#"{"inputs":[]}"#, 400, "no inputs"),
            (#"{"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[1]}]}"#, 400, "INT8"),
            (#"{"inputs":[{"name":"images","datatype":"BYTES","shape":[2],"data":["aGk="]}]}"#, 400, "1 elements"),
            (#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4,4,1],"data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}"#,
             400, "[N, 8, 8, 1]"),
            (#"{"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":["a"]}]}"#, 400, "must be numbers"),
            (#"{"inputs":[{"name":"images","datatype":"BYTES","shape":[1],"data":["aGk="]}],"outputs":[{"name":"logits"}]}"#,
             400, "unknown output 'logits'"),
            (#"{"inputs":[{"name":"images","datatype":"BYTES","shape":[1],"data":["aGVsbG8="]}]}"#, 415, "not a JPEG or PNG"),
            (#"{"inputs":[{"name":"images","datatype":"BYTES","shape":[2],"data":["\#(Data(try Self.png(level: 9)).base64EncodedString())","aGVsbG8="]}]}"#,
             415, "image 1: not a JPEG or PNG"),
        ]
        for (body, status, message) in cases {
            let (got, error) = try refused(body)
            #expect(got == status && error.contains(message), "\(body): \(got) \(error)")
        }
        let unknown = try refused(#"{"inputs":[]}"#, path: "/v2/models/none/infer")
        #expect(unknown.0 == 404 && unknown.1.contains("none"))
        let short = try refused(#"{"inputs":[{"name":"images","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":9}}]}"#,
                                headers: ["Inference-Header-Content-Length": "1000"])
        #expect(short.0 == 400 && short.1.contains("Inference-Header-Content-Length"))
        // Past the body cap the protocol's error shape holds too.
        let connection = try RawHTTPConnection(port: live.port)
        try connection.send("POST /v2/models/tones/infer HTTP/1.1\r\nHost: x\r\nContent-Length: \(1 << 30)\r\n\r\n")
        let large = try connection.readResponse()
        #expect(large.status == 413 && (try? live.object(large))?["error"] is String)
    }

    @Test func theTokenGuardsInferenceAsItGuardsClassify() throws {
        let live = try LiveServer(token: "s3cret")
        for path in ["/v2/models/tones/infer", "/v1/models/tones:predict"] {
            let refused = try live.request("POST", path, json: "{}")
            #expect(refused.status == 401 && (try? live.object(refused))?["error"] is String, "\(path): \(refused.text)")
            let allowed = try live.request("POST", path, json: "{}", headers: ["Authorization": "Bearer s3cret"])
            #expect(allowed.status == 404, "\(path) with the token: \(allowed.status)")
        }
        // Reading stays open, as on v1.
        #expect(try live.request("GET", "/v2/health/ready").status == 200)
    }

    @Test func predictAnswersAsTFServingInOnePass() throws {
        let live = try Self.served()
        let images = [try Self.png(level: 40), try Self.png(level: 210)]
        let classified = try images.map { image in
            try live.object(try live.request("POST", "/v1/models/tones:classify", body: image))
        }
        let before = try Self.passes(live)
        let request = try Self.json(["instances": [["b64": Data(images[0]).base64EncodedString()],
                                                   ["image_bytes": ["b64": Data(images[1]).base64EncodedString()]]]])
        let answer = try live.object(try live.request("POST", "/v1/models/tones:predict", json: request))
        let after = try Self.passes(live)
        #expect(after.passes - before.passes == 1 && after.images - before.images == 2)
        let predictions = try #require(answer["predictions"] as? [[Double]])
        #expect(Set(answer.keys) == ["predictions"] && predictions.count == 2)
        for (row, classification) in classified.enumerated() {
            for prediction in classification["predictions"] as? [[String: Any]] ?? [] {
                let index = ["dark", "bright"].firstIndex(of: prediction["label"] as? String ?? "") ?? -1
                #expect(abs(predictions[row][index] - (prediction["probability"] as? Double ?? -1)) < 1e-6)
            }
        }
        // Several instances through :classify are one pass too, and keep Kennel's answer.
        let classify = try live.array(try live.request("POST", "/v1/models/tones:classify", json: request))
        #expect(classify.map { ($0["predictions"] as? [[String: Any]])?.first?["label"] as? String } == ["dark", "bright"])
        #expect(try Self.passes(live).passes - after.passes == 1)

        let empty = try live.request("POST", "/v1/models/tones:predict", json: #"{"instances":[]}"#)
        #expect(try empty.status == 400 && (live.object(empty))["error"] as? String == "instances is empty")
        let unknown = try live.request("POST", "/v1/models/none:predict", json: request)
        #expect(try unknown.status == 404 && (live.object(unknown))["error"] is String)
    }
}
