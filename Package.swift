// swift-tools-version:6.1
import PackageDescription

/// Kennel: one binary that trains convolutional image classifiers and serves them over HTTP.
///
/// Dependencies point one way (DESIGN.md):
/// kennel → KennelAPI → KennelJobs → (KennelStore, KennelData → KennelImage, KennelEngine); KennelAPI → KennelHTTP.
let package = Package(
    name: "Kennel",
    products: [
        .executable(name: "kennel", targets: ["kennel"]),
        // The modules the fuzz targets (Fuzz/, `make fuzz`) drive directly.
        .library(name: "KennelModules", targets: ["KennelEngine", "KennelImage", "KennelData", "KennelHTTP", "KennelAPI",
                                                   "KennelJobs", "KennelStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // C libraries, reached through module maps and prefixed shim headers.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "COpenMP"),
        .systemLibrary(name: "CZlibSystem", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),

        .target(name: "KennelEngine", dependencies: ["CBLAS", "CDNNL", "CMalloc", "COpenMP"]),
        .target(name: "KennelImage", dependencies: ["CTurboJPEG", "CPNG", "CMalloc"]),
        .target(name: "KennelData", dependencies: ["KennelImage", "CZlibSystem"]),
        .target(name: "KennelStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "KennelJobs", dependencies: [
            "KennelStore", "KennelData", "KennelEngine", "KennelImage", "KennelONNX", "KennelKeras",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The ONNX export, over code generated from onnx.proto (tools/onnx/generate.sh) and committed.
        .target(name: "KennelONNX", dependencies: [
            "KennelEngine",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // Keras model import: .keras archives (ZIPFoundation) and HDF5 weights (libhdf5).
        .target(name: "KennelKeras", dependencies: [
            "KennelEngine", "CHDF5",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .target(name: "KennelHTTP", dependencies: [
            "CMicroHTTPD",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "KennelAPI", dependencies: [
            "KennelHTTP", "KennelJobs", "KennelStore", "KennelImage", "KennelKeras",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [.embedInCode("openapi.json")]),
        .executableTarget(name: "kennel", dependencies: [
            "KennelAPI", "KennelHTTP", "KennelStore", "KennelEngine", "KennelData", "KennelImage", "KennelJobs",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Raw-socket HTTP client, temporary directories, scratch databases on either engine and small image folders
        // shared by the test targets.
        .target(name: "KennelTestSupport", dependencies: ["KennelImage", "KennelStore"], path: "Tests/KennelTestSupport"),
        .testTarget(name: "KennelEngineTests", dependencies: ["KennelTestSupport", "KennelEngine"]),
        .testTarget(name: "KennelImageTests", dependencies: [
            "KennelTestSupport", "KennelImage", "CPNG", "CTurboJPEG", "CZlibSystem",
        ]),
        .testTarget(name: "KennelDataTests", dependencies: ["KennelTestSupport", "KennelData", "KennelImage"]),
        .testTarget(name: "KennelStoreTests", dependencies: ["KennelTestSupport", "KennelStore"]),
        .testTarget(name: "KennelJobsTests", dependencies: [
            "KennelTestSupport", "KennelJobs", "KennelStore", "KennelData", "KennelEngine", "KennelImage",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
        ]),
        .testTarget(name: "KennelHTTPTests", dependencies: ["KennelTestSupport", "KennelHTTP"]),
        .testTarget(name: "KennelAPITests", dependencies: [
            "KennelTestSupport", "KennelAPI", "KennelHTTP", "KennelJobs", "KennelStore", "KennelImage",
        ]),
        .testTarget(name: "KennelCLITests", dependencies: [
            "KennelTestSupport", "KennelImage", "KennelStore", "KennelEngine",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
