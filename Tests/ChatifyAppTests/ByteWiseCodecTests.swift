import Foundation
import HTTPTypes
import Testing

@testable import ChatifyApp

/// The JWT, form and cookie codecs were moved off Foundation's string functions for speed;
/// these hold them to what Foundation answered before.
@Suite("Byte-wise codecs answer as the Foundation calls they replace")
struct ByteWiseCodecTests {
    @Test("URL-safe base64 is Foundation's base64 with - and _ and no padding, both ways")
    func base64URL() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == expected)
            #expect(Base64URL.decode(Substring(encoded)) == bytes)
        }
    }

    @Test("URL-safe base64 refuses padding, the standard alphabet's + and /, other bytes and impossible lengths")
    func base64URLRefusals() {
        for text in ["QQ==", "a+bc", "a/bc", "ab c", "abcde", "é012", "QQ=", "%41"] {
            #expect(Base64URL.decode(Substring(text)) == nil, "\(text)")
        }
        #expect(Base64URL.decode("") == [])
    }

    @Test("form components decode as + to space then removingPercentEncoding, falling back the same way")
    func formComponents() {
        let samples = [
            "a+b", "%", "%zz", "%FF", "%C3%A9", "a%2", "%00", "%2b", "%%41", "+%2B+", "caf%C3%A9+au+lait", "%e2%82%ac",
            "%C3", "100%", "%41%4", "%G1", "plain", "", "é+%C3%A9", "%ED%A0%80",
        ]
        for sample in samples {
            let spaced = sample.replacingOccurrences(of: "+", with: " ")
            #expect(
                FormBody.decodeComponent(Substring(sample)) == (spaced.removingPercentEncoding ?? spaced), "\(sample)")
        }
    }

    @Test("cookie pairs are trimmed of exactly CharacterSet.whitespaces")
    func cookieTrimming() {
        let samples = [
            " a=b ", "\ta=b\t", "\u{00A0}a=b\u{3000}", "\u{200B}a=b\u{200B}", "\na=b\r", "   ", "", "a = b",
            " \u{301}a=b", "\u{2009}x\u{202F}", "\u{FEFF}a=b", "\u{85}a=b",
        ]
        for sample in samples {
            #expect(
                trimmingWhitespace(Substring(sample)) == sample.trimmingCharacters(in: .whitespaces),
                "\(Array(sample.unicodeScalars))")
        }
        var headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "a=1;\t b=\"2\" ; c"))
        #expect(parseCookies(headers) == ["a": "1", "b": "2"])
    }

    // Fixtures/fuzz/regressions/cookie-prepended-mark, found by Fuzz/FormCookieFuzz.
    @Test("a mark that joins the next Character (U+06DD, U+0301) hides no ; = or quote of a Cookie header")
    func cookieSeparatorsNextToMarks() {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "a=x\u{6DD};b=\"y\u{6DD}\"; c\u{6DD}=z; d=\u{301}w"))
        #expect(parseCookies(headers) == ["a": "x\u{6DD}", "b": "y\u{6DD}", "c\u{6DD}": "z", "d": "\u{301}w"])
        // What the fuzzer checks: written again as one quoted header, the same cookies.
        let cookies = parseCookies(headers)
        #expect(parseCookies(oneQuotedCookieHeader(cookies)) == cookies)
    }

    // Fixtures/fuzz/regressions/cookie-greek-question-mark, found by Fuzz/FormCookieFuzz.
    // The parser was right; the fuzzer's rewrite was not: `fields[.cookie] = value` in
    // swift-http-types splits the value at "; " comparing Characters, and U+037E (GREEK
    // QUESTION MARK) is canonically equivalent to ";", so "\u{37E} " was split as well.
    @Test("U+037E is not a Cookie separator, and a header written as one field reads back the same")
    func cookieGreekQuestionMark() throws {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "a=x\u{37E} b=1; c=2"))
        #expect(parseCookies(headers) == ["a": "x\u{37E} b=1", "c": "2"])
        #expect(parseCookies(oneQuotedCookieHeader(parseCookies(headers))) == parseCookies(headers))

        let input = try Data(contentsOf: regressionInput("cookie-greek-question-mark"))
        var fuzzed = HTTPFields()
        fuzzed.append(HTTPField(name: .cookie, value: String(decoding: input.dropFirst(), as: UTF8.self)))
        let cookies = parseCookies(fuzzed)
        #expect(cookies.count == 1)
        #expect(cookies["&"]?.unicodeScalars.contains("\u{37E}") == true)
        #expect(parseCookies(oneQuotedCookieHeader(cookies)) == cookies)
    }

    @Test("a combining mark after & or = in a form body hides no field")
    func formSeparatorsNextToMarks() {
        let form = FormBody(decoding: "a=1&\u{301}b=2&c=\u{301}3")
        #expect(form.fields == ["a": "1", "\u{301}b": "2", "c": "\u{301}3"])
    }
}

/// The cookies as one quoted Cookie field, as a client sends them (FormCookieFuzz's check).
func oneQuotedCookieHeader(_ cookies: [String: String]) -> HTTPFields {
    var fields = HTTPFields()
    fields.append(
        HTTPField(name: .cookie, value: cookies.map { $0.key + "=\"" + $0.value + "\"" }.joined(separator: "; ")))
    return fields
}

func regressionInput(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz/regressions/\(name)")
}
