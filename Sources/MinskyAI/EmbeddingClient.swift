import Foundation
import MinskyCore

/// `/v1/embeddings` on any OpenAI-compatible server (OpenAI, Ollama, llama.cpp, vLLM …).
public struct EmbeddingClient: Sendable {
    public let config: ProviderConfig
    public let model: String

    public init(config: ProviderConfig, model: String) {
        self.config = config
        self.model = model
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] { try await embedCounting(texts).vectors }

    /// Embeds `texts`, recording the call (tokens, time, outcome) in `store`.
    public func embed(_ texts: [String], recordingIn store: any MinskyStore, purpose: String) async throws -> [[Float]]
    {
        try await AICallRecorder.recorded(
            store, purpose: purpose, provider: config.kind.rawValue, model: model, taskId: nil
        ) {
            let (vectors, tokens) = try await embedCounting(texts)
            return (vectors, model, tokens.map { LLMUsage(inputTokens: $0, outputTokens: 0) })
        }
    }

    func embedCounting(_ texts: [String]) async throws -> (vectors: [[Float]], tokens: Int?) {
        guard !texts.isEmpty else { return ([], 0) }
        let headers = config.bearerHeaders
        let body: JSONValue = ["model": .string(model), "input": .array(texts.map { .string($0) })]
        let json = try await HTTP.postJSON(
            url: config.baseURL.appendingPathComponent("embeddings"), headers: headers, body: body, config: config)
        guard let data = json["data"]?.arrayValue, data.count == texts.count else {
            throw MinskyError(
                .internal,
                "the embeddings answer has \(json["data"]?.arrayValue?.count ?? 0) vectors for \(texts.count) inputs")
        }
        let ordered = data.sorted { ($0["index"]?.intValue ?? 0) < ($1["index"]?.intValue ?? 0) }
        let tokens = json["usage"]?["prompt_tokens"]?.intValue.map(Int.init)
        return (
            try ordered.map { item in
                guard let v = item["embedding"]?.arrayValue?.compactMap({ $0.doubleValue.map(Float.init) }), !v.isEmpty
                else {
                    throw MinskyError(.internal, "an embedding in the answer is empty or not numbers")
                }
                return v
            }, tokens
        )
    }

    /// Embeds every task whose content changed since its stored embedding (or all with `all`).
    public func embedChanged(store: any MinskyStore, all: Bool, batch: Int = 64, progress: ((Int, Int) -> Void)? = nil)
        async throws -> Int
    {
        let stored = try await store.embeddingHashes(model: model)
        let todo = try await store.listAll().filter { all || stored[$0.id] != TaskEmbedding.contentHash($0) }
        var done = 0
        for start in stride(from: 0, to: todo.count, by: batch) {
            let slice = Array(todo[start..<min(todo.count, start + batch)])
            let vectors = try await embed(
                slice.map { $0.title + "\n" + $0.description }, recordingIn: store, purpose: "embed")
            try await store.saveEmbeddings(
                zip(slice, vectors).map {
                    TaskEmbedding(taskId: $0.id, model: model, contentHash: TaskEmbedding.contentHash($0), vector: $1)
                })
            done += slice.count
            progress?(done, todo.count)
        }
        return done
    }

    public func similar(to text: String, store: any MinskyStore, k: Int) async throws -> [(id: TaskID, score: Float)] {
        guard let q = try await embed([text], recordingIn: store, purpose: "search").first else { return [] }
        return try await store.similar(to: q, model: model, k: k)
    }
}
