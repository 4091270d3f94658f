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
    ) { (input: SearchInput, ctx) in
        var q = try input.page.query()
        q.text = input.query
        q.statuses = Set(input.status ?? [])
        return TaskJSON.page(
            try await ctx.store().list(q), full: input.page.full ?? false, budgetCharacters: TaskJSON.mcpPageBudget)
    }
}

struct SearchInput: Decodable {
    var page: PageInput
    var query: String
    var status: [TaskStatus]?

    enum Keys: String, CodingKey { case query, status }
    init(from decoder: any Decoder) throws {
        page = try PageInput(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        query = try c.decode(String.self, forKey: .query)
        status = try c.decodeIfPresent([TaskStatus].self, forKey: .status)
    }
}
