import MinskyCore

/// A TOML 1.0 reader that checks a whole document and reports where each table header is, so
/// that `minsky setup codex` can replace its own table in place and keep every other byte: a
/// document it cannot parse is refused (with line and column), never appended to.
///
/// It checks the grammar (keys bare, quoted or dotted; strings of all four kinds with their
/// escapes; integers, floats, booleans, dates and times; arrays and inline tables) and the rules
/// a later edit could break (a table defined twice, a key defined twice). Values are not kept:
/// only what the editor needs.
public struct TOMLDocument: Sendable {
    public struct Header: Sendable, Equatable {
        /// The header's key path, unquoted: `[mcp_servers."minsky-x"]` is ["mcp_servers", "minsky-x"].
        public var path: [String]
        public var isArray: Bool
        /// 0-based line index of the header.
        public var line: Int
    }

    public struct Failure: Error, Sendable {
        public var message: String
        public var line: Int
        public var column: Int
    }

    /// A `key = value` line (or lines, for a multi-line value) of a table.
    public struct Entry: Sendable, Equatable {
        public var table: [String]
        public var key: [String]
        /// 0-based lines of the entry's first and last character.
        public var firstLine: Int
        public var lastLine: Int
    }

    public private(set) var headers: [Header] = []
    public private(set) var entries: [Entry] = []

    public init(_ text: String) throws {
        var p = Parser(Array(text.unicodeScalars))
        headers = try p.document()
        entries = p.entries
    }

    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var line = 0
        var lineStart = 0
        var definedTables: Set<[String]> = []
        var definedKeys: Set<[String]> = []
        var current: [String] = []
        var entries: [Entry] = []

        init(_ s: [Unicode.Scalar]) { self.s = s }

        func fail(_ m: String) -> Failure { Failure(message: m, line: line + 1, column: i - lineStart + 1) }
        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }
        func at(_ k: Int) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

        mutating func advance() {
            if s[i] == "\n" {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }

        mutating func ws() { while let c = peek, c == " " || c == "\t" { i += 1 } }

        mutating func comment() throws {
            guard peek == "#" else { return }
            while let c = peek, c != "\n" {
                if c == "\r" && at(1) == "\n" { break }
                if c.value < 0x20 && c != "\t" || c.value == 0x7F { throw fail("control character in a comment") }
                i += 1
            }
        }

        /// The end of a line: optional spaces and comment, then a newline or the end.
        mutating func endOfLine() throws {
            ws()
            try comment()
            if peek == "\r" && at(1) == "\n" { i += 1 }
            if let c = peek {
                guard c == "\n" else { throw fail("expected the end of the line, found '\(c)'") }
                advance()
            }
        }

        mutating func document() throws -> [Header] {
            var headers: [Header] = []
            while i < s.count {
                ws()
                guard let c = peek else { break }
                if c == "#" || c == "\n" || (c == "\r" && at(1) == "\n") {
                    try endOfLine()
                    continue
                }
                if c == "[" {
                    let startLine = line
                    let isArray = at(1) == "["
                    i += isArray ? 2 : 1
                    ws()
                    let path = try key()
                    ws()
                    guard peek == "]" else { throw fail("expected ']' to close the table header") }
                    i += 1
                    if isArray {
                        guard peek == "]" else { throw fail("expected ']]' to close the array-of-tables header") }
                        i += 1
                    }
                    if !isArray {
                        if definedTables.contains(path) || definedKeys.contains(path) {
                            throw Failure(
                                message: "the table [\(path.joined(separator: "."))] is defined twice",
                                line: startLine + 1, column: 1)
                        }
                        definedTables.insert(path)
                    }
                    current = path
                    headers.append(Header(path: path, isArray: isArray, line: startLine))
                    try endOfLine()
                    continue
                }
                let firstLine = line
                let k = try key()
                let full = current + k
                if definedKeys.contains(full) || definedTables.contains(full) {
                    throw fail("the key \(full.joined(separator: ".")) is defined twice")
                }
                definedKeys.insert(full)
                ws()
                guard peek == "=" else { throw fail("expected '=' after the key \(k.joined(separator: "."))") }
                i += 1
                ws()
                try value()
                entries.append(Entry(table: current, key: k, firstLine: firstLine, lastLine: line))
                try endOfLine()
            }
            return headers
        }

        // MARK: Keys

        mutating func key() throws -> [String] {
            var parts = [try simpleKey()]
            while true {
                let save = i
                ws()
                guard peek == "." else {
                    i = save
                    return parts
                }
                i += 1
                ws()
                parts.append(try simpleKey())
            }
        }

        mutating func simpleKey() throws -> String {
            guard let c = peek else { throw fail("expected a key") }
            if c == "\"" { return try basicString(multiline: false) }
            if c == "'" { return try literalString(multiline: false) }
            var out = ""
            while let c = peek,
                ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" || c == "-"
                    || ("0"..."9").contains(c)
            {
                out.unicodeScalars.append(c)
                i += 1
            }
            guard !out.isEmpty else { throw fail("expected a key, found '\(c)'") }
            return out
        }

        // MARK: Strings

        mutating func basicString(multiline: Bool) throws -> String {
            i += multiline ? 3 : 1
            var out = ""
            if multiline {
                if peek == "\n" {
                    advance()
                } else if peek == "\r" && at(1) == "\n" {
                    i += 1
                    advance()
                }
            }
            while true {
                guard let c = peek else { throw fail("a string is not closed") }
                if c == "\"" {
                    if !multiline {
                        i += 1
                        return out
                    }
                    if let extra = closeMultiline("\"") { return out + extra }
                    out.unicodeScalars.append(c)
                    i += 1
                    continue
                }
                if c == "\\" {
                    i += 1
                    guard let e = peek else { throw fail("a string is not closed") }
                    switch e {
                    case "b", "t", "n", "f", "r", "\"", "\\":
                        i += 1
                    case "u", "U":
                        let n = e == "u" ? 4 : 8
                        i += 1
                        var v: UInt32 = 0
                        for _ in 0..<n {
                            guard let h = peek, let d = UInt32(String(h), radix: 16) else {
                                throw fail("\\\(e) needs \(n) hex digits")
                            }
                            v = v * 16 + d
                            i += 1
                        }
                        guard let scalar = Unicode.Scalar(v) else { throw fail("\\\(e) is not a Unicode scalar") }
                        out.unicodeScalars.append(scalar)
                    case " ", "\t", "\n",
                        "\r" where multiline:
                        // A line-ending backslash trims the newline and the whitespace after it.
                        ws()
                        guard peek == "\n" || (peek == "\r" && at(1) == "\n") else {
                            throw fail("only a line ending may follow '\\' here")
                        }
                        while let w = peek, w == " " || w == "\t" || w == "\n" || w == "\r" {
                            if w == "\n" { advance() } else { i += 1 }
                        }
                    default:
                        throw fail("unknown escape '\\\(e)'")
                    }
                    continue
                }
                if c == "\n" {
                    guard multiline else { throw fail("a string is not closed on its line") }
                    out.unicodeScalars.append(c)
                    advance()
                    continue
                }
                if (c.value < 0x20 && c != "\t" && !(multiline && c == "\r")) || c.value == 0x7F {
                    throw fail("control character in a string")
                }
                out.unicodeScalars.append(c)
                i += 1
            }
        }

        /// At `quote` in a multi-line string: when three close it, moves past them and returns the
        /// up to two quotes just before them that still belong to the content; nil otherwise.
        mutating func closeMultiline(_ quote: Unicode.Scalar) -> String? {
            guard at(1) == quote && at(2) == quote else { return nil }
            var n = 3
            while at(n) == quote && n < 5 { n += 1 }
            i += n
            return String(repeating: String(quote), count: n - 3)
        }

        mutating func literalString(multiline: Bool) throws -> String {
            i += multiline ? 3 : 1
            var out = ""
            if multiline, peek == "\n" { advance() }
            while true {
                guard let c = peek else { throw fail("a string is not closed") }
                if c == "'" {
                    if !multiline {
                        i += 1
                        return out
                    }
                    if let extra = closeMultiline("'") { return out + extra }
                }
                if c == "\n" {
                    guard multiline else { throw fail("a string is not closed on its line") }
                    advance()
                } else {
                    if (c.value < 0x20 && c != "\t" && !(multiline && c == "\r")) || c.value == 0x7F {
                        throw fail("control character in a string")
                    }
                    i += 1
                }
                out.unicodeScalars.append(c)
            }
        }

        // MARK: Values

        mutating func value() throws {
            guard let c = peek else { throw fail("expected a value") }
            switch c {
            case "\"":
                if at(1) == "\"" && at(2) == "\"" {
                    _ = try basicString(multiline: true)
                } else {
                    _ = try basicString(multiline: false)
                }
            case "'":
                if at(1) == "'" && at(2) == "'" {
                    _ = try literalString(multiline: true)
                } else {
                    _ = try literalString(multiline: false)
                }
            case "[": try array()
            case "{": try inlineTable()
            case "t", "f":
                let word = c == "t" ? "true" : "false"
                guard String(String.UnicodeScalarView(s[i..<min(s.count, i + word.count)])) == word else {
                    throw fail("expected a value, found '\(c)'")
                }
                i += word.count
            default:
                try scalarValue()
            }
        }

        /// A number, date or time: the run of characters that can make one, then its shape.
        mutating func scalarValue() throws {
            let start = i
            var text = ""
            while let c = peek,
                ("0"..."9").contains(c) || ("a"..."z").contains(c) || ("A"..."Z").contains(c)
                    || ["+", "-", ".", "_", ":"].contains(c)
                    || (c == " " && text.count == 10 && at(1).map { ("0"..."9").contains($0) } == true)
            {
                text.unicodeScalars.append(c)
                i += 1
            }
            guard !text.isEmpty else { throw fail("expected a value, found '\(s[start])'") }
            if Self.isNumber(text) || Self.isDateTime(text) { return }
            i = start
            throw fail("'\(text.prefix(30))' is not a TOML value (quote strings: \"…\")")
        }

        static func isNumber(_ t: String) -> Bool {
            var body = Substring(t)
            if body.first == "+" || body.first == "-" { body = body.dropFirst() }
            if ["inf", "nan"].contains(body) { return true }
            func digits(_ s: Substring, _ ok: (Character) -> Bool) -> Bool {
                !s.isEmpty && s.first != "_" && s.last != "_" && !s.contains("__")
                    && s.allSatisfy { $0 == "_" || ok($0) }
            }
            if t.first != "+" && t.first != "-", body.hasPrefix("0x") || body.hasPrefix("0o") || body.hasPrefix("0b") {
                let rest = body.dropFirst(2)
                switch body.dropFirst().first {
                case "x": return digits(rest) { $0.isHexDigit }
                case "o": return digits(rest) { ("0"..."7").contains($0) }
                default: return digits(rest) { $0 == "0" || $0 == "1" }
                }
            }
            let isDigit: (Character) -> Bool = { ("0"..."9").contains($0) }
            var mantissa = body
            var exponent: Substring?
            if let e = body.firstIndex(where: { $0 == "e" || $0 == "E" }) {
                mantissa = body[..<e]
                var ex = body[body.index(after: e)...]
                if ex.first == "+" || ex.first == "-" { ex = ex.dropFirst() }
                exponent = ex
            }
            let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count <= 2, digits(parts[0], isDigit) else { return false }
            if parts[0].count > 1 && parts[0].first == "0" { return false }  // no leading zeros
            if parts.count == 2 && !digits(parts[1], isDigit) { return false }
            if let exponent, !digits(exponent, isDigit) { return false }
            return true
        }

        static func isDateTime(_ t: String) -> Bool {
            let c = Array(t)
            func d(_ r: Range<Int>) -> Bool { r.upperBound <= c.count && c[r].allSatisfy { ("0"..."9").contains($0) } }
            func time(_ k: Int) -> Int? {
                guard d(k..<k + 2), c.count > k + 2, c[k + 2] == ":", d(k + 3..<k + 5), c.count > k + 5,
                    c[k + 5] == ":", d(k + 6..<k + 8)
                else { return nil }
                var j = k + 8
                if j < c.count, c[j] == "." {
                    j += 1
                    let from = j
                    while j < c.count, ("0"..."9").contains(c[j]) { j += 1 }
                    if j == from { return nil }
                }
                return j
            }
            if let end = time(0) { return end == c.count }  // local time
            guard d(0..<4), c.count >= 10, c[4] == "-", d(5..<7), c[7] == "-", d(8..<10) else { return false }
            if c.count == 10 { return true }  // local date
            guard ["T", "t", " "].contains(c[10]), var j = time(11) else { return false }
            if j == c.count { return true }  // local date-time
            if c[j] == "Z" || c[j] == "z" { return j + 1 == c.count }
            guard c[j] == "+" || c[j] == "-", d(j + 1..<j + 3), c.count == j + 6, c[j + 3] == ":", d(j + 4..<j + 6)
            else { return false }
            j += 6
            return j == c.count
        }

        /// Spaces, newlines and comments inside an array.
        mutating func arraySpace() throws {
            while true {
                ws()
                if peek == "#" { try comment() }
                if peek == "\n" {
                    advance()
                } else if peek == "\r" && at(1) == "\n" {
                    i += 1
                    advance()
                } else {
                    return
                }
            }
        }

        mutating func array() throws {
            i += 1
            try arraySpace()
            while peek != "]" {
                try value()
                try arraySpace()
                if peek == "," {
                    i += 1
                    try arraySpace()
                } else if peek != "]" {
                    throw fail("expected ',' or ']' in an array")
                }
            }
            i += 1
        }

        mutating func inlineTable() throws {
            i += 1
            ws()
            var keys: Set<[String]> = []
            if peek == "}" {
                i += 1
                return
            }
            while true {
                let k = try key()
                guard keys.insert(k).inserted else {
                    throw fail("the key \(k.joined(separator: ".")) is defined twice")
                }
                ws()
                guard peek == "=" else { throw fail("expected '=' in an inline table") }
                i += 1
                ws()
                try value()
                ws()
                if peek == "," {
                    i += 1
                    ws()
                    continue
                }
                guard peek == "}" else { throw fail("expected ',' or '}' in an inline table") }
                i += 1
                return
            }
        }
    }
}
