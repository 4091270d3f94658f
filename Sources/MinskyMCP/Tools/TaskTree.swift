import MinskyCore

extension Tool {
    static let taskTree = Tool(
        name: "task_tree", title: "Task tree",
        description:
            "Subtasks nested under parents, with blockedBy ids (no id: whole store). Cut trees say omittedDescendants.",
        inputSchema: ToolSchema.object(["id": ToolSchema.string("root task")]),
        outputSchema: TaskSchemas.tree,
        annotations: .read
    ) { (input: TreeInput, ctx) in
        TaskJSON.tree(try await ctx.store().tree(root: input.id), full: false, budgetCharacters: TaskJSON.mcpPageBudget)
    }
}

struct TreeInput: Decodable {
    var id: TaskID?
}
