import ChatifyApp
import Foundation

let secret = "fuzz-secret-not-a-real-one"
let signer = AccessTokenSigner(secret: secret, lifetime: 900)
let now = Date(timeIntervalSince1970: 1_764_000_000)

/// JWT access tokens and renewal tickets. The first input byte picks the mode.
/// Invariants: a token nobody signed with the key is never accepted (whatever its header
/// says, `alg: none` included); a token issued for any subject and CSRF value verifies
/// to exactly those claims, and not as the other kind of token.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let selector = bytes.first else { return 0 }
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    switch selector % 3 {
    case 0:
        // Arbitrary text: never a valid token (the fuzzer cannot forge HMAC-SHA256).
        if let claims = try? signer.verify(text, now: now) { fatalError("forged token accepted: \(claims)") }
        if let ticket = try? signer.verifyRenewalTicket(text, now: now) { fatalError("forged ticket accepted: \(ticket)") }
    case 1:
        // Issue for a fuzzed subject and CSRF value, then verify.
        // Split at the first NUL byte (by bytes: Character-wise search was a visible
        // share of each run).
        let body = bytes.dropFirst()
        let split = body.firstIndex(of: 0)
        let subject = split.map { String(decoding: body[..<$0], as: UTF8.self) } ?? text
        let csrf = split.map { String(decoding: body[($0 + 1)...], as: UTF8.self) }
        let (token, claims) = signer.issue(subject: subject, now: now, csrf: csrf)
        do {
            let verified = try signer.verify(token, now: now)
            precondition(verified == claims, "claims do not round-trip: \(claims) vs \(verified)")
        } catch {
            fatalError("own token refused (\(error)): \(token)")
        }
        precondition((try? signer.verifyRenewalTicket(token, now: now)) == nil, "access token taken as renewal ticket")
        precondition((try? signer.verify(token, now: now.addingTimeInterval(900))) == nil, "expired token accepted")
        // Any change to the token's text must make it invalid or leave the same claims.
        var mutated = Array(token.utf8)
        if !mutated.isEmpty, bytes.count > 2 {
            let index = Int(bytes[bytes.count - 1]) % mutated.count
            mutated[index] ^= bytes[bytes.count - 2] | 1
            if let other = try? signer.verify(String(decoding: mutated, as: UTF8.self), now: now) {
                precondition(other == claims, "a changed token verified to other claims: \(other)")
            }
        }
    default:
        let subject = text
        let until = Int64(bytes.count) * 1_000_003
        let ticket = signer.issueRenewalTicket(subject: subject, until: until, now: now)
        do {
            let verified = try signer.verifyRenewalTicket(ticket, now: now)
            precondition(verified.subject == subject && verified.until == until, "ticket does not round-trip")
        } catch {
            fatalError("own ticket refused (\(error))")
        }
        precondition((try? signer.verify(ticket, now: now)) == nil, "renewal ticket taken as access token")
    }
    return 0
}
