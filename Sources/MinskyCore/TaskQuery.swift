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
