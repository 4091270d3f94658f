import MinskyCore

extension Tool {
    static let claimTask = Tool(
        name: "claim_task", title: "Claim a task",
        description:
            "Atomically mark a task IN-PROGRESS for owner (without id: the next ready task nobody holds); refused while another owner's claim is unexpired.",
        inputSchema: ToolSchema.object([
            "id": ToolSchema.id, "owner": ToolSchema.string(maxLength: TaskRules.maxAssigneeCharacters),
            "ttlSeconds": ToolSchema.integer(
                "claim lifetime; omit for none", min: 1, max: Int(TaskRules.maxClaimSeconds)),
        ]),
        outputSchema: ToolSchema.task,
        // Sets status and assignee (replacing a lapsed claim); a repeat extends the claim.
        annotations: .write(destructive: true)
    ) { args, ctx in
        let store = try await ctx.store()
        let owner = args.string("owner") ?? ctx.defaultOwner
        let ttl = args.int("ttlSeconds").map(Double.init)
        let t: TaskItem
        if let id = try args.id("id") {
            t = try await store.claim(id, owner: owner, ttl: ttl)
        } else {
            guard let next = try await store.claimNext(owner: owner, ttl: ttl) else {
                throw MinskyError(
                    .notFound,
                    "no task is ready to claim (all done, blocked, or claimed); next_task and task_tree show the state",
                    field: "id")
            }
            t = next
        }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
