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

    @Test("a record written to a full non-blocking pipe arrives whole once the reader catches up")
    func fullNonBlockingPipe() async throws {
        try await Self.withNonBlockingPipe { reader, writer in try await Self.fillThenDrain(reader, writer) }
    }

    static func fillThenDrain(_ reader: Int32, _ writer: Int32) async throws {
        var filler = [UInt8](repeating: UInt8(ascii: "f"), count: 4_096)
        var buffered = 0
        while true {
            let written = write(writer, &filler, filler.count)
            if written <= 0 { break }
            buffered += written
        }
        #expect(errno == EAGAIN, "the pipe is full")
        let record = Array(#"{"message":"kept whole"}"#.utf8) + [UInt8(ascii: "\n")]
        let (events, event) = AsyncStream.makeStream(of: String.self)
        let writing = Task.detached {
            record.withUnsafeBytes {
                _ = writeAll($0, to: writer, blockedWriteWait: 60_000, whenBlocked: { event.yield("blocked") })
            }
            event.yield("returned")
        }
        // The writer must meet the full pipe before anything is drained.
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == "blocked")
        // Drain the filler, then read until the record's newline.
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while received.count < buffered + record.count {
            // Bounded, so a record that never comes fails the test instead of hanging it.
            var readable = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, 10_000) > 0 else { break }
            let count = read(reader, &chunk, chunk.count)
            guard count > 0 else { break }
            received += chunk[0..<count]
            if received.count >= buffered, received.last == UInt8(ascii: "\n") { break }
        }
        await writing.value
        #expect(Array(received.dropFirst(buffered)) == record)
    }

    @Test("after a record cut short by a reader stalled past the wait, the next starts on a line of its own")
    func cutRecordEndsItsLine() async throws {
        try await Self.withNonBlockingPipe { reader, writer in Self.cutThenNext(reader, writer) }
    }

    static func cutThenNext(_ reader: Int32, _ writer: Int32) {
        // F_GETPIPE_SZ (Linux), which Glibc's module does not export.
        let capacity = Int(fcntl(writer, 1_032))
        #expect(capacity > 0)
        var records = RecordWriter(descriptor: writer, blockedWriteWait: 10)
        // More than the pipe holds and nobody reading: the rest waits in vain.
        records.write([UInt8](repeating: UInt8(ascii: "r"), count: capacity + 100) + [UInt8(ascii: "\n")])
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        func drain() {
            while true {
                var readable = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
                guard poll(&readable, 1, 0) > 0 else { return }
                let count = read(reader, &chunk, chunk.count)
                guard count > 0 else { return }
                received += chunk[0..<count]
            }
        }
        drain()
        #expect(received.count == capacity)
        let next = Array(#"{"message":"next"}"#.utf8) + [UInt8(ascii: "\n")]
        records.write(next)
        drain()
        #expect(Array(received.dropFirst(capacity)) == [UInt8(ascii: "\n")] + next)
    }

    /// A pipe whose write end does not block, closed after `body`.
    static func withNonBlockingPipe(_ body: (Int32, Int32) async throws -> Void) async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let (reader, writer) = (ends[0], ends[1])
        defer {
            close(reader)
            close(writer)
        }
        #expect(fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK) == 0)
        try await body(reader, writer)
    }
}
