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
            "force": ToolSchema.boolean("despite blockers, held paths"),
        ]),
        outputSchema: ToolSchema.task,
        // Sets status and assignee (replacing a lapsed claim); a repeat extends the claim.
        annotations: .write(destructive: true)
    ) { (input: ClaimInput, ctx) in
        let store = try await ctx.store()
        let owner = input.owner ?? ctx.defaultOwner
        let ttl = input.ttlSeconds.map(Double.init)
        func id() throws -> TaskID {
            guard let id = input.id else {
                throw MinskyError.invalid("id", "\(input.action.rawValue) needs the id of the claimed task")
            }
            return id
        }
        let t: TaskItem
        switch input.action {
        case .heartbeat:
            t = try await store.heartbeat(try id(), owner: owner, ttl: ttl ?? 1800)
        case .release:
            t = try await store.release(try id(), owner: owner)
        case .claim:
            if let id = input.id {
                t = try await store.claim(id, owner: owner, ttl: ttl, force: input.force ?? false)
            } else {
                guard let next = try await store.claimNext(owner: owner, ttl: ttl) else {
                    let why = try await store.notReadyReport(filter: ReadyFilter(owner: owner))
                    throw MinskyError(.notFound, "nothing to claim. " + why.summary, field: "id")
                }
                t = next
            }
        }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}

struct ClaimInput: Decodable {
    enum Action: String, Decodable { case claim, heartbeat, release }
    var id: TaskID?
    var owner: String?
    var action: Action = .claim
    var ttlSeconds: Int?
    var force: Bool?

    enum Keys: String, CodingKey { case id, owner, action, ttlSeconds, force }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        id = try c.decodeIfPresent(TaskID.self, forKey: .id)
        owner = try c.decodeIfPresent(String.self, forKey: .owner)
        action = try c.decodeIfPresent(Action.self, forKey: .action) ?? .claim
        ttlSeconds = try c.decodeIfPresent(Int.self, forKey: .ttlSeconds)
        force = try c.decodeIfPresent(Bool.self, forKey: .force)
    }
}
