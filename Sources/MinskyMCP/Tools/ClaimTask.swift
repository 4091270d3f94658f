import MinskyCore

extension Tool {
    static let claimTask = Tool(
        name: "claim_task", title: "Claim a task",
        description: "Atomically mark a task IN-PROGRESS for owner; refused while someone else holds an unexpired claim.",
        inputSchema: ToolSchema.object([
            "id": ToolSchema.id, "owner": ToolSchema.string(maxLength: TaskRules.maxAssigneeCharacters),
            "ttlSeconds": ToolSchema.integer("claim lifetime; omit for none", min: 1, max: Int(TaskRules.maxClaimSeconds)),
        ], required: ["id"]),
        outputSchema: ToolSchema.taskResult,
        annotations: .write(idempotent: true)
    ) { args, ctx in
        let t = try await ctx.store().claim(try args.requiredID("id"), owner: args.string("owner") ?? ctx.defaultOwner,
                                            ttl: args.int("ttlSeconds").map(Double.init))
        return ["task": TaskJSON.full(t)]
    }
}
