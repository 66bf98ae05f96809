import Foundation
public import NIOSSL

/// The certificate chain and private key HTTPS/WSS is served with (`TLS_CERT_FILE`,
/// `TLS_KEY_FILE`), checked at start-up so a bad file stops the server with a message
/// that names it instead of failing every handshake later.
public struct TLSFiles: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The server-side TLS configuration for these files.
    public func serverConfiguration() throws(Problem) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try Self.read(certificateFile, variable: "TLS_CERT_FILE"))
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(description: "TLS_CERT_FILE=\(certificateFile) holds no PEM certificate (\(error))")
        }
        guard !chain.isEmpty else {
            throw Problem(description: "TLS_CERT_FILE=\(certificateFile) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try Self.read(keyFile, variable: "TLS_KEY_FILE"), format: .pem)
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(description: "TLS_KEY_FILE=\(keyFile) holds no PEM private key (\(error))")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)
        )
        // BoringSSL refuses a key that does not belong to the first certificate here.
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw Problem(
                description:
                    "TLS_KEY_FILE=\(keyFile) does not match the certificate in TLS_CERT_FILE=\(certificateFile) (\(error))"
            )
        }
        return configuration
    }

    private static func read(_ path: String, variable: String) throws(Problem) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw Problem(description: "\(variable)=\(path) \(reason)")
        }
        return Array(data)
    }
}
