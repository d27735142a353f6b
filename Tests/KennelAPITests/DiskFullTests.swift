import Foundation
import KennelHTTP
import KennelStore
import Testing
@testable import KennelAPI

/// A write that meets a full disk, wherever it happens in a handler, is a 507 that says where and what to do
/// (it was a bare 500).
struct DiskFullTests {
    @Test(arguments: [
        NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC)) as any Error,
        NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError) as any Error,
        StoreError.diskFull("database or disk is full") as any Error,
        NSError(domain: NSCocoaErrorDomain, code: 4, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EDQUOT))]) as any Error,
    ])
    func fullDisksAre507(error: any Error) throws {
        var routes = Router.Builder()
        routes.post("/write") { _ in throw error }
        let router = Router(routes, translate: { APIErrors.translate($0, dataDirectory: URL(fileURLWithPath: "/data")) })
        let response = router.respond(to: Request(method: .post, path: "/write"))
        #expect(response.status == .insufficientStorage)
        guard case .bytes(let body) = response.body else { return }
        #expect(String(decoding: body, as: UTF8.self).contains("disk full at /data"))
    }

    @Test func otherErrorsStay500() {
        var routes = Router.Builder()
        routes.post("/write") { _ in throw NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES)) }
        let router = Router(routes, translate: { APIErrors.translate($0, dataDirectory: nil) })
        #expect(router.respond(to: Request(method: .post, path: "/write")).status == .internalServerError)
    }
}
