import MinskyCore

extension Tool {
    static func readyFilter(_ args: Arguments) throws -> ReadyFilter {
        try ReadyFilter(
            tag: args.string("tag"), parent: try args.id("parentId"), assignee: args.string("assignee"),
            unassigned: args.bool("unassigned")
        ).validated()
    }

    static let nextTask = Tool(
        name: "next_task", title: "Next ready task",
        description:
            "Ready tasks (TODO, blockers done, no open subtasks), most urgent first; if none, why. Take one: claim_task.",
        inputSchema: ToolSchema.object([
            "limit": ToolSchema.integer(min: 1, max: 20), "tag": ToolSchema.string(),
            "parentId": ToolSchema.string("under this task"), "assignee": ToolSchema.string(),
            "unassigned": ToolSchema.boolean(),
        ]),
        outputSchema: TaskSchemas.readyPage,
        annotations: .read
    ) { args, ctx in
        let store = try await ctx.store()
        let filter = try readyFilter(args)
        let ready = try await store.nextReady(limit: args.int("limit") ?? 1, filter: filter)
        var page = TaskJSON.page(ready, full: true, budgetCharacters: TaskJSON.mcpPageBudget).objectValue ?? [:]
        if ready.isEmpty { page["why"] = try await store.notReadyReport(filter: filter).json }
        return .object(page)
    }
}
