import EngineTestSupport
import HTTPTypes
import Testing

@testable import EngineIO

@Suite("Engine.IO server: the handshake request a session keeps")
struct HandshakeRequestTests {
    @Test("a session's request reads back as it arrived: fields in order with their spelling, query, cookies")
    func sessionKeepsItsRequest() async throws {
        let harness = EngineHarness()
        let custom = try #require(HTTPField.Name("X-Custom-Name"))
        let headers: HTTPFields = [
            .cookie: #"a=1; b="two""#,
            custom: "é ü " + String(repeating: "v", count: 300),
            .cookie: "c=3; a=ignored",
            .userAgent: "",
            .origin: "http://127.0.0.1:5000",
        ]
        var query = EngineHarness.query()
        query["room"] = "lobby é"
        query["empty"] = ""
        query["long"] = String(repeating: "q", count: 200)
        let response = await harness.request(.get, query, headers: headers, host: "127.0.0.1:5000")
        let prefix = #"0{"sid":""#
        try #require(response.body.hasPrefix(prefix))
        let sid = String(response.body.dropFirst(prefix.count).prefix(20))
        let session = try #require(harness.server.session(id: sid))
        let kept = session.request
        #expect(kept.headers == headers)
        #expect(kept.headers.map(\.name.rawName) == ["Cookie", "X-Custom-Name", "Cookie", "User-Agent", "Origin"])
        #expect(kept.query == query)
        #expect(kept.cookies == ["a": "1", "b": "two", "c": "3"])
        #expect(kept.origin == "http://127.0.0.1:5000")
        #expect(kept.host == "127.0.0.1:5000")
        #expect(kept.method == .get)
        #expect(kept.path == "/engine.io/")
    }

    @Test("a kept value that was only lenient reads back byte for byte, also once expanded")
    func lenientValueKept() throws {
        let forwarded = try #require(HTTPField.Name("X-Forwarded-For"))
        // What another HTTP framework may hand over: edge spaces and a tab kept.
        let value = Array("  10.0.0.7,\t10.0.0.8 ".utf8)
        let headers = HTTPFields([HTTPField(name: forwarded, lenientValue: value)])
        let kept = EngineRequest(method: .get, path: "/socket.io/", query: ["EIO": "4"], headers: headers).compacted()
        #expect(kept.headers[fields: forwarded].map { Array($0.value.utf8) } == [value])
        #expect(kept.headers == headers)
        #expect(kept.expanded().headers == headers)
        #expect(kept.expanded().query == ["EIO": "4"])
    }

    @Test("a kept request can still be changed field by field")
    func keptRequestIsMutable() throws {
        var request = EngineRequest(
            method: .get, path: "/socket.io/", query: ["EIO": "4"], headers: [.cookie: "a=1"]
        ).compacted()
        request.headers[.authorization] = "Bearer token"
        request.query["room"] = "lobby"
        #expect(request.headers == [.cookie: "a=1", .authorization: "Bearer token"])
        #expect(request.query == ["EIO": "4", "room": "lobby"])
    }
}
