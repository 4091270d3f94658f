import MinskyCore

extension Tool {
    static let nextTask = Tool(
        name: "next_task", title: "Next ready task",
        description: "Ready tasks (TODO, blockers done, no open subtasks), most urgent first; claim=true takes the first atomically.",
        inputSchema: ToolSchema.object([
            "limit": ToolSchema.integer(min: 1, max: 20), "claim": ToolSchema.boolean(),
            "owner": ToolSchema.string(maxLength: TaskRules.maxAssigneeCharacters), "ttlSeconds": ToolSchema.integer(min: 1, max: Int(TaskRules.maxClaimSeconds)),
        ]),
        outputSchema: ToolSchema.output(["tasks": ToolSchema.array(ToolSchema.task)], required: ["tasks"]),
        annotations: .read
    ) { args, ctx in
        let store = try await ctx.store()
        if args.bool("claim") {
            let t = try await store.claimNext(owner: args.string("owner") ?? ctx.defaultOwner, ttl: args.int("ttlSeconds").map(Double.init))
            return ["tasks": .array(t.map { [TaskJSON.full($0)] } ?? [])]
        }
        return ["tasks": .array(try await store.nextReady(limit: args.int("limit") ?? 1).map(TaskJSON.full))]
    }
}
