import MinskyCore

extension Tool {
    static let taskHistory = Tool(
        name: "task_history", title: "Task history",
        description:
            "A task's changes, oldest first: who, when, kind, fields before/after; page with nextCursor.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "limit": ToolSchema.integer(min: 1, max: 100), "cursor": ToolSchema.string(),
            ], required: ["id"]),
        outputSchema: ToolSchema.output(
            ["events": ToolSchema.array(["type": "object"]), "nextCursor": ["type": "string"]], required: ["events"]),
        annotations: .read
    ) { (input: HistoryInput, ctx) in
        let page = try await ctx.store().history(of: input.id, limit: input.limit ?? 20, cursor: input.cursor)
        return page.json(budgetCharacters: TaskJSON.mcpPageBudget)
    }
}

struct HistoryInput: Decodable {
    var id: TaskID
    var limit: Int?
    var cursor: String?
}
