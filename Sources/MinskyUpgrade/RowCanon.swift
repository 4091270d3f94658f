import GRDB
import GRDBSQLite
import MinskyCore
import MinskySQL
import MinskySQLite

/// The canonical text of a row, defined once and computed two ways: in Swift for rows read from
/// SQLite, and in SQL by PostgreSQL over the rows it stored. Equal digests prove a copy is
/// byte-for-byte what the source held, without shipping the data back.
///
/// A field is `<octet length>:<text>` (or `\N` for NULL), so fields cannot run into each other.
/// Per type, the text is: the value itself (text), decimal digits (integer), fixed-width
/// ISO-8601 UTC with microseconds (timestamp), and PostgreSQL's `jsonb` output form (JSON).
enum RowCanon {
    /// Swift side: the canonical text of a field whose stored form is `value`.
    static func field(_ value: SQLValue, _ type: SQLDialect.ColumnType, into out: inout [UInt8]) throws {
        let text: String
        switch (value, type) {
        case (.null, _):
            out.append(contentsOf: null)
            return
        case (_, .integer):
            guard let i = value.int else { throw MinskyError(.internal, "expected an integer, found \(value)") }
            text = String(i)
        case (_, .timestamp):
            guard let s = value.text else { throw MinskyError(.internal, "unreadable timestamp \(value)") }
            // Stored timestamps are already canonical (fixed width, microseconds, Z); others are normalized.
            if s.utf8.count == timestampLength, s.utf8.last == UInt8(ascii: "Z") {
                text = s
            } else {
                guard let t = Timestamp(iso8601: s) else { throw MinskyError(.internal, "unreadable timestamp \(s)") }
                text = t.iso8601
            }
        case (_, .json):
            guard let s = value.text else { throw MinskyError(.internal, "unreadable JSON \(value)") }
            text = s == "{}" || s == "[]" ? s : try JSONValue.parse(s, field: "json").postgresJSONBText()
        case (.blob(let b), _):
            // The hex text, written straight into the buffer: vectors make these the largest fields.
            appendLength(b.count * 2, into: &out)
            out.append(0x3A)
            Hex.append(b, into: &out)
            return
        default:
            text = value.text ?? ""
        }
        var t = text
        t.withUTF8 { appendField($0, into: &out) }
    }

    static let null: [UInt8] = [0x5C, 0x4E]  // \N

    /// A timestamp's canonical text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, for a four-digit year.
    static let timestampLength = 27

    /// `<octet length>:<bytes>`.
    static func appendField(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        appendLength(bytes.count, into: &out)
        out.append(0x3A)
        out.append(contentsOf: bytes)
    }

    /// `v` in decimal, in a buffer on the stack.
    static func withDecimal<R>(_ v: Int64, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { b in
            var n = v.magnitude
            var i = 20
            repeat {
                i -= 1
                b[i] = UInt8(48 + n % 10)
                n /= 10
            } while n > 0
            if v < 0 {
                i -= 1
                b[i] = UInt8(ascii: "-")
            }
            return body(UnsafeBufferPointer(rebasing: b[i..<20]))
        }
    }

    /// Decimal digits of `n` (≥ 0), without a String.
    static func appendLength(_ n: Int, into out: inout [UInt8]) {
        if n < 10 {
            out.append(UInt8(48 + n))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var v = n
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[count] = UInt8(48 + v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    /// PostgreSQL side: an expression giving the same canonical text for `column`.
    static func sql(_ column: String, _ type: SQLDialect.ColumnType) -> String {
        let text: String
        // Shortcuts that spare a second formatting of the value (a quarter of the validation's
        // time on a task table): a timestamp of a four-digit year is 27 bytes long, and empty
        // JSON prints as itself.
        var known = ""
        switch type {
        case .text: text = column
        case .integer: text = "\(column)::text"
        case .timestamp:
            text = SQLDialect.postgres.read(column, as: .timestamp)
            known =
                "WHEN \(column) >= '1000-01-01Z' AND \(column) < '10000-01-01Z' THEN '\(timestampLength):' || \(text) "
        case .json:
            text = "\(column)::text"
            known = "WHEN \(column) = '{}'::jsonb THEN '2:{}' WHEN \(column) = '[]'::jsonb THEN '2:[]' "
        case .blob: text = "encode(\(column), 'hex')"
        }
        return "CASE WHEN \(column) IS NULL THEN '\\N' \(known)ELSE octet_length(\(text))::text || ':' || \(text) END"
    }

    /// `SELECT key…, md5(row text)` over a table in key order (byte order, as in SQLite).
    static func postgresRowDigests(_ t: TableSpec) -> String {
        let row = t.columns.map { sql($0.name, $0.type) }.joined(separator: " || ")
        let order = t.key.map { "\($0) COLLATE \"C\"" }.joined(separator: ", ")
        return "SELECT \(t.key.joined(separator: ", ")), md5(\(row)) FROM \(t.name) ORDER BY \(order)"
    }

    /// One checksum for the whole table: the exact sum of every row digest's first 64 bits (as a
    /// signed integer). Order-independent, so neither side sorts; a mismatch then compares rows.
    static func postgresTableDigest(_ t: TableSpec) -> String {
        let row = t.columns.map { sql($0.name, $0.type) }.joined(separator: " || ")
        return
            "SELECT count(*), coalesce(sum(('x' || substr(md5(\(row)), 1, 16))::bit(64)::bigint::numeric), 0)::text FROM \(t.name)"
    }
}

/// Row digests of one side of a copy, collected in any order. The table checksum is the exact
/// sum of each row digest's first 64 bits, as PostgreSQL computes it; rows are sorted into key
/// order (byte order, as COLLATE "C") only to find the first difference. Keys are kept as bytes
/// in one buffer (a String per row cost more than the digest).
struct TableDigest: Sendable {
    let keyColumns: Int
    private var keyBytes: [UInt8] = []
    /// The end of each key part in `keyBytes`, `keyColumns` per row.
    private var keyEnds: [UInt32] = []
    /// Each row's digest as two 64-bit halves.
    private var hashes: [UInt64] = []
    var sum: Int128 = 0
    var count: Int { hashes.count / 2 }

    init(keyColumns: Int) { self.keyColumns = keyColumns }

    /// The next key part of the row being added (call `keyColumns` times per row, then `add`).
    mutating func addKeyPart(_ bytes: UnsafeBufferPointer<UInt8>) {
        keyBytes.append(contentsOf: bytes)
        keyEnds.append(UInt32(keyBytes.count))
    }

    mutating func add(canonical: UnsafeRawBufferPointer) {
        let (hi, lo) = MD5.digest128(canonical)
        sum += Int128(Int64(bitPattern: hi))
        hashes.append(hi)
        hashes.append(lo)
    }

    static func hex(_ hi: UInt64, _ lo: UInt64) -> String {
        func h(_ x: UInt64) -> String {
            let s = String(x, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return h(hi) + h(lo)
    }

    /// The exact sum in decimal, as PostgreSQL prints it (what the two sides compare).
    func checksum() -> String { String(sum) }

    /// A decimal sum as people see it: 32 hexadecimal digits of its 128-bit two's complement.
    static func hex(sum decimal: String) -> String {
        guard let v = Int128(decimal) else { return decimal }
        let u = UInt128(bitPattern: v)
        return hex(UInt64(truncatingIfNeeded: u >> 64), UInt64(truncatingIfNeeded: u))
    }

    static func precedes(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)) }
        return a.count < b.count
    }

    func parts(_ row: Int) -> [String] {
        (0..<keyColumns).map { j in
            let i = row * keyColumns + j
            let start = i == 0 ? 0 : Int(keyEnds[i - 1])
            return String(decoding: keyBytes[start..<Int(keyEnds[i])], as: UTF8.self)
        }
    }

    /// The rows in key order with their digests in hex (for locating a difference).
    func sorted() -> [(parts: [String], md5: String)] {
        (0..<count).map { (parts($0), Self.hex(hashes[2 * $0], hashes[2 * $0 + 1])) }.sorted {
            Self.precedes($0.parts, $1.parts)
        }
    }
}

/// One row as COPY text and as its canonical text (RowCanon) at once, read from a stepped
/// SQLite statement's own buffers. A field stored in another class than its column's usual one
/// (SQLite lets any column hold any value) takes the general path through `SQLValue`.
struct RowWriter {
    let types: [SQLDialect.ColumnType]
    let keyColumns: [Int32]
    var canon: [UInt8] = []
    /// Canonical fields of JSON values already seen (tags repeat): parsing is the costly part.
    var json: [[UInt8]: [UInt8]] = [:]

    init(table t: TableSpec) {
        types = t.columns.map(\.type)
        keyColumns = t.key.map { k in Int32(t.columns.firstIndex { $0.name == k }!) }  // keys are columns
        canon.reserveCapacity(4096)
    }

    mutating func write(_ h: OpaquePointer, into buf: inout [UInt8], digest: inout TableDigest) throws {
        canon.removeAll(keepingCapacity: true)
        for i in 0..<types.count {
            if i > 0 { buf.append(0x09) }
            let c = Int32(i)
            switch (sqlite3_column_type(h, c), types[i]) {
            case (SQLITE_NULL, _):
                buf.append(contentsOf: RowCanon.null)
                canon.append(contentsOf: RowCanon.null)
            case (SQLITE_INTEGER, .integer):
                RowCanon.withDecimal(sqlite3_column_int64(h, c)) { d in
                    buf.append(contentsOf: d)
                    RowCanon.appendField(d, into: &canon)
                }
            case (SQLITE_TEXT, .text), (SQLITE_TEXT, .timestamp), (SQLITE_TEXT, .json):
                let text = UnsafeBufferPointer(start: sqlite3_column_text(h, c), count: Int(sqlite3_column_bytes(h, c)))
                CopyText.appendEscaped(text, into: &buf)
                try canonical(text, types[i])
            default:
                let v = SQLValue(DatabaseValue(sqliteStatement: h, index: c))
                CopyText.append(v, types[i], into: &buf)
                try RowCanon.field(v, types[i], into: &canon)
            }
        }
        for k in keyColumns {
            if sqlite3_column_type(h, k) == SQLITE_TEXT {
                digest.addKeyPart(
                    UnsafeBufferPointer(start: sqlite3_column_text(h, k), count: Int(sqlite3_column_bytes(h, k))))
            } else {
                let text = Array((SQLValue(DatabaseValue(sqliteStatement: h, index: k)).text ?? "").utf8)
                text.withUnsafeBufferPointer { digest.addKeyPart($0) }
            }
        }
        canon.withUnsafeBytes { digest.add(canonical: $0) }
    }

    /// The canonical field of a text value: as stored, unless it is a timestamp not yet in the
    /// fixed form or JSON other than `{}` and `[]` (then as `RowCanon.field` makes it).
    private mutating func canonical(_ text: UnsafeBufferPointer<UInt8>, _ type: SQLDialect.ColumnType) throws {
        let n = text.count
        switch type {
        case .timestamp where n == RowCanon.timestampLength && text[n - 1] == UInt8(ascii: "Z"): break
        case .json where n == 2 && (text[0] == UInt8(ascii: "{") || text[0] == UInt8(ascii: "[")): break
        case .timestamp: return try RowCanon.field(.text(String(decoding: text, as: UTF8.self)), type, into: &canon)
        case .json:
            let key = Array(text)
            if let known = json[key] { return canon.append(contentsOf: known) }
            var field: [UInt8] = []
            try RowCanon.field(.text(String(decoding: text, as: UTF8.self)), type, into: &field)
            if json.count < 10_000 && n <= 1024 { json[key] = field }
            return canon.append(contentsOf: field)
        default: break
        }
        RowCanon.appendField(text, into: &canon)
    }
}

/// COPY text format: tab-separated, `\N` for NULL, backslash escapes for control characters.
enum CopyText {
    static func append(_ value: SQLValue, _ type: SQLDialect.ColumnType, into out: inout [UInt8]) {
        let text: String
        switch value {
        case .null:
            out.append(contentsOf: RowCanon.null)
            return
        case .int(let i): text = String(i)
        case .double(let d): text = String(d)
        case .blob(let b):
            // `\x` with its backslash escaped, then hex digits, which need no escaping.
            out.append(contentsOf: [0x5C, 0x5C, UInt8(ascii: "x")])
            Hex.append(b, into: &out)
            return
        case .text(let s): text = s  // JSON too: PostgreSQL parses it into jsonb
        }
        var t = text
        t.withUTF8 { appendEscaped($0, into: &out) }
    }

    /// Text with COPY's escapes (backslash, newline, carriage return, tab), copied in runs
    /// between them.
    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var run = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b <= 0x5C, b == 0x5C || b == 0x0A || b == 0x0D || b == 0x09 else { continue }
            if i > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i])) }
            out.append(0x5C)
            switch b {
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default: out.append(0x5C)
            }
            run = i + 1
        }
        if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
    }
}

extension JSONValue {
    /// The text PostgreSQL prints for this value stored as `jsonb`: keys ordered by length then
    /// bytes, ", " and ": " separators, numbers as `numeric` prints them.
    func postgresJSONBText() -> String {
        var out = ""
        writeJSONB(to: &out)
        return out
    }

    private func writeJSONB(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double: out += Self.numericText(canonicalJSON())
        case .string(let s): Self.jsonbString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                v.writeJSONB(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            let keys = o.keys.sorted { a, b in
                let x = Array(a.utf8)
                let y = Array(b.utf8)
                return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
            }
            for (i, k) in keys.enumerated() {
                if i > 0 { out += ", " }
                Self.jsonbString(k, to: &out)
                out += ": "
                o[k]?.writeJSONB(to: &out)
            }
            out += "}"
        }
    }

    static func jsonbString(_ s: String, to out: inout String) { writeString(s, to: &out, postgresStyle: true) }

    /// How PostgreSQL's `numeric` prints a decimal literal: plain notation, with as many
    /// fraction digits as the literal carried once its exponent is applied.
    static func numericText(_ literal: String) -> String {
        var s = Substring(literal)
        var negative = false
        if s.first == "-" {
            negative = true
            s = s.dropFirst()
        }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...].replacingOccurrences(of: "+", with: "")) ?? 0
            s = s[..<e]
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(intPart + fracPart)
        var point = intPart.count + exponent
        let scale = max(0, fracPart.count - exponent)
        if point < 0 {
            digits = Array(repeating: "0", count: -point) + digits
            point = 0
        }
        if point > digits.count { digits += Array(repeating: "0", count: point - digits.count) }
        var whole = String(digits[..<point])
        var frac = String(digits[point...])
        while whole.count > 1 && whole.first == "0" { whole.removeFirst() }
        if whole.isEmpty { whole = "0" }
        if frac.count < scale { frac += String(repeating: "0", count: scale - frac.count) }
        if frac.count > scale { frac = String(frac.prefix(scale)) }
        let isZero = !whole.contains(where: { $0 != "0" }) && !frac.contains(where: { $0 != "0" })
        return (negative && !isZero ? "-" : "") + whole + (scale > 0 ? "." + frac : "")
    }
}
