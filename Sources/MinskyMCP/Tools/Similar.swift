import MinskyAI
import MinskyCore

extension Tool {
    static let similar = Tool(
        name: "similar", title: "Find similar tasks",
        description: "Tasks closest in meaning to text (embeddings; embeds changed tasks first). Scores are cosine similarity.",
        inputSchema: ToolSchema.object(["text": ToolSchema.string(maxLength: 4000), "limit": ToolSchema.integer(min: 1, max: 50)], required: ["text"]),
        outputSchema: ToolSchema.output(["tasks": ToolSchema.array(ToolSchema.task)], required: ["tasks"]),
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: true, openWorld: true)
    ) { args, ctx in
        guard let client = try ctx.services.embeddings?() else { throw MinskyError(.notConfigured, "semantic search is not available in this server") }
        let store = try await ctx.store()
        _ = try await client.embedChanged(store: store, all: false)
        var out: [JSONValue] = []
        for hit in try await client.similar(to: args.string("text") ?? "", store: store, k: args.int("limit") ?? 5) {
            var t = TaskJSON.compact(try await store.get(hit.id)).objectValue ?? [:]
            t["score"] = .double((Double(hit.score) * 1000).rounded() / 1000)
            out.append(.object(t))
        }
        return ["tasks": .array(out)]
    }
}
