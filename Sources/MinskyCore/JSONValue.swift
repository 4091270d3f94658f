import Foundation

/// A JSON value with exact integers, used for task metadata and for the MCP protocol layer.
///
/// Integers are kept apart from doubles so that ids, counts and versions survive a round trip;
/// strings are always strings (no silent `data:` decoding as in some SDKs).
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
    /// Integral numbers only (a double with no fractional part counts).
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The JSON type name, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral v: String) { self = .string(v) }
    public init(integerLiteral v: Int64) { self = .int(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(floatLiteral v: Double) { self = .double(v) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, b in b }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    /// Compact JSON text with sorted keys: the canonical form stores hold.
    public func canonicalJSON() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(to out: inout String) { out += canonicalJSON() }

    /// Compact JSON with sorted keys, as UTF-8 (what stores and the wire hold; built as bytes,
    /// so text is copied a run at a time rather than a character at a time).
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite {
                if d.rounded() == d && abs(d) < 1e15 {
                    out.append(contentsOf: String(Int64(d)).utf8)
                    out.append(contentsOf: ".0".utf8)
                } else {
                    out.append(contentsOf: "\(d)".utf8)
                }
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, kv) in o.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(kv.key, to: &out)
                out.append(UInt8(ascii: ":"))
                kv.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Indented JSON with sorted keys, for files people read and diff.
    public func prettyJSON(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { inner + $0.prettyJSON(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let o) where !o.isEmpty:
            return "{\n"
                + o.keys.sorted().map { k in
                    var key = ""
                    JSONValue.writeString(k, to: &key)
                    return inner + key + ": " + o[k]!.prettyJSON(indent: inner)  // k comes from o.keys
                }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return canonicalJSON()
        }
    }

    /// A JSON string literal. `postgresStyle` writes it as PostgreSQL's jsonb output does:
    /// \b and \f in short form, U+2028/U+2029 unescaped.
    public static func writeString(_ s: String, to out: inout String, postgresStyle: Bool = false) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count + 2)
        writeString(s, to: &bytes, postgresStyle: postgresStyle)
        out += String(decoding: bytes, as: UTF8.self)
    }

    /// A JSON string: runs of bytes that need no escape are copied whole. U+2028 and U+2029 are
    /// escaped too (JavaScript reads them as line ends) unless `postgresStyle`, which writes
    /// \b and \f as PostgreSQL's jsonb does.
    public static func writeString(_ s: String, to out: inout [UInt8], postgresStyle: Bool = false) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            let n = bytes.count
            var start = 0
            var i = 0
            func escape(_ text: StaticString, skip: Int) {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                text.withUTF8Buffer { out.append(contentsOf: $0) }
                i += skip
                start = i
            }
            while i < n {
                let b = bytes[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0xE2 {
                    i += 1
                    continue
                }
                switch b {
                case 0x22: escape("\\\"", skip: 1)
                case 0x5C: escape("\\\\", skip: 1)
                case 0x0A: escape("\\n", skip: 1)
                case 0x0D: escape("\\r", skip: 1)
                case 0x09: escape("\\t", skip: 1)
                case 0x08 where postgresStyle: escape("\\b", skip: 1)
                case 0x0C where postgresStyle: escape("\\f", skip: 1)
                case 0xE2:
                    if !postgresStyle, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 {
                        escape("\\u2028", skip: 3)
                    } else if !postgresStyle, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA9 {
                        escape("\\u2029", skip: 3)
                    } else {
                        i += 1
                    }
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
                    i += 1
                    start = i
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<n]))
        }
        out.append(0x22)
    }

    /// Parses JSON text; errors name the field they came from.
    public static func parse(_ text: String, field: String = "json") throws -> JSONValue {
        do {
            return try JSONParser.parse(text.utf8)
        } catch {
            throw MinskyError.invalid(field, "\(field) is not valid JSON; pass a JSON object like {\"key\":\"value\"}")
        }
    }

    /// RFC 7386 merge patch: keys set to null are removed, objects merge recursively.
    public func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var base = objectValue ?? [:]
        for (k, v) in p {
            if v.isNull { base[k] = nil } else { base[k] = (base[k] ?? .null).merging(patch: v) }
        }
        return .object(base)
    }
}
