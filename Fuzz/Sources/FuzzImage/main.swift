import FuzzSupport
import KennelData
import KennelImage

/// One budget for every run, as a server shares one across requests.
let decoder = ImageDecoder(maximumPixels: 4_000_000, budget: DecodeBudget(capacity: 256 << 20, wait: 0))
let settings = [try! Preprocessing(width: 28, height: 28, color: .gray, resize: .pad),
                try! Preprocessing(width: 32, height: 24, color: .rgb, resize: .crop),
                try! Preprocessing(width: 17, height: 40, color: .gray, resize: .stretch)]

/// Decodes and prepares the input as each kind of model would; every failure must be an `ImageError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    let preprocessing = settings[count % settings.count]
    expectingOnly(ImageError.self, "decoding") {
        let prepared = try preprocessing.prepare(bytes, decoder: decoder)
        precondition(prepared.count == preprocessing.exampleBytes, "prepared \(prepared.count) bytes")
    }
    return 0
}

/// The entry point SwiftPM's debug build links as `main`.
@_cdecl("FuzzImage_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv)
}
