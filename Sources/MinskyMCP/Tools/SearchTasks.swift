import MinskyCore

extension Tool {
    static let searchTasks = Tool(
        name: "search_tasks", title: "Search tasks by text",
        description: "Tasks whose title or description contain every word of query (word prefixes).",
        inputSchema: ToolSchema.object(
            [
                "query": ToolSchema.string(maxLength: 1000), "status": ToolSchema.array(ToolSchema.status),
                "limit": ToolSchema.integer(min: 1, max: 200), "cursor": ToolSchema.string(),
                "full": ToolSchema.boolean(),
            ], required: ["query"]),
        outputSchema: ToolSchema.taskList,
        annotations: .read
    ) { args, ctx in
        var q = try baseQuery(args)
        q.text = args.string("query")
        q.statuses = Set(try (args.strings("status") ?? []).map { try TaskStatus(parsing: $0) })
        return TaskJSON.page(
            try await ctx.store().list(q), full: args.bool("full"), budgetCharacters: TaskJSON.mcpPageBudget)
    }
}
