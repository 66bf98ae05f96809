import Benchmark
import EngineIO
import MicroFixtures
import NIOCore

// Engine.IO v4 framing of chatify's most common packet, alone (a WebSocket frame) and
// as a polling payload of 10 packets. Results are per packet or per payload
// (scalingFactor .kilo: each measured iteration does 1,000 of them).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = MicroSettings.codecConfiguration

    let text = ChatPayloads.eventText
    let frame = "4" + text

    Benchmark("Engine.IO encode message") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(EngineOutgoing.message(text: text))
        }
    }

    Benchmark("Engine.IO decode message") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? EngineCodec.decode(text: frame))
        }
    }

    let tenPackets = Array(repeating: EngineOutgoing.message(text: text), count: 10)
    let payload = EngineCodec.encodePayload(tenPackets)

    Benchmark("Engine.IO encode payload of 10") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(EngineCodec.encodePayload(tenPackets))
        }
    }

    Benchmark("Engine.IO decode payload of 10") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? EngineCodec.decodePayload(payload))
        }
    }
}
