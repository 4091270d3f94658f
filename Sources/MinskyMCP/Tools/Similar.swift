import MinskyAI
import MinskyCore

extension Tool {
    static let similar = Tool(
        name: "similar", title: "Find similar tasks",
        description:
            "Tasks closest in meaning to text (cosine score); embeds changed tasks first.",
        inputSchema: ToolSchema.object(
            ["text": ToolSchema.string(maxLength: 4000), "limit": ToolSchema.integer(min: 1, max: 50)],
            required: ["text"]),
        outputSchema: ToolSchema.taskList,
        // Stores embeddings of changed tasks and records each model call.
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: false, openWorld: true)
    ) { (input: SimilarInput, ctx) in
        guard let client = try ctx.services.embeddings?() else {
            throw MinskyError(.notConfigured, "semantic search is not available in this server")
        }
        let store = try await ctx.store()
        _ = try await client.embedChanged(store: store, all: false)
        let hits = try await client.similar(to: input.text, store: store, k: input.limit ?? 5)
        var tasks: [TaskItem] = []
        for hit in hits { tasks.append(try await store.get(hit.id)) }
        return TaskJSON.page(
            tasks, full: false, budgetCharacters: TaskJSON.mcpPageBudget,
            scores: Dictionary(hits.map { ($0.id, $0.score) }, uniquingKeysWith: max))
    }
}

struct SimilarInput: Decodable {
    var text: String
    var limit: Int?
}
