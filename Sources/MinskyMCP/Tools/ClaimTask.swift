import MinskyCore

extension Tool {
    static let claimTask = Tool(
        name: "claim_task", title: "Claim a task",
        description:
            "Claims are leases: claim (no id: the next ready task) marks it IN-PROGRESS for owner; heartbeat extends it; release gives it back.",
        inputSchema: ToolSchema.object([
            "id": ToolSchema.id, "owner": ToolSchema.string(maxLength: TaskRules.maxAssigneeCharacters),
            "action": ["type": "string", "enum": ["claim", "heartbeat", "release"]],
            "ttlSeconds": ToolSchema.integer(
                "lease length; claim: none if omitted, heartbeat: 1800", min: 1, max: Int(TaskRules.maxClaimSeconds)),
        ]),
        outputSchema: ToolSchema.task,
        // Sets status and assignee (replacing a lapsed claim); a repeat extends the claim.
        annotations: .write(destructive: true)
    ) { args, ctx in
        let store = try await ctx.store()
        let owner = args.string("owner") ?? ctx.defaultOwner
        let ttl = args.int("ttlSeconds").map(Double.init)
        let t: TaskItem
        switch args.string("action") ?? "claim" {
        case "heartbeat":
            t = try await store.heartbeat(try args.requiredID("id"), owner: owner, ttl: ttl ?? 1800)
        case "release":
            t = try await store.release(try args.requiredID("id"), owner: owner)
        default:
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
        }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
