import EngineIO
import Testing

/// Which coding an `Accept-Encoding` value picks for polling responses.
@Suite("Accept-Encoding negotiation")
struct ContentCodingTests {
    @Test(
        "the highest q-value wins, gzip on a tie; q=0 and unknown codings refuse",
        arguments: [
            ("gzip, deflate, br", ContentCoding.gzip),
            ("deflate, gzip", .gzip),
            ("deflate", .deflate),
            ("gzip;q=0.5, deflate", .deflate),
            ("GZIP ; Q=0.8 , deflate;q=0.7", .gzip),
            ("x-gzip", .gzip),
            ("*", .gzip),
            ("gzip;q=0, *", .deflate),
            ("br, *;q=0.1", .gzip),
        ] as [(String, ContentCoding)]
    )
    func preferred(header: String, expected: ContentCoding) {
        #expect(ContentCoding.preferred(acceptEncoding: header) == expected)
    }

    @Test(
        "nothing acceptable: no header, identity only, refusals, malformed q-values",
        arguments: ["", "identity", "br", "gzip;q=0, deflate;q=0", "*;q=0", "gzip;q=abc", " , ;"])
    func nothingAcceptable(header: String) {
        #expect(ContentCoding.preferred(acceptEncoding: header) == nil)
    }
}
