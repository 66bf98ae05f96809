import Benchmark
import EngineIO
import MicroFixtures
import NIOCore
import OrderedJSON
import SocketIO

// Socket.IO v5 packets: the EVENT `["message", {...}]` chatify broadcasts, and an event
// with one 1 KiB binary attachment (a BINARY_EVENT text packet plus one binary message).
// Results are per packet (scalingFactor .kilo: 1,000 per measured iteration).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = MicroSettings.codecConfiguration

    let event = SocketPacket.event("message", [ChatPayloads.message])
    let eventText = ChatPayloads.eventText

    Benchmark("Socket.IO encode EVENT message") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SocketPacketEncoder.encode(event))
        }
    }

    Benchmark("Socket.IO decode EVENT message") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = SocketPacketDecoder()
            blackHole(try? decoder.decode(text: eventText))
        }
    }

    let binaryEvent = SocketPacket.event("upload", [ChatPayloads.binaryEventArgument])
    let binaryFrames = SocketPacketEncoder.encode(binaryEvent)
    // The text packet as the engine hands it over: without its Engine.IO `4`.
    let binaryText = String(binaryFrames[0].text?.dropFirst() ?? "")
    let attachment = binaryFrames[1].bytes

    Benchmark("Socket.IO encode BINARY_EVENT, 1 attachment") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SocketPacketEncoder.encode(binaryEvent))
        }
    }

    Benchmark("Socket.IO decode BINARY_EVENT, 1 attachment") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = SocketPacketDecoder()
            _ = try? decoder.decode(text: binaryText)
            blackHole(try? decoder.decode(binary: attachment))
        }
    }
}
