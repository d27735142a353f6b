import FuzzSupport
import Foundation
import KennelEngine
@testable import KennelData

/// Where each input is written for the readers that take a path.
let file: String = {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kennel-fuzz-files-\(getpid())")
    try! FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    return scratch.appendingPathComponent("input").path
}()

/// The first byte picks the reader: an IDX file (plain or gzip), a dataset shard (verified, then read), or a
/// checkpoint. Every failure must be the reader's own typed error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataFiles(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let all = UnsafeRawBufferPointer(start: start, count: count)
    let payload = [UInt8](all.dropFirst())
    switch all[0] % 3 {
    case 0:
        _ = FileManager.default.createFile(atPath: file, contents: Data(payload))
        expectingOnly(DataError.self, "IDX") {
            let idx = try IDXFile(path: file, maxDataBytes: 64 << 20)
            precondition(idx.values.count == idx.dimensions.reduce(1, *))
        }
    case 1:
        _ = FileManager.default.createFile(atPath: file, contents: Data(payload))
        expectingOnly(DataError.self, "shard") {
            let shard = try Shard(path: file, verify: true)
            let total = shard.header.trainCount + shard.header.testCount
            for index in 0..<min(total, 64) {
                _ = shard.label(index)
                shard.withPixels(index) { precondition($0.count == shard.header.preprocessing.exampleBytes) }
            }
        }
    default:
        expectingOnly(EngineError.self, "checkpoint") {
            let loaded = try Checkpoint.decode(payload)
            _ = try loaded.model.predict(Tensor(zeros: [1] + loaded.model.inputShape))
        }
    }
    return 0
}

/// The entry point SwiftPM's debug build links as `main`.
@_cdecl("FuzzDataFiles_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv)
}
