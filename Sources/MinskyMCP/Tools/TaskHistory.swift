import MinskyCore

extension Tool {
    static let taskHistory = Tool(
        name: "task_history", title: "Task history",
        description:
            "A task's changes, oldest first (nextCursor). since: what changed across tasks (id: subtree), by task, in budgetTokens; pass back cursor.",
        inputSchema: ToolSchema.object([
            "id": ToolSchema.string(), "limit": ToolSchema.integer(min: 1, max: 100),
            "cursor": ToolSchema.string(), "since": ToolSchema.string("cursor, ISO time or 2h"),
            "tag": ToolSchema.string(), "assignee": ToolSchema.string(),
            "budgetTokens": ToolSchema.integer(min: 200, max: 50000),
        ]),
        outputSchema: ToolSchema.output(
            ["events": ToolSchema.array(["type": "object"]), "tasks": ToolSchema.array(["type": "object"])],
            required: []
        ),
        annotations: .read
    ) { (input: HistoryInput, ctx) in
        // What changed since a cursor: the digest (`minsky tasks changes`).
        if let since = input.since {
            if input.cursor != nil || input.limit != nil {
                throw MinskyError.invalid(
                    "cursor",
                    "with since, the answer's cursor is what continues: pass it as since next time (cursor and limit page one task's history)"
                )
            }
            let now = Timestamp.now()
            return try await ctx.store().changes(
                since: try ChangeCursor.parse(since, now: now),
                filter: ChangeFilter(parent: input.id, tag: input.tag, assignee: input.assignee),
                budgetTokens: input.budgetTokens ?? ChangeDigest.defaultBudgetTokens, now: now
            ).json
        }
        guard let id = input.id else {
            throw MinskyError.invalid(
                "id", "pass id (one task's history) or since (what changed across tasks: a cursor, a time, or 24h)")
        }
        if input.tag != nil || input.assignee != nil || input.budgetTokens != nil {
            throw MinskyError.invalid("since", "tag, assignee and budgetTokens filter changes: pass since with them")
        }
        let page = try await ctx.store().history(of: id, limit: input.limit ?? 20, cursor: input.cursor)
        return page.json(budgetCharacters: TaskJSON.mcpPageBudget)
    }
}

struct HistoryInput: Decodable {
    var id: TaskID?
    var limit: Int?
    var cursor: String?
    var since: String?
    var tag: String?
    var assignee: String?
    var budgetTokens: Int?
}
