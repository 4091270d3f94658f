/// Which tasks a board shows: a tag, an assignee, or a set of tasks found otherwise (by words
/// or by meaning), and how many cards a column holds at most.
public struct BoardFilter: Sendable, Hashable {
    public var tag: String?
    public var assignee: String?
    /// Only these tasks (at most `TaskQuery.maxLimit`), when a search chose them.
    public var ids: [TaskID]?
    public var openLimit: Int
    public var resolvedLimit: Int

    public init(
        tag: String? = nil, assignee: String? = nil, ids: [TaskID]? = nil, openLimit: Int = 500,
        resolvedLimit: Int = 200
    ) {
        self.tag = tag
        self.assignee = assignee
        self.ids = ids
        self.openLimit = openLimit
        self.resolvedLimit = resolvedLimit
    }
}

/// What a board shows, read in one snapshot: per status the first cards in the column's order
/// (open work most urgent first — priority, then oldest; DONE and CLOSED, which grow forever,
/// most recently changed first) and how many the filter admits; for every card shown, its open
/// blockers and how many of its subtasks are open. Never more than the columns hold, so a board
/// of a million tasks reads a few hundred.
public struct BoardSnapshot: Sendable {
    public var columns: [TaskStatus: [TaskItem]] = [:]
    public var counts: [TaskStatus: Int] = [:]
    public var openBlockers: [TaskID: [(id: TaskID, title: String)]] = [:]
    public var openSubtasks: [TaskID: Int] = [:]

    public init() {}

    /// The column order: true when `a` comes before `b` in `status`'s column.
    public static func precedes(_ a: TaskItem, _ b: TaskItem, in status: TaskStatus) -> Bool {
        status.isResolved
            ? (a.updatedAt, a.id.rawValue) > (b.updatedAt, b.id.rawValue)
            : (a.priority.value, a.createdAt, a.id.rawValue) < (b.priority.value, b.createdAt, b.id.rawValue)
    }
}
