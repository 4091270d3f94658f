import MinskyCore

extension Tool {
    static let nextTask = Tool(
        name: "next_task", title: "Next ready task",
        description:
            "Ready tasks (TODO, blockers done, no open subtasks), most urgent first. To take one, claim_task without id.",
        inputSchema: ToolSchema.object(["limit": ToolSchema.integer(min: 1, max: 20)]),
        outputSchema: ToolSchema.taskList,
        annotations: .read
    ) { args, ctx in
        let ready = try await ctx.store().nextReady(limit: args.int("limit") ?? 1)
        return TaskJSON.page(ready, full: true, budgetCharacters: TaskJSON.mcpPageBudget)
    }
}
