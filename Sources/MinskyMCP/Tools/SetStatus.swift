import MinskyCore

extension Tool {
    static let setStatus = Tool(
        name: "set_status", title: "Set a task's status",
        description: "Move a task to TODO, IN-PROGRESS, IN-REVIEW, DONE, BLOCKED or CLOSED.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "status": ToolSchema.status, "expectedVersion": ToolSchema.expectedVersion,
                "force": ToolSchema.boolean("DONE with unchecked criteria"),
            ],
            required: ["id", "status"]),
        outputSchema: ToolSchema.task,
        // Replaces the status; the same status again changes nothing (no new version).
        annotations: .write(destructive: true, idempotent: true)
    ) { args, ctx in
        let status = try args.status("status") ?? .todo
        var patch = TaskPatch(status: status)
        patch.force = args.bool("force")
        let t = try await ctx.store().update(
            try args.requiredID("id"), patch, expectedVersion: args.int("expectedVersion").map(Int64.init))
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
