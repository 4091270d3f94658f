import MinskyCore

extension Tool {
    static let deleteTask = Tool(
        name: "delete_task", title: "Delete a task",
        description: "Delete a task and its dependency links; cascade=true also deletes its subtasks.",
        inputSchema: ToolSchema.object(["id": ToolSchema.id, "cascade": ToolSchema.boolean()], required: ["id"]),
        outputSchema: ToolSchema.output(["deleted": ToolSchema.array(ToolSchema.string())], required: ["deleted"]),
        // Deleting again finds nothing to delete: no further effect.
        annotations: .write(destructive: true, idempotent: true),
        adminOnly: true
    ) { args, ctx in
        let ids = try await ctx.store().delete(try args.requiredID("id"), cascade: args.bool("cascade"))
        return ["deleted": .array(ids.map { .string($0.rawValue) })]
    }
}
