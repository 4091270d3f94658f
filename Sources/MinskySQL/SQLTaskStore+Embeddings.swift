import MinskyCore
import Synchronization

/// The matrices a store process has read, keyed by model, valid while the store's embedding
/// generation counter is unchanged (stores whose dialect keeps one).
struct VectorState: Sendable {
    var matrices: [String: (generation: Int64, matrix: any SearchableVectors)] = [:]
}

extension SQLTaskStore {
    /// Rows per INSERT: one round trip for many embeddings, well under every bind limit.
    static var embeddingBatch: Int { 200 }

    public func saveEmbeddings(_ items: [TaskEmbedding]) async throws {
        guard !items.isEmpty else { return }
        for e in items {
            guard !e.vector.isEmpty, e.vector.allSatisfy(\.isFinite) else {
                throw MinskyError.invalid(
                    "vector",
                    "the embedding for \(e.taskId) is empty or holds NaN/infinity; check the embedding model's answer")
            }
        }
        let column = try await vectorIndex?.columnForSaving(
            models: Set(items.map(\.model)), dims: Set(items.map(\.vector.count)))
        let now = now()
        try await write { [self] c in
            for start in stride(from: 0, to: items.count, by: Self.embeddingBatch) {
                let batch = items[start..<min(items.count, start + Self.embeddingBatch)]
                for e in batch { try requireExists(c, e.taskId, field: "taskId") }
                var s: SQL =
                    "INSERT INTO task_embeddings (task_id, model, dims, content_hash, vector, updated_at\(raw: column.map { ", " + $0.name } ?? "")) VALUES "
                for (i, e) in batch.enumerated() {
                    s += """
                        \(raw: i == 0 ? "" : ", ")(\(e.taskId), \(text: e.model), \(int: e.vector.count), \(text: e.contentHash), \
                        \(blob: TaskEmbedding.bytes(e.vector)), \(now)
                        """
                    if let column { s += ", \(column.value(e.vector))" }
                    s += ")"
                }
                s += """
                     ON CONFLICT (task_id) DO UPDATE SET model = EXCLUDED.model, dims = EXCLUDED.dims, content_hash = EXCLUDED.content_hash, \
                    vector = EXCLUDED.vector, updated_at = EXCLUDED.updated_at
                    """
                if let column { s += ", \(raw: column.name) = EXCLUDED.\(raw: column.name)" }
                try c.execute(s)
                for e in batch { try track(c, .embedding, e.taskId.rawValue, changed: []) }
            }
        }
    }

    public func embeddingHashes(model: String) async throws -> [TaskID: String] {
        try await read { c in
            var out: [TaskID: String] = [:]
            for r in try c.query("SELECT task_id, content_hash FROM task_embeddings WHERE model = \(text: model)") {
                out[TaskID(trusted: try r.text("task_id"))] = try r.text("content_hash")
            }
            return out
        }
    }

    public func similar(to query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)] {
        guard k > 0, !query.isEmpty, query.allSatisfy(\.isFinite) else { return [] }
        if let hits = try await vectorIndex?.search(query, model: model, k: k) { return hits }
        return try await vectors(model: model).topK(query, k: k)
    }

    /// Read-only: reports what the next search would use without setting anything up.
    public func vectorSearchMethod() async -> String {
        await vectorIndex?.method() ?? "exact in-memory scan (SIMD, contiguous float32 matrix)"
    }

    /// Makes every stored embedding searchable through the backend's vector index now (pgvector:
    /// fills its column from the stored bytes, then builds each HNSW index in bulk) instead of on
    /// the first search: what an upgrade calls after the switch. A no-op without such an index.
    @discardableResult
    public func prepareVectorSearch() async throws -> (embeddings: Int, method: String) {
        let groups = try await read { c in
            try c.query("SELECT model, dims, count(*) AS n FROM task_embeddings GROUP BY model, dims").map {
                (try $0.text("model"), Int(try $0.int("dims")), Int(try $0.int("n")))
            }
        }
        let total = groups.map(\.2).reduce(0, +)
        if total > 0 { try await vectorIndex?.prepareAll(models: Set(groups.map(\.0)), dims: Set(groups.map(\.1))) }
        return (total, await vectorSearchMethod())
    }

    // MARK: The in-memory matrix (SQLite, and any store whose vector index cannot answer)

    /// Every vector of `model` as one contiguous normalised matrix. SQLite keeps it between
    /// calls while `embedding_generation` is unchanged, and in a `VectorFile` beside the store
    /// for the next process: a first search maps that file instead of reading every vector.
    func vectors(model: String) async throws -> any SearchableVectors {
        let file = driver.filePath.map { VectorFile.path(store: $0, model: model) }
        // The generation is a random value (migration 018): nil where the store keeps none.
        let (found, generation) = try await read { [self] c -> ((any SearchableVectors)?, Int64?) in
            guard d.countsEmbeddingChanges,
                let generation = try c.query("SELECT generation FROM embedding_generation").first?[0].int
            else { return (nil, nil) }
            if let hit = vectorState.withLock({ $0.matrices[model] }), hit.generation == generation {
                return (hit.matrix, generation)
            }
            if let file, let mapped = VectorFile.open(file, generation: generation) {
                vectorState.withLock { $0.matrices[model] = (generation, mapped) }
                return (mapped, generation)
            }
            return (nil, generation)
        }
        if let found { return found }
        let m = try await read { [self] c in try readMatrix(c, model: model) }
        guard let generation else { return m }
        if let file, m.count >= VectorFile.minimumRows {
            do {
                try VectorFile.write(m, generation: generation, to: file)
            } catch {
                // Only a cache: the next process reads the store again.
            }
        }
        vectorState.withLock { $0.matrices[model] = (generation, m) }
        return m
    }

    /// Reads every vector of `model` from the store, normalising as it goes.
    func readMatrix(_ c: any SQLConnection, model: String) throws -> EmbeddingMatrix {
        var m = EmbeddingMatrix(ids: [], dims: 0, values: [])
        let count = Int(
            try c.query("SELECT count(*) FROM task_embeddings WHERE model = \(text: model)").first?[0].int ?? 0)
        m.ids.reserveCapacity(count)
        let rows: SQL =
            "SELECT task_id, \(raw: d.read("vector", as: .blob)) FROM task_embeddings WHERE model = \(text: model) ORDER BY task_id"
        try c.forEachTextAndBlob(rows) { id, bytes in
            if m.dims == 0 { m.values.reserveCapacity(count * bytes.count / 4) }
            m.appendRow(TaskID(trusted: id), bytes: bytes)
        }
        return m
    }

}

// MARK: Model calls

extension SQLTaskStore {
    public func recordAICall(_ a: AICall) async throws {
        _ = try await write { c in
            try c.execute(
                """
                INSERT INTO ai_calls (id, at, purpose, provider, model, task_id, input_tokens, output_tokens, duration_ms, outcome) \
                VALUES (\(text: a.id), \(a.at), \(text: a.purpose), \(text: a.provider), \(text: a.model), \(a.taskId), \
                \(a.inputTokens.map { .int(Int64($0)) } ?? .null, as: .integer), \(a.outputTokens.map { .int(Int64($0)) } ?? .null, as: .integer), \
                \(int: a.durationMs), \(text: a.outcome))
                """)
        }
    }

    public func aiCalls(limit: Int) async throws -> [AICall] {
        try await read { [self] c in
            let cols =
                "id, \(d.select("at", as: .timestamp)), purpose, provider, model, task_id, input_tokens, output_tokens, duration_ms, outcome"
            return try c.query(
                "SELECT \(raw: cols) FROM ai_calls ORDER BY at DESC, id DESC LIMIT \(raw: String(max(0, limit)))"
            ).map { r in
                AICall(
                    id: try r.text("id"), at: try r.timestamp("at"), purpose: try r.text("purpose"),
                    provider: try r.text("provider"), model: try r.text("model"),
                    taskId: try r.optionalText("task_id").map(TaskID.init(trusted:)),
                    inputTokens: try r.value("input_tokens").int.map(Int.init),
                    outputTokens: try r.value("output_tokens").int.map(Int.init),
                    durationMs: Int(try r.int("duration_ms")), outcome: try r.text("outcome"))
            }
        }
    }

    public func aiUsage() async throws -> [AIUsage] {
        try await read { c in
            try c.query(
                """
                SELECT provider, model, purpose, count(*) AS calls, sum(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS failed,
                       coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens
                FROM ai_calls GROUP BY provider, model, purpose
                ORDER BY coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) DESC, provider, model, purpose
                """
            ).map { r in
                AIUsage(
                    provider: try r.text("provider"), model: try r.text("model"), purpose: try r.text("purpose"),
                    calls: Int(try r.int("calls")), failed: Int(try r.int("failed")),
                    inputTokens: Int(try r.int("input_tokens")), outputTokens: Int(try r.int("output_tokens")))
            }
        }
    }
}
