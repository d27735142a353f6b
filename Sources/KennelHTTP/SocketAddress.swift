import Foundation

/// A resolved listening address (IPv4 or IPv6) in the form the C socket API takes.
struct SocketAddress {
    private var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0
    var isIPv6: Bool { Int32(storage.ss_family) == AF_INET6 }

    /// Resolves `host` (numeric, or a name such as `localhost`, preferring IPv4) with `port`.
    init(host: String, port: UInt16) throws {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let results else {
            throw HTTPServerError.invalidHost(host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(results) }
        var chosen = results
        for candidate in sequence(first: results, next: { $0.pointee.ai_next }) where candidate.pointee.ai_family == AF_INET {
            chosen = candidate
            break
        }
        length = chosen.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: chosen.pointee.ai_addr, count: Int(length)))
        }
    }

    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>) -> Result) -> Result {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }
}
