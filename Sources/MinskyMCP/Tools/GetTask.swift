import MinskyCore

extension Tool {
    static let getTask = Tool(
        name: "get_task", title: "Get a task",
        description: "One task in full, with the tasks it waits for (blockedBy) and that wait for it (blocks).",
        inputSchema: ToolSchema.object(["id": ToolSchema.id], required: ["id"]),
        outputSchema: ToolSchema.output([
            "task": ToolSchema.task, "blockedBy": ToolSchema.array(ToolSchema.task), "blocks": ToolSchema.array(ToolSchema.task),
        ], required: ["task", "blockedBy", "blocks"]),
        annotations: .read
    ) { args, ctx in
        let (t, deps) = try await ctx.store().details(try args.requiredID("id"))
        return ["task": TaskJSON.full(t), "blockedBy": .array(deps.blockedBy.map(TaskJSON.edge)), "blocks": .array(deps.blocks.map(TaskJSON.edge))]
    }
}
