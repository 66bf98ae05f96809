import OrderedJSON

/// OrderedJSON's parser. Invariants: the byte and String entry points agree; what parses
/// serializes to JSON that parses again, and serializing that gives the same text (the
/// serializer's output is a fixed point), with the same structure.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let parsed = Result { () throws(JSONParseError) in try JSONValue(parsing: bytes) }
    if let text = String(validating: bytes, as: UTF8.self) {
        let fromString = Result { () throws(JSONParseError) in try JSONValue(parsing: text) }
        precondition(fromString == parsed, "String and byte parsers disagree")
    } else if case .success = parsed {
        fatalError("invalid UTF-8 accepted")
    }
    guard case .success(let value) = parsed else { return 0 }
    let first = value.jsonString
    let reparsed: JSONValue
    do {
        reparsed = try JSONValue(parsing: first)
    } catch {
        fatalError("serializer wrote JSON its parser refuses (\(error)): \(first)")
    }
    let second = reparsed.jsonString
    precondition(first == second, "serialization is not a fixed point: \(first) vs \(second)")
    precondition(sameShape(value, reparsed), "reparsed value differs: \(first)")
    return 0
}

/// Equal up to number spelling (the serializer writes 1.0 as 1, as JSON.stringify does).
func sameShape(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.double(let x), _) where !x.isFinite:
        return b == .null  // as JSON.stringify writes Infinity and NaN
    case (.integer, _), (.double, _):
        guard let x = number(a), let y = number(b) else { return false }
        return x == y
    case (.array(let xs), .array(let ys)):
        return xs.count == ys.count && zip(xs, ys).allSatisfy(sameShape)
    case (.object(let x), .object(let y)):
        return x.count == y.count
            && zip(x.entries, y.entries).allSatisfy { $0.key == $1.key && sameShape($0.value, $1.value) }
    default:
        return a == b
    }
}

func number(_ value: JSONValue) -> Double? {
    switch value {
    case .integer(let v): return Double(v)
    case .double(let v): return v
    default: return nil
    }
}
