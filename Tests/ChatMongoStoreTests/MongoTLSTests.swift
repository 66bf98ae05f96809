import ChatDomain
import Logging
import Testing

@testable import ChatMongoStore

// MARK: - TLS and SRV connection strings

extension MongoStoreTests {
    /// What Atlas URIs rely on, handed to libmongoc unchanged: TLS (against a local
    /// SecantusDB that serves TLS only) and `mongodb+srv://` names.
    @Suite("TLS and SRV URIs")
    struct TLSAndSRV {
        @Test("a TLS URI trusting the server's certificate (tlsCAFile): the store works over TLS")
        func tlsWithCAFile() async throws {
            let uri = try await MongoTestServer.sharedTLS.uri()
            #expect(uri.contains("tls=true&tlsCAFile="))
            let store = try await MongoStore.connect(
                uri: uri, database: freshDatabase("tls"), serverSelectionTimeout: .seconds(5),
                logger: Logger(label: "t"))
            let inserted = try await store.insertUser(newUser("over-tls"))
            #expect(try await store.user(id: inserted.id) == inserted)
            try await store.ping()
            await store.close()
        }

        @Test("tlsAllowInvalidCertificates connects; an untrusted certificate or a plain connection is refused cleanly")
        func tlsTrustDecides() async throws {
            let port = try await MongoTestServer.sharedTLS.currentPort()
            let lenient = try await MongoStore.connect(
                uri: "mongodb://127.0.0.1:\(port)/?tls=true&tlsAllowInvalidCertificates=true",
                database: freshDatabase("tls"), serverSelectionTimeout: .seconds(5), logger: Logger(label: "t"))
            try await lenient.ping()
            await lenient.close()

            let untrusted = await expectUnavailable("TLS without trusting the self-signed certificate") {
                try await MongoStore.connect(
                    uri: "mongodb://127.0.0.1:\(port)/?tls=true", serverSelectionTimeout: .seconds(2),
                    logger: Logger(label: "t"))
            }
            #expect(untrusted?.isEmpty == false)
            let plain = await expectUnavailable("no TLS to a TLS-only server") {
                try await MongoStore.connect(
                    uri: "mongodb://127.0.0.1:\(port)/", serverSelectionTimeout: .seconds(2), logger: Logger(label: "t")
                )
            }
            #expect(plain?.isEmpty == false)
        }

        @Test("a mongodb+srv:// name that does not resolve is .unavailable with libmongoc's reason, not a crash")
        func unresolvableSRV() async throws {
            let message = await expectUnavailable("an SRV name under .invalid") {
                try await MongoStore.connect(
                    uri: "mongodb+srv://alice:s3cr3t@cluster0.chatify.invalid/?retryWrites=true&w=majority",
                    serverSelectionTimeout: .seconds(2), logger: Logger(label: "t"))
            }
            let text = try #require(message)
            #expect(text.contains("SRV record"), "\(text)")
            #expect(!text.contains("s3cr3t"))
        }
    }
}
