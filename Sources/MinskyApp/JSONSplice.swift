import MinskyCore

/// In-place edits of a JSON text that has been checked valid: one member of an object is
/// replaced or added, and every other byte — the order of the user's keys, their spacing —
/// stays as it was.
struct JSONSplice {
    struct Member {
        var key: String
        var keyStart: Int
        var valueStart: Int
        var valueEnd: Int
    }

    var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }
    var text: String { String(decoding: bytes, as: UTF8.self) }

    func skipWS(_ i: Int) -> Int {
        var i = i
        while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
        return i
    }

    /// The index just after the string starting at `i` (a quote).
    func skipString(_ i: Int) -> Int {
        var i = i + 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
        return i + 1
    }

    /// The index just after the value starting at `i`.
    func skipValue(_ i: Int) -> Int {
        switch bytes[i] {
        case UInt8(ascii: "\""): return skipString(i)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var level = 0
            var j = i
            while j < bytes.count {
                switch bytes[j] {
                case UInt8(ascii: "\""):
                    j = skipString(j)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): level += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    level -= 1
                    if level == 0 { return j + 1 }
                default: break
                }
                j += 1
            }
            return j
        default:
            var j = i
            while j < bytes.count, ![0x20, 0x0A, 0x0D, 0x09, 0x2C, 0x7D, 0x5D].contains(bytes[j]) { j += 1 }
            return j
        }
    }

    /// The members of the object whose `{` is at `open`, and the index of its `}`.
    func members(_ open: Int) -> (members: [Member], close: Int) {
        var out: [Member] = []
        var i = skipWS(open + 1)
        while i < bytes.count, bytes[i] != UInt8(ascii: "}") {
            let keyEnd = skipString(i)
            let key = (try? JSONValue.parse(String(decoding: bytes[i..<keyEnd], as: UTF8.self)).stringValue) ?? nil
            let colon = skipWS(keyEnd)
            let vs = skipWS(colon + 1)
            let ve = skipValue(vs)
            out.append(Member(key: key ?? "", keyStart: i, valueStart: vs, valueEnd: ve))
            i = skipWS(ve)
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i = skipWS(i + 1) }
        }
        return (out, i)
    }

    /// The spaces that start the line holding index `i`.
    func indentation(at i: Int) -> String {
        var s = i
        while s > 0, bytes[s - 1] != UInt8(ascii: "\n") { s -= 1 }
        var e = s
        while e < bytes.count, bytes[e] == 0x20 || bytes[e] == 0x09 { e += 1 }
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    /// Sets member `key` of the object at `open` to `value` (pretty-printed at the members'
    /// indentation): replaced where it is, or added after the last member.
    mutating func set(_ key: String, to value: JSONValue, inObjectAt open: Int, unit: String) {
        let (ms, close) = members(open)
        // An object written on one line gets its new member on that line too.
        let oneLine = !bytes[open..<close].contains(UInt8(ascii: "\n")) && !ms.isEmpty
        let outer = indentation(at: open)
        let inner = ms.first.map { indentation(at: $0.keyStart) } ?? outer + unit
        let rendered = Array((oneLine ? value.canonicalJSON() : value.prettyJSON(indent: inner)).utf8)
        if let m = ms.first(where: { $0.key == key }) {
            bytes.replaceSubrange(m.valueStart..<m.valueEnd, with: rendered)
            return
        }
        var name = ""
        JSONValue.writeString(key, to: &name)
        if let last = ms.last {
            let member = Array(((oneLine ? ", " : ",\n" + inner) + name + ": ").utf8) + rendered
            bytes.replaceSubrange(last.valueEnd..<last.valueEnd, with: member)
        } else {
            let member = Array((inner + name + ": ").utf8) + rendered
            bytes.replaceSubrange((open + 1)..<close, with: Array("\n".utf8) + member + Array(("\n" + outer).utf8))
        }
    }

    /// The line and column (1-based) of byte `offset`.
    static func position(_ text: String, offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for (n, b) in text.utf8.enumerated() {
            if n >= offset { break }
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
