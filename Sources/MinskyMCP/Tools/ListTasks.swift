import MinskyCore

extension Tool {
    static let listTasks = Tool(
        name: "list_tasks", title: "List tasks",
        description:
            "Tasks oldest first, compact unless full=true; page with nextCursor.",
        inputSchema: ToolSchema.object([
            "status": ToolSchema.array(ToolSchema.status), "parentId": ToolSchema.string("subtasks of"),
            "root": ToolSchema.boolean("only top-level tasks"), "tag": ToolSchema.string(),
            "assignee": ToolSchema.string(),
            "limit": ToolSchema.integer(min: 1, max: 200), "cursor": ToolSchema.string(), "full": ToolSchema.boolean(),
        ]),
        outputSchema: ToolSchema.taskList,
        annotations: .read
    ) { args, ctx in
        var q = try baseQuery(args)
        q.statuses = Set(try (args.strings("status") ?? []).map { try TaskStatus(parsing: $0) })
        if let p = try args.id("parentId") { q.parent = .task(p) } else if args.bool("root") { q.parent = .root }
        q.tag = args.string("tag")
        q.assignee = args.string("assignee")
        return TaskJSON.page(
            try await ctx.store().list(q), full: args.bool("full"), budgetCharacters: TaskJSON.mcpPageBudget)
    }

    /// Limit and cursor, shared by the listing tools.
    static func baseQuery(_ args: Arguments) throws -> TaskQuery {
        var q = TaskQuery(limit: args.int("limit") ?? 25)
        if let c = args.string("cursor") { q.cursor = try PageCursor(token: c) }
        return q
    }
}
