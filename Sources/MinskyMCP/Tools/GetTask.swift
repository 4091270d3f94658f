import MinskyCore

extension Tool {
    static let getTask = Tool(
        name: "get_task", title: "Get a task",
        description:
            "A task with blockedBy, blocks and notes. A long description is cut (descriptionTruncated); offset reads on.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id,
                "offset": ToolSchema.integer("description from this character", min: 0),
            ], required: ["id"]),
        outputSchema: TaskSchemas.detail,
        annotations: .read
    ) { (input: GetInput, ctx) in
        let store = try await ctx.store()
        let (t, deps) = try await store.details(input.id)
        return TaskJSON.detail(
            t, deps, notes: try await store.notes(of: t.id), descriptionLimit: TaskJSON.mcpDescriptionLimit,
            offset: input.offset ?? 0)
    }
}

struct GetInput: Decodable {
    var id: TaskID
    var offset: Int?
}

/// A tool that takes just a task id.
struct IDInput: Decodable {
    var id: TaskID
}
