import MinskyCore

/// A backend's own index for search by meaning, kept beside the portable float32 bytes every
/// store holds (pgvector's HNSW on PostgreSQL). The shared store asks it "can you?" at each
/// step and falls back to its exact in-memory scan whenever the answer is no.
public protocol VectorIndex: Sendable {
    /// Sets the index up for embeddings of these models and dimension counts, if it can, and
    /// returns the column it keeps beside the bytes (written in the same statement), or nil.
    func columnForSaving(models: Set<String>, dims: Set<Int>) async throws -> VectorColumn?
    /// The `k` nearest of `model`, best first; nil when the index cannot answer.
    func search(_ query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)]?
    /// How searches run, for `doctor` (read-only: sets nothing up).
    func method() async -> String
    /// Makes every stored embedding searchable now (after a bulk load such as an upgrade).
    func prepareAll(models: Set<String>, dims: Set<Int>) async throws
}

/// A column a vector index keeps in `task_embeddings`, and the SQL of its value for a vector.
public struct VectorColumn: Sendable {
    public let name: String
    public let value: @Sendable ([Float]) -> SQL

    public init(name: String, value: @escaping @Sendable ([Float]) -> SQL) {
        self.name = name
        self.value = value
    }
}
