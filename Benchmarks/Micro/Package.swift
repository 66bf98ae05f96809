// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks of the library's hot paths (ordo-one/benchmark), in a package of
// their own so neither the root package nor the load generator resolves the benchmark
// tools. Run from the repository root:
//   swift package --package-path Benchmarks/Micro benchmark
// The MallocInterposer trait counts mallocs without jemalloc; naming the traits also
// leaves out the default RuntimeInterposer (ARC counts), whose package is not mirrored here.
let package = Package(
    name: "ChatifyMicroBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Chatify", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The packets the benchmarks encode and decode, and their shared settings.
        .target(
            name: "MicroFixtures",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OrderedJSON", package: "Chatify"),
            ]
        ),
        // Engine.IO packet and polling payload encode/decode.
        benchmarkSuite("EngineIOCodec", ["EngineIO", "MicroFixtures"]),
        // Socket.IO EVENT and BINARY_EVENT encode/decode.
        benchmarkSuite("SocketIOCodec", ["SocketIO", "EngineIO", "OrderedJSON", "MicroFixtures"]),
        // One packet to a room of 1,000 sockets through the in-memory adapter.
        benchmarkSuite(
            "RoomBroadcast", ["SocketIO", "EngineIO", "OrderedJSON", "MicroFixtures"],
            extra: [.product(name: "HTTPTypes", package: "swift-http-types")]),
    ]
)

/// A benchmark executable as the plugin expects it: under `Benchmarks/<name>/`, with the
/// Benchmark library and the plugin that writes its `main`. `modules` are products of
/// the root package (or local targets), NIOCore comes with every suite.
func benchmarkSuite(_ name: String, _ modules: [String], extra: [Target.Dependency] = []) -> Target {
    let local: Set<String> = ["MicroFixtures"]
    let dependencies: [Target.Dependency] = modules.map { module in
        local.contains(module) ? .target(name: module) : .product(name: module, package: "Chatify")
    }
    return .executableTarget(
        name: name,
        dependencies: dependencies + extra + [
            .product(name: "Benchmark", package: "benchmark"),
            .product(name: "NIOCore", package: "swift-nio"),
        ],
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}
