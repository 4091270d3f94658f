import Foundation

/// Filters and paging for `TaskStore.list`. Results are ordered by creation time, then id,
/// which is stable under inserts, so cursors never skip or repeat a task.
public struct TaskQuery: Sendable, Hashable {
    public enum ParentFilter: Sendable, Hashable {
        case any
        /// Top-level tasks only.
        case root
        case task(TaskID)
    }

    public var statuses: Set<TaskStatus>
    public var parent: ParentFilter
    public var tag: String?
    public var assignee: String?
    /// Words matched against title and description (all words, prefix match).
    public var text: String?
    public var limit: Int
    public var cursor: PageCursor?

    public static let defaultLimit = 50
    public static let maxLimit = 1000

    public init(
        statuses: Set<TaskStatus> = [], parent: ParentFilter = .any, tag: String? = nil, assignee: String? = nil,
        text: String? = nil, limit: Int = TaskQuery.defaultLimit, cursor: PageCursor? = nil
    ) {
        self.statuses = statuses
        self.parent = parent
        self.tag = tag
        self.assignee = assignee
        self.text = text
        self.limit = limit
        self.cursor = cursor
    }

    /// The words of `text` the stores search for; empty when there is nothing to search.
    public var textTerms: [String] { TextSearch.terms(text ?? "") }

    public func validated() throws -> TaskQuery {
        guard (1...Self.maxLimit).contains(limit) else {
            throw MinskyError.invalid("limit", "limit \(limit) is out of range; use 1 to \(Self.maxLimit)")
        }
        var q = self
        if let tag { q.tag = try TaskRules.normalizeTags([tag]).first }
        if let text { try TaskRules.checkText(text, field: "query", max: 1000) }
        if let assignee { try TaskRules.checkText(assignee, field: "assignee", max: 1000) }
        return q
    }
}

/// Position after the last task of a page: (createdAt, id). Opaque to callers.
public struct PageCursor: Sendable, Hashable {
    public var createdAt: Timestamp
    public var id: TaskID

    public init(createdAt: Timestamp, id: TaskID) {
        self.createdAt = createdAt
        self.id = id
    }

    public var token: String {
        Data("\(createdAt.microseconds):\(id.rawValue)".utf8).base64EncodedString()
    }

    public init(token: String) throws {
        guard let data = Data(base64Encoded: token), let s = String(data: data, encoding: .utf8),
            let colon = s.firstIndex(of: ":"), let micros = Int64(s[..<colon]),
            // Years 1 through 9999 only: anything else was not issued by a store.
            (-62_135_596_800_000_000...253_402_300_799_999_999).contains(micros),
            let id = try? TaskID(validating: String(s[s.index(after: colon)...]))
        else {
            throw MinskyError.invalid(
                "cursor", "cursor is not one this store issued; pass the nextCursor of the previous page")
        }
        self.createdAt = Timestamp(microseconds: micros)
        self.id = id
    }
}

public struct TaskPage: Sendable, Hashable {
    public var tasks: [TaskItem]
    /// Present when more tasks follow.
    public var nextCursor: PageCursor?
    public init(tasks: [TaskItem], nextCursor: PageCursor?) {
        self.tasks = tasks
        self.nextCursor = nextCursor
    }
}

/// Text-search semantics shared by both stores: a query is split into words (letters and
/// digits); a task matches when every word prefixes some word of its title or description.
public enum TextSearch {
    public static func terms(_ query: String) -> [String] {
        var terms: [String] = []
        var cur = ""
        for ch in query.lowercased() {
            if ch.isLetter || ch.isNumber {
                cur.append(ch)
            } else if !cur.isEmpty {
                terms.append(cur)
                cur = ""
            }
        }
        if !cur.isEmpty { terms.append(cur) }
        return Array(terms.prefix(16))
    }
}

/// Which ready tasks a person or an agent wants (`tasks next`, `next_task`).
public struct ReadyFilter: Sendable, Hashable {
    public var tag: String?
    /// Only tasks under this one (its whole subtree).
    public var parent: TaskID?
    /// Only tasks assigned to this owner.
    public var assignee: String?
    /// Only tasks nobody holds (no assignee, or a lapsed claim).
    public var unassigned: Bool
    /// Who asks: tasks whose paths overlap a live claim of anyone else are skipped (with no
    /// owner, every live claim counts).
    public var owner: String?

    public init(
        tag: String? = nil, parent: TaskID? = nil, assignee: String? = nil, unassigned: Bool = false,
        owner: String? = nil
    ) {
        self.owner = owner
        self.tag = tag
        self.parent = parent
        self.assignee = assignee
        self.unassigned = unassigned
    }

    public var isEmpty: Bool { tag == nil && parent == nil && assignee == nil && !unassigned }

    public func validated() throws -> ReadyFilter {
        var f = self
        if let tag { f.tag = try TaskRules.normalizeTags([tag]).first }
        if let assignee { try TaskRules.checkText(assignee, field: "assignee", max: 1000) }
        if let owner { try TaskRules.checkAssignee(owner) }
        if assignee != nil && unassigned {
            throw MinskyError.invalid("unassigned", "assignee and unassigned exclude each other; pass one")
        }
        return f
    }

    /// Whether `t` passes the filter's tag and owner conditions (the subtree is checked apart).
    public func admits(_ t: TaskItem, now: Timestamp) -> Bool {
        if let tag, !t.tags.contains(tag) { return false }
        if let assignee, t.assignee != assignee { return false }
        if unassigned, t.assignee != nil, !(t.claimExpiresAt.map { $0 <= now } ?? false) { return false }
        return true
    }
}

/// Why no task is ready for a filter: what the open tasks it admits are waiting for.
public struct NotReadyReport: Sendable, Hashable {
    public struct Blocked: Sendable, Hashable {
        public var task: TaskItem
        /// The unresolved tasks it waits for.
        public var blockers: [DependencyList.Edge]
    }
    /// Unresolved tasks the filter admits.
    public var open = 0
    /// Resolved (DONE, CLOSED) tasks the filter admits.
    public var resolved = 0
    public var claimed: [TaskItem] = []
    public var blocked: [Blocked] = []
    public var waitingForSubtasks: [TaskItem] = []
    /// Tasks whose status keeps them out (BLOCKED, IN-REVIEW).
    public var held: [TaskItem] = []
    /// Tasks otherwise ready whose paths overlap someone else's live claim.
    public var leased: [Leased] = []

    public struct Leased: Sendable, Hashable {
        public var task: TaskItem
        /// The claims in the way, each with the overlapping pairs.
        public var conflicts: [PathConflict]
        public init(task: TaskItem, conflicts: [PathConflict]) {
            self.task = task
            self.conflicts = conflicts
        }
    }

    /// How many of each list are named (the counts are exact).
    public static let named = 5

    public var summary: String {
        if open == 0 {
            return resolved == 0
                ? "Nothing is open: no task matches."
                : "Nothing is open: all \(resolved) matching task(s) are done or closed."
        }
        var parts: [String] = []
        if !claimed.isEmpty {
            parts.append(
                "\(claimed.count) claimed ("
                    + claimed.prefix(Self.named).map { "\($0.id) by \($0.assignee ?? "?")" }.joined(separator: ", ")
                    + (claimed.count > Self.named ? ", …" : "") + ")")
        }
        if !blocked.isEmpty {
            parts.append(
                "\(blocked.count) blocked ("
                    + blocked.prefix(Self.named).map { b in
                        "\(b.task.id) by " + b.blockers.map { "\($0.id) [\($0.status)]" }.joined(separator: ", ")
                    }.joined(separator: "; ") + (blocked.count > Self.named ? "; …" : "") + ")")
        }
        if !waitingForSubtasks.isEmpty {
            parts.append(
                "\(waitingForSubtasks.count) waiting for open subtasks ("
                    + waitingForSubtasks.prefix(Self.named).map(\.id.rawValue).joined(separator: ", ") + ")")
        }
        if !leased.isEmpty {
            parts.append(
                "\(leased.count) ready but touching paths others hold ("
                    + leased.prefix(Self.named).map { "\($0.task.id) by " + PathLease.describe($0.conflicts) }
                    .joined(separator: "; ") + (leased.count > Self.named ? "; …" : "") + ")")
        }
        if !held.isEmpty {
            parts.append(
                "\(held.count) held by status ("
                    + held.prefix(Self.named).map { "\($0.id) \($0.status)" }.joined(separator: ", ") + ")")
        }
        return "No task is ready: " + parts.joined(separator: "; ") + "."
    }

    public var json: JSONValue {
        func ids(_ ts: [TaskItem]) -> JSONValue { .array(ts.prefix(Self.named).map { .string($0.id.rawValue) }) }
        var o: [String: JSONValue] = ["summary": .string(summary), "open": .int(Int64(open))]
        if !claimed.isEmpty {
            o["claimed"] = .array(
                claimed.prefix(Self.named).map {
                    ["id": .string($0.id.rawValue), "assignee": .string($0.assignee ?? "")]
                })
        }
        if !blocked.isEmpty {
            o["blocked"] = .array(
                blocked.prefix(Self.named).map {
                    [
                        "id": .string($0.task.id.rawValue),
                        "blockedBy": .array($0.blockers.map { .string($0.id.rawValue) }),
                    ]
                })
        }
        if !waitingForSubtasks.isEmpty { o["waitingForSubtasks"] = ids(waitingForSubtasks) }
        if !held.isEmpty { o["held"] = ids(held) }
        if !leased.isEmpty {
            o["pathConflicts"] = .array(
                leased.prefix(Self.named).map { l in
                    [
                        "id": .string(l.task.id.rawValue),
                        "claims": .array(l.conflicts.map(\.json)),
                    ]
                })
        }
        return .object(o)
    }
}
