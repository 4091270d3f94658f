import Foundation

/// Where a store lives, parsed once from what a user wrote (`--db`, `MINSKY_DB`, a project's
/// config): a SQLite file (`sqlite:PATH` or a bare path) or a PostgreSQL connection string
/// (`postgresql://…` or libpq's `host=… dbname=…`). It prints redacted, so a password never
/// reaches a message or a log by interpolation; `connectionString` is what a driver connects with.
public struct StoreLocation: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case sqlite(path: String)
        case postgres(conninfo: String)
    }

    public let kind: Kind

    public init(parsing raw: String) throws {
        let s = raw.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("postgresql://") || s.hasPrefix("postgres://") || Self.isKeywordConninfo(s) {
            kind = .postgres(conninfo: s)
            return
        }
        if s.hasPrefix("sqlite:") {
            var p = String(s.dropFirst("sqlite:".count))
            if p.hasPrefix("//") { p = String(p.dropFirst(2)) }
            guard !p.isEmpty else {
                throw MinskyError.invalid("db", "sqlite URL has no path; use sqlite:/path/to/tasks.db")
            }
            kind = .sqlite(path: p)
            return
        }
        if s.contains("://") {
            throw MinskyError.invalid(
                "db",
                "unsupported store URL scheme in '\(Self.rewritePassword(s, replacement: "****").url)'; use sqlite:PATH or postgresql://user@host:5432/db"
            )
        }
        guard !s.isEmpty else {
            throw MinskyError.invalid("db", "store location is empty; use sqlite:PATH or postgresql://…")
        }
        kind = .sqlite(path: s)
    }

    public init(_ kind: Kind) { self.kind = kind }

    public static func sqlite(_ path: String) -> StoreLocation { StoreLocation(.sqlite(path: path)) }

    /// The SQLite file, or nil for PostgreSQL.
    public var sqlitePath: String? {
        if case .sqlite(let p) = kind { return p }
        return nil
    }

    /// The PostgreSQL connection string (with its password, if it holds one), or nil for SQLite.
    public var postgresConninfo: String? {
        if case .postgres(let c) = kind { return c }
        return nil
    }

    public var isPostgres: Bool { postgresConninfo != nil }

    /// What a driver or a config file takes: `sqlite:PATH`, or the connection string as written.
    public var connectionString: String {
        switch kind {
        case .sqlite(let p): "sqlite:" + p
        case .postgres(let c): c
        }
    }

    /// True when the connection string carries a password.
    public var hasPassword: Bool { Self.rewritePassword(connectionString, replacement: "").found }

    /// The location with any password replaced by `****`, for messages.
    public var redacted: String { Self.rewritePassword(connectionString, replacement: "****").url }

    public var description: String { redacted }

    /// The location with its password removed, for configs that get committed.
    public var withoutPassword: StoreLocation {
        switch kind {
        case .sqlite: self
        case .postgres(let c): StoreLocation(.postgres(conninfo: Self.rewritePassword(c, replacement: nil).url))
        }
    }

    /// The same store, a relative SQLite path resolved against `base`.
    public func resolved(relativeTo base: String) -> StoreLocation {
        guard case .sqlite(let p) = kind, !p.hasPrefix("/") else { return self }
        return .sqlite(URL(fileURLWithPath: base).appendingPathComponent(p).standardizedFileURL.path)
    }

    /// Two locations name the same store (passwords aside).
    public func sameStore(as other: StoreLocation) -> Bool {
        withoutPassword.connectionString == other.withoutPassword.connectionString
    }

    /// libpq's other connection-string form: `host=db.internal dbname=tasks user=me`.
    static func isKeywordConninfo(_ s: String) -> Bool {
        let keywords = [
            "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "sslmode", "service", "options",
            "connect_timeout", "application_name",
        ]
        return keywordPairs(s).contains { keywords.contains($0.key) }
    }

    /// The `key=value` pairs of a keyword connection string (values may be single-quoted).
    static func keywordPairs(_ s: String) -> [(key: String, value: String, range: Range<String.Index>)] {
        var out: [(String, String, Range<String.Index>)] = []
        var i = s.startIndex
        while i < s.endIndex {
            while i < s.endIndex, s[i].isWhitespace { i = s.index(after: i) }
            let start = i
            while i < s.endIndex, s[i] != "=", !s[i].isWhitespace { i = s.index(after: i) }
            let key = String(s[start..<i])
            while i < s.endIndex, s[i].isWhitespace { i = s.index(after: i) }
            guard i < s.endIndex, s[i] == "=", !key.isEmpty, key.allSatisfy({ $0.isLetter || $0 == "_" }) else {
                return []
            }
            i = s.index(after: i)
            while i < s.endIndex, s[i].isWhitespace { i = s.index(after: i) }
            var value = ""
            if i < s.endIndex, s[i] == "'" {
                i = s.index(after: i)
                while i < s.endIndex, s[i] != "'" {
                    if s[i] == "\\", s.index(after: i) < s.endIndex { i = s.index(after: i) }
                    value.append(s[i])
                    i = s.index(after: i)
                }
                if i < s.endIndex { i = s.index(after: i) }
            } else {
                while i < s.endIndex, !s[i].isWhitespace {
                    value.append(s[i])
                    i = s.index(after: i)
                }
            }
            out.append((key, value, start..<i))
        }
        return out
    }

    /// A URL's password, wherever libpq would take it from: `user:secret@host` or `?password=secret`.
    /// `replacement` nil drops it (and its separator); otherwise it is replaced, for messages.
    static func rewritePassword(_ raw: String, replacement: String?) -> (url: String, found: Bool) {
        guard let scheme = raw.range(of: "://") else {
            let pairs = keywordPairs(raw)
            guard pairs.contains(where: { $0.key == "password" }) else { return (raw, false) }
            var out = raw
            for p in pairs.reversed() where p.key == "password" {
                out.replaceSubrange(p.range, with: replacement.map { "password=" + $0 } ?? "")
            }
            return (out.trimmingCharacters(in: .whitespaces), true)
        }
        var found = false
        var head = String(raw[..<scheme.upperBound])
        var rest = Substring(raw[scheme.upperBound...])
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
            found = true
            head += rest[..<colon] + (replacement.map { ":" + $0 } ?? "")
            rest = rest[at...]
        }
        guard let q = rest.firstIndex(of: "?") else { return (head + rest, found) }
        var params: [String] = []
        for p in rest[rest.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false) {
            if p.hasPrefix("password=") {
                found = true
                if let replacement { params.append("password=" + replacement) }
            } else {
                params.append(String(p))
            }
        }
        return (head + rest[..<q] + (params.isEmpty ? "" : "?" + params.joined(separator: "&")), found)
    }

}
