import MinskyCore

extension Tool {
    static let getTask = Tool(
        name: "get_task", title: "Get a task",
        description:
            "A task with blockedBy, blocks and notes. A long description is cut (descriptionTruncated); offset reads on.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id,
                "offset": ToolSchema.integer("read a long description from this character on", min: 0),
            ], required: ["id"]),
        outputSchema: TaskSchemas.detail,
        annotations: .read
    ) { args, ctx in
        let store = try await ctx.store()
        let (t, deps) = try await store.details(try args.requiredID("id"))
        return TaskJSON.detail(
            t, deps, notes: try await store.notes(of: t.id), descriptionLimit: TaskJSON.mcpDescriptionLimit,
            offset: args.int("offset") ?? 0)
    }
}
