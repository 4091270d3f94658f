import MinskyCore

extension Tool {
    static let dependencyInput = ToolSchema.object(
        ["taskId": ToolSchema.string(), "dependsOn": ToolSchema.string()],
        required: ["taskId", "dependsOn"])
    static let dependencyOutput = ToolSchema.output(
        ["taskId": ["type": "string"], "dependsOn": ["type": "string"]], required: ["taskId", "dependsOn"])

    static let addDependency = Tool(
        name: "add_dependency", title: "Add a dependency",
        description: "taskId waits for dependsOn. Cycles are refused with the cycle named.",
        inputSchema: dependencyInput, outputSchema: dependencyOutput,
        annotations: .write(idempotent: true)
    ) { (input: DependencyInput, ctx) in
        let d = try await ctx.store().addDependency(input.taskId, dependsOn: input.dependsOn)
        return ["taskId": .string(d.taskId.rawValue), "dependsOn": .string(d.dependsOn.rawValue)]
    }

    static let removeDependency = Tool(
        name: "remove_dependency", title: "Remove a dependency",
        description: "taskId no longer waits for dependsOn.",
        inputSchema: dependencyInput, outputSchema: dependencyOutput,
        annotations: .write(destructive: true, idempotent: true)
    ) { (input: DependencyInput, ctx) in
        try await ctx.store().removeDependency(input.taskId, dependsOn: input.dependsOn)
        return ["taskId": .string(input.taskId.rawValue), "dependsOn": .string(input.dependsOn.rawValue)]
    }
}

struct DependencyInput: Decodable {
    var taskId: TaskID
    var dependsOn: TaskID
}
