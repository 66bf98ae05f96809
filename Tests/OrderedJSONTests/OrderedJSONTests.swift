import Testing

@testable import OrderedJSON

@Suite("JSON parsing and writing")
struct OrderedJSONTests {
    @Test(
        "keys keep the order they were written in",
        arguments: [
            #"{"username":"System","message":"a","timestamp":"12:00","user_id":"u"}"#,
            #"{"z":1,"a":2,"m":{"y":[],"b":{}}}"#,
        ])
    func keyOrderRoundTrips(_ text: String) throws {
        let value = try JSONValue(parsing: text)
        #expect(value.jsonString == text)
    }

    @Test("integers stay integers and floats print as JavaScript prints them")
    func numbers() throws {
        #expect(try JSONValue(parsing: "1") == .integer(1))
        #expect(try JSONValue(parsing: "-0") == .integer(0))
        #expect(try JSONValue(parsing: "1.5") == .double(1.5))
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(JSONValue.integer(.min).jsonString == "-9223372036854775808")
        // Beyond Int64 an integer literal becomes a double, as in JavaScript.
        #expect(try JSONValue(parsing: "18446744073709551616") == .double(18_446_744_073_709_551_616))
    }

    @Test(
        "doubles print as JavaScript's Number toString prints them",
        arguments: [
            (1000.0, "1000"), (0.1, "0.1"), (-0.0, "0"), (1.5, "1.5"), (123.456, "123.456"),
            (1e20, "100000000000000000000"), (1e21, "1e+21"), (1.5e300, "1.5e+300"),
            (0.000001, "0.000001"), (0.00001, "0.00001"), (1e-7, "1e-7"), (-2.5e-10, "-2.5e-10"),
            (18_446_744_073_709_551_616, "18446744073709552000"), (Double(Int64.min), "-9223372036854776000"),
            (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (Double.nan, "null"), (Double.infinity, "null"),
        ])
    func javaScriptDoubles(_ value: Double, _ text: String) {
        #expect(JSONValue.double(value).jsonString == text)
    }

    @Test("strings are escaped as JSON.stringify escapes them")
    func stringEscapes() throws {
        let value = JSONValue.string("a\"b\\c\n\t\u{01}é😀/<")
        #expect(value.jsonString == #""a\"b\\c\n\t\u0001é😀/<""#)
        #expect(try JSONValue(parsing: value.jsonString) == value)
        #expect(try JSONValue(parsing: #""\u00e9\ud83d\ude00\/""#) == .string("é😀/"))
        // A lone surrogate is legal JSON but not a Swift string: it becomes U+FFFD.
        #expect(try JSONValue(parsing: #""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test("a repeated key keeps its first position and its last value")
    func duplicateKeys() throws {
        let value = try JSONValue(parsing: #"{"a":1,"b":2,"a":3}"#)
        #expect(value.jsonString == #"{"a":3,"b":2}"#)
    }

    @Test(
        "malformed JSON is refused with a reason",
        arguments: [
            ("", JSONParseError.Reason.unexpectedEnd),
            ("{", .unexpectedEnd),
            ("[1,]", .unexpectedByte(UInt8(ascii: "]"))),
            (#"{"a" 1}"#, .unexpectedByte(UInt8(ascii: "1"))),
            ("01", .trailingData),
            ("1.", .invalidNumber),
            ("-", .unexpectedEnd),
            ("tru", .unexpectedEnd),
            ("nul1", .unexpectedByte(UInt8(ascii: "1"))),
            (#""\x""#, .invalidEscape),
            (#""\u12G4""#, .invalidEscape),
            ("\"a\u{0A}b\"", .controlCharacterInString),
            ("[] []", .trailingData),
            ("{'a':1}", .unexpectedByte(UInt8(ascii: "'"))),
        ])
    func malformed(_ text: String, _ reason: JSONParseError.Reason) {
        #expect {
            try JSONValue(parsing: text)
        } throws: { error in
            (error as? JSONParseError)?.reason == reason
        }
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]  // "\xC3(" : a broken two-byte sequence
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
    }

    @Test("nesting beyond the limit is refused instead of exhausting the stack")
    func depthLimit() throws {
        let ok =
            String(repeating: "[", count: JSONValue.maximumDepth)
            + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try JSONValue(parsing: ok) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect {
            try JSONValue(parsing: deep)
        } throws: { error in
            (error as? JSONParseError)?.reason == .tooDeep(limit: JSONValue.maximumDepth)
        }
    }

    @Test("binary values become numbered placeholders when attachments are collected")
    func placeholders() {
        let value: JSONValue = ["a", .binary([1, 2]), ["b": .binary([3])]]
        var out: [UInt8] = []
        var attachments: [[UInt8]]? = []
        value.serialize(into: &out, attachments: &attachments)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #"["a",{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]"#
        )
        #expect(attachments == [[1, 2], [3]])
        #expect(value.containsBinary)
        #expect(JSONValue.binary([7]).jsonString == #"{"type":"Buffer","data":[7]}"#)
    }

    @Test("parsing an object does work in proportion to its number of keys")
    func objectParsingIsLinear() throws {
        func work(_ keys: Int) throws -> Int {
            guard case .object(let object) = try JSONValue(parsing: Self.objectText(keys: keys)) else {
                Issue.record("not an object")
                return 0
            }
            #expect(object.count == keys)
            return object.keyWork
        }
        let keys = JSONValue.maximumKeysPerObject
        let small = try work(keys / 8)
        let large = try work(keys)
        // Eight times the keys: eight times the work when linear, sixty-four when quadratic.
        #expect(large <= 10 * small, "\(keys) keys: \(large) units of work, \(keys / 8) keys: \(small)")
    }

    @Test("building an object does work in proportion to its number of keys")
    func objectBuildingIsLinear() {
        func work(_ count: Int) -> Int {
            var object = JSONObject()
            for index in 0..<count { object["key\(index)"] = .integer(Int64(index)) }
            #expect(object.count == count)
            return object.keyWork
        }
        let small = work(5_000)
        let large = work(40_000)
        #expect(large <= 10 * small, "40,000 keys: \(large) units of work, 5,000 keys: \(small)")
    }

    static func objectText(keys: Int) -> [UInt8] {
        Array(("{" + (0..<keys).map { #""key\#($0)":\#($0)"# }.joined(separator: ",") + "}").utf8)
    }

    @Test("an object with more keys than the limit is refused with the limit named")
    func keysPerObjectLimit() throws {
        let limit = JSONValue.maximumKeysPerObject
        let atLimit = try JSONValue(parsing: Self.objectText(keys: limit))
        #expect(atLimit.objectValue?.count == limit)
        #expect {
            try JSONValue(parsing: Self.objectText(keys: limit + 1))
        } throws: { error in
            guard let error = error as? JSONParseError else { return false }
            return error.reason == .tooManyKeys(limit: limit) && error.description.contains("more than \(limit) keys")
        }
        // The limit is per object: many objects of a few keys each are fine.
        let manySmall = "[" + Array(repeating: #"{"a":1,"b":2}"#, count: limit).joined(separator: ",") + "]"
        #expect(try JSONValue(parsing: manySmall).arrayValue?.count == limit)
    }

    @Test("objects nested beyond the limit are refused like arrays")
    func objectDepthLimit() {
        let deep =
            String(repeating: #"{"a":"#, count: JSONValue.maximumDepth + 1) + "1"
            + String(repeating: "}", count: JSONValue.maximumDepth + 1)
        #expect {
            try JSONValue(parsing: deep)
        } throws: { error in
            (error as? JSONParseError)?.reason == .tooDeep(limit: JSONValue.maximumDepth)
        }
    }

    @Test("a large object keeps key order, and a repeated key its first position and last value")
    func largeObjectOrderAndDuplicates() throws {
        let keys = (0..<100).map { "k\($0)" }.reversed()
        let members = keys.map { #""\#($0)":1"# } + [#""k50":"last""#, #""k99":2"#]
        let value = try JSONValue(parsing: "{" + members.joined(separator: ",") + "}")
        let object = try #require(value.objectValue)
        #expect(object.keys == Array(keys))
        #expect(object["k50"] == "last")
        #expect(object["k99"] == 2)
        #expect(object["k0"] == 1)
        #expect(object["missing"] == nil)
    }

    @Test("editing a large object keeps positions and lookups right")
    func largeObjectEditing() {
        var object = JSONObject((0..<40).map { ("k\($0)", JSONValue.integer(Int64($0))) })
        object["k3"] = nil
        object["k39"] = "changed"
        object["new"] = true
        #expect(object.count == 40)
        #expect(object.keys.first == "k0" && object.keys[3] == "k4" && object.keys.last == "new")
        #expect(object["k3"] == nil && object["k4"] == 4 && object["k39"] == "changed" && object["new"] == true)
        // Equal entries make equal objects, however each was built.
        var rebuilt = JSONObject()
        for entry in object.entries { rebuilt[entry.key] = entry.value }
        #expect(rebuilt == object)
        #expect(rebuilt != JSONObject(object.entries.reversed().map { ($0.key, $0.value) }))
    }

    @Test("object edits keep positions; removing a key drops it")
    func objectEditing() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["a"] = 10
        object["c"] = 3
        object["b"] = nil
        #expect(JSONValue.object(object).jsonString == #"{"a":10,"c":3}"#)
        #expect(object.keys == ["a", "c"])
    }
}
