import Foundation

/// What shows a task was done: commits, the command run and its exit status, a test summary,
/// links, the paths changed, and what the work cost. Stored with the task as a JSON object
/// (`{}` when there is none); recording more adds to it.
public struct Evidence: Hashable, Sendable, Codable {
    public var commits: [String] = []
    public var command: String?
    public var exitStatus: Int?
    public var tests: String?
    public var links: [String] = []
    /// Paths the work changed (added to the task's paths, so later claims keep clear of them).
    public var changed: [String] = []
    /// What the work cost the agent, where it knows.
    public var tokens: Int?
    public var minutes: Double?
    /// When evidence was last recorded (set by the store).
    public var recordedAt: Timestamp?

    public init(
        commits: [String] = [], command: String? = nil, exitStatus: Int? = nil, tests: String? = nil,
        links: [String] = [], changed: [String] = [], tokens: Int? = nil, minutes: Double? = nil
    ) {
        self.commits = commits
        self.command = command
        self.exitStatus = exitStatus
        self.tests = tests
        self.links = links
        self.changed = changed
        self.tokens = tokens
        self.minutes = minutes
    }

    public var isEmpty: Bool { self == Evidence() || json == .object([:]) }

    /// Something a reader can check: a commit, a command with its status, a test summary or a link.
    public var hasProof: Bool { !commits.isEmpty || command != nil || tests != nil || !links.isEmpty }

    /// A failed command is not proof of done.
    public var failedCommand: Bool { (exitStatus ?? 0) != 0 }

    public static let maxItems = 32
    public static let maxTextCharacters = 2000

    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if !commits.isEmpty { o["commits"] = .array(commits.map { .string($0) }) }
        if let command { o["command"] = .string(command) }
        if let exitStatus { o["exitStatus"] = .int(Int64(exitStatus)) }
        if let tests { o["tests"] = .string(tests) }
        if !links.isEmpty { o["links"] = .array(links.map { .string($0) }) }
        if !changed.isEmpty { o["changed"] = .array(changed.map { .string($0) }) }
        if let tokens { o["tokens"] = .int(Int64(tokens)) }
        if let minutes { o["minutes"] = .double(minutes) }
        if let recordedAt { o["recordedAt"] = .string(recordedAt.iso8601) }
        return .object(o)
    }

    /// Reads and checks evidence given by a caller or stored; errors name the field under `field`.
    public static func parse(_ v: JSONValue, field: String = "evidence") throws -> Evidence {
        guard let o = v.objectValue else {
            throw MinskyError.invalid(
                field,
                "\(field) must be an object like {\"commits\": [\"3f2a9c1\"], \"command\": \"swift test\", \"exitStatus\": 0}"
            )
        }
        let known: Set<String> = [
            "commits", "command", "exitStatus", "tests", "links", "changed", "tokens", "minutes", "recordedAt",
        ]
        if let bad = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw MinskyError.invalid(
                "\(field).\(bad)", "\(field) has no field '\(bad)'; use \(known.sorted().joined(separator: ", "))")
        }
        func strings(_ k: String) throws -> [String] {
            guard let x = o[k], !x.isNull else { return [] }
            guard let a = x.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw MinskyError.invalid("\(field).\(k)", "\(field).\(k) must be an array of strings")
            }
            let list = a.compactMap(\.stringValue)
            if list.count > maxItems {
                throw MinskyError.invalid(
                    "\(field).\(k)", "\(field).\(k) has \(list.count) items; keep at most \(maxItems)")
            }
            return list
        }
        func text(_ k: String) throws -> String? {
            guard let x = o[k], !x.isNull else { return nil }
            guard let s = x.stringValue else {
                throw MinskyError.invalid("\(field).\(k)", "\(field).\(k) must be a string")
            }
            try TaskRules.checkText(s, field: "\(field).\(k)", max: maxTextCharacters * 4)
            if s.count > maxTextCharacters {
                throw MinskyError.invalid(
                    "\(field).\(k)", "\(field).\(k) has \(s.count) characters; keep it under \(maxTextCharacters)")
            }
            return s.isEmpty ? nil : s
        }
        func number(_ k: String) throws -> Double? {
            guard let x = o[k], !x.isNull else { return nil }
            guard let d = x.doubleValue, d.isFinite, d >= (k == "exitStatus" ? -1_000_000 : 0) else {
                throw MinskyError.invalid(
                    "\(field).\(k)", "\(field).\(k) must be a number\(k == "exitStatus" ? "" : " ≥ 0")")
            }
            return d
        }
        var e = Evidence()
        e.commits = try strings("commits").map { c in
            let s = c.trimmingCharacters(in: .whitespaces).lowercased()
            guard (4...64).contains(s.count), s.allSatisfy({ $0.isHexDigit }) else {
                throw MinskyError.invalid(
                    "\(field).commits",
                    "\(field).commits: '\(c.prefix(70))' is not a commit id; give the hexadecimal hash (4-64 digits)")
            }
            return s
        }
        e.commits = Array(NSOrderedSet(array: e.commits)) as? [String] ?? e.commits
        e.command = try text("command")
        e.exitStatus = try number("exitStatus").map { Int($0) }
        e.tests = try text("tests")
        e.links = try strings("links")
        for l in e.links { try TaskRules.checkText(l, field: "\(field).links", max: maxTextCharacters) }
        e.changed = try TaskPaths.normalize(try strings("changed"), field: "\(field).changed")
        e.tokens = try number("tokens").map { Int($0) }
        e.minutes = try number("minutes")
        if let r = o["recordedAt"]?.stringValue { e.recordedAt = Timestamp(iso8601: r) }
        return e
    }

    /// Evidence as it was stored: read field by field, never refused, so a row someone wrote by
    /// hand (psql as a member, a forged sync entry) cannot make its task unreadable. What is
    /// not of the expected type is left out; new evidence is checked by `parse`.
    public static func stored(_ v: JSONValue) -> Evidence {
        func strings(_ k: String) -> [String] { (v[k]?.arrayValue ?? []).compactMap(\.stringValue) }
        var e = Evidence()
        e.commits = strings("commits")
        e.command = v["command"]?.stringValue
        e.exitStatus = v["exitStatus"]?.intValue.flatMap { Int(exactly: $0) }
        e.tests = v["tests"]?.stringValue
        e.links = strings("links")
        e.changed = strings("changed")
        e.tokens = v["tokens"]?.intValue.flatMap { Int(exactly: $0) }
        e.minutes = v["minutes"]?.doubleValue
        e.recordedAt = v["recordedAt"]?.stringValue.flatMap { Timestamp(iso8601: $0) }
        return e
    }

    /// This evidence with `more` added: lists gain new items, single values are replaced.
    public func adding(_ more: Evidence) -> Evidence {
        var e = self
        for c in more.commits where !e.commits.contains(c) { e.commits.append(c) }
        for l in more.links where !e.links.contains(l) { e.links.append(l) }
        // The paths changed are often many (a large commit): the first ones are kept, the task's
        // paths (where they are learned) have their own bound.
        for p in more.changed where !e.changed.contains(p) && e.changed.count < Self.maxItems { e.changed.append(p) }
        if let c = more.command {
            e.command = c
            e.exitStatus = more.exitStatus
        } else if let s = more.exitStatus {
            e.exitStatus = s
        }
        if let t = more.tests { e.tests = t }
        if let t = more.tokens { e.tokens = (e.tokens ?? 0) + t }
        if let m = more.minutes { e.minutes = (e.minutes ?? 0) + m }
        return e
    }

    /// One line: "commits 3f2a9c1, a1b2c3d; `swift test` exited 0; tests: 239 passed".
    public var summary: String {
        var parts: [String] = []
        if !commits.isEmpty {
            parts.append("commit\(commits.count == 1 ? "" : "s") " + commits.joined(separator: ", "))
        }
        if let command { parts.append("`\(command)` exited \(exitStatus.map(String.init) ?? "?")") }
        if let tests { parts.append("tests: \(tests)") }
        if !links.isEmpty { parts.append(links.joined(separator: ", ")) }
        if !changed.isEmpty { parts.append("changed \(changed.count) path\(changed.count == 1 ? "" : "s")") }
        if tokens != nil || minutes != nil {
            parts.append(
                "cost "
                    + [tokens.map { "\($0) tokens" }, minutes.map { "\(Self.trim($0)) min" }].compactMap { $0 }.joined(
                        separator: ", "))
        }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }

    static func trim(_ d: Double) -> String {
        d == d.rounded() ? String(Int(d)) : String(format: "%.1f", d)
    }
}

/// What a task needs before it may be marked DONE (`minsky config set done.requires …`).
public enum DoneRequirement: String, Sendable, CaseIterable, Codable {
    /// Nothing: DONE is always accepted.
    case none
    /// Every acceptance criterion checked (the default).
    case criteria
    /// Every criterion checked and evidence that can be checked: a commit, a command that
    /// exited 0, a test summary or a link.
    case evidence

    public static func parse(_ s: String, field: String = "done.requires") throws -> DoneRequirement {
        guard let r = DoneRequirement(rawValue: s.lowercased()) else {
            throw MinskyError.invalid(field, "\(field) is '\(s)'; use evidence, criteria or none")
        }
        return r
    }
}
