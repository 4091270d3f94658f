import MinskyCore

extension Tool {
    static let updateTask = Tool(
        name: "update_task", title: "Update a task",
        description:
            "Change fields (metadata: merge patch; parentId null detaches); note appends; check/uncheck criteria numbers (from 1).",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "expectedVersion": ToolSchema.expectedVersion,
                "title": ToolSchema.string(maxLength: TaskRules.maxTitleCharacters), "description": ToolSchema.string(),
                "priority": ToolSchema.priority, "status": ToolSchema.status, "tags": ToolSchema.tags,
                "addTags": ToolSchema.tags, "removeTags": ToolSchema.tags, "metadata": ["type": "object"],
                "parentId": ["type": ["string", "null"]], "assignee": ToolSchema.string("\"\" clears"),
                "note": ToolSchema.string(), "acceptance": ToolSchema.criteria, "check": ToolSchema.numbers,
                "uncheck": ToolSchema.numbers, "force": ToolSchema.boolean("DONE with unchecked criteria"),
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
        p.acceptance = args.strings("acceptance")?.map { AcceptanceCriterion($0) }
        for n in args.ints("check") ?? [] { p.check[n] = true }
        for n in args.ints("uncheck") ?? [] { p.check[n] = false }
        p.force = args.bool("force")
        let id = try args.requiredID("id")
        let note = args.string("note")
        if let note { try TaskRules.checkNote(note) }
        // A note alone is not an edit: the task comes back as it is (same version).
        if p.isEmpty, let note {
            let store = try await ctx.store()
            _ = try await store.addNote(id, body: note)
            return TaskJSON.full(try await store.get(id), descriptionLimit: TaskJSON.mcpDescriptionLimit)
        }
        let t = try await ctx.store().update(id, p, expectedVersion: args.int("expectedVersion").map(Int64.init))
        // The note goes after the change it may explain.
        if let note { _ = try await ctx.store().addNote(id, body: note) }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
