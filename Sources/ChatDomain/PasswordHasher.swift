import Crypto
import CryptoExtras
import Dispatch
import Foundation

/// Hashes and checks passwords in the formats Werkzeug writes, so a database written by
/// the Flask backend keeps working and the Flask backend can read what we write.
///
/// - `pbkdf2:<hash>[:<iterations>]$<salt>$<hex>` (Werkzeug 2.3: `pbkdf2:sha256:600000`)
/// - `scrypt[:<N>:<r>:<p>]$<salt>$<hex>` (Werkzeug 3's default, a 64-byte key)
///
/// The salt is used as its literal UTF-8 bytes, as Werkzeug does. Hashing costs about
/// 0.1 s of CPU, so it runs on a thread of its own, never on an event loop.
public struct WerkzeugPasswordHasher: Sendable {
    /// The method new hashes are written with: what the Flask backend itself writes.
    public var method: String

    /// A hasher that writes new hashes with `method` (Werkzeug's syntax, such as
    /// `pbkdf2:sha256:600000` or `scrypt:32768:8:1`).
    public init(method: String = "pbkdf2:sha256:600000") {
        self.method = method
    }

    /// Why a hash could not be made.
    public enum HashError: Error, Equatable {
        /// The method is not one this hasher knows, or its parameters are malformed.
        case unsupportedMethod(String)
    }

    /// A new hash of `password` with ``method`` and a random 16-character salt, computed off
    /// the event loops. Throws ``HashError/unsupportedMethod(_:)`` for a method it cannot use.
    public func hash(_ password: String) async throws -> String {
        let method = self.method
        let salt = Self.makeSalt()
        return try await Self.offloaded {
            let digest = try Self.derive(password: password, salt: salt, method: method)
            return "\(method)$\(salt)$\(digest)"
        }
    }

    /// True when `password` matches `stored`. A malformed or unsupported stored hash
    /// never matches.
    public func verify(_ password: String, against stored: String) async -> Bool {
        let parts = stored.split(separator: "$", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return false }
        let method = String(parts[0])
        let salt = String(parts[1])
        let expected = String(parts[2])
        let actual = try? await Self.offloaded { try Self.derive(password: password, salt: salt, method: method) }
        guard let actual else { return false }
        return Self.constantTimeEqual(Array(actual.utf8), Array(expected.utf8))
    }

    static func derive(password: String, salt: String, method: String) throws -> String {
        let fields = method.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let passwordBytes = Array(password.utf8)
        let saltBytes = Array(salt.utf8)
        switch fields.first {
        case "pbkdf2":
            let hashName = fields.count > 1 ? fields[1] : "sha256"
            let iterations = fields.count > 2 ? Int(fields[2]) : 600_000
            guard let iterations, iterations > 0, fields.count <= 3 else { throw HashError.unsupportedMethod(method) }
            let function: KDF.Insecure.PBKDF2.HashFunction
            let length: Int
            switch hashName {
            case "sha256": (function, length) = (.sha256, 32)
            case "sha512": (function, length) = (.sha512, 64)
            case "sha1": (function, length) = (.insecureSHA1, 20)
            default: throw HashError.unsupportedMethod(method)
            }
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: passwordBytes, salt: saltBytes, using: function, outputByteCount: length,
                unsafeUncheckedRounds: iterations
            )
            return hex(key)
        case "scrypt":
            var n = 1 << 15
            var r = 8
            var p = 1
            if fields.count == 4 {
                guard let parsedN = Int(fields[1]), let parsedR = Int(fields[2]), let parsedP = Int(fields[3]) else {
                    throw HashError.unsupportedMethod(method)
                }
                (n, r, p) = (parsedN, parsedR, parsedP)
            } else if fields.count != 1 {
                throw HashError.unsupportedMethod(method)
            }
            // Refuse parameters that would let a stored hash exhaust memory or CPU.
            guard n > 1, n & (n - 1) == 0, n <= 1 << 20, (1...32).contains(r), (1...16).contains(p) else {
                throw HashError.unsupportedMethod(method)
            }
            let key = try KDF.Scrypt.deriveKey(
                from: passwordBytes, salt: saltBytes, outputByteCount: 64, rounds: n, blockSize: r,
                parallelism: p, maxMemory: 132 * n * r * p
            )
            return hex(key)
        default:
            throw HashError.unsupportedMethod(method)
        }
    }

    static func hex(_ key: SymmetricKey) -> String {
        key.withUnsafeBytes { bytes in
            let digits: [UInt8] = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count * 2)
            for byte in bytes {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// 16 letters and digits, like Werkzeug's `gen_salt`.
    static func makeSalt() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Runs CPU-heavy work on a Dispatch thread so event loops and the cooperative pool
    /// stay free.
    static func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}
