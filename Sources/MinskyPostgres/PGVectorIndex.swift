import MinskyCore
import MinskySQL
import Synchronization

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

/// Search by meaning through pgvector: an `embedding vector` column beside the portable bytes
/// and one HNSW cosine index per dimension count, set up on first use (the extension too, when
/// the role may). Without pgvector, or without the rights to enable it, every answer is "cannot",
/// and the shared store scans exactly. All pgvector SQL lives here.
final class PGVectorIndex: VectorIndex {
    enum Status: Sendable, Equatable {
        case unknown
        /// The extension's schema: every name is qualified with it, whatever the search path.
        case ready(schema: String)
        case unavailable(String)
    }

    struct State {
        var status = Status.unknown
        /// Dimensions that have an HNSW index (or could not get one) in this database.
        var indexedDims: Set<Int> = []
    }

    /// pgvector's HNSW index takes vectors of at most this many dimensions.
    static var hnswMaxDims: Int { 2000 }

    let driver: PostgresDriver
    let state = Mutex(State())

    init(driver: PostgresDriver) { self.driver = driver }

    static func text(_ r: [SQLValue], _ i: Int, _ what: String) throws -> String {
        guard i < r.count, let s = r[i].text else {
            throw MinskyError(.internal, "a stored \(what) row has no value in column \(i)")
        }
        return s
    }

    // MARK: VectorIndex

    func columnForSaving(models: Set<String>, dims: Set<Int>) async throws -> VectorColumn? {
        guard let schema = await pgvectorSchema() else { return nil }
        // Rows copied in without vectors are filled before any index exists to maintain row by row.
        for model in models { try await fillMissingVectors(schema: schema, model: model) }
        for n in dims { await ensureHNSWIndex(schema: schema, dims: n) }
        return VectorColumn(name: "embedding") { v in "\(text: PGVectorText.literal(v))::\(raw: schema).vector" }
    }

    func search(_ query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)]? {
        guard let schema = await pgvectorSchema() else { return nil }
        return try await pgvectorSearch(schema: schema, query: query, model: model, k: k)
    }

    func method() async -> String {
        switch state.withLock({ $0.status }) {
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

    func prepareAll(models: Set<String>, dims: Set<Int>) async throws {
        guard let schema = await pgvectorSchema() else { return }
        for model in models { try await fillMissingVectors(schema: schema, model: model) }
        for n in dims { await ensureHNSWIndex(schema: schema, dims: n, wait: true) }
    }

    // MARK: Set-up, fill, index, search

    func pgvectorStatus() async -> Status {
        let known = state.withLock { $0.status }
        if known != .unknown { return known }
        let status: Status
        do {
            status = try await preparePGVector()
        } catch {
            status = .unavailable("pgvector could not be set up (\((error as? MinskyError)?.message ?? "\(error)"))")
        }
        state.withLock { $0.status = status }
        return status
    }

    func pgvectorSchema() async -> String? {
        if case .ready(let schema) = await pgvectorStatus() { return schema }
        return nil
    }

    static func installedSchema(_ c: any SQLConnection) throws -> String? {
        try c.query(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
        ).first?[0].text
    }

    static func hasEmbeddingColumn(_ c: any SQLConnection) throws -> Bool {
        try !c.query(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('task_embeddings') AND attname = 'embedding' AND NOT attisdropped"
        ).isEmpty
            && c.query("SELECT to_regclass('task_embeddings_unvectored') IS NOT NULL").first?[0].text == "t"
    }

    /// Read-only: pgvector's schema if installed, whether the store's vector column (and its
    /// partial index) exist, whether the server offers the extension at all.
    func probePGVector() async throws -> (schema: String?, column: Bool, available: Bool) {
        try await driver.read { c in
            (
                try Self.installedSchema(c), try Self.hasEmbeddingColumn(c),
                try !c.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").isEmpty
            )
        }
    }

    /// Makes sure pgvector is installed and `task_embeddings.embedding` exists (created by the
    /// first process that needs it; checked first so roles without DDL rights still search).
    func preparePGVector() async throws -> Status {
        let (schema, column, available) = try await probePGVector()
        if let schema, column { return .ready(schema: schema) }
        guard schema != nil || available else {
            return .unavailable("pgvector is not installed on this PostgreSQL server")
        }
        do {
            let ready = try await driver.write { c in
                _ = try c.query(SQL(raw: AdvisoryLock.pgvectorSetup.transactionLock))
                if try Self.installedSchema(c) == nil {
                    try c.execute("CREATE EXTENSION IF NOT EXISTS vector")
                }
                guard let schema = try Self.installedSchema(c) else { return "" }
                if try !Self.hasEmbeddingColumn(c) {
                    for sql in Schema.pgvectorColumn(schema: schema) { try c.execute(SQL(raw: sql)) }
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
    /// `wait`: wait for another builder instead of moving on (an explicit `prepareAll`, whose
    /// caller expects the index to exist afterwards).
    func ensureHNSWIndex(schema: String, dims: Int, wait: Bool = false) async {
        guard dims > 0, dims <= Self.hnswMaxDims, !state.withLock({ $0.indexedDims.contains(dims) }) else {
            return
        }
        let name = "task_embeddings_hnsw_\(dims)"
        let settled: Bool
        do {
            settled = try await driver.autocommit { c in
                // Keyed by this store's table too: stores in other schemas of the database build their
                // own indexes meanwhile.
                let key: SQL =
                    "\(raw: String(AdvisoryLock.hnswBuild.rawValue)), ('task_embeddings'::regclass::oid::bigint % 2147483647)::int4"
                if wait {
                    _ = try c.query("SELECT pg_advisory_lock(\(key))")
                } else if try c.query("SELECT pg_try_advisory_lock(\(key))").first?[0].text != "t" {
                    return false
                }
                defer { _ = try? c.query("SELECT pg_advisory_unlock(\(key))") }
                // An index left invalid by an interrupted concurrent build is dropped and built again.
                if let valid = try c.query(
                    "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(\(text: name))"
                ).first?[0].text {
                    if valid == "t" { return true }
                    try c.execute("DROP INDEX CONCURRENTLY IF EXISTS \(raw: name)")
                }
                // A build whose graph fits in maintenance_work_mem is several times faster: size it
                // for the rows there are (vector + ~300 bytes of graph each), 64 MB to 1 GB.
                let rows = Int(
                    try c.query("SELECT count(*) FROM task_embeddings WHERE dims = \(int: dims)").first?[0]
                        .int ?? 0)
                let mb = min(1024, max(64, rows * (dims * 4 + 300) * 13 / 10 / 1_000_000 + 1))
                _ = try c.query("SELECT set_config('maintenance_work_mem', \(text: "\(mb)MB"), false)")
                defer { _ = try? c.execute("RESET maintenance_work_mem") }
                try c.execute(
                    """
                    CREATE INDEX CONCURRENTLY IF NOT EXISTS \(raw: name) ON task_embeddings \
                    USING hnsw ((embedding::\(raw: schema).vector(\(raw: String(dims)))) \(raw: schema).vector_cosine_ops) WHERE dims = \(raw: String(dims))
                    """)
                return true
            }
        } catch {
            settled = true  // no rights (or no room): searches stay exact; not retried in this process
        }
        if settled { state.withLock { _ = $0.indexedDims.insert(dims) } }
    }

    /// Fills `embedding` for rows written without it (copied by an upgrade, restored from a
    /// backup, written by a store that had no pgvector yet), from the stored bytes.
    /// Reads in a read transaction (so a store with nothing to fill never takes a write lock),
    /// writes only rows still unfilled (another process may be filling too).
    func fillMissingVectors(schema: String, model: String) async throws {
        while true {
            let rows = try await driver.read { c in
                try c.query(
                    "SELECT task_id, \(raw: SQLDialect.postgres.select("vector", as: .blob)) FROM task_embeddings WHERE embedding IS NULL AND model = \(text: model) LIMIT 1000"
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
                ids += Array("\"\(try r.text("task_id"))\"".utf8)  // task ids: [A-Za-z0-9-] only
                vectors.append(UInt8(ascii: "\""))
                PGVectorText.append(littleEndian: SQLDialect.postgres.blobBytes(r[1]), into: &vectors)
                vectors.append(UInt8(ascii: "\""))
            }
            ids.append(UInt8(ascii: "}"))
            vectors.append(UInt8(ascii: "}"))
            let idArray = String(decoding: ids, as: UTF8.self)
            let vectorArray = String(decoding: vectors, as: UTF8.self)
            _ = try await driver.write { c in
                try c.execute(
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
            let hits: [(id: TaskID, score: Float)]? = try await driver.read { c in
                if try !c.query(
                    "SELECT 1 FROM task_embeddings WHERE embedding IS NULL AND model = \(text: model) LIMIT 1"
                ).isEmpty {
                    return nil
                }
                // The candidate list must hold at least k; 100 keeps recall@10 high (BENCHMARKS.md).
                try c.execute("SELECT set_config('hnsw.ef_search', \(text: String(min(1000, max(100, 2 * k)))), true)")
                let vector = "\(schema).vector(\(dims))"
                return try c.query(
                    """
                    SELECT task_id, embedding::\(raw: vector) OPERATOR(\(raw: schema).<=>) \(text: literal)::\(raw: vector) AS distance \
                    FROM task_embeddings WHERE dims = \(int: dims) AND model = \(text: model) ORDER BY distance LIMIT \(raw: String(k))
                    """
                ).map { r in
                    guard let distance = try r.value("distance").double else {
                        throw MinskyError(.internal, "pgvector returned a row without a distance")
                    }
                    return (TaskID(trusted: try r.text("task_id")), Float(1 - distance))
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

extension PostgresDriver {
    public func makeVectorIndex() -> (any VectorIndex)? { PGVectorIndex(driver: self) }
}
