import MinskyCore
import Synchronization

/// What a store process knows about its embeddings: matrices read (SQLite, keyed by model, valid
/// while `embedding_generation` is unchanged) and whether pgvector serves searches (PostgreSQL).
struct VectorState: Sendable {
    var matrices: [String: (generation: Int64, matrix: EmbeddingMatrix)] = [:]
    var pgvector: PGVectorStatus = .unknown
    /// Dimensions that have an HNSW index (or could not get one) in this database.
    var indexedDims: Set<Int> = []
}

/// pgvector's text form of a vector, each value a C99 hexadecimal float (`0x1.8p-1`), which
/// pgvector's `strtof` reads back to the identical float32 — exact, and ~10× cheaper to write
/// than shortest decimals. Values must be finite (checked by the callers).
public enum PGVectorText {
    public static func literal(_ v: [Float]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(2 + v.count * 16)
        append(v.count, { v[$0].bitPattern }, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// From stored little-endian float32 bytes, straight into a COPY buffer.
    public static func append(littleEndian bytes: [UInt8], into out: inout [UInt8]) {
        bytes.withUnsafeBytes { raw in
            append(
                bytes.count / 4, { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) },
                into: &out)
        }
    }

    static let digits = Array("0123456789abcdef".utf8)

    static func append(_ count: Int, _ bits: (Int) -> UInt32, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for i in 0..<count {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let b = bits(i)
            if b & 0x8000_0000 != 0 { out.append(UInt8(ascii: "-")) }
            let exp = Int((b >> 23) & 0xFF)
            let mant = (b & 0x7F_FFFF) << 1  // 24 bits: six hex digits
            if exp == 0 && mant == 0 {
                out.append(UInt8(ascii: "0"))
                continue
            }
            out.append(contentsOf: [
                UInt8(ascii: "0"), UInt8(ascii: "x"), exp == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"),
                UInt8(ascii: "."),
            ])
            for shift in stride(from: 20, through: 0, by: -4) { out.append(digits[Int((mant >> UInt32(shift)) & 0xF)]) }
            out.append(UInt8(ascii: "p"))
            var e = exp == 0 ? -126 : exp - 127
            if e < 0 {
                out.append(UInt8(ascii: "-"))
                e = -e
            }
            if e >= 100 { out.append(UInt8(48 + e / 100)) }
            if e >= 10 { out.append(UInt8(48 + e / 10 % 10)) }
            out.append(UInt8(48 + e % 10))
        }
        out.append(UInt8(ascii: "]"))
    }
}

enum PGVectorStatus: Sendable, Equatable {
    case unknown
    /// The extension's schema: every name is qualified with it, whatever the search path.
    case ready(schema: String)
    case unavailable(String)
}

extension SQLTaskStore {
    /// Rows per INSERT: one round trip for many embeddings, well under every bind limit.
    static var embeddingBatch: Int { 200 }
    /// pgvector's HNSW index takes vectors of at most this many dimensions.
    static var hnswMaxDims: Int { 2000 }

    public func saveEmbeddings(_ items: [TaskEmbedding]) async throws {
        guard !items.isEmpty else { return }
        for e in items {
            guard !e.vector.isEmpty, e.vector.allSatisfy(\.isFinite) else {
                throw MinskyError.invalid(
                    "vector",
                    "the embedding for \(e.taskId) is empty or holds NaN/infinity; check the embedding model's answer")
            }
        }
        let vectorSchema: String? = d == .postgres ? await pgvectorSchema() : nil
        if let schema = vectorSchema {
            // Rows copied in without vectors are filled before any index exists to maintain row by row.
            for model in Set(items.map(\.model)) { try await fillMissingVectors(schema: schema, model: model) }
            for dims in Set(items.map(\.vector.count)) { await ensureHNSWIndex(schema: schema, dims: dims) }
        }
        let now = now()
        try await write { [self] c in
            for start in stride(from: 0, to: items.count, by: Self.embeddingBatch) {
                let batch = items[start..<min(items.count, start + Self.embeddingBatch)]
                for e in batch { try requireExists(c, e.taskId, field: "taskId") }
                var s: SQL =
                    "INSERT INTO task_embeddings (task_id, model, dims, content_hash, vector, updated_at\(raw: vectorSchema == nil ? "" : ", embedding")) VALUES "
                for (i, e) in batch.enumerated() {
                    s += """
                        \(raw: i == 0 ? "" : ", ")(\(e.taskId), \(text: e.model), \(int: e.vector.count), \(text: e.contentHash), \
                        \(blob: TaskEmbedding.bytes(e.vector)), \(now)
                        """
                    if let schema = vectorSchema {
                        s += ", \(text: PGVectorText.literal(e.vector))::\(raw: schema).vector"
                    }
                    s += ")"
                }
                s += """
                     ON CONFLICT (task_id) DO UPDATE SET model = EXCLUDED.model, dims = EXCLUDED.dims, content_hash = EXCLUDED.content_hash, \
                    vector = EXCLUDED.vector, updated_at = EXCLUDED.updated_at
                    """
                if vectorSchema != nil { s += ", embedding = EXCLUDED.embedding" }
                try c.execute(d, s)
            }
        }
    }

    public func embeddingHashes(model: String) async throws -> [TaskID: String] {
        try await read { [self] c in
            var out: [TaskID: String] = [:]
            for r in try c.query(d, "SELECT task_id, content_hash FROM task_embeddings WHERE model = \(text: model)") {
                out[TaskID(trusted: try Self.text(r, 0, "embedding"))] = try Self.text(r, 1, "embedding")
            }
            return out
        }
    }

    public func similar(to query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)] {
        guard k > 0, !query.isEmpty, query.allSatisfy(\.isFinite) else { return [] }
        if d == .postgres, let schema = await pgvectorSchema() {
            return try await pgvectorSearch(schema: schema, query: query, model: model, k: k)
        }
        return try await matrix(model: model).topK(query, k: k)
    }

    /// Read-only: reports what the next search would use without setting anything up.
    public func vectorSearchMethod() async -> String {
        if d == .sqlite { return "exact in-memory scan (SIMD, contiguous float32 matrix)" }
        switch vectorState.withLock({ $0.pgvector }) {
        case .ready: return "pgvector HNSW index (cosine)"
        case .unavailable(let why): return "exact in-memory scan: \(why)"
        case .unknown:
            guard let (schema, column, available) = try? await probePGVector() else {
                return "unknown (the store could not be read)"
            }
            let installed = schema != nil
            if installed && column { return "pgvector HNSW index (cosine)" }
            if installed || available { return "pgvector HNSW index (cosine), set up by the first embed or search" }
            return "exact in-memory scan: pgvector is not installed on this PostgreSQL server"
        }
    }

    /// PostgreSQL: makes every stored embedding searchable through pgvector now — fills the
    /// vector column from the stored bytes, then builds each HNSW index in bulk — instead of on
    /// the first search (what an upgrade calls after the switch). A no-op on SQLite.
    @discardableResult
    public func prepareVectorSearch() async throws -> (embeddings: Int, method: String) {
        let groups = try await read { [self] c in
            try c.query(d, "SELECT model, dims, count(*) FROM task_embeddings GROUP BY model, dims").map {
                (try Self.text($0, 0, "embedding"), Int($0[1].int ?? 0), Int($0[2].int ?? 0))
            }
        }
        let total = groups.map(\.2).reduce(0, +)
        if d == .postgres, total > 0, let schema = await pgvectorSchema() {
            for model in Set(groups.map(\.0)) { try await fillMissingVectors(schema: schema, model: model) }
            for dims in Set(groups.map(\.1)) { await ensureHNSWIndex(schema: schema, dims: dims) }
        }
        return (total, await vectorSearchMethod())
    }

    // MARK: The in-memory matrix (SQLite, and PostgreSQL without pgvector)

    /// Every vector of `model` in one contiguous normalised matrix, read straight from the stored
    /// bytes. SQLite keeps it between calls while `embedding_generation` is unchanged.
    func matrix(model: String) async throws -> EmbeddingMatrix {
        try await read { [self] c in
            var generation: Int64 = -1
            if d == .sqlite {
                generation = try c.query(d, "SELECT generation FROM embedding_generation").first?[0].int ?? -1
                if let hit = vectorState.withLock({ $0.matrices[model] }), hit.generation == generation {
                    return hit.matrix
                }
            }
            var m = EmbeddingMatrix(ids: [], dims: 0, values: [])
            let count = Int(
                try c.query(d, "SELECT count(*) FROM task_embeddings WHERE model = \(text: model)").first?[0].int ?? 0)
            m.ids.reserveCapacity(count)
            let rows: SQL =
                "SELECT task_id, \(raw: d.read("vector", as: .blob)) FROM task_embeddings WHERE model = \(text: model) ORDER BY task_id"
            try c.forEachTextAndBlob(SQLStatement(d, rows)) { id, bytes in
                if m.dims == 0 { m.values.reserveCapacity(count * bytes.count / 4) }
                m.appendRow(TaskID(trusted: id), bytes: bytes)
            }
            if generation >= 0 { vectorState.withLock { $0.matrices[model] = (generation, m) } }
            return m
        }
    }

    // MARK: pgvector

    func pgvectorStatus() async -> PGVectorStatus {
        let known = vectorState.withLock { $0.pgvector }
        if known != .unknown { return known }
        let status: PGVectorStatus
        do {
            status = try await preparePGVector()
        } catch {
            status = .unavailable("pgvector could not be set up (\((error as? MinskyError)?.message ?? "\(error)"))")
        }
        vectorState.withLock { $0.pgvector = status }
        return status
    }

    func pgvectorSchema() async -> String? {
        if case .ready(let schema) = await pgvectorStatus() { return schema }
        return nil
    }

    static func installedSchema(_ c: any SQLConnection) throws -> String? {
        try c.query(
            .postgres,
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
        ).first?[0].text
    }

    static func hasEmbeddingColumn(_ c: any SQLConnection) throws -> Bool {
        try !c.query(
            .postgres,
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('task_embeddings') AND attname = 'embedding' AND NOT attisdropped"
        ).isEmpty
            && c.query(.postgres, "SELECT to_regclass('task_embeddings_unvectored') IS NOT NULL").first?[0].text == "t"
    }

    /// Read-only: pgvector's schema if installed, whether the store's vector column (and its
    /// partial index) exist, whether the server offers the extension at all.
    func probePGVector() async throws -> (schema: String?, column: Bool, available: Bool) {
        try await driver.read { [self] c in
            (
                try Self.installedSchema(c), try Self.hasEmbeddingColumn(c),
                try !c.query(d, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").isEmpty
            )
        }
    }

    /// Makes sure pgvector is installed and `task_embeddings.embedding` exists (created by the
    /// first process that needs it; checked first so roles without DDL rights still search).
    func preparePGVector() async throws -> PGVectorStatus {
        let (schema, column, available) = try await probePGVector()
        if let schema, column { return .ready(schema: schema) }
        guard schema != nil || available else {
            return .unavailable("pgvector is not installed on this PostgreSQL server")
        }
        do {
            let ready = try await driver.write { [self] c in
                _ = try c.query(d, SQL(raw: AdvisoryLock.pgvectorSetup.transactionLock))
                if try Self.installedSchema(c) == nil { try c.execute(d, "CREATE EXTENSION IF NOT EXISTS vector") }
                guard let schema = try Self.installedSchema(c) else { return "" }
                if try !Self.hasEmbeddingColumn(c) {
                    for sql in Schema.pgvectorColumn(schema: schema) { try c.execute(d, SQL(raw: sql)) }
                }
                return schema
            }
            return ready.isEmpty
                ? .unavailable("pgvector is not installed on this PostgreSQL server") : .ready(schema: ready)
        } catch {
            let why = (error as? MinskyError)?.message ?? "\(error)"
            return .unavailable(
                "pgvector is available but could not be enabled (\(why)); a superuser can run CREATE EXTENSION vector")
        }
    }

    /// One HNSW cosine index per dimension count, on `embedding::vector(N)` of the rows with that
    /// many dimensions. Without it (no rights, too many dimensions) pgvector still answers exactly.
    /// Built CONCURRENTLY, outside any transaction, so writers and searches carry on meanwhile
    /// (searches scan exactly until it is ready); one builder at a time (a session advisory lock,
    /// tried, never waited for: whoever finds it taken just moves on and checks again next time).
    func ensureHNSWIndex(schema: String, dims: Int) async {
        guard dims > 0, dims <= Self.hnswMaxDims, !vectorState.withLock({ $0.indexedDims.contains(dims) }) else {
            return
        }
        let name = "task_embeddings_hnsw_\(dims)"
        let settled: Bool
        do {
            settled = try await driver.autocommit { [self] c in
                guard try c.query(d, SQL(raw: AdvisoryLock.hnswBuild.tryLock)).first?[0].text == "t" else {
                    return false
                }
                defer { _ = try? c.query(d, SQL(raw: AdvisoryLock.hnswBuild.unlock)) }
                // An index left invalid by an interrupted concurrent build is dropped and built again.
                if let valid = try c.query(
                    d, "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(\(text: name))"
                ).first?[0].text {
                    if valid == "t" { return true }
                    try c.execute(d, "DROP INDEX CONCURRENTLY IF EXISTS \(raw: name)")
                }
                // A build whose graph fits in maintenance_work_mem is several times faster: size it
                // for the rows there are (vector + ~300 bytes of graph each), 64 MB to 1 GB.
                let rows = Int(
                    try c.query(d, "SELECT count(*) FROM task_embeddings WHERE dims = \(int: dims)").first?[0].int ?? 0)
                let mb = min(1024, max(64, rows * (dims * 4 + 300) * 13 / 10 / 1_000_000 + 1))
                _ = try c.query(d, "SELECT set_config('maintenance_work_mem', \(text: "\(mb)MB"), false)")
                defer { _ = try? c.execute(d, "RESET maintenance_work_mem") }
                try c.execute(
                    d,
                    """
                    CREATE INDEX CONCURRENTLY IF NOT EXISTS \(raw: name) ON task_embeddings \
                    USING hnsw ((embedding::\(raw: schema).vector(\(raw: String(dims)))) \(raw: schema).vector_cosine_ops) WHERE dims = \(raw: String(dims))
                    """)
                return true
            }
        } catch {
            settled = true  // no rights (or no room): searches stay exact; not retried in this process
        }
        if settled { vectorState.withLock { _ = $0.indexedDims.insert(dims) } }
    }

    /// Fills `embedding` for rows written without it (copied by an upgrade, restored from a
    /// backup, written by a store that had no pgvector yet), from the stored bytes.
    /// Reads in a read transaction (so a store with nothing to fill never takes a write lock),
    /// writes only rows still unfilled (another process may be filling too).
    func fillMissingVectors(schema: String, model: String) async throws {
        while true {
            let rows = try await read { [self] c in
                try c.query(
                    d,
                    "SELECT task_id, \(raw: d.read("vector", as: .blob)) FROM task_embeddings WHERE embedding IS NULL AND model = \(text: model) LIMIT 1000"
                )
            }
            if rows.isEmpty { return }
            var ids: [UInt8] = Array("{".utf8)
            var vectors: [UInt8] = Array("{".utf8)
            for (i, r) in rows.enumerated() {
                if i > 0 {
                    ids.append(UInt8(ascii: ","))
                    vectors.append(UInt8(ascii: ","))
                }
                ids += Array("\"\(try Self.text(r, 0, "embedding"))\"".utf8)  // task ids: [A-Za-z0-9-] only
                vectors.append(UInt8(ascii: "\""))
                PGVectorText.append(littleEndian: d.blobBytes(r[1]), into: &vectors)
                vectors.append(UInt8(ascii: "\""))
            }
            ids.append(UInt8(ascii: "}"))
            vectors.append(UInt8(ascii: "}"))
            let idArray = String(decoding: ids, as: UTF8.self)
            let vectorArray = String(decoding: vectors, as: UTF8.self)
            try await write { [self] c in
                try c.execute(
                    d,
                    """
                    UPDATE task_embeddings t SET embedding = v.e::\(raw: schema).vector \
                    FROM (SELECT unnest(\(text: idArray)::text[]) AS id, unnest(\(text: vectorArray)::text[]) AS e) v \
                    WHERE t.task_id = v.id AND t.embedding IS NULL
                    """)
            }
        }
    }

    func pgvectorSearch(schema: String, query: [Float], model: String, k: Int) async throws -> [(
        id: TaskID, score: Float
    )] {
        let dims = query.count
        let literal = PGVectorText.literal(query)
        for _ in 0..<2 {
            // One read transaction: the (index-backed) check for rows still without a vector, then the search.
            let hits: [(id: TaskID, score: Float)]? = try await read { [self] c in
                if try !c.query(
                    d, "SELECT 1 FROM task_embeddings WHERE embedding IS NULL AND model = \(text: model) LIMIT 1"
                ).isEmpty {
                    return nil
                }
                // The candidate list must hold at least k; 100 keeps recall@10 high (BENCHMARKS.md).
                try c.execute(
                    d, "SELECT set_config('hnsw.ef_search', \(text: String(min(1000, max(100, 2 * k)))), true)")
                let vector = "\(schema).vector(\(dims))"
                return try c.query(
                    d,
                    """
                    SELECT task_id, embedding::\(raw: vector) OPERATOR(\(raw: schema).<=>) \(text: literal)::\(raw: vector) AS distance \
                    FROM task_embeddings WHERE dims = \(int: dims) AND model = \(text: model) ORDER BY distance LIMIT \(raw: String(k))
                    """
                ).map { r in
                    guard let distance = r[1].double else {
                        throw MinskyError(.internal, "pgvector returned a row without a distance")
                    }
                    return (TaskID(trusted: try Self.text(r, 0, "embedding")), Float(1 - distance))
                }
            }
            if let hits {
                // After any fill, so a store that arrived by upgrade builds its index once, in bulk.
                await ensureHNSWIndex(schema: schema, dims: dims)
                return hits
            }
            try await fillMissingVectors(schema: schema, model: model)
        }
        throw MinskyError(.conflict, "embeddings kept arriving without vectors while searching; try again")
    }
}

// MARK: Model calls

extension SQLTaskStore {
    public func recordAICall(_ a: AICall) async throws {
        try await write { [self] c in
            try c.execute(
                d,
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
                "id, \(d.read("at", as: .timestamp)), purpose, provider, model, task_id, input_tokens, output_tokens, duration_ms, outcome"
            return try c.query(
                d, "SELECT \(raw: cols) FROM ai_calls ORDER BY at DESC, id DESC LIMIT \(raw: String(max(0, limit)))"
            ).map { r in
                guard let ms = r[8].int else { throw MinskyError(.internal, "a stored model call has no duration") }
                return AICall(
                    id: try Self.text(r, 0, "model call"), at: try Self.timestamp(r, 1, "model call"),
                    purpose: try Self.text(r, 2, "model call"),
                    provider: try Self.text(r, 3, "model call"), model: try Self.text(r, 4, "model call"),
                    taskId: r[5].text.map(TaskID.init(trusted:)), inputTokens: r[6].int.map(Int.init),
                    outputTokens: r[7].int.map(Int.init),
                    durationMs: Int(ms), outcome: try Self.text(r, 9, "model call"))
            }
        }
    }

    public func aiUsage() async throws -> [AIUsage] {
        try await read { [self] c in
            try c.query(
                d,
                """
                SELECT provider, model, purpose, count(*), sum(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END),
                       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
                FROM ai_calls GROUP BY provider, model, purpose
                ORDER BY coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0) DESC, provider, model, purpose
                """
            ).map { r in
                AIUsage(
                    provider: try Self.text(r, 0, "usage"), model: try Self.text(r, 1, "usage"),
                    purpose: try Self.text(r, 2, "usage"),
                    calls: Int(r[3].int ?? 0), failed: Int(r[4].int ?? 0), inputTokens: Int(r[5].int ?? 0),
                    outputTokens: Int(r[6].int ?? 0))
            }
        }
    }
}
