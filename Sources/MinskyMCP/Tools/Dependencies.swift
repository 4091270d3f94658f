import MinskyCore

extension Tool {
    static let dependencyInput = ToolSchema.object(
        ["taskId": ToolSchema.string("the task that waits"), "dependsOn": ToolSchema.string("the task it waits for")],
        required: ["taskId", "dependsOn"])
    static let dependencyOutput = ToolSchema.output(
        ["taskId": ["type": "string"], "dependsOn": ["type": "string"]], required: ["taskId", "dependsOn"])

    static let addDependency = Tool(
        name: "add_dependency", title: "Add a dependency",
        description: "taskId waits for dependsOn. Cycles are refused with the cycle named.",
        inputSchema: dependencyInput, outputSchema: dependencyOutput,
        annotations: .write(idempotent: true)
    ) { args, ctx in
        let d = try await ctx.store().addDependency(
            try args.requiredID("taskId"), dependsOn: try args.requiredID("dependsOn"))
        return ["taskId": .string(d.taskId.rawValue), "dependsOn": .string(d.dependsOn.rawValue)]
    }

    static let removeDependency = Tool(
        name: "remove_dependency", title: "Remove a dependency",
        description: "taskId no longer waits for dependsOn.",
        inputSchema: dependencyInput, outputSchema: dependencyOutput,
        annotations: .write(destructive: true, idempotent: true)
    ) { args, ctx in
        let t = try args.requiredID("taskId")
        let d = try args.requiredID("dependsOn")
        try await ctx.store().removeDependency(t, dependsOn: d)
        return ["taskId": .string(t.rawValue), "dependsOn": .string(d.rawValue)]
    }
}
