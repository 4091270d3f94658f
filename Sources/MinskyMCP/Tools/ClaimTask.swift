import MinskyCore

extension Tool {
    static let claimTask = Tool(
        name: "claim_task", title: "Claim a task",
        description:
            "Lease a task: claim (no id: the next ready one) sets IN-PROGRESS; heartbeat extends; release returns it.",
        inputSchema: ToolSchema.object([
            "id": ToolSchema.id, "owner": ToolSchema.string(maxLength: TaskRules.maxAssigneeCharacters),
            "action": ["type": "string", "enum": ["claim", "heartbeat", "release"]],
            "ttlSeconds": ToolSchema.integer(
                "lease; heartbeat default 1800", min: 1, max: Int(TaskRules.maxClaimSeconds)),
            "force": ["type": "boolean"],
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
                t = try await store.claim(id, owner: owner, ttl: ttl, force: args.bool("force"))
            } else {
                guard let next = try await store.claimNext(owner: owner, ttl: ttl) else {
                    let why = try await store.notReadyReport(filter: ReadyFilter())
                    throw MinskyError(.notFound, "nothing to claim. " + why.summary, field: "id")
                }
                t = next
            }
        }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}
