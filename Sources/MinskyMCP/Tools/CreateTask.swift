import MinskyCore

extension Tool {
    static let createTaskProperties: [String: JSONValue] = [
        "title": ToolSchema.string(),
        "description": ToolSchema.string("markdown"),
        "priority": ToolSchema.priority, "status": ToolSchema.status, "tags": ToolSchema.tags,
        "metadata": ["type": "object"], "parentId": ToolSchema.string(),
        "dependsOn": ToolSchema.array(ToolSchema.string(), description: "blocker ids"),
        "acceptance": ToolSchema.criteria, "paths": ToolSchema.paths,
    ]

    static let createTask = Tool(
        name: "create_task", title: "Create a task",
        description: "Create a task (or subtask, with blockers); returns it with its id.",
        inputSchema: ToolSchema.object(createTaskProperties, required: ["title"]),
        outputSchema: ToolSchema.task,
        annotations: .write()
    ) { (draft: NewTask, ctx) in
        // The arguments are a new task as the core decodes it (the board's form decodes the same).
        TaskJSON.full(try await ctx.store().create(draft), descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
