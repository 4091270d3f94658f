import MinskyCore

extension Tool {
    static let getTask = Tool(
        name: "get_task", title: "Get a task",
        description:
            "A task with blockedBy, blocks, notes (offset reads a long description on); brief: what to start work with, in budgetTokens.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id,
                "offset": ToolSchema.integer(min: 0),
                "brief": ToolSchema.boolean(), "budgetTokens": ToolSchema.integer(min: 200, max: 50000),
            ], required: ["id"]),
        outputSchema: ToolSchema.output(["task": TaskSchemas.task], required: ["task"]),
        annotations: .read
    ) { (input: GetInput, ctx) in
        let store = try await ctx.store()
        if input.brief == true {
            return try await store.brief(input.id, budgetTokens: input.budgetTokens ?? ChangeDigest.defaultBudgetTokens)
        }
        let (t, deps) = try await store.details(input.id)
        return TaskJSON.detail(
            t, deps, notes: try await store.notes(of: t.id), descriptionLimit: TaskJSON.mcpDescriptionLimit,
            offset: input.offset ?? 0)
    }
}

struct GetInput: Decodable {
    var id: TaskID
    var offset: Int?
    var brief: Bool?
    var budgetTokens: Int?
}

/// A tool that takes just a task id.
struct IDInput: Decodable {
    var id: TaskID
}
