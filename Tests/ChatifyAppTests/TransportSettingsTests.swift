import EngineIO
import Foundation
import Testing

@testable import ChatifyApp

@Suite("Compression and TLS settings")
struct TransportSettingsTests {
    @Test("defaults are Node's: polling compression from 1024 bytes, no permessage-deflate, no TLS")
    func defaults() throws {
        let transport = try ChatifyConfiguration(environment: [:]).transport
        var engine = EngineConfiguration()
        transport.apply(to: &engine)
        #expect(engine.httpCompression == HTTPCompression(threshold: 1024))
        #expect(engine.perMessageDeflate == nil)
        #expect(transport.tls == nil)
    }

    @Test("the variables are read into the engine's options; malformed ones name the variable")
    func parsing() throws {
        let transport = try ChatifyConfiguration(environment: [
            "HTTP_COMPRESSION": "False", "HTTP_COMPRESSION_THRESHOLD": "10",
            "WS_PER_MESSAGE_DEFLATE": "True", "WS_PER_MESSAGE_DEFLATE_THRESHOLD": "64",
            "TLS_CERT_FILE": "cert.pem", "TLS_KEY_FILE": "key.pem",
        ]).transport
        var engine = EngineConfiguration()
        transport.apply(to: &engine)
        #expect(engine.httpCompression == nil)
        #expect(engine.perMessageDeflate == PerMessageDeflate(threshold: 64))
        #expect(transport.tls == TLSFiles(certificateFile: "cert.pem", keyFile: "key.pem"))
        for (name, value) in [
            ("HTTP_COMPRESSION", "sometimes"), ("HTTP_COMPRESSION_THRESHOLD", "-1"),
            ("WS_PER_MESSAGE_DEFLATE_THRESHOLD", "x"),
        ] {
            #expect(throws: ChatifyConfiguration.Problem.self) { try ChatifyConfiguration(environment: [name: value]) }
        }
    }

    @Test("TLS needs both files: one alone is an error naming the one that is set")
    func tlsPair() {
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "TLS_CERT_FILE", value: "c.pem", expected: "TLS_KEY_FILE set as well")
        ) {
            try ChatifyConfiguration(environment: ["TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": ""])
        }
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "TLS_KEY_FILE", value: "k.pem", expected: "TLS_CERT_FILE set as well")
        ) {
            try ChatifyConfiguration(environment: ["TLS_KEY_FILE": "k.pem"])
        }
    }

    /// A fresh self-signed certificate and key (openssl CLI) in a folder of their own.
    static func makePair(in folder: URL, name: String) throws -> (certificate: String, key: String) {
        let certificate = folder.appendingPathComponent("\(name).crt").path
        let key = folder.appendingPathComponent("\(name).key").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-keyout", key, "-out", certificate,
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl req failed")
        return (certificate, key)
    }

    @Test("certificate files: a matching pair loads; missing, non-PEM and mismatched files are named in the error")
    func tlsFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chatify-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = try Self.makePair(in: folder, name: "one")
        let two = try Self.makePair(in: folder, name: "two")

        _ = try TLSFiles(certificateFile: one.certificate, keyFile: one.key).serverConfiguration()

        func problem(_ files: TLSFiles) -> String? {
            do {
                _ = try files.serverConfiguration()
                return nil
            } catch {
                return error.description
            }
        }
        let missing = folder.appendingPathComponent("missing.pem").path
        #expect(
            problem(TLSFiles(certificateFile: missing, keyFile: one.key)) == "TLS_CERT_FILE=\(missing) does not exist")
        #expect(
            problem(TLSFiles(certificateFile: one.certificate, keyFile: missing))
                == "TLS_KEY_FILE=\(missing) does not exist")
        #expect(
            problem(TLSFiles(certificateFile: one.key, keyFile: one.key))?.contains("holds no PEM certificate") == true)
        #expect(
            problem(TLSFiles(certificateFile: one.certificate, keyFile: one.certificate))?.contains(
                "holds no PEM private key") == true)
        let mismatch = problem(TLSFiles(certificateFile: one.certificate, keyFile: two.key))
        #expect(
            mismatch?.hasPrefix("TLS_KEY_FILE=\(two.key) does not match the certificate") == true,
            "\(mismatch ?? "loaded")")
    }

    @Test(
        "REDIS_TLS_* are read with a rediss:// URL; with redis:// or alone, or half a client pair, they name the variable"
    )
    func redisTLSVariables() throws {
        let tls = try ChatifyConfiguration(environment: [
            "REDIS_URL": "rediss://cache.internal:6380", "REDIS_TLS_CA_FILE": "ca.pem",
            "REDIS_TLS_CERT_FILE": "client.pem", "REDIS_TLS_KEY_FILE": "client.key",
        ])
        #expect(tls.redisTLSCAFile == "ca.pem")
        #expect(tls.redisTLSCertificateFile == "client.pem")
        #expect(tls.redisTLSKeyFile == "client.key")
        #expect(tls.effectiveValues.contains { $0 == ("REDIS_TLS_CA_FILE", "ca.pem") })
        let plain = try ChatifyConfiguration(environment: ["REDIS_URL": "redis://cache.internal"])
        #expect(plain.redisTLSCAFile == nil && plain.redisTLSCertificateFile == nil)

        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "REDIS_TLS_CA_FILE", value: "ca.pem", expected: "REDIS_URL set to a rediss:// URL as well")
        ) {
            try ChatifyConfiguration(environment: [
                "REDIS_URL": "redis://cache.internal", "REDIS_TLS_CA_FILE": "ca.pem",
            ])
        }
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "REDIS_TLS_KEY_FILE", value: "k.pem", expected: "REDIS_URL set to a rediss:// URL as well")
        ) {
            try ChatifyConfiguration(environment: ["REDIS_TLS_KEY_FILE": "k.pem"])
        }
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "REDIS_TLS_CERT_FILE", value: "c.pem", expected: "REDIS_TLS_KEY_FILE set as well")
        ) {
            try ChatifyConfiguration(environment: ["REDIS_URL": "rediss://h", "REDIS_TLS_CERT_FILE": "c.pem"])
        }
    }

    @Test("REDIS_ADAPTER, REDIS_SUBSCRIPTION_MODE and REDIS_STREAM_* are read; bad values name the variable")
    func redisAdapterVariables() throws {
        let defaults = try ChatifyConfiguration(environment: [:])
        #expect(defaults.redisAdapter == "pubsub" && defaults.redisSubscriptionMode == "dynamic")
        let sharded = try ChatifyConfiguration(environment: [
            "REDIS_URL": "redis://cache.internal", "REDIS_ADAPTER": "Sharded",
            "REDIS_SUBSCRIPTION_MODE": "dynamic-private",
        ])
        #expect(sharded.redisAdapter == "sharded" && sharded.redisSubscriptionMode == "dynamic-private")
        #expect(sharded.effectiveValues.contains { $0 == ("REDIS_ADAPTER", "sharded") })
        #expect(sharded.effectiveValues.contains { $0 == ("REDIS_SUBSCRIPTION_MODE", "dynamic-private") })
        #expect(
            try ChatifyConfiguration(environment: ["REDIS_SUBSCRIPTION_MODE": "static"]).redisSubscriptionMode
                == "static")
        let streams = try ChatifyConfiguration(environment: [
            "REDIS_ADAPTER": " Streams", "REDIS_STREAM_NAME": "chat:events", "REDIS_STREAM_MAXLEN": "500",
        ])
        #expect(streams.redisAdapter == "streams")
        #expect(streams.redisStreamName == "chat:events" && streams.redisStreamMaxLength == 500)
        #expect(streams.effectiveValues.contains { $0 == ("REDIS_STREAM_MAXLEN", "500") })
        #expect(defaults.redisStreamName == "socket.io" && defaults.redisStreamMaxLength == 10_000)
        #expect(defaults.redisStreamCount == 1 && defaults.redisStreamShardedPubSub == false)
        let options = try ChatifyConfiguration(environment: [
            "REDIS_ADAPTER": "streams", "REDIS_STREAM_COUNT": "1024", "REDIS_STREAM_SHARDED_PUBSUB": "true",
        ])
        #expect(options.redisStreamCount == 1024 && options.redisStreamShardedPubSub)
        #expect(options.effectiveValues.contains { $0 == ("REDIS_STREAM_COUNT", "1024") })
        #expect(options.effectiveValues.contains { $0 == ("REDIS_STREAM_SHARDED_PUBSUB", "true") })

        let refusals: [(variable: String, value: String, expected: String)] = [
            ("REDIS_ADAPTER", "cluster", "pubsub, sharded or streams"),
            ("REDIS_STREAM_NAME", "my stream", "1 to 256 characters, without spaces or control characters"),
            ("REDIS_STREAM_MAXLEN", "0", "a whole number in 1...100000000"),
            ("REDIS_STREAM_MAXLEN", "lots", "a whole number in 1...100000000"),
            ("REDIS_STREAM_COUNT", "0", "a whole number in 1...1024"),
            ("REDIS_STREAM_COUNT", "1025", "a whole number in 1...1024"),
            ("REDIS_STREAM_COUNT", "three", "a whole number in 1...1024"),
            ("REDIS_STREAM_SHARDED_PUBSUB", "sometimes", "True or False"),
            ("REDIS_SUBSCRIPTION_MODE", "dynamic_private", "static, dynamic or dynamic-private"),
        ]
        for refusal in refusals {
            let problem = ChatifyConfiguration.Problem(
                variable: refusal.variable, value: refusal.value, expected: refusal.expected)
            #expect(throws: problem) { try ChatifyConfiguration(environment: [refusal.variable: refusal.value]) }
        }
    }

    @Test("REDIS_CLUSTER=true goes with the sharded adapter only; anything but a boolean is refused")
    func redisClusterVariable() throws {
        #expect(try ChatifyConfiguration(environment: [:]).redisCluster == false)
        let cluster = try ChatifyConfiguration(environment: ["REDIS_ADAPTER": "sharded", "REDIS_CLUSTER": "true"])
        #expect(cluster.redisCluster)
        #expect(cluster.effectiveValues.contains { $0 == ("REDIS_CLUSTER", "true") })
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "REDIS_CLUSTER", value: "true",
                expected: "false unless REDIS_ADAPTER=sharded (a Redis Cluster needs sharded Pub/Sub)")
        ) { try ChatifyConfiguration(environment: ["REDIS_CLUSTER": "yes"]) }
        #expect(throws: ChatifyConfiguration.Problem.self) {
            try ChatifyConfiguration(environment: ["REDIS_ADAPTER": "sharded", "REDIS_CLUSTER": "maybe"])
        }
        #expect(
            throws: ChatifyConfiguration.Problem(
                variable: "REDIS_CLUSTER", value: "true",
                expected: "false with REDIS_ADAPTER=streams (its stream and session keys are not routed by slot)")
        ) { try ChatifyConfiguration(environment: ["REDIS_ADAPTER": "streams", "REDIS_CLUSTER": "true"]) }
    }
}
