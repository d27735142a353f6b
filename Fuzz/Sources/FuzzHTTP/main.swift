import FuzzSupport
import Foundation
import KennelHTTP

/// A live server with routes that read each part of a request: query arguments, headers, raw and multipart bodies.
let server: HTTPServer = {
    var routes = Router.Builder()
    routes.get("/healthz") { _ in .text("ok") }
    routes.get("/query/{name}") { request in
        .text(request.parameters["name"]! + "?" + request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            .joined(separator: "&"))
    }
    routes.post("/echo") { request in
        .text("\(request.body.count) \(request.headers.fields.count) \(request.form?.map(\.body.count) ?? [])")
    }
    var configuration = HTTPServerConfiguration()
    configuration.port = 0
    configuration.maxBodyBytes = 1 << 20
    configuration.pollingThreads = 2
    configuration.requestDeadlineSeconds = 2
    let server = HTTPServer(configuration: configuration, router: Router(routes))
    try! server.start()
    return server
}()

/// Sends the input as raw bytes on a fresh connection, half-closes it and reads whatever comes back soon.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let port = server.port
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { return 0 }
    defer { close(socket) }
    // Short waits: a request left incomplete, or a connection kept alive, is the server's to time out, not the
    // fuzzer's to wait for. 50 ms for the answer to start, then 10 ms between its pieces.
    func wait(microseconds: Int) {
        var timeout = timeval(tv_sec: 0, tv_usec: microseconds)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    wait(microseconds: 50_000)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return 0 }
    var offset = 0
    while offset < count {
        let sent = send(socket, start + offset, count - offset, Int32(MSG_NOSIGNAL))
        if sent <= 0 { break }
        offset += sent
    }
    shutdown(socket, Int32(SHUT_WR))
    var buffer = [UInt8](repeating: 0, count: 65536)
    while recv(socket, &buffer, buffer.count, 0) > 0 { wait(microseconds: 10_000) }
    return 0
}

/// The entry point SwiftPM's debug build links as `main`.
@_cdecl("FuzzHTTP_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv)
}
