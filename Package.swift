// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Chatify",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OrderedJSON", targets: ["OrderedJSON"]),
        .library(name: "EngineIO", targets: ["EngineIO"]),
        .library(name: "SocketIO", targets: ["SocketIO"]),
        .library(name: "SocketIOHummingbird", targets: ["SocketIOHummingbird"]),
        .library(name: "SocketIORedisAdapter", targets: ["SocketIORedisAdapter"]),
        .library(name: "ChatDomain", targets: ["ChatDomain"]),
        .library(name: "ChatifyApp", targets: ["ChatifyApp"]),
        .executable(name: "socketio-conformance-server", targets: ["SocketIOConformanceServer"]),
        .executable(name: "chatify", targets: ["Chatify"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // `swift package generate-documentation` (scripts/check-docs); no product links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // JSON with key order kept, as Socket.IO payloads need.
        .target(name: "OrderedJSON", swiftSettings: strict),

        // Engine.IO v4: packets, payloads, sessions, transports. No HTTP framework.
        .target(
            name: "EngineIO",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                // gzip/deflate of polling responses (httpCompression), on the system zlib.
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),

        // Socket.IO v5 over Engine.IO: packets, namespaces, rooms, acks, adapter.
        .target(
            name: "SocketIO",
            dependencies: [
                "EngineIO", "OrderedJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // Serves an Engine.IO / Socket.IO server from a Hummingbird application.
        .target(
            name: "SocketIOHummingbird",
            dependencies: [
                "EngineIO", "SocketIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                // Its inflation limit error, mapped to a close code.
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The HTTP/1 codec of the channel that runs WebSockets on their event loop.
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: strict
        ),

        // Scale-out: the adapter of @socket.io/redis-adapter, with its own Redis client on
        // SwiftNIO (TLS through swift-nio-ssl) and msgpack-c. No pkg-config for msgpack-c: its
        // flags add -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a warning; the headers
        // are in /usr/include anyway.
        .systemLibrary(name: "CMsgpack", providers: [.apt(["libmsgpack-dev"])]),
        .target(
            name: "SocketIORedisAdapter",
            dependencies: [
                "SocketIO", "EngineIO", "OrderedJSON", "CMsgpack",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The chat: users, rooms, membership, messages, and the store protocol. No HTTP, no Socket.IO.
        .target(
            name: "ChatDomain",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(name: "ChatMemoryStore", dependencies: ["ChatDomain"], swiftSettings: strict),
        // libmongoc (Debian libmongoc-dev), the C driver the MongoDB store uses.
        .systemLibrary(name: "CMongoc", pkgConfig: "libmongoc-1.0", providers: [.apt(["libmongoc-dev"])]),
        .target(
            name: "ChatMongoStore",
            dependencies: [
                "ChatDomain", "CMongoc",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // The gateway: routes, auth, pages and Socket.IO events over the chat domain.
        .target(
            name: "ChatifyApp",
            dependencies: [
                "ChatDomain", "ChatMemoryStore", "SocketIO", "SocketIOHummingbird", "EngineIO",
                "OrderedJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("Resources/Templates"), .copy("Resources/Static")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "Chatify",
            dependencies: [
                "ChatifyApp", "ChatMongoStore", "SocketIORedisAdapter", "SocketIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // What the official Engine.IO and Socket.IO test suites expect on port 3000.
        .executableTarget(
            name: "SocketIOConformanceServer",
            dependencies: [
                "SocketIOHummingbird", "SocketIO", "EngineIO", "OrderedJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // The minimal server of docs/library.md, built with everything else so the example
        // keeps compiling; a test checks the page shows this very file.
        .executableTarget(
            name: "RelayServerExample",
            dependencies: [
                "SocketIOHummingbird", "SocketIO", "EngineIO",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Examples/RelayServer",
            swiftSettings: strict
        ),

        // Fakes and waiting helpers shared by the test targets (not a product).
        .target(
            name: "EngineTestSupport",
            dependencies: ["EngineIO", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Support",
            swiftSettings: strict
        ),

        .target(
            name: "SocketIOTestSupport",
            dependencies: [
                "SocketIO", "EngineIO", "OrderedJSON", "EngineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Tests/SocketIOSupport",
            swiftSettings: strict
        ),

        .testTarget(name: "OrderedJSONTests", dependencies: ["OrderedJSON"], swiftSettings: strict),
        .testTarget(name: "ChatDomainTests", dependencies: ["ChatDomain", "ChatMemoryStore"], swiftSettings: strict),
        .testTarget(
            name: "ChatifyAppTests",
            dependencies: [
                "ChatifyApp", "ChatDomain", "ChatMemoryStore", "SocketIO", "OrderedJSON", "SocketIOTestSupport",
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChatMongoStoreTests",
            dependencies: [
                "ChatMongoStore", "ChatDomain", "EngineTestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EngineIOTests",
            dependencies: [
                "EngineIO", "EngineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SocketIOTests",
            dependencies: [
                "SocketIO", "EngineIO", "OrderedJSON", "EngineTestSupport", "SocketIOTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SocketIORedisAdapterTests",
            dependencies: [
                "SocketIORedisAdapter", "SocketIO", "EngineIO", "OrderedJSON", "EngineTestSupport", "SocketIOTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SocketIOHummingbirdTests",
            dependencies: [
                "SocketIOHummingbird", "SocketIO", "EngineIO", "OrderedJSON", "EngineTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                // Inflates what the server compressed, deflates what the test client sends.
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
