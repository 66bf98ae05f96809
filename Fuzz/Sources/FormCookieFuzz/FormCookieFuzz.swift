import ChatifyApp
import HTTPTypes

/// Form bodies and Cookie headers. The first input byte picks the parser.
/// Invariants: the decoded form fields, percent-encoded again, decode to the same fields;
/// the parsed cookies, written again as one quoted Cookie header, parse to the same cookies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let selector = bytes.first else { return 0 }
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    if selector & 1 == 0 {
        let form = FormBody(decoding: text)
        let encoded = form.fields.map { percentEncoded($0.key) + "=" + percentEncoded($0.value) }.joined(separator: "&")
        let again = FormBody(decoding: encoded)
        precondition(again.fields == form.fields, "form fields do not round-trip: \(form.fields) vs \(again.fields)")
    } else {
        var headers = HTTPFields()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            headers.append(HTTPField(name: .cookie, value: String(line)))
        }
        let cookies = parseCookies(headers)
        // One field, as a client sends it: `rewritten[.cookie] = …` would split it again at
        // "; " by Characters, and so at U+037E, which is canonically a ";".
        var rewritten = HTTPFields()
        rewritten.append(HTTPField(name: .cookie, value: cookies.map { $0.key + "=\"" + $0.value + "\"" }.joined(separator: "; ")))
        let again = parseCookies(rewritten)
        precondition(again == cookies, "cookies do not round-trip: \(cookies) vs \(again)")
    }
    return 0
}

/// Every byte but the unreserved ones as %XX.
func percentEncoded(_ string: String) -> String {
    var out = ""
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
        }
    }
    return out
}
