import Foundation

/// The paths a task touches, as repository-relative patterns: `README.md`, `Sources/MinskySQL/**`,
/// `Tests/*Tests/*.swift`. A pattern covers the paths it matches and everything below them
/// (`Sources/MinskySQL` covers `Sources/MinskySQL/SQL.swift`). Wildcards: `*` and `?` within one
/// segment, `**` as a whole segment for any number of segments (none included).
///
/// Two patterns overlap when some path is covered by both. The rule:
/// - literal patterns (no wildcard): exactly — equal, or one is a directory of the other;
/// - a wildcard segment against a literal one: exactly (the segment is matched);
/// - two wildcard segments: conservatively — they are taken to overlap unless their fixed
///   beginnings or fixed endings (before the first, after the last wildcard) contradict;
/// - `**` matches any number of segments on either side.
/// So an overlap is never missed; two globs may be reported overlapping when no real file is
/// matched by both (e.g. `?` and `??*`).
public enum TaskPaths {
    /// At most this many patterns on one task.
    public static let maxPaths = 64
    public static let maxPathCharacters = 512

    /// Checks and normalises patterns: trimmed, `./` and duplicate or trailing slashes removed,
    /// relative, no `..`; duplicates dropped, order kept.
    public static func normalize(_ raw: [String], field: String = "paths") throws -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for r in raw {
            let p = try normalize(r, field: field)
            if seen.insert(p).inserted { out.append(p) }
        }
        if out.count > maxPaths {
            throw MinskyError.invalid(
                field,
                "\(out.count) paths is too many; keep at most \(maxPaths) (name a directory or a glob like dir/**)")
        }
        return out
    }

    /// Patterns as a store holds them, read leniently (a row written by hand, or by an older
    /// version): each normalised where it can be, kept as written where it cannot (so a lease
    /// is never lost), duplicates dropped, order kept. What minsky writes is already normal.
    public static func stored(_ raw: [String]) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for r in raw {
            let p = (try? normalize(r, field: "paths")) ?? r
            if seen.insert(p).inserted { out.append(p) }
        }
        return out
    }

    static func normalize(_ raw: String, field: String) throws -> String {
        let s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.isEmpty { throw MinskyError.invalid(field, "a path is empty; write one like Sources/App/** or README.md") }
        if s.count > maxPathCharacters {
            throw MinskyError.invalid(field, "path '\(s.prefix(40))…' is longer than \(maxPathCharacters) characters")
        }
        if s.hasPrefix("/") {
            throw MinskyError.invalid(
                field,
                "path '\(s)' is absolute; write it relative to the repository root (e.g. \(s.drop { $0 == "/" }))")
        }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" }) {
            throw MinskyError.invalid(
                field, "path '\(s.prefix(40))' has a control character or a backslash; separate segments with /")
        }
        let segments = s.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        if segments.contains("..") {
            throw MinskyError.invalid(field, "path '\(s)' leaves the repository (..); name paths inside it")
        }
        if segments.isEmpty { throw MinskyError.invalid(field, "path '\(s)' names no file; use ** for everything") }
        return segments.joined(separator: "/")
    }

    /// True when some path is covered by both patterns (see the type's rule).
    public static func overlap(_ a: String, _ b: String) -> Bool {
        var m = Matcher(split(a), split(b))
        return m.run()
    }

    /// The pairs of patterns, one from each list, that overlap.
    public static func overlaps(_ a: [String], _ b: [String]) -> [(String, String)] {
        var out: [(String, String)] = []
        for x in a { for y in b where overlap(x, y) { out.append((x, y)) } }
        return out
    }

    /// True when `pattern` covers the concrete `path` (matches it or a directory above it).
    public static func covers(_ pattern: String, path: String) -> Bool {
        let p = split(pattern)
        let s = split(path)
        return (0...s.count).contains { full(p[...], s[..<$0]) }
    }

    static func split(_ s: String) -> [String] {
        s.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    static func isWild(_ seg: String) -> Bool { seg.contains("*") || seg.contains("?") }

    /// Whether the pattern segments match the path segments entirely.
    static func full(_ p: ArraySlice<String>, _ s: ArraySlice<String>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == "**" {
            return (0...s.count).contains { full(p.dropFirst(), s.dropFirst($0)) }
        }
        guard let seg = s.first, segment(first, matches: seg) else { return false }
        return full(p.dropFirst(), s.dropFirst())
    }

    /// `*` any characters, `?` one character, anything else itself.
    public static func segment(_ pattern: String, matches s: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(s.unicodeScalars)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || (p[pi] != "*" && p[pi] == t[ti])) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// Two segments that could match one name.
    static func compatible(_ a: String, _ b: String) -> Bool {
        switch (isWild(a), isWild(b)) {
        case (false, false): return a == b
        case (true, false): return segment(a, matches: b)
        case (false, true): return segment(b, matches: a)
        case (true, true):
            // Conservative: only the fixed beginnings and endings can rule a pair out.
            let pa = fixedPrefix(a)
            let pb = fixedPrefix(b)
            let sa = fixedSuffix(a)
            let sb = fixedSuffix(b)
            return (pa.hasPrefix(pb) || pb.hasPrefix(pa)) && (sa.hasSuffix(sb) || sb.hasSuffix(sa))
        }
    }

    static func fixedPrefix(_ s: String) -> String { String(s.prefix { $0 != "*" && $0 != "?" }) }
    static func fixedSuffix(_ s: String) -> String {
        String(String(s.reversed().prefix { $0 != "*" && $0 != "?" }).reversed())
    }

    /// Overlap of two segment lists where each covers everything below what it matches.
    struct Matcher {
        let a: [String]
        let b: [String]
        var memo: [Int: Bool] = [:]

        init(_ a: [String], _ b: [String]) {
            self.a = a
            self.b = b
        }

        mutating func run() -> Bool { go(0, 0) }

        mutating func go(_ i: Int, _ j: Int) -> Bool {
            // One pattern ended: it covers everything below, so the other's paths continue it.
            if i == a.count || j == b.count { return true }
            let key = i * (b.count + 1) + j
            if let m = memo[key] { return m }
            var r: Bool
            if a[i] == "**" {
                r = go(i + 1, j) || go(i, j + 1)
            } else if b[j] == "**" {
                r = go(i, j + 1) || go(i + 1, j)
            } else {
                r = TaskPaths.compatible(a[i], b[j]) && go(i + 1, j + 1)
            }
            memo[key] = r
            return r
        }
    }
}

/// A live claim's hold on paths: who holds which task, and until when.
public struct PathLease: Sendable, Hashable {
    public var taskId: TaskID
    public var title: String
    public var owner: String
    public var paths: [String]
    public var expiresAt: Timestamp?

    public init(taskId: TaskID, title: String, owner: String, paths: [String], expiresAt: Timestamp?) {
        self.taskId = taskId
        self.title = title
        self.owner = owner
        self.paths = paths
        self.expiresAt = expiresAt
    }

    /// The live claims (other than `owner`'s, and other than `task`) whose paths overlap `paths`.
    public static func conflicts(
        of paths: [String], task: TaskID?, owner: String?, among leases: [PathLease]
    ) -> [PathConflict] {
        guard !paths.isEmpty else { return [] }
        return leases.compactMap { l in
            guard l.taskId != task, l.owner != owner else { return nil }
            let pairs = TaskPaths.overlaps(paths, l.paths).map { PathConflict.Pair(mine: $0.0, theirs: $0.1) }
            return pairs.isEmpty ? nil : PathConflict(lease: l, pairs: pairs)
        }
    }

    /// "mk-3 (claimed by agent-b: Sources/** overlaps Sources/App/main.swift)".
    public static func describe(_ c: [PathConflict]) -> String {
        c.prefix(3).map { k in
            "\(k.lease.taskId) (claimed by \(k.lease.owner): "
                + k.pairs.prefix(3).map { $0.mine == $0.theirs ? $0.mine : "\($0.mine) overlaps \($0.theirs)" }
                .joined(separator: ", ") + (k.pairs.count > 3 ? ", …" : "") + ")"
        }.joined(separator: "; ") + (c.count > 3 ? "; and \(c.count - 3) more" : "")
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "taskId": .string(taskId.rawValue), "title": .string(title), "owner": .string(owner),
            "paths": .array(paths.map { .string($0) }),
        ]
        if let expiresAt { o["expiresAt"] = .string(expiresAt.iso8601) }
        return .object(o)
    }
}

/// A live claim in a task's way: the claim, and which of the task's patterns overlap which of
/// the claim's.
public struct PathConflict: Sendable, Hashable {
    public struct Pair: Sendable, Hashable {
        public var mine: String
        public var theirs: String
    }
    public var lease: PathLease
    public var pairs: [Pair]

    /// The claim (`PathLease.json`) with `overlaps`: [[mine, theirs], …].
    public var json: JSONValue {
        var o = lease.json.objectValue ?? [:]
        o["overlaps"] = .array(pairs.map { [.string($0.mine), .string($0.theirs)] })
        return .object(o)
    }
}
