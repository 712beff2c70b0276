// swift-tools-version:6.0
import PackageDescription

// The numeric kernels need an FMA/AVX2 code generation target on x86-64: without one, Swift lowers
// SIMD `addingProduct` to per-lane libm calls (about 140x slower). The flag is applied only to the
// engine (and the training code that reuses its kernels); `auge` checks the CPU at start.
// AUGE_PORTABLE=1 builds the variant for x86-64 CPUs without AVX2/FMA instead (scripts/build-portable.sh):
// no target flag, and vector multiply-adds as a multiply and an add (Kernels/VectorMath.swift).
let portable = Context.environment["AUGE_PORTABLE"] != nil
#if arch(x86_64)
    let kernelFlags: [SwiftSetting] = portable ? [.define("AUGE_PORTABLE")] : [.unsafeFlags(["-Xcc", "-march=x86-64-v3"])]
#else
    let kernelFlags: [SwiftSetting] = []
#endif
// The int8 kernels reach `vpdpbusd` through LLVM's intrinsic, which needs -parse-stdlib and AVX-512 VNNI in
// the -march (x86-64-v4 has AVX-512 F/BW/DQ/CD/VL but not VNNI; with the feature only in -Xllvm -mattr the
// compiler crashed). The portable build and other CPUs get the module without that code (no AUGE_VNNI).
#if arch(x86_64)
    let int8Flags: [SwiftSetting] =
        portable
        ? [.unsafeFlags(["-parse-stdlib"])]
        : [.unsafeFlags(["-parse-stdlib", "-Xcc", "-march=x86-64-v4", "-Xcc", "-mavx512vnni"]), .define("AUGE_VNNI")]
    // The AVX2 int8 kernel (vpmaddwd) at the engine's level, x86-64-v3, in its own -parse-stdlib module.
    let int8AVX2Flags: [SwiftSetting] =
        portable
        ? [.unsafeFlags(["-parse-stdlib"])]
        : [.unsafeFlags(["-parse-stdlib", "-Xcc", "-march=x86-64-v3"]), .define("AUGE_INT8_AVX2")]
#else
    let int8Flags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])]
    let int8AVX2Flags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])]
#endif

let package = Package(
    name: "Auge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "auge", targets: ["auge"]),
        .library(name: "AugeImage", targets: ["AugeImage"]),
        .library(name: "AugeSamples", targets: ["AugeSamples"]),
        .library(name: "AugeEngine", targets: ["AugeEngine"]),
        .library(name: "AugeONNX", targets: ["AugeONNX"]),
        .library(name: "AugeTrain", targets: ["AugeTrain"]),
        .library(name: "AugeInspect", targets: ["AugeInspect"]),
        .library(name: "AugeStation", targets: ["AugeStation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libjpeg reports errors by longjmp; this C target keeps every setjmp inside C.
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        // The system's libcrypto (OpenSSL) for the SHA-256 of model files: no BoringSSL build for one hash.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"]), .brew(["openssl"])]),
        .target(name: "AugeImage", dependencies: ["CJPEG", "CPNG"]),
        // The one seeded generator (SplitMix64), on its own so that the samples need not depend on the engine.
        .target(name: "AugeRandom"),
        .target(name: "AugeSamples", dependencies: ["AugeImage", "AugeRandom"]),
        // One function: a software prefetch through the compiler builtin, which needs -parse-stdlib.
        .target(name: "AugePrefetch", swiftSettings: [.unsafeFlags(["-parse-stdlib"])]),
        // CPU detection, compiled for any x86-64 so that it can run before the kernels are known to.
        .target(name: "AugeCPU", swiftSettings: portable ? [.define("AUGE_PORTABLE")] : []),
        // The AVX-512 VNNI int8 GEMM, compiled for x86-64-v4 + VNNI: entered only after CPUFeatures.hasAVX512VNNI.
        .target(name: "AugeInt8", swiftSettings: int8Flags),
        // The exact AVX2 int8 GEMM (vpmaddwd on widened bytes) for CPUs without VNNI.
        .target(name: "AugeInt8AVX2", dependencies: ["AugeInt8"], swiftSettings: int8AVX2Flags),
        .target(name: "AugeEngine", dependencies: ["AugeCPU", "AugePrefetch", "AugeRandom", "AugeInt8", "AugeInt8AVX2"], swiftSettings: kernelFlags),
        .target(
            name: "AugeONNX",
            dependencies: ["AugeImage", "AugeEngine", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto/onnx.proto"]),
        .target(name: "AugeTrain", dependencies: ["AugeEngine", "AugeONNX", "AugeImage"], swiftSettings: kernelFlags),
        .target(name: "AugeInspect", dependencies: ["AugeImage", "AugeEngine", "AugeONNX", "CLibCrypto"]),
        // The line station: the screen, review desk and metrics of a watcher's output folder, over HTTP.
        .target(
            name: "AugeStation",
            dependencies: [
                "AugeInspect", "AugeONNX",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("Pages")]),
        // Engine latency benchmark (networks built in code, seeded random weights); see bench/engine_vs_ort.sh.
        .executableTarget(
            name: "auge-engine-bench",
            dependencies: ["AugeEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: kernelFlags),
        .executableTarget(
            name: "auge",
            dependencies: [
                "AugeInspect", "AugeTrain", "AugeStation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "auge-samples",
            dependencies: ["AugeSamples", "AugeRandom", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "DecodeBenchmark", dependencies: ["AugeImage"], path: "Benchmarks/DecodeBenchmark"),
        // Int8 GEMM paths beside the FP32 GEMM at realistic convolution shapes (G MAC/s, one thread).
        .executableTarget(name: "Int8GemmBenchmark", dependencies: ["AugeEngine"], path: "Benchmarks/Int8GemmBenchmark", swiftSettings: kernelFlags),
        .testTarget(name: "AugeImageTests", dependencies: ["AugeImage"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AugeSamplesTests", dependencies: ["AugeSamples", "AugeImage", "AugeRandom"]),
        .testTarget(name: "AugeEngineTests", dependencies: ["AugeEngine"], swiftSettings: kernelFlags),
        // Shared by the test targets: the one process runner.
        .target(name: "AugeTestSupport", path: "Tests/AugeTestSupport"),
        .testTarget(name: "AugeONNXTests", dependencies: ["AugeONNX", "AugeEngine", "AugeImage", "AugeTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AugeTrainTests", dependencies: ["AugeTrain", "AugeEngine", "AugeImage", "AugeONNX"], swiftSettings: kernelFlags),
        .testTarget(name: "AugeInspectTests", dependencies: ["AugeInspect", "AugeImage", "AugeEngine", "AugeONNX", "AugeSamples"]),
        .testTarget(name: "AugeStationTests", dependencies: ["AugeStation", "AugeInspect"]),
        // Runs the real `auge` binary; depending on the executable makes SwiftPM build it first.
        .testTarget(name: "AugeCLITests", dependencies: ["auge", "AugeImage", "AugeEngine", "AugeONNX", "AugeInspect", "AugeTestSupport"]),
    ]
)

// libFuzzer targets (Fuzz/), outside the normal build: scripts/fuzz.sh sets AUGE_FUZZ=1 and builds one
// with --sanitize=fuzzer --sanitize=address.
if Context.environment["AUGE_FUZZ"] != nil {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("Images", ["AugeImage"]), ("ONNX", ["AugeONNX", "AugeEngine", "AugeInspect"]), ("Journal", ["AugeInspect"]), ("NPY", ["AugeONNX"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "auge-fuzz-\(name.lowercased())", dependencies: dependencies, path: "Fuzz/\(name)",
                swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
