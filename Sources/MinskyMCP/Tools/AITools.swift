import MinskyAI
import MinskyCore

extension Tool {
    static let decomposeTask = Tool(
        name: "decompose_task", title: "Decompose a task",
        description:
            "Split a task into subtasks (configured model, or yours by sampling); else returns instructions: call again with plan.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "max": ToolSchema.integer(min: 1, max: 20),
                "guidance": ToolSchema.string(),
                "plan": [
                    "type": "object",
                    "description": "your own answer: {subtasks:[{title,description,complexity,dependsOn}]}",
                ],
            ], required: ["id"]),
        outputSchema: ToolSchema.output(
            [
                "needsAnswer": ["type": "boolean"], "parentId": ["type": "string"],
                "subtasks": ToolSchema.array(ToolSchema.task), "model": ["type": "string"],
                "instructions": ["type": "string"], "answerSchema": ["type": "object"],
            ], required: ["needsAnswer"]),
        // Adds subtasks (never duplicates of existing ones); may ask the model server.
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: false, openWorld: true)
    ) { args, ctx in
        let store = try await ctx.store()
        let parent = try await store.get(try args.requiredID("id"))
        let max = Decomposer.maxSubtasks(requested: args.int("max"), for: parent)
        let existing = try await store.listAll(TaskQuery(parent: .task(parent.id), limit: TaskQuery.maxLimit))
        let plan: DecompositionPlan
        if let answer = args["plan"] {
            plan = DecompositionPlan(
                subtasks: try Decomposer.checkAnswer(answer, max: max), model: "agent", attempts: 1, usage: [])
        } else if let provider = try ctx.model() {
            ctx.progress(0, total: 2, message: "asking \(provider.name)")
            plan = try await Decomposer.plan(
                task: parent, maxSubtasks: max, guidance: args.string("guidance"), existing: existing,
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
                    Decomposer.instructions(parent, max: max, guidance: args.string("guidance"), existing: existing)),
                "answerSchema": Decomposer.schema(max: max),
            ]
        }
        let created = try await Decomposer.apply(plan, to: parent, store: store)
        ctx.progress(2, total: 2, message: nil)
        return DecomposeResult.json(
            parent: parent, subtasks: created.map(TaskJSON.compact), model: plan.model, attempts: plan.attempts)
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
                    "description": "your own {score,reasoning,recommendedSubtasks,decompositionPrompt}",
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
    ) { args, ctx in
        let store = try await ctx.store()
        let task = try await store.get(try args.requiredID("id"))
        let score: ComplexityScore
        if let answer = args["answer"] {
            score = try ComplexityScorer.check(answer, model: "agent")
        } else if let provider = try ctx.model() {
            ctx.progress(0, total: 1, message: "asking \(provider.name)")
            score = try await ComplexityScorer.score(
                task, provider: provider.recording(to: store, purpose: "complexity", taskId: task.id))
        } else {
            return [
                "needsAnswer": true,
                "instructions": .string(Decomposer.system + "\n\n" + ComplexityScorer.prompt(task)),
                "answerSchema": ComplexityScorer.schema,
            ]
        }
        _ = try await ComplexityScorer.store(score, on: task.id, in: store)
        var result = ComplexityScorer.json(score, taskId: task.id).objectValue ?? [:]
        result["needsAnswer"] = false
        return .object(result)
    }
}
