import Foundation
import KennelTestSupport
import Synchronization
import Testing

/// The built `kennel` executable beside the test bundle (or in .build/debug).
func kennelBinary() throws -> URL {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("kennel")
    let candidates = [besideTests, repositoryRoot.appendingPathComponent(".build/debug/kennel")]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw RawHTTPError("kennel binary not built (run `swift build` first)")
    }
    return found
}

/// Runs `kennel ARGUMENTS` to the end; its exit status and everything it printed.
func runKennel(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = try kennelBinary()
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// A `kennel serve` child process, as a user starts it.
final class ServerProcess {
    let process = Process()
    let dataDirectory: TemporaryDirectory
    private let log = OutputLog()
    private(set) var port: UInt16 = 0

    /// Without `demo`, the server starts with `--no-demo` (tests bring their own data). With `tmpfsSize`
    /// (such as "8m") the server runs in a mount namespace of its own, its data directory a tmpfs of that size:
    /// a small disk that fills up.
    init(arguments: [String] = [], environment: [String: String] = [:], waitForListening: Bool = true,
         demo: Bool = false, tmpfsSize: String? = nil) throws {
        dataDirectory = try TemporaryDirectory()
        let serve = ["serve", "--public", repositoryRoot.appendingPathComponent("public").path,
                     "--migrations", repositoryRoot.appendingPathComponent("migrations").path]
            + (demo ? [] : ["--no-demo"]) + arguments
        if let tmpfsSize {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["--mount", "--propagation", "private", "sh", "-c",
                                 "mount -t tmpfs -o size=\(tmpfsSize) tmpfs \"$KENNEL_DATA_DIR\" && exec \"$0\" \"$@\"",
                                 try kennelBinary().path] + serve
        } else {
            process.executableURL = try kennelBinary()
            process.arguments = serve
        }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KENNEL_") }
        env["KENNEL_PORT"] = "0"
        env["KENNEL_DATA_DIR"] = dataDirectory.path
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        pipe.fileHandleForReading.readabilityHandler = { [log] handle in
            let data = handle.availableData
            log.append(data)
        }
        try process.run()
        if waitForListening { try waitForPort() }
    }

    var output: String { log.text }

    private func waitForPort() throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let range = output.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = UInt16(output[range].split(separator: ":").last!)!
                return
            }
            guard process.isRunning else { throw RawHTTPError("kennel exited: \(output)") }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw RawHTTPError("kennel did not start listening: \(output)")
    }

    /// Peak resident memory of the server so far, in MiB.
    func peakResidentMiB() throws -> Double { try memoryMiB("VmHWM") }

    /// Resident memory of the server now, in MiB.
    func residentMiB() throws -> Double { try memoryMiB("VmRSS") }

    private func memoryMiB(_ field: String) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        return Double(line.split(separator: " ")[1])! / 1024
    }

    func waitForExit(seconds: Double = 15) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        dataDirectory.remove()
    }
}

/// Everything the child process printed, collected from the pipe's reader thread. Kept as bytes and decoded
/// whole: a chunk may end inside a multi-byte character ("…").
final class OutputLog: Sendable {
    private let contents = Mutex([UInt8]())
    func append(_ data: Data) { contents.withLock { $0 += data } }
    var text: String { contents.withLock { String(decoding: $0, as: UTF8.self) } }
}

@Suite(.serialized) struct ServeCommandTests {
    @Test func servesHealthLogsEachRequestAndStopsCleanlyOnSIGTERM() throws {
        let server = try ServerProcess()
        let health = try rawRequest(port: server.port, "GET", "/healthz")
        #expect(health.status == 200)
        #expect(health.text == #"{"status":"ok"}"#)
        let missing = try rawRequest(port: server.port, "GET", "/v1/nothing-here")
        #expect(missing.status == 404)
        #expect(missing.text.contains(#""error":{"code":"not_found""#))
        let page = try rawRequest(port: server.port, "GET", "/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory.path + "/kennel.sqlite"))

        kill(server.process.processIdentifier, SIGTERM)
        #expect(server.waitForExit() == 0)
        let log = server.output
        #expect(log.range(of: #"GET /healthz 200 \d+\.\d{3} ms"#, options: .regularExpression) != nil)
        #expect(log.contains("GET /v1/nothing-here 404"))
        #expect(log.contains("received SIGTERM"))
        #expect(log.contains("stopped"))
    }

    @Test func anEmptyDataDirectoryStartsTheFashionDemoUnlessToldNotTo() throws {
        let demo = try ServerProcess(demo: true)
        let deadline = Date().addingTimeInterval(20)
        var jobs: [[String: Any]] = []
        while jobs.isEmpty && Date() < deadline {
            jobs = (try JSONSerialization.jsonObject(with: Data(try rawRequest(port: demo.port, "GET", "/v1/jobs").body))
                as? [[String: Any]]) ?? []
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(jobs.first?["kind"] as? String == "import" && jobs.first?["dataset"] as? String == "fashion")
        #expect(demo.output.contains("demo: importing Fashion-MNIST"))
        #expect(demo.output.contains("--no-demo"))
        #expect(FileManager.default.fileExists(atPath: demo.dataDirectory.path + "/demo-in-progress"))
        kill(demo.process.processIdentifier, SIGTERM)
        #expect(demo.waitForExit(seconds: 60) == 0)

        let plain = try ServerProcess()
        #expect(try rawRequest(port: plain.port, "GET", "/v1/jobs").text == "[]")
        #expect(plain.output.contains("demo disabled (--no-demo)"))
    }

    @Test func stopsCleanlyOnSIGINT() throws {
        let server = try ServerProcess()
        kill(server.process.processIdentifier, SIGINT)
        #expect(server.waitForExit() == 0)
        #expect(server.output.contains("received SIGINT"))
    }

    @Test func a300MBBodyIs413WithoutTheServerGrowing() throws {
        let server = try ServerProcess()
        let megabyte = [UInt8](repeating: 0x5A, count: 1 << 20)

        // Announced length: answered before the body is read, and the connection is closed.
        let announced = try RawHTTPConnection(port: server.port)
        try announced.send("POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                           + "Content-Length: \(300 << 20)\r\n\r\n")
        let early = try announced.readResponse()
        #expect(early.status == 413)
        #expect(early.text.contains("\(32 << 20) bytes"))
        #expect(announced.isClosedByPeer())

        // No length (chunked): the server must read it all, keeping at most the cap, then answer 413.
        let chunked = try RawHTTPConnection(port: server.port)
        try chunked.send("POST /v1/datasets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try chunked.sendChunks(repeatElement(megabyte, count: 300))
        #expect(try chunked.readResponse().status == 413)

        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
        let peak = try server.peakResidentMiB()
        #expect(peak < 100, "server peaked at \(peak) MiB")
    }

    /// Two servers on one data directory once both trained the same job after a crash; the second is now refused.
    /// Temporary files that interrupted writes left are swept at start; one still being written (recent) stays.
    @Test func oneServerPerDataDirectoryAndStaleTemporaryFilesSwept() throws {
        let first = try ServerProcess()
        let data = first.dataDirectory.path
        let second = try ServerProcess(arguments: ["--data-dir", data], waitForListening: false)
        #expect(second.waitForExit() != 0)
        #expect(second.output.contains("another kennel serve"))
        #expect(second.output.contains(data))
        #expect(try rawRequest(port: first.port, "GET", "/healthz").status == 200)
        kill(first.process.processIdentifier, SIGTERM)
        #expect(first.waitForExit() == 0)

        let stale = data + "/datasets/abandoned.shard.0A1B.tmp", fresh = data + "/checkpoints/.live.ckpt.0C1D.tmp"
        // A recent one whose writer died goes at once; one a live process is writing stays.
        let orphan = data + "/checkpoints/1/.step-5.ckpt.2147483646.\(UUID().uuidString).tmp"
        let live = data + "/checkpoints/1/.step-10.ckpt.\(getpid()).\(UUID().uuidString).tmp"
        for path in [stale, fresh, orphan, live] {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data(count: 4096).write(to: URL(fileURLWithPath: path))
        }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stale)
        let third = try ServerProcess(arguments: ["--data-dir", data])
        #expect(try rawRequest(port: third.port, "GET", "/healthz").status == 200)
        #expect(!FileManager.default.fileExists(atPath: stale) && !FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: fresh) && FileManager.default.fileExists(atPath: live))
        #expect(third.output.contains("removed 2 temporary file(s) of interrupted writes (8192 bytes)"))
    }

    /// libmicrohttpd's own messages go through the server's log, in its format, not straight to stderr.
    @Test func libmicrohttpdMessagesUseTheLogFormat() throws {
        let first = try ServerProcess()
        let second = try ServerProcess(arguments: ["--port", String(first.port)], waitForListening: false)
        #expect(second.waitForExit() != 0)
        #expect(second.output.contains("cannot listen on 127.0.0.1:\(first.port)"))
        let line = second.output.split(separator: "\n").first { $0.contains("libmicrohttpd:") } ?? ""
        #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\S+ warning kennel\.http: .*libmicrohttpd: .*[Bb]ind"#,
                           options: .regularExpression) != nil, "\(second.output)")
    }

    @Test func flagsWinOverEnvironment() throws {
        let server = try ServerProcess(arguments: ["--port", "0", "--request-deadline", "7"],
                                       environment: ["KENNEL_PORT": "1", "KENNEL_REQUEST_DEADLINE": "5",
                                                     "KENNEL_DECODE_BUDGET_MB": "64"])
        #expect(try rawRequest(port: server.port, "GET", "/healthz").status == 200)
        let body = try rawRequest(port: server.port, "GET", "/v1/limits").body
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]])
        let values = Dictionary(uniqueKeysWithValues: entries.map { ($0["name"] as? String ?? "", $0["value"] as? Int ?? 0) })
        #expect(values["request_deadline_seconds"] == 7)
        #expect(values["decode_budget_bytes"] == 64 << 20)
    }

    @Test func badSettingsExitWithAClearMessage() throws {
        let badPort = try ServerProcess(environment: ["KENNEL_PORT": "eighty"], waitForListening: false)
        #expect(badPort.waitForExit() != 0)
        #expect(badPort.output.contains("KENNEL_PORT='eighty'"))

        let noMigrations = try ServerProcess(arguments: ["--migrations", "/nonexistent"], waitForListening: false)
        #expect(noMigrations.waitForExit() != 0)
        #expect(noMigrations.output.contains("cannot read migrations at /nonexistent"))

        let badBodyCap = try ServerProcess(arguments: ["--max-body-mb", "0"], waitForListening: false)
        #expect(badBodyCap.waitForExit() != 0)
        #expect(badBodyCap.output.contains("--max-body-mb"))

        let badLimit = try ServerProcess(environment: ["KENNEL_MAX_PARAMETERS": "0"], waitForListening: false)
        #expect(badLimit.waitForExit() != 0)
        #expect(badLimit.output.contains("--max-parameters (KENNEL_MAX_PARAMETERS) must be 1…"))
    }
}
