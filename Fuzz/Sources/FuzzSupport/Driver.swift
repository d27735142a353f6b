#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's driver, for programs that bring their own main.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The target's test function (each target defines it with `@_cdecl("LLVMFuzzerTestOneInput")`).
@_silgen_name("LLVMFuzzerTestOneInput")
private func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt

/// Runs libFuzzer over the target's `LLVMFuzzerTestOneInput`. A debug build of a SwiftPM executable enters at
/// `<Target>_main`, not `main`, so each target's entry point calls this (built with `-parse-as-library`).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { testOneInput($0, $1) }
}

/// Runs `body`, which may refuse its input only with an `Expected` error; any other error is a finding and stops
/// the run, naming `what` failed.
public func expectingOnly<Expected: Error>(_ expected: Expected.Type, _ what: String, _ body: () throws -> Void) {
    do {
        try body()
    } catch is Expected {
    } catch {
        fatalError("\(what) failed with \(error), not a \(Expected.self)")
    }
}
