import MinskyCore

extension Tool {
    static let createTaskProperties: [String: JSONValue] = [
        "title": ToolSchema.string(maxLength: TaskRules.maxTitleCharacters),
        "description": ToolSchema.string("markdown"),
        "priority": ToolSchema.priority, "status": ToolSchema.status, "tags": ToolSchema.tags,
        "metadata": ["type": "object"], "parentId": ToolSchema.string("parent task"),
        "dependsOn": ToolSchema.array(ToolSchema.string(), description: "blocker ids"),
        "acceptance": ToolSchema.criteria,
    ]

    static func draft(_ args: Arguments) throws -> NewTask {
        var d = NewTask(title: args.string("title") ?? "")
        d.description = args.string("description") ?? ""
        if let p = try args.priority("priority") { d.priority = p }
        if let s = try args.status("status") { d.status = s }
        d.tags = args.strings("tags") ?? []
        if let m = args["metadata"] { d.metadata = m }
        d.parentId = try args.id("parentId")
        d.dependsOn = try args.ids("dependsOn")
        d.acceptance = args.strings("acceptance") ?? []
        return d
    }

    static let createTask = Tool(
        name: "create_task", title: "Create a task",
        description: "Create a task (optionally a subtask, with blockers). Returns it with its new id.",
        inputSchema: ToolSchema.object(createTaskProperties, required: ["title"]),
        outputSchema: ToolSchema.task,
        annotations: .write()
    ) { args, ctx in
        TaskJSON.full(try await ctx.store().create(try draft(args)), descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
