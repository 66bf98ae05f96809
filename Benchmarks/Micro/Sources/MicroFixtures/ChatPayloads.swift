public import Benchmark
public import OrderedJSON

/// The packets chatify sends most: a chat message as its rooms receive it.
public enum ChatPayloads {
    /// The argument of `["message", {...}]` the gateway broadcasts after storing a post
    /// (same keys, same order, a typical length of text).
    public static let message: JSONValue = [
        "username": "alice",
        "message": "Hello everyone, the meeting moved to 3 pm, see you in room B.",
        "timestamp": "2026-12-02T19:30:00.123Z",
        "user_id": "6751a2c4e13f8b0012ab34cd",
    ]

    /// The Socket.IO text of that EVENT (`2["message",{...}]`), without the Engine.IO `4`.
    public static var eventText: String {
        "2" + JSONValue.array(["message", message]).jsonString
    }

    /// A binary attachment of the size a small picture or voice note chunk has.
    public static let attachment: [UInt8] = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    /// `["upload", {"name": ..., "data": <attachment>}]`: one attachment, so a BINARY_EVENT.
    public static let binaryEventArgument: JSONValue = [
        "name": "photo.png",
        "data": .binary(attachment),
    ]
}

/// Micro-benchmarks run a short, bounded amount of work: the machine is small and shared.
public enum MicroSettings {
    /// For the codecs: 1,000 operations per measured iteration (`scalingFactor .kilo`),
    /// so the harness's own overhead stays small; results are shown per operation.
    /// `instructions` needs perf counters; where the kernel offers none it is left out.
    public static var codecConfiguration: Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .instructions, .mallocCountTotal, .mallocBytesCount, .throughput],
            scalingFactor: .kilo,
            maxDuration: .seconds(2),
            maxIterations: 200
        )
    }
}
