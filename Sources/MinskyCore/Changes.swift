import Foundation

/// A place in the history's order: time, then event id.
public struct EventPosition: Sendable, Hashable, Comparable {
    public var at: Timestamp
    public var id: String
    public init(at: Timestamp, id: String) {
        self.at = at
        self.id = id
    }
    public init(_ e: TaskEvent) { self.init(at: e.at, id: e.id) }
    public static func < (a: EventPosition, b: EventPosition) -> Bool { (a.at, a.id) < (b.at, b.id) }
}

/// Where an agent stopped reading changes. Events can commit a little after their time stamp
/// (a writer stamps, then waits for a lock), so the cursor has two parts: the position up to
/// which every event has been reported (events older than `ChangeDigest.settle` are taken to
/// have committed), and the ids of younger events already reported (at most
/// `ChangeDigest.maxFresh`), so none is reported twice and none is missed.
public struct ChangeCursor: Sendable, Hashable {
    public var position: EventPosition
    public var fresh: [String]

    public init(position: EventPosition, fresh: [String] = []) {
        self.position = position
        self.fresh = fresh
    }

    /// The short key an event is remembered by in `fresh` (12 hex digits of FNV-1a): events are
    /// only ever compared with the few of the same seconds, so the cursor stays small.
    public static func key(_ eventID: String) -> String { FNV1a.hex(eventID, digits: 12) }

    /// "c1.<base64 of micros:id:fresh,ids>".
    public var token: String {
        let raw = "\(position.at.microseconds):\(position.id):\(fresh.joined(separator: ","))"
        return "c1." + Data(raw.utf8).base64EncodedString()
    }

    /// A cursor token, an ISO 8601 time, or a duration back from now ("30m", "2h", "1d").
    public static func parse(_ s: String, now: Timestamp) throws -> ChangeCursor {
        let fail = MinskyError.invalid(
            "since",
            "since '\(s.prefix(40))' is not a cursor this store issued, an ISO 8601 time (2026-12-07T09:00:00Z) or a duration like 30m, 2h, 1d"
        )
        if s.hasPrefix("c1.") {
            guard let data = Data(base64Encoded: String(s.dropFirst(3))), let raw = String(data: data, encoding: .utf8)
            else { throw fail }
            let parts = raw.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let micros = Int64(parts[0]) else { throw fail }
            let fresh = parts[2].split(separator: ",").map(String.init)
            guard fresh.count <= ChangeDigest.maxFresh * 2 else { throw fail }
            return ChangeCursor(
                position: EventPosition(at: Timestamp(microseconds: micros), id: parts[1]), fresh: fresh)
        }
        if let t = Timestamp(iso8601: s) { return ChangeCursor(position: EventPosition(at: t, id: "")) }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let u = s.last, let mult = units[u], let n = Double(s.dropLast()), n >= 0, n.isFinite {
            return ChangeCursor(position: EventPosition(at: now.adding(seconds: -n * mult), id: ""))
        }
        throw fail
    }
}

/// Which tasks' changes to report.
public struct ChangeFilter: Sendable, Hashable {
    /// Only tasks under this one (its whole subtree, itself included).
    public var parent: TaskID?
    public var tag: String?
    public var assignee: String?
    public init(parent: TaskID? = nil, tag: String? = nil, assignee: String? = nil) {
        self.parent = parent
        self.tag = tag
        self.assignee = assignee
    }
    public var isEmpty: Bool { parent == nil && tag == nil && assignee == nil }
}

/// What changed since a cursor, grouped by task, within a budget.
public struct ChangeDigest: Sendable {
    /// How long after its time stamp an event is taken to have committed.
    public static let settle = 5.0
    /// At most this many unsettled events are reported (and remembered in the cursor).
    public static let maxFresh = 32
    public static let defaultBudgetTokens = 1500
    /// At most this many events are read by one call (a filter that admits few tasks over a long
    /// history would otherwise read it all): the answer then says `more` and the cursor continues.
    public static let maxRead = 5000

    public struct Entry: Sendable {
        public var id: TaskID
        public var title: String
        /// Current status; nil when the task was deleted.
        public var status: TaskStatus?
        public var assignee: String?
        /// created, closed, reopened, reprioritised, claimed, released, noted, edited, deleted, …
        public var what: [String] = []
        /// The events in words, oldest first (the latest few when many).
        public var lines: [String] = []
        public var events = 0
        public var last: Timestamp
    }

    public var tasks: [Entry] = []
    public var cursor: ChangeCursor
    /// True when the budget or the page ended before everything was reported: call again with
    /// `cursor` for the rest.
    public var more = false
    /// Events read, reported, and left out by the filter.
    public var read = 0
    public var filteredOut = 0
    /// Events younger than `settle` held back for the next call (too many to remember).
    public var heldBack = 0

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "cursor": .string(cursor.token), "more": .bool(more),
            "tasks": .array(
                tasks.map { e in
                    var t: [String: JSONValue] = [
                        "id": .string(e.id.rawValue), "title": .string(e.title),
                        "what": .array(e.what.map { .string($0) }), "changes": .array(e.lines.map { .string($0) }),
                        "last": .string(e.last.iso8601),
                    ]
                    t["status"] = e.status.map { .string($0.rawValue) } ?? .string("deleted")
                    if let a = e.assignee { t["assignee"] = .string(a) }
                    if e.events > e.lines.count { t["earlierChanges"] = .int(Int64(e.events - e.lines.count)) }
                    return .object(t)
                }),
        ]
        var notes: [String] = []
        if more { notes.append("more changes follow: call again with this cursor") }
        if heldBack > 0 {
            notes.append("\(heldBack) change(s) from the last \(Int(Self.settle)) s come with the next call")
        }
        if tasks.isEmpty && !more { notes.append("nothing changed") }
        if !notes.isEmpty { o["note"] = .string(notes.joined(separator: "; ")) }
        return .object(o)
    }

    /// The labels an event earns: what an agent scanning changes cares about.
    static func labels(_ e: TaskEvent) -> [String] {
        let c = e.changes
        func before(_ k: String) -> String? { c[k]?["before"]?.stringValue }
        func after(_ k: String) -> String? { c[k]?["after"]?.stringValue }
        switch e.kind {
        case "created", "imported": return ["created"]
        case "deleted": return ["deleted"]
        case "claimed": return ["claimed"]
        case "released": return ["released"]
        case "note_added": return ["noted"]
        case "dependency_added", "dependency_removed": return ["dependencies"]
        default:
            var out: [String] = []
            if let s = after("status").flatMap(TaskStatus.init(rawValue:)) {
                let was = before("status").flatMap(TaskStatus.init(rawValue:))
                if s.isResolved && !(was?.isResolved ?? false) {
                    out.append("closed")
                } else if !s.isResolved && (was?.isResolved ?? false) {
                    out.append("reopened")
                } else {
                    out.append("status")
                }
            }
            if c["priority"] != nil { out.append("reprioritised") }
            if c["assignee"] != nil && c["status"] == nil {
                out.append(after("assignee") == nil ? "released" : "assigned")
            }
            if c["evidence"] != nil { out.append("evidence") }
            if c["paths"] != nil { out.append("paths") }
            let other = Set((c.objectValue ?? [:]).keys).subtracting([
                "status", "priority", "assignee", "evidence", "paths", "updatedAt", "version", "claimExpiresAt",
            ])
            if !other.isEmpty { out.append("edited") }
            return out
        }
    }
}

extension TaskStore where Self: HistoryStore {
    /// What changed since `cursor` (nil: the last 24 hours), grouped by task with titles and
    /// current status, cut to `budgetTokens` (about 4 characters each); the digest's cursor
    /// continues exactly where this one stopped.
    public func changes(
        since cursor: ChangeCursor?, filter: ChangeFilter = ChangeFilter(),
        budgetTokens: Int = ChangeDigest.defaultBudgetTokens, now: Timestamp = .now()
    ) async throws -> ChangeDigest {
        guard (200...50_000).contains(budgetTokens) else {
            throw MinskyError.invalid("budgetTokens", "budgetTokens \(budgetTokens) is out of range; use 200 to 50000")
        }
        let start = cursor ?? ChangeCursor(position: EventPosition(at: now.adding(seconds: -86400), id: ""))
        let horizon = now.adding(seconds: -ChangeDigest.settle)
        let known = Set(start.fresh)
        func isKnown(_ e: TaskEvent) -> Bool { known.contains(ChangeCursor.key(e.id)) }
        var subtree: Set<TaskID>?
        if let p = filter.parent { subtree = Set(try await self.subtree(root: p).map(\.id)) }
        let tag = try filter.tag.map { try TaskRules.normalizeTags([$0]).first ?? $0 }

        var digest = ChangeDigest(cursor: start)
        var entries: [TaskID: ChangeDigest.Entry] = [:]
        var order: [TaskID] = []
        var tasks: [TaskID: TaskItem?] = [:]
        // The envelope and the cursor (at most `maxFresh` keys) come first.
        var used = 300 + ChangeDigest.maxFresh * 18
        let budget = budgetTokens * 4
        var position = start.position

        func current(_ id: TaskID) async -> TaskItem? {
            if let t = tasks[id] { return t }
            let t = try? await get(id)
            tasks[id] = t
            return t
        }
        func admits(_ e: TaskEvent) async -> Bool {
            // A claim's heartbeat changes nothing anyone reads: not reported (the cursor passes it).
            if e.kind == "heartbeat" { return false }
            if filter.isEmpty { return true }
            guard let t = await current(e.taskId) else { return false }
            if let subtree, !subtree.contains(t.id) { return false }
            if let tag, !t.tags.contains(tag) { return false }
            if let a = filter.assignee, t.assignee != a { return false }
            return true
        }
        /// Adds one event; false when it does not fit the budget.
        func add(_ e: TaskEvent) async -> Bool {
            let line = "\(e.at.iso8601.prefix(19))Z \(e.actor): \(e.words)"
            let isNew = entries[e.taskId] == nil
            func encoded(_ s: String?) -> Int { s.map { JSONValue.string($0).canonicalJSON().count } ?? 0 }
            var cost = encoded(line) + 1
            if isNew {
                let t = await current(e.taskId)
                cost += 260 + encoded(t?.title ?? e.changes["title"]?["before"]?.stringValue) + encoded(t?.assignee)
            }
            if used + cost > budget && !(entries.isEmpty) { return false }
            used += cost
            let t = await current(e.taskId)
            var entry =
                entries[e.taskId]
                ?? ChangeDigest.Entry(
                    id: e.taskId, title: t?.title ?? e.changes["title"]?["before"]?.stringValue ?? "?",
                    status: t?.status, assignee: t?.assignee, last: e.at)
            if isNew { order.append(e.taskId) }
            for l in ChangeDigest.labels(e) where !entry.what.contains(l) { entry.what.append(l) }
            entry.lines.append(line)
            // Long runs keep their latest lines; the count says how many there were.
            if entry.lines.count > 6 {
                used -= encoded(entry.lines.removeFirst()) + 1
            }
            entry.events += 1
            entry.last = e.at
            entries[e.taskId] = entry
            return true
        }

        // Settled events are reported in order (the position follows them); younger ones are
        // gathered and reported after, when there are few enough to remember by id.
        var read = start.position
        var unsettled: [TaskEvent] = []
        reading: while true {
            let page = try await events(after: read, limit: 500)
            for e in page {
                if digest.read >= ChangeDigest.maxRead && e.at <= horizon {
                    digest.more = true
                    break reading
                }
                read = EventPosition(e)
                digest.read += 1
                if e.at > horizon {
                    unsettled.append(e)
                    continue
                }
                if isKnown(e) {
                    position = EventPosition(e)
                } else if !(await admits(e)) {
                    digest.filteredOut += 1
                    position = EventPosition(e)
                } else if await add(e) {
                    position = EventPosition(e)
                } else {
                    digest.more = true
                    break reading
                }
            }
            if page.count < 500 { break }
        }
        var fresh: [String]
        if digest.more {
            // Stopped by the budget: the ids reported before stay remembered.
            fresh = start.fresh
        } else {
            // Every settled event is reported: the position moves up to the horizon.
            position = max(position, EventPosition(at: horizon, id: "~"))
            let knownYoung = unsettled.filter(isKnown).map { ChangeCursor.key($0.id) }
            let newYoung = unsettled.filter { !isKnown($0) }
            fresh = knownYoung
            if knownYoung.count + newYoung.count <= ChangeDigest.maxFresh {
                for e in newYoung {
                    if !(await admits(e)) {
                        digest.filteredOut += 1
                        fresh.append(ChangeCursor.key(e.id))
                    } else if await add(e) {
                        fresh.append(ChangeCursor.key(e.id))
                    } else {
                        digest.more = true
                    }
                }
            } else {
                digest.heldBack = newYoung.count
            }
        }
        digest.cursor = ChangeCursor(position: max(position, start.position), fresh: Array(Set(fresh)).sorted())
        digest.tasks = order.compactMap { entries[$0] }
        return digest
    }
}
