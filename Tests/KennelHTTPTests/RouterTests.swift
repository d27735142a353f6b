import Foundation
import Testing
@testable import KennelHTTP

struct RouterTests {
    private func makeRouter() -> Router {
        var routes = Router.Builder()
        routes.get("/healthz") { _ in .text("ok") }
        routes.get("/v1/jobs") { _ in .text("list") }
        routes.get("/v1/jobs/{id}") { request in .text("job \(try request.parameters.require("id", as: Int.self))") }
        routes.post("/v1/jobs/{id}/cancel") { request in .text("cancel \(request.parameters["id"]!)") }
        routes.get("/v1/jobs/latest") { _ in .text("latest") }
        routes.post("/v1/models/{name}:classify") { request in .text("classify \(request.parameters["name"]!)") }
        routes.get("/v1/models/{name}") { request in .text("model \(request.parameters["name"]!)") }
        routes.get("/teapot") { _ in throw HTTPError(.init(rawValue: 418), code: "teapot", message: "short and stout") }
        routes.get("/crash") { _ in throw CocoaError(.fileNoSuchFile) }
        return Router(routes)
    }

    private func answer(_ method: HTTPMethod, _ path: String) -> (Int, String) {
        let response = makeRouter().respond(to: Request(method: method, path: path))
        guard case .bytes(let bytes) = response.body else { return (response.status.rawValue, "<stream>") }
        return (response.status.rawValue, String(decoding: bytes, as: UTF8.self))
    }

    @Test func literalRoutes() {
        #expect(answer(.get, "/healthz") == (200, "ok"))
        #expect(answer(.get, "/v1/jobs") == (200, "list"))
        #expect(answer(.get, "/v1/jobs/") == (200, "list"))
    }

    @Test func pathParametersAreCapturedAndConverted() {
        #expect(answer(.get, "/v1/jobs/42") == (200, "job 42"))
        #expect(answer(.post, "/v1/jobs/7/cancel") == (200, "cancel 7"))
    }

    @Test func literalSegmentsWinOverCaptures() {
        #expect(answer(.get, "/v1/jobs/latest") == (200, "latest"))
    }

    @Test func captureWithSuffixMatchesBeforePlainCapture() {
        #expect(answer(.post, "/v1/models/dogs:classify") == (200, "classify dogs"))
        #expect(answer(.get, "/v1/models/dogs") == (200, "model dogs"))
        // A bare suffix has no name before it, so it is not a classify call.
        #expect(answer(.post, "/v1/models/:classify").0 == 405)
    }

    @Test func unconvertibleParameterIs400WithJSONError() throws {
        let (status, body) = answer(.get, "/v1/jobs/abc")
        #expect(status == 400)
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [String: String]]
        #expect(json?["error"]?["code"] == "bad_request")
        #expect(json?["error"]?["message"]?.contains("'id'") == true)
    }

    @Test func unknownPathIs404JSON() throws {
        let response = makeRouter().respond(to: Request(method: .get, path: "/nowhere"))
        #expect(response.status == .notFound)
        #expect(response.headers["content-type"] == "application/json")
        guard case .bytes(let bytes) = response.body else { Issue.record("expected bytes"); return }
        let json = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: [String: String]]
        #expect(json?["error"]?["code"] == "not_found")
        #expect(json?["error"]?["message"]?.contains("/nowhere") == true)
    }

    @Test func wrongMethodIs405WithAllow() {
        let response = makeRouter().respond(to: Request(method: .delete, path: "/v1/jobs/3"))
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == "GET, HEAD")
    }

    @Test func headIsServedByGet() {
        #expect(answer(.head, "/healthz") == (200, "ok"))
    }

    @Test func thrownHTTPErrorKeepsItsStatusAndOtherErrorsAre500() {
        #expect(answer(.get, "/teapot").0 == 418)
        #expect(answer(.get, "/teapot").1.contains("short and stout"))
        let (status, body) = answer(.get, "/crash")
        #expect(status == 500)
        #expect(body.contains("internal"))
    }

    @Test func fallbackAnswersOnlyUnmatchedGetAndHead() {
        var routes = Router.Builder()
        routes.get("/healthz") { _ in .text("ok") }
        routes.fallback { request in .text("file \(request.path)") }
        let router = Router(routes)
        guard case .matched(let route, _) = router.resolve(.get, path: "/app.js") else {
            Issue.record("fallback not used"); return
        }
        #expect(route.pattern == "*")
        guard case .notFound = router.resolve(.post, path: "/app.js") else { Issue.record("POST fell back"); return }
        guard case .methodNotAllowed = router.resolve(.post, path: "/healthz") else { Issue.record("no 405"); return }
    }

    @Test func decodeReportsMalformedJSONAs400() throws {
        struct Spec: Decodable { let epochs: Int }
        let request = Request(method: .post, path: "/", body: Data(#"{"epochs": 3"#.utf8))
        let error = try #require(throws: HTTPError.self) { try request.decode(Spec.self) }
        #expect(error.status == .badRequest)
        #expect(error.message.contains("malformed JSON"))
    }

    /// Valid JSON whose field cannot hold its value (wrong type, beyond the type's range, missing) is a 422
    /// naming the field, not a claim that the JSON is malformed.
    @Test(arguments: [(#"{"epochs": "ten"}"#, "epochs"), (#"{"epochs": 1e30}"#, "epochs"),
                      (#"{"epochs": 1, "seed": -1}"#, "seed"), (#"{"epochs": 1, "rate": 1e308}"#, "rate"),
                      (#"{"epochs": 1, "inner": {"rate": 1e39}}"#, "inner.rate"), (#"{}"#, "epochs")])
    func decodeNamesTheFieldOfValidJSON(body: String, field: String) throws {
        struct Inner: Decodable { let rate: Float }
        struct Spec: Decodable { let epochs: Int; let seed: UInt64?; let rate: Float?; let inner: Inner? }
        let request = Request(method: .post, path: "/", body: Data(body.utf8))
        let error = try #require(throws: HTTPError.self) { try request.decode(Spec.self) }
        #expect(error.status == .unprocessableContent)
        #expect(error.headers["X-Invalid-Field"] == field)
        #expect(error.message.hasPrefix(field + ":"))
    }
}
