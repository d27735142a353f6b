// swift-tools-version:6.1
import PackageDescription

/// libFuzzer targets over Kennel's input paths (`make fuzz`; README "Fuzzing"). Built apart from the product,
/// with `-sanitize=fuzzer,address`, into Fuzz/.build:
///
///     swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
///         -Xswiftc -enable-testing
///
/// Each target defines LLVMFuzzerTestOneInput and an entry point that starts libFuzzer (FuzzSupport).
let package = Package(
    name: "KennelFuzz",
    dependencies: [.package(name: "Kennel", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        // JPEG/PNG decoding and the preprocessing a served model applies.
        .executableTarget(name: "FuzzImage", dependencies: ["FuzzSupport", .product(name: "KennelModules", package: "Kennel")]),
        // IDX files, dataset shards and checkpoints as read from disk.
        .executableTarget(name: "FuzzDataFiles", dependencies: ["FuzzSupport", .product(name: "KennelModules", package: "Kennel")]),
        // Raw bytes to a live libmicrohttpd server: request lines, headers, %-escapes, query strings, multipart.
        .executableTarget(name: "FuzzHTTP", dependencies: ["FuzzSupport", .product(name: "KennelModules", package: "Kennel")]),
        // JSON bodies and paths through the REST router: job specs with layers, imports, promotions.
        .executableTarget(name: "FuzzAPI", dependencies: ["FuzzSupport", .product(name: "KennelModules", package: "Kennel")]),
    ],
    swiftLanguageModes: [.v6]
)
