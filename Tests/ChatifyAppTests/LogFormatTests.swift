import Foundation
import Logging
import OrderedJSON
import Testing

@testable import ChatifyApp

@Suite("LOG_FORMAT=json and LOG_LEVEL")
struct LogFormatTests {
    static func record(_ message: String, metadata: Logger.Metadata = [:]) throws -> JSONObject {
        let line = JSONLogHandler.line(
            time: Date(timeIntervalSince1970: 1_767_225_599.5), level: .notice, label: "chatify", message: message,
            metadata: metadata
        )
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }, "one line")
        guard case .object(let object) = try JSONValue(parsing: line.dropLast()) else {
            Issue.record("not an object: \(String(decoding: line, as: UTF8.self))")
            return JSONObject()
        }
        return object
    }

    @Test("any message is one valid JSON line that reads back unchanged")
    func hostileMessages() throws {
        let messages = [
            "plain", "quote \" backslash \\ slash /", "line\nbreak\r\nand\ttab", "\u{0}\u{1}\u{1F}\u{7F}",
            "é\u{0301} 👩‍👩‍👧 \u{2028}\u{2029}", "{\"level\":\"critical\"}\n{\"forged\":true}",
            String(decoding: [0x66, 0xFF, 0xC0, 0x80, 0x6F], as: UTF8.self),
        ]
        for message in messages {
            let record = try Self.record(message, metadata: ["user": "\(message)"])
            #expect(record["message"] == .string(message))
            #expect(record["metadata"] == .object(["user": .string(message)]))
        }
    }

    @Test("time is ISO 8601 UTC with milliseconds; level, label, request id and sid are fields")
    func fields() throws {
        let record = try Self.record(
            "user registered",
            metadata: ["hb.request.id": "42", "sid": "abc", "nested": .dictionary(["b": "2", "a": .array(["1"])])]
        )
        #expect(record.keys == ["time", "level", "label", "message", "request_id", "sid", "metadata"])
        #expect(record["time"] == .string("2025-12-31T23:59:59.500Z"))
        #expect(record["level"] == .string("notice") && record["label"] == .string("chatify"))
        #expect(record["request_id"] == .string("42") && record["sid"] == .string("abc"))
        let nested = try #require(record["metadata"]).jsonString
        #expect(nested == #"{"hb.request.id":"42","nested":{"a":["1"],"b":"2"},"sid":"abc"}"#)
    }

    @Test("LOG_LEVEL and LOG_FORMAT: info and text by default, FLASK_DEBUG no longer matters, bad values refused")
    func configuration() throws {
        let defaults = try ChatifyConfiguration(environment: ["FLASK_DEBUG": "True"])
        #expect(defaults.logLevel == .info && defaults.logFormat == .text)
        let chosen = try ChatifyConfiguration(environment: ["LOG_LEVEL": "Debug", "LOG_FORMAT": "JSON"])
        #expect(chosen.logLevel == .debug && chosen.logFormat == .json)
        for (variable, value) in [("LOG_LEVEL", "verbose"), ("LOG_FORMAT", "xml")] {
            #expect(throws: ChatifyConfiguration.Problem.self) {
                try ChatifyConfiguration(environment: [variable: value])
            }
        }
    }
}
