import MinskyAI
import MinskyCore

extension Tool {
    static let decomposeTask = Tool(
        name: "decompose_task", title: "Decompose a task",
        description:
            "Split a task into subtasks or plan a document into a tree (model or sampling); else instructions: call again with plan.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "max": ToolSchema.integer(min: 1, max: 50),
                "guidance": ToolSchema.string(maxLength: TaskRules.maxGuidanceCharacters),
                "document": ToolSchema.string("markdown"), "dryRun": ToolSchema.boolean(),
                "plan": [
                    "type": "object",
                    "description": "your answer: {subtasks:[…]}",
                ],
            ]),
        outputSchema: ToolSchema.output(
            [
                "needsAnswer": ["type": "boolean"], "parentId": ["type": "string"],
                "subtasks": ToolSchema.array(ToolSchema.task), "model": ["type": "string"],
                "instructions": ["type": "string"], "answerSchema": ["type": "object"],
                "proposalId": ["type": "string"],
            ], required: ["needsAnswer"]),
        // Adds subtasks (never duplicates of existing ones); may ask the model server.
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: false, openWorld: true)
    ) { (input: DecomposeInput, ctx) in
        _ = try TaskRules.checkGuidance(input.guidance)
        let store = try await ctx.store()
        if let document = input.document { return try await planDocument(document, input, ctx, store) }
        guard let id = input.id else {
            throw MinskyError.invalid("id", "give id (the task to split) or document (requirements to plan)")
        }
        let parent = try await store.get(id)
        let max = Decomposer.maxSubtasks(requested: input.max, for: parent)
        let existing = try await store.listAll(TaskQuery(parent: .task(parent.id), limit: TaskQuery.maxLimit))
        let plan: DecompositionPlan
        if let answer = input.plan {
            plan = DecompositionPlan(
                subtasks: try Decomposer.checkAnswer(answer, max: max), model: "agent", attempts: 1, usage: [])
        } else if let provider = try ctx.model() {
            ctx.progress(0, total: 2, message: "asking \(provider.name)")
            plan = try await Decomposer.plan(
                task: parent, maxSubtasks: max, guidance: input.guidance, existing: existing,
                examples: try await store.calibration(limit: Calibration.promptSample).examples(),
                provider: provider.recording(to: store, purpose: "decompose", taskId: parent.id),
                progress: { chars in
                    ctx.progress(
                        Double(min(chars, 1_000_000)) / 1_000_000, total: 2,
                        message: "the model has written \(chars) characters")
                })
            ctx.progress(1, total: 2, message: "writing \(plan.subtasks.count) subtasks")
        } else {
            return [
                "needsAnswer": true,
                "instructions": .string(
                    Decomposer.instructions(
                        parent, max: max, guidance: input.guidance, existing: existing,
                        examples: try await store.calibration(limit: Calibration.promptSample).examples())),
                "answerSchema": Decomposer.schema(max: max),
            ]
        }
        let created = try await Decomposer.apply(plan, to: parent, store: store)
        ctx.progress(2, total: 2, message: nil)
        return DecomposeResult.json(
            parent: parent, subtasks: created.map(TaskJSON.compact), plan: plan)
    }

    /// `decompose_task` with `document`: `minsky plan` over MCP. The plan hangs under `id`, or a
    /// new task named after the document's first heading.
    static func planDocument(
        _ document: String, _ input: DecomposeInput, _ ctx: ToolContext, _ store: any MinskyStore
    ) async throws -> JSONValue {
        let root: TaskItem?
        if let id = input.id { root = try await store.get(id) } else { root = nil }
        let max = input.max ?? Planner.defaultMax
        let plan: DecompositionPlan
        if let answer = input.plan {
            plan = DecompositionPlan(
                subtasks: try Planner.checkAnswer(answer, max: max), model: "agent", attempts: 1, usage: [])
        } else if let provider = try ctx.model() {
            plan = try await Planner.plan(
                document: document, title: Planner.title(of: document, fallback: "Plan"), maxItems: max,
                guidance: input.guidance,
                provider: provider.recording(to: store, purpose: "plan", taskId: root?.id),
                progress: { part, parts in
                    ctx.progress(
                        Double(part - 1), total: Double(parts + 1), message: "planning part \(part) of \(parts)")
                })
        } else {
            return [
                "needsAnswer": true,
                "instructions": .string(Planner.instructions(max: max, guidance: input.guidance)),
                "answerSchema": Planner.schema(max: max),
            ]
        }
        let dryRun = input.dryRun ?? false
        let (parent, proposal, created) = try await Planner.store(
            plan, document: document, source: "a document", root: root, apply: !dryRun, in: store)
        guard let parent, !dryRun else {
            // Stored for review; nothing else written (`tasks proposals show|apply|discard ID`).
            var o: [String: JSONValue] = [
                "needsAnswer": false, "proposalId": .string(proposal.id), "model": .string(plan.model),
                "subtasks": .array(plan.subtasks.map { ["title": .string($0.title)] }),
            ]
            if !plan.repairs.isEmpty { o["repairs"] = .array(plan.repairs.map(JSONValue.string)) }
            if let parent { o["parentId"] = .string(parent.id.rawValue) }
            return .object(o)
        }
        return DecomposeResult.json(
            parent: parent, subtasks: created.map(TaskJSON.compact), plan: plan)
    }

    static let scoreComplexity = Tool(
        name: "score_complexity", title: "Score complexity",
        description:
            "Rate a task 1-10 (reasoning, subtask count; stored). Without a model: instructions, then call again with answer.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id,
                "answer": [
                    "type": "object",
                    "description": "your answer (answerSchema)",
                ],
            ],
            required: ["id"]),
        outputSchema: ToolSchema.output(
            [
                "needsAnswer": ["type": "boolean"], "id": ["type": "string"], "score": ["type": "integer"],
                "recommendedSubtasks": ["type": "integer"],
                "reasoning": ["type": "string"], "model": ["type": "string"], "instructions": ["type": "string"],
                "answerSchema": ["type": "object"],
            ], required: ["needsAnswer"]),
        // Replaces the stored score; a new model call may score differently.
        annotations: ToolAnnotations(readOnly: false, destructive: true, idempotent: false, openWorld: true)
    ) { (input: ScoreInput, ctx) in
        let store = try await ctx.store()
        let task = try await store.get(input.id)
        let score: ComplexityScore
        if let answer = input.answer {
            score = try ComplexityScorer.check(answer, model: "agent")
        } else if let provider = try ctx.model() {
            ctx.progress(0, total: 1, message: "asking \(provider.name)")
            score = try await ComplexityScorer.score(
                task, examples: try await store.calibration(limit: Calibration.promptSample).examples(),
                provider: provider.recording(to: store, purpose: "complexity", taskId: task.id))
        } else {
            return [
                "needsAnswer": true,
                "instructions": .string(
                    Decomposer.system + "\n\n"
                        + ComplexityScorer.prompt(
                            task, examples: try await store.calibration(limit: Calibration.promptSample).examples())),
                "answerSchema": ComplexityScorer.schema,
            ]
        }
        _ = try await ComplexityScorer.store(score, on: task.id, in: store)
        var result = ComplexityScorer.json(score, taskId: task.id).objectValue ?? [:]
        result["needsAnswer"] = false
        return .object(result)
    }
}

struct DecomposeInput: Decodable {
    var id: TaskID?
    var max: Int?
    var guidance: String?
    var document: String?
    var dryRun: Bool?
    /// The agent's own answer (checked like a model's).
    var plan: JSONValue?
}

struct ScoreInput: Decodable {
    var id: TaskID
    var answer: JSONValue?
}
