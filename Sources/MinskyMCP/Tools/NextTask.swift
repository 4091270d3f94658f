import MinskyCore

extension Tool {
    static let nextTask = Tool(
        name: "next_task", title: "Next ready task",
        description:
            "Ready tasks (blockers done, no open subtasks, clear of paths others hold), most urgent first; if none, why. Take one: claim_task.",
        inputSchema: ToolSchema.object([
            "limit": ToolSchema.integer(min: 1, max: 20), "tag": ToolSchema.string(),
            "parentId": ToolSchema.string("under this task"), "assignee": ToolSchema.string(),
            "unassigned": ToolSchema.boolean(),
            "owner": ToolSchema.string(),
        ]),
        outputSchema: TaskSchemas.readyPage,
        annotations: .read
    ) { (input: NextInput, ctx) in
        let store = try await ctx.store()
        let filter = try ReadyFilter(
            tag: input.tag, parent: input.parentId, assignee: input.assignee, unassigned: input.unassigned ?? false,
            owner: input.owner ?? ctx.defaultOwner
        ).validated()
        let ready = try await store.nextReady(limit: input.limit ?? 1, filter: filter)
        var page = TaskJSON.page(ready, full: true, budgetCharacters: TaskJSON.mcpPageBudget).objectValue ?? [:]
        if ready.isEmpty { page["why"] = try await store.notReadyReport(filter: filter).json }
        return .object(page)
    }
    .presenting(ReadyView.uri)
}

struct NextInput: Decodable {
    var limit: Int?
    var tag: String?
    var parentId: TaskID?
    var assignee: String?
    var unassigned: Bool?
    var owner: String?
}
