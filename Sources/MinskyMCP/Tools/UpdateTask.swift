import MinskyCore

extension Tool {
    static let updateTask = Tool(
        name: "update_task", title: "Update a task",
        description:
            "Change fields (metadata: JSON merge patch; parentId null detaches). expectedVersion refuses stale writes.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "expectedVersion": ToolSchema.expectedVersion,
                "title": ToolSchema.string(maxLength: TaskRules.maxTitleCharacters), "description": ToolSchema.string(),
                "priority": ToolSchema.priority, "status": ToolSchema.status, "tags": ToolSchema.tags,
                "addTags": ToolSchema.tags, "removeTags": ToolSchema.tags, "metadata": ["type": "object"],
                "parentId": ["type": ["string", "null"]], "assignee": ToolSchema.string("\"\" clears"),
            ], required: ["id"]),
        outputSchema: ToolSchema.task,
        // Replaces fields; the same change again changes nothing (no new version).
        annotations: .write(destructive: true, idempotent: true)
    ) { args, ctx in
        var p = TaskPatch()
        p.title = args.string("title")
        p.description = args.string("description")
        p.priority = try args.priority("priority")
        p.status = try args.status("status")
        p.tags = args.strings("tags")
        p.addTags = args.strings("addTags") ?? []
        p.removeTags = args.strings("removeTags") ?? []
        p.metadata = args["metadata"]
        if args.values["parentId"] == .null {
            p.parent = .clear
        } else if let parent = try args.id("parentId") {
            p.parent = .set(parent)
        }
        p.assignee = args.string("assignee")
        let t = try await ctx.store().update(
            try args.requiredID("id"), p, expectedVersion: args.int("expectedVersion").map(Int64.init))
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
