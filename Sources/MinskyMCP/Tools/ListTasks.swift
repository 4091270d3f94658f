import MinskyCore

extension Tool {
    static let listTasks = Tool(
        name: "list_tasks", title: "List tasks",
        description:
            "Tasks oldest first, compact unless full=true; page with nextCursor.",
        inputSchema: ToolSchema.object([
            "status": ToolSchema.array(ToolSchema.status), "parentId": ToolSchema.string("subtasks of"),
            "root": ToolSchema.boolean("top-level only"), "tag": ToolSchema.string(),
            "assignee": ToolSchema.string(),
            "limit": ToolSchema.integer(min: 1, max: 200), "cursor": ToolSchema.string(), "full": ToolSchema.boolean(),
        ]),
        outputSchema: ToolSchema.taskList,
        annotations: .read
    ) { (input: ListInput, ctx) in
        var q = try input.page.query()
        q.statuses = Set(input.status ?? [])
        if let p = input.parentId { q.parent = .task(p) } else if input.root == true { q.parent = .root }
        q.tag = input.tag
        q.assignee = input.assignee
        return TaskJSON.page(
            try await ctx.store().list(q), full: input.page.full ?? false, budgetCharacters: TaskJSON.mcpPageBudget)
    }
}

/// Limit, cursor and detail, shared by the listing tools.
struct PageInput: Decodable {
    var limit: Int?
    var cursor: String?
    var full: Bool?

    func query() throws -> TaskQuery {
        var q = TaskQuery(limit: limit ?? 25)
        if let c = cursor { q.cursor = try PageCursor(token: c) }
        return q
    }
}

struct ListInput: Decodable {
    var page: PageInput
    var status: [TaskStatus]?
    var parentId: TaskID?
    var root: Bool?
    var tag: String?
    var assignee: String?

    enum Keys: String, CodingKey { case status, parentId, root, tag, assignee }
    init(from decoder: any Decoder) throws {
        page = try PageInput(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        status = try c.decodeIfPresent([TaskStatus].self, forKey: .status)
        parentId = try c.decodeIfPresent(TaskID.self, forKey: .parentId)
        root = try c.decodeIfPresent(Bool.self, forKey: .root)
        tag = try c.decodeIfPresent(String.self, forKey: .tag)
        assignee = try c.decodeIfPresent(String.self, forKey: .assignee)
    }
}
