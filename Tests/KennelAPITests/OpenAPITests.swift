import Foundation
import KennelHTTP
import KennelTestSupport
import Testing
@testable import KennelAPI

/// The served OpenAPI document against the router and the running server.
struct OpenAPITests {
    @Test func theDocumentListsExactlyTheRoutesAndEveryAnswerItGetsIsDocumented() throws {
        let live = try LiveServer()
        let served = try live.request("GET", "/openapi.json")
        #expect(served.status == 200 && served.headers["content-type"] == "application/json")
        let document = try live.object(served)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods = ["get", "put", "post", "delete", "patch", "head"]
        var documented: Set<String> = []
        for (path, item) in paths {
            for (method, operation) in item where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
                let responses = try #require((operation as? [String: Any])?["responses"] as? [String: Any])
                // Call the operation with placeholder parameters and no body: whatever comes back must be documented.
                let target = path.replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{name}", with: "none")
                let answer = try live.request(method.uppercased(), target)
                #expect(responses[String(answer.status)] != nil || responses["default"] != nil,
                        "\(method.uppercased()) \(target) answered \(answer.status), which the document does not list")
            }
        }
        let router = APIRouter.make(staticFiles: try StaticFiles(directory: repositoryRoot.path + "/public"),
                                    context: live.context)
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.pattern)" })
        #expect(documented.subtracting(registered).isEmpty, "documented, not routed: \(documented.subtracting(registered).sorted())")
        #expect(registered.subtracting(documented).isEmpty, "routed, not documented: \(registered.subtracting(documented).sorted())")

        // Every reference points at a component that exists.
        let text = served.text
        let schemas = (document["components"] as? [String: Any]) ?? [:]
        let references = text.matches(of: /"\$ref":\s*"#\/components\/(\w+)\/([\w.-]+)"/).map { (String($0.1), String($0.2)) }
        #expect(!references.isEmpty)
        for (section, name) in references {
            #expect((schemas[section] as? [String: Any])?[name] != nil, "#/components/\(section)/\(name) is missing")
        }
    }
}
