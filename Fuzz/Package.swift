// swift-tools-version:6.2
// libFuzzer targets for Chatify's parsers. Build and run with ./run.sh (see README "Fuzzing").
import PackageDescription

let fuzzTarget: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "ChatifyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Chatify", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The entry points SwiftPM links the executables with (see FuzzMain.c).
        .target(name: "FuzzMain"),
        .executableTarget(
            name: "EngineFuzz",
            dependencies: [
                "FuzzMain",
                .product(name: "EngineIO", package: "Chatify"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "SocketFuzz",
            dependencies: [
                "FuzzMain",
                .product(name: "SocketIO", package: "Chatify"),
                .product(name: "EngineIO", package: "Chatify"),
                .product(name: "OrderedJSON", package: "Chatify"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "JSONFuzz",
            dependencies: ["FuzzMain", .product(name: "OrderedJSON", package: "Chatify")],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "FormCookieFuzz",
            dependencies: [
                "FuzzMain",
                .product(name: "ChatifyApp", package: "Chatify"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: fuzzTarget
        ),
        .executableTarget(
            name: "JWTFuzz",
            dependencies: ["FuzzMain", .product(name: "ChatifyApp", package: "Chatify")],
            swiftSettings: fuzzTarget
        ),
    ]
)
