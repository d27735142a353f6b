import Foundation
import KennelHTTP
import KennelTestSupport
import Testing
@testable import KennelAPI

/// A public/ folder beside a secret file, with a symbolic link that points out of public/.
private struct Site {
    let directory: TemporaryDirectory
    let files: StaticFiles

    init() throws {
        directory = try TemporaryDirectory()
        let root = directory.url.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("docs"), withIntermediateDirectories: true)
        try "<!doctype html><title>Kennel</title>".write(to: root.appendingPathComponent("index.html"),
                                                         atomically: true, encoding: .utf8)
        try "console.log(1)".write(to: root.appendingPathComponent("app.js"), atomically: true, encoding: .utf8)
        try "body{}".write(to: root.appendingPathComponent("style.css"), atomically: true, encoding: .utf8)
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: root.appendingPathComponent("logo.png"))
        try "docs".write(to: root.appendingPathComponent("docs/index.html"), atomically: true, encoding: .utf8)
        try "unknown".write(to: root.appendingPathComponent("data.bin2"), atomically: true, encoding: .utf8)
        try "top secret".write(to: directory.url.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("leak.txt").path,
                                                   withDestinationPath: directory.url.appendingPathComponent("secret.txt").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("outside").path,
                                                   withDestinationPath: directory.path)
        files = try StaticFiles(directory: root.path)
    }

    func get(_ path: String, headers: HTTPHeaders = HTTPHeaders()) -> Response {
        APIRouter.make(staticFiles: files).respond(to: Request(method: .get, path: path, headers: headers))
    }
}

struct StaticFilesTests {
    @Test(arguments: [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/logo.png", "image/png"),
        ("/docs/", "text/html; charset=utf-8"),
        ("/docs", "text/html; charset=utf-8"),
        ("/data.bin2", "application/octet-stream"),
    ])
    func servesFilesWithTheirMIMETypes(path: String, type: String) throws {
        let site = try Site()
        defer { site.directory.remove() }
        let response = site.get(path)
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == type)
        #expect(response.headers["ETag"] != nil)
        #expect(response.headers["Last-Modified"]?.hasSuffix(" GMT") == true)
    }

    @Test func revalidationWithETagAnswers304() throws {
        let site = try Site()
        defer { site.directory.remove() }
        let first = site.get("/app.js")
        let etag = try #require(first.headers["ETag"])
        let again = site.get("/app.js", headers: ["If-None-Match": etag])
        #expect(again.status == .notModified)
        guard case .bytes(let bytes) = again.body else { Issue.record("expected bytes"); return }
        #expect(bytes.isEmpty)
        #expect(site.get("/app.js", headers: ["If-None-Match": "\"stale\""]).status == .ok)
    }

    @Test(arguments: ["/../secret.txt", "/docs/../../secret.txt", "/leak.txt", "/outside/secret.txt", "/missing.js",
                      "/./index.html", "/a\0b", "/docs/..\\..\\secret.txt"])
    func pathsLeavingPublicAre404(path: String) throws {
        let site = try Site()
        defer { site.directory.remove() }
        let response = site.get(path)
        #expect(response.status == .notFound)
        guard case .bytes(let bytes) = response.body else { Issue.record("expected bytes"); return }
        #expect(!String(decoding: bytes, as: UTF8.self).contains("top secret"))
    }

    @Test func refusesAMissingDirectory() {
        #expect(throws: StaticFiles.SetupError.self) { try StaticFiles(directory: "/nonexistent/kennel-public") }
    }

    /// Through the real server, where libmicrohttpd decodes `%2e%2e` before routing and nothing normalises `..`.
    @Test(arguments: ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/%2e%2e/secret.txt", "/docs/%2e%2e/%2e%2e/secret.txt",
                      "//..//secret.txt", "/leak.txt", "/outside/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
                      "{absolute}/secret.txt", "/{absolute}/secret.txt", "http://127.0.0.1/../secret.txt", "/etc/passwd"])
    func traversalOverRealSocketsIs404(target: String) throws {
        let site = try Site()
        defer { site.directory.remove() }
        // `{absolute}` is the real absolute path of the folder holding the secret.
        let target = target.replacingOccurrences(of: "{absolute}", with: site.directory.path)
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, router: APIRouter.make(staticFiles: site.files))
        try server.start()
        defer { server.stop() }
        let response = try rawRequest(port: server.port, "GET", target)
        #expect(response.status == 404)
        #expect(!response.text.contains("top secret"))
        #expect(response.text.contains(#""code":"not_found""#))
        let index = try rawRequest(port: server.port, "GET", "/")
        #expect(index.status == 200)
        #expect(index.text.contains("Kennel"))
    }

    @Test func healthzThroughTheAPIRouter() throws {
        let site = try Site()
        defer { site.directory.remove() }
        let response = site.get("/healthz")
        #expect(response.status == .ok)
        guard case .bytes(let bytes) = response.body else { Issue.record("expected bytes"); return }
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"status":"ok"}"#)
    }
}
