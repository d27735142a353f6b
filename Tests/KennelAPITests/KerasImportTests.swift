import Foundation
import KennelImage
import KennelTestSupport
import Testing

/// Keras models imported through `POST /v1/models` (multipart): the fixtures of tools/keras/make_fixtures.py,
/// a small network of the seed-004 layer types saved by Keras as `.keras` and legacy `.h5`, answer what Keras
/// answered for the same images; what Kennel cannot compute is a 422 naming it.
struct KerasImportTests {
    private static let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures/keras")

    private static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// A multipart form of `fields` and one file.
    private static func form(file: (name: String, bytes: [UInt8]), _ fields: [String: String]) -> (body: [UInt8], type: String) {
        var body: [UInt8] = []
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            body += Array("--KennelBoundary\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        body += Array(("--KennelBoundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(file.name)\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n").utf8) + file.bytes + Array("\r\n--KennelBoundary--\r\n".utf8)
        return (body, "multipart/form-data; boundary=KennelBoundary")
    }

    private static func upload(_ live: LiveServer, _ file: String, _ fields: [String: String]) throws -> RawResponse {
        let form = form(file: (file, try fixture(file)), fields)
        return try live.request("POST", "/v1/models", body: form.body, headers: ["Content-Type": form.type])
    }

    /// Keras's inputs (pixels 0…255) and probabilities.
    private struct Expected: Decodable {
        let height: Int, width: Int, classes: Int
        let images: [[Float]]
        let probabilities: [[Double]]
    }

    @Test func bothFormatsAnswerWhatKerasAnswersAndTheVersionsBehaveAsTrainedOnes() throws {
        let live = try LiveServer()
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures
            .appendingPathComponent("seed004_small_outputs.json")))
        let pngs = try expected.images.map { pixels in
            Data(try ImageEncoder.png(Image(width: expected.width, height: expected.height, channels: 1, pixels: pixels)))
                .base64EncodedString()
        }
        let infer = String(decoding: try JSONSerialization.data(withJSONObject: [
            "inputs": [["name": "images", "datatype": "BYTES", "shape": [pngs.count], "data": pngs]],
        ]), as: UTF8.self)

        for (version, file) in ["seed004_small.keras", "seed004_small.h5"].enumerated() {
            let created = try Self.upload(live, file, ["name": "small", "labels": "a, b, c, d, e"])
            #expect(created.status == 201, "\(file): \(created.text)")
            let model = try live.object(created)
            #expect(model["version"] as? Int == version + 1 && model["served"] as? Bool == true)
            #expect(model["origin"] as? String == (file.hasSuffix(".h5") ? "h5" : "keras"))
            #expect(model["labels"] as? [String] == ["a", "b", "c", "d", "e"])

            let answer = try live.object(try live.request("POST", "/v2/models/small/infer", json: infer))
            let output = try #require((answer["outputs"] as? [[String: Any]])?.first)
            #expect(output["shape"] as? [Int] == [4, 5])
            let values = try #require(output["data"] as? [Double])
            let largest = zip(values, expected.probabilities.joined()).map { abs($0 - $1) }.max() ?? 1
            #expect(largest <= 1e-4, "\(file): largest difference from Keras \(largest)")

            let resource = try live.object(try live.request("GET", "/v1/models/small/versions/\(version + 1)"))
            let preprocessing = try #require(resource["preprocessing"] as? [String: String])
            #expect(resource["input_shape"] as? [Int] == [40, 30, 1] && preprocessing["color"] == "gray")
            #expect(Float(preprocessing["scale"] ?? "") == Float(1.0 / 255))
            let onnx = try live.request("GET", "/v1/models/small/versions/\(version + 1)/model.onnx")
            #expect(onnx.status == 200 && onnx.body.count > 10_000)
        }
        // An imported version rolls back like a trained one.
        let rolledBack = try live.object(try live.request("POST", "/v1/models/small/rollback"))
        #expect(rolledBack["version"] as? Int == 1 && rolledBack["origin"] as? String == "keras")
        let jobs = try live.array(try live.request("GET", "/v1/jobs"))
        #expect(jobs.filter { $0["kind"] as? String == "import" && $0["state"] as? String == "succeeded" }.count == 2)
    }

    @Test func whatKennelCannotComputeIsA422NamingIt() throws {
        let live = try LiveServer()
        let unsupported = try Self.upload(live, "unsupported_layer.keras", ["name": "up"])
        #expect(unsupported.status == 422)
        #expect(unsupported.text.contains("UpSampling2D") && unsupported.text.contains("Conv2D"), "\(unsupported.text)")

        let form = Self.form(file: ("notes.keras", Array("not a model".utf8)), ["name": "notes"])
        let garbage = try live.request("POST", "/v1/models", body: form.body, headers: ["Content-Type": form.type])
        #expect(garbage.status == 422 && garbage.text.contains("neither a .keras archive"))

        let labels = try Self.upload(live, "seed004_small.keras", ["name": "small", "labels": "a,b"])
        #expect(labels.status == 422 && labels.text.contains("2 labels for a model of 5 classes"))
        let unnamed = try Self.upload(live, "seed004_small.keras", [:])
        #expect(unnamed.status == 422 && unnamed.headers["x-invalid-field"] == "name")
        // Nothing half-made: no model, no import job.
        #expect(try live.request("GET", "/v1/models/small").status == 404)
        #expect(try live.array(try live.request("GET", "/v1/jobs")).isEmpty)
    }
}
