import Foundation
import KennelTestSupport
import Testing

/// The REST calls the CLI tests make against a `kennel serve` child.
extension ServerProcess {
    /// POSTs `json` to `path`.
    func post(_ path: String, _ json: String) throws -> RawResponse {
        try rawRequest(port: port, "POST", path, headers: ["Content-Type": "application/json"], body: Array(json.utf8))
    }

    /// The answer's JSON value (object or array).
    func json(_ response: RawResponse) throws -> Any { try JSONSerialization.jsonObject(with: Data(response.body)) }

    /// The answer's JSON object; fails the test when it is something else.
    func object(_ response: RawResponse) throws -> [String: Any] {
        try #require(try json(response) as? [String: Any], "\(response.status) \(response.text)")
    }

    /// Job `id` as `GET /v1/jobs/ID` shows it.
    func job(_ id: Int) throws -> [String: Any] { try object(try rawRequest(port: port, "GET", "/v1/jobs/\(id)")) }

    /// Polls job `id` until its state is one of `states` (by default a final one); the job as last seen.
    @discardableResult
    func waitForJob(_ id: Int, until states: Set<String> = ["succeeded", "failed", "cancelled"],
                    seconds: Double = 120) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var current: [String: Any] = [:]
        while Date() < deadline {
            current = try job(id)
            if states.contains(current["state"] as? String ?? "") { return current }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("job \(id) did not reach \(states.sorted()) in \(seconds) s: \(current["state"] ?? "?")")
        return current
    }

    /// Posts `body` to `path` (an import or a job) and waits for the job it queues; its final state.
    func runJob(_ path: String, _ body: String) throws -> (id: Int, state: String) {
        let id = try #require(try object(try post(path, body))["id"] as? Int)
        return (id, try waitForJob(id)["state"] as? String ?? "")
    }
}
