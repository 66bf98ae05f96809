// swift-tools-version:6.2
import PackageDescription

// The benchmark suite: a load generator speaking Engine.IO v4 / Socket.IO v5 itself.
// Its own package, so the root package's users never resolve the benchmark tools.
// Build it with its own scratch path (run.sh does):
//   swift build -c release --package-path Benchmarks --scratch-path Benchmarks/.build-bench
let package = Package(
    name: "ChatifyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // Thousands of Engine.IO / Socket.IO clients over WebSocket or long-polling (or raw
        // WebSocket clients for RawFanoutServer) in one process; one scenario per run, a
        // JSON record on stdout.
        .executableTarget(
            name: "LoadGenerator",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The ceiling: plain WebSocket room fan-out on SwiftNIO, no Engine.IO/Socket.IO.
        .executableTarget(
            name: "RawFanoutServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
    ]
)
