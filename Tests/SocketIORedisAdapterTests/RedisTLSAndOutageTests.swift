import EngineIO
import EngineTestSupport
import Foundation
import Logging
import SocketIO
import SocketIOTestSupport
import Testing

@testable import SocketIORedisAdapter

/// A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, made
/// with `openssl` in a temporary folder.
struct TestCertificates {
    let folder: URL
    var caFile: String { folder.appendingPathComponent("ca.crt").path }
    var otherCAFile: String { folder.appendingPathComponent("other-ca.crt").path }
    var serverCertificate: String { folder.appendingPathComponent("server.crt").path }
    var serverKey: String { folder.appendingPathComponent("server.key").path }
    var clientCertificate: String { folder.appendingPathComponent("client.crt").path }
    var clientKey: String { folder.appendingPathComponent("client.key").path }

    static func make() throws -> TestCertificates {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("redis-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let certificates = TestCertificates(folder: folder)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try certificates.openssl(
            ["req", "-x509"] + key + [
                "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Chatify test CA",
            ])
        try certificates.openssl(
            ["req", "-x509"] + key + [
                "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=Someone else",
            ])
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8).write(
            to: folder.appendingPathComponent("server.ext"))
        try Data("extendedKeyUsage=clientAuth\n".utf8).write(to: folder.appendingPathComponent("client.ext"))
        for (name, subject) in [("server", "/CN=localhost"), ("client", "/CN=chatify-node")] {
            try certificates.openssl(
                ["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
            try certificates.openssl([
                "x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "\(name).crt", "-days", "2", "-extfile", "\(name).ext",
            ])
        }
        return certificates
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RedisTestServer.StartFailure(description: "openssl \(arguments.joined(separator: " ")) failed")
        }
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    /// A TLS-only redis-server (`--port 0`) on a free port with these certificates.
    func startServer(requireClientCertificates: Bool) async throws -> (server: RedisServerProcess, port: Int) {
        let port = try RedisServerProcess.freePort()
        let arguments = [
            "--tls-port", "\(port)", "--tls-cert-file", serverCertificate, "--tls-key-file", serverKey,
            "--tls-ca-cert-file", caFile, "--tls-auth-clients", requireClientCertificates ? "yes" : "no",
        ]
        let server = try await RedisServerProcess.start(
            port: 0, extraArguments: arguments,
            readiness: configuration(port: port, clientCertificate: requireClientCertificates))
        return (server, port)
    }

    /// `rediss://127.0.0.1:port` trusting this CA (or the other one), with the client
    /// certificate or without.
    func configuration(port: Int, clientCertificate withCertificate: Bool, trustOtherCA: Bool = false)
        -> RedisConfiguration
    {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.tls = RedisTLS(
            caFile: trustOtherCA ? otherCAFile : caFile,
            certificateFile: withCertificate ? clientCertificate : nil,
            keyFile: withCertificate ? clientKey : nil)
        return configuration
    }
}

@Suite("Redis over TLS", .serialized)
struct RedisTLSTests {
    @Test("rediss:// with REDIS_TLS_CA_FILE connects, checking the server's IP against its certificate")
    func trustedServer() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let (server, port) = try await certificates.startServer(requireClientCertificates: false)
        defer { server.stop() }
        let connection = try await RedisClientConnection.connect(
            to: RedisEndpoint(configuration: certificates.configuration(port: port, clientCertificate: false)))
        defer { connection.close() }
        #expect(try await connection.command(["PING"]).text == "PONG")
    }

    @Test("a server whose certificate is signed by a CA not trusted is refused with a clear error")
    func untrustedServer() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let (server, port) = try await certificates.startServer(requireClientCertificates: false)
        defer { server.stop() }
        await Self.expectRefusal(
            certificates.configuration(port: port, clientCertificate: false, trustOtherCA: true),
            because: "CERTIFICATE_VERIFY_FAILED")
    }

    @Test("a server that requires client certificates refuses a client without one, and accepts one with")
    func clientCertificates() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let (server, port) = try await certificates.startServer(requireClientCertificates: true)
        defer { server.stop() }
        await Self.expectRefusal(
            certificates.configuration(port: port, clientCertificate: false), because: "CERTIFICATE_REQUIRED")

        // Two nodes over rediss:// with the client certificate: a broadcast crosses.
        let configuration = certificates.configuration(port: port, clientCertificate: true)
        let key = RedisAdapterClusterTests.uniqueKey()
        let a = try await RedisAdapterClusterTests.makeNode(key: key, configuration: configuration)
        let b = try await RedisAdapterClusterTests.makeNode(key: key, configuration: configuration)
        defer {
            a.factory.close()
            b.factory.close()
        }
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        alice.send(#"2["say","r1","over TLS"]"#)
        #expect(await bob.next() == #"2["said","over TLS"]"#)
    }

    /// Connecting fails with an error that says it was TLS, and why.
    static func expectRefusal(_ configuration: RedisConfiguration, because reason: String) async {
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisClientConnection.connect(to: RedisEndpoint(configuration: configuration))
        }
        let description = error?.description ?? ""
        #expect(description.hasPrefix("TLS with \(configuration.description) failed"), "\(description)")
        #expect(description.contains(reason), "\(description)")
    }

    @Test("TLS files that cannot be read stop the start, naming their variable")
    func unreadableFiles() {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: 6379)
        configuration.tls = RedisTLS(caFile: "/nonexistent/ca.pem")
        #expect(throws: RedisTLS.Problem.self) { try configuration.validateTLSFiles() }
        #expect((try? configuration.validateTLSFiles()) == nil)
        do {
            try configuration.validateTLSFiles()
        } catch {
            #expect(error.variable == "REDIS_TLS_CA_FILE")
        }
        configuration.tls = RedisTLS(certificateFile: "/nonexistent/client.pem")
        do {
            try configuration.validateTLSFiles()
            Issue.record("a certificate without its key was accepted")
        } catch {
            #expect(error.description.contains("REDIS_TLS_KEY_FILE"))
        }
    }
}

/// Redis going away and coming back under two nodes.
@Suite("Redis outage", .serialized)
struct RedisOutageTests {
    @Test("nodes keep serving local rooms while Redis is down, log once, then reconnect and resubscribe")
    func outage() async throws {
        let started = try await RedisServerProcess.startOwn()
        var server = started.server
        let plain = started.configuration
        defer { server.stop() }
        let key = RedisAdapterClusterTests.uniqueKey()
        let logA = RecordingLog()
        let logB = RecordingLog()
        let a = try await RedisAdapterClusterTests.makeNode(
            key: key, configuration: plain, logger: logA.logger(label: "a"))
        let b = try await RedisAdapterClusterTests.makeNode(
            key: key, configuration: plain, logger: logB.logger(label: "b"))
        defer {
            a.factory.close()
            b.factory.close()
        }
        let alice = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let anna = try await RedisAdapterClusterTests.client(on: a, room: "r1")
        let bob = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        let bella = try await RedisAdapterClusterTests.client(on: b, room: "r1")
        alice.send(#"2["say","r1","before"]"#)
        #expect(await anna.next() == #"2["said","before"]"#)
        #expect(await bob.next() == #"2["said","before"]"#)
        #expect(await bella.next() == #"2["said","before"]"#)

        server.stop()
        #expect(await logA.waitFor(.warning, containing: "subscriber lost its connection"))
        #expect(await logB.waitFor(.warning, containing: "subscriber lost its connection"))
        // Several failed attempts, to show they are not each logged as a warning.
        for _ in 0..<3 { #expect(await logB.waitFor(nil, containing: "still cannot reach")) }

        // Each node still serves its own sockets.
        alice.send(#"2["say","r1","during, on a"]"#)
        #expect(await anna.next() == #"2["said","during, on a"]"#)
        bob.send(#"2["say","r1","during, on b"]"#)
        #expect(await bella.next() == #"2["said","during, on b"]"#)

        server = try await server.restarted()
        #expect(await logB.waitFor(.info, containing: "subscriber reconnected"))
        #expect(await logA.waitFor(.info, containing: "publisher reconnected"))
        alice.send(#"2["say","r1","after"]"#)
        #expect(await anna.next() == #"2["said","after"]"#)
        // Broadcasts published during the outage are lost; the next one crosses again.
        #expect(await bob.next() == #"2["said","after"]"#)

        // One warning per connection (publisher, subscriber) for the whole outage.
        #expect(logB.count(.warning) == 2)
    }
}
