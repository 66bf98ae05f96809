/// Which node of a Redis Cluster serves each of its 16,384 hash slots, as the cluster
/// reported it (`CLUSTER SHARDS`): sharded Pub/Sub channels live on the shard that owns
/// the channel's slot, so `SPUBLISH` and `SSUBSCRIBE` go to that shard's primary.
struct RedisClusterSlots: Sendable, Equatable {
    /// A node's address as clients reach it.
    struct Node: Sendable, Hashable, CustomStringConvertible {
        let host: String
        let port: Int

        var description: String { "\(host):\(port)" }
    }

    struct Range: Sendable, Equatable {
        let slots: ClosedRange<Int>
        let primary: Node
    }

    static let slotCount = 16_384

    /// Sorted by first slot, not overlapping.
    let ranges: [Range]

    init(ranges: [Range]) {
        self.ranges = ranges.sorted { $0.slots.lowerBound < $1.slots.lowerBound }
    }

    /// The primary serving `slot`; nil when no shard owns it (a cluster being set up).
    func primary(forSlot slot: Int) -> Node? {
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let range = ranges[middle]
            if slot < range.slots.lowerBound {
                high = middle - 1
            } else if slot > range.slots.upperBound {
                low = middle + 1
            } else {
                return range.primary
            }
        }
        return nil
    }

    func primary(forChannel channel: String) -> Node? { primary(forSlot: Self.hashSlot(of: Array(channel.utf8))) }

    /// Every primary that owns at least one slot.
    var primaries: Set<Node> { Set(ranges.map(\.primary)) }

    /// True when every slot has an owner.
    var coversEverySlot: Bool {
        var next = 0
        for range in ranges {
            guard range.slots.lowerBound <= next else { return false }
            next = max(next, range.slots.upperBound + 1)
        }
        return next >= Self.slotCount
    }

    /// The slot of a key or channel: CRC16 (XMODEM) of the key, or of its hash tag (what
    /// lies between the first `{` and the next `}`, when that is not empty), modulo 16,384.
    static func hashSlot(of key: [UInt8]) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(crc16(hashed)) % slotCount
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    struct UnexpectedReply: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads a `CLUSTER SHARDS` reply (RESP2 flat key/value arrays or RESP3 maps). Each
    /// shard's primary is reached at its `endpoint` (its `ip` when the endpoint is
    /// unknown), on `tls-port` when `tls`, else `port`. Shards without a primary or
    /// slots are left out: they serve nothing.
    init(shardsReply reply: RESPValue, tls: Bool) throws(UnexpectedReply) {
        if let message = reply.errorMessage { throw UnexpectedReply(description: "CLUSTER SHARDS: \(message)") }
        guard let shards = reply.elements else {
            throw UnexpectedReply(description: "CLUSTER SHARDS answered \(reply) instead of a list of shards")
        }
        var ranges: [Range] = []
        for shard in shards {
            let fields = Self.fields(of: shard)
            guard let bounds = fields["slots"]?.elements, let nodes = fields["nodes"]?.elements,
                let primary = nodes.lazy.map(Self.fields(of:)).first(where: { $0["role"]?.text == "master" }),
                let node = Self.address(of: primary, tls: tls)
            else { continue }
            var index = 0
            while index + 1 < bounds.count {
                guard case .integer(let first) = bounds[index], case .integer(let last) = bounds[index + 1],
                    0 <= first, first <= last, last < Self.slotCount
                else {
                    throw UnexpectedReply(description: "CLUSTER SHARDS: slots \(bounds) are not ranges of slots")
                }
                ranges.append(Range(slots: Int(first)...Int(last), primary: node))
                index += 2
            }
        }
        self.init(ranges: ranges)
        var covered = -1
        for range in self.ranges {
            guard range.slots.lowerBound > covered else {
                throw UnexpectedReply(description: "CLUSTER SHARDS: slot \(range.slots.lowerBound) has two owners")
            }
            covered = range.slots.upperBound
        }
    }

    private static func address(of node: [String: RESPValue], tls: Bool) -> Node? {
        guard case .integer(let port) = node[tls ? "tls-port" : "port"], port > 0, port <= 65_535 else { return nil }
        let endpoint = node["endpoint"]?.text
        let host = endpoint.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? node["ip"]?.text
        guard let host, !host.isEmpty else { return nil }
        return Node(host: host, port: Int(port))
    }

    /// A RESP3 map, or a RESP2 array of alternating names and values, by name.
    private static func fields(of value: RESPValue) -> [String: RESPValue] {
        var fields: [String: RESPValue] = [:]
        switch value {
        case .map(let entries):
            for entry in entries {
                if let name = entry.key.text { fields[name] = entry.value }
            }
        case .array(let elements):
            var index = 0
            while index + 1 < elements.count {
                if let name = elements[index].text { fields[name] = elements[index + 1] }
                index += 2
            }
        default:
            break
        }
        return fields
    }
}
