import MinskyCore

extension Tool {
    static let getTask = Tool(
        name: "get_task", title: "Get a task",
        description:
            "A task with blockedBy and blocks. A long description is cut (descriptionTruncated); offset reads on.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id,
                "offset": ToolSchema.integer("read a long description from this character on", min: 0),
            ], required: ["id"]),
        outputSchema: TaskSchemas.detail,
        annotations: .read
    ) { args, ctx in
        let (t, deps) = try await ctx.store().details(try args.requiredID("id"))
        return TaskJSON.detail(t, deps, descriptionLimit: TaskJSON.mcpDescriptionLimit, offset: args.int("offset") ?? 0)
    }
}
