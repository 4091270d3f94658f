import Foundation
import MinskyAI
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import MinskyTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `minsky-bench vectors [--postgres URL] [--vectors 100000] [--dims 384] [--queries 100] [--noise 0.6]`:
/// top-10 semantic search over N stored embeddings. SQLite: the in-memory SIMD scan against one
/// plain pass over the same floats (the time to read the vectors from memory once), plus the
/// cold read from the file. PostgreSQL: pgvector's HNSW index, latency and recall@10 against the
/// exact ranking. Vectors are clustered (1,000 topics + uniform noise of ±`noise` per dimension,
/// topics themselves in ±1), like sentence embeddings of a task list; a large `noise` makes them
/// nearly structureless, the hard case for HNSW. Queries are fresh draws, not stored vectors.
enum VectorBench {
    typealias Gen = SplitMix64

    static func vectors(_ n: Int, dims: Int, topics: [[Float]], noise: Float, gen: inout Gen) -> [[Float]] {
        (0..<n).map { _ in
            let c = topics[Int(abs(gen.nextSigned()) * Float(topics.count - 1))]
            return c.map { $0 + noise * gen.nextSigned() }
        }
    }

    /// One pass reading every float once (SIMD8 sum): the memory-bandwidth floor of any scan.
    static func readOnce(_ values: [Float]) -> Float {
        values.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return 0 }
            let raw = UnsafeRawPointer(base)
            var a0 = SIMD8<Float>()
            var a1 = SIMD8<Float>()
            var i = 0
            while i + 16 <= p.count {
                a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                a1 += raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
                i += 16
            }
            return (a0 + a1).sum()
        }
    }

    static func timeMs(_ body: () async throws -> Void) async rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try await body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    static func run(pgURL: String?, count: Int, dims: Int, queryCount: Int, noise: Float) async throws -> [String] {
        var gen = Gen(seed: 42)
        let topics = (0..<1000).map { _ in (0..<dims).map { _ in gen.nextSigned() } }
        let data = vectors(count, dims: dims, topics: topics, noise: noise, gen: &gen)
        let queries = vectors(queryCount, dims: dims, topics: topics, noise: noise, gen: &gen)
        var rows = ["| store | measure | result |", "|---|---|---|"]
        func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

        // SQLite
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-vbench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bench.db").path
        var store = try SQLiteTaskStore(path: path)
        let ids = try await Bench.populate(store, tasks: count, deps: 0)
        let embeddings = zip(ids, data).map { TaskEmbedding(taskId: $0, model: "bench", contentHash: "h", vector: $1) }
        let save = try await timeMs {
            for s in stride(from: 0, to: count, by: 1000) {
                try await store.saveEmbeddings(Array(embeddings[s..<min(count, s + 1000)]))
            }
        }
        log("sqlite: saved \(count) embeddings in \(Int(save)) ms")
        await store.close()
        store = try SQLiteTaskStore(path: path)
        let cold = try await timeMs { _ = try await store.similar(to: queries[0], model: "bench", k: 10) }
        // What the next process does: the vector file the first search wrote is mapped.
        await store.close()
        store = try SQLiteTaskStore(path: path)
        let mapped = try await timeMs { _ = try await store.similar(to: queries[0], model: "bench", k: 10) }
        let flat = data.flatMap { $0 }
        var sink: Float = 0
        var readTimes: [Double] = []
        for _ in 0..<20 { readTimes.append(await timeMs { sink += readOnce(flat) }) }
        var scanTimes: [Double] = []
        var exact: [[TaskID]] = []
        for q in queries {
            var hits: [(id: TaskID, score: Float)] = []
            scanTimes.append(try await timeMs { hits = try await store.similar(to: q, model: "bench", k: 10) })
            exact.append(hits.map(\.id))
        }
        await store.close()
        let read = median(readTimes)
        let scan = median(scanTimes)
        rows.append("| SQLite | read \(count)×\(dims) float32 from memory once (floor) | \(Bench.fmt(read)) |")
        rows.append(
            "| SQLite | top-10 search, matrix in memory (p50 of \(queryCount)) | \(Bench.fmt(scan)) = \(String(format: "%.2f", scan / read))× the floor |"
        )
        rows.append(
            "| SQLite | first search after a change (reads \(count * dims * 4 / 1_000_000) MB of vectors from the store, writes the vector file) | \(Bench.fmt(cold)) |"
        )
        rows.append("| SQLite | **first search of a new process** (maps the vector file) | \(Bench.fmt(mapped)) |")
        rows.append("| SQLite | save \(count) embeddings (batches of 1,000) | \(Bench.fmt(save)) |")
        if sink == 42 { log("") }

        // PostgreSQL + pgvector
        if let pgURL {
            let db = "vector_bench_\(UUID().uuidString.prefix(6).lowercased())"
            try await PostgresAdmin.execute(url: pgURL, "CREATE DATABASE \(db)")
            let url = UpgradeBench.database(db, on: pgURL)
            try await PostgresAdmin.execute(url: url, "CREATE EXTENSION IF NOT EXISTS vector")
            let pg = try await PostgresTaskStore.connect(url: url)
            let pgIDs = try await Bench.populate(pg, tasks: count, deps: 0)
            // Rows first, then one index build (what an upgrade does); the store then keeps it.
            try await PostgresAdmin.execute(url: url, "ALTER TABLE task_embeddings ADD COLUMN embedding vector")
            let pgEmb = zip(pgIDs, data).map { TaskEmbedding(taskId: $0, model: "bench", contentHash: "h", vector: $1) }
            let pgSave = try await timeMs {
                for s in stride(from: 0, to: count, by: 1000) {
                    let chunk = pgEmb[s..<min(count, s + 1000)]
                    let ids = "{" + chunk.map { "\"\($0.taskId)\"" }.joined(separator: ",") + "}"
                    let vecs =
                        "{"
                        + chunk.map { "\"[" + $0.vector.map { "\($0)" }.joined(separator: ",") + "]\"" }.joined(
                            separator: ",") + "}"
                    let hex =
                        "{"
                        + chunk.map { "\"\\\\x" + Hex.encode(TaskEmbedding.bytes($0.vector)) + "\"" }.joined(
                            separator: ",") + "}"
                    try await PostgresAdmin.execute(
                        url: url,
                        """
                        INSERT INTO task_embeddings (task_id, model, dims, content_hash, vector, updated_at, embedding)
                        SELECT i, 'bench', \(dims), 'h', b, now(), e::vector FROM unnest('\(ids)'::text[], '\(hex)'::bytea[], '\(vecs)'::text[]) AS u(i, b, e)
                        """)
                }
            }
            log("postgres: saved \(count) embeddings in \(Int(pgSave)) ms; building the HNSW index")
            try await PostgresAdmin.execute(url: url, "SET maintenance_work_mem = '1GB'")
            let build = try await timeMs {
                try await PostgresAdmin.execute(
                    url: url,
                    "SET maintenance_work_mem = '1GB'; CREATE INDEX task_embeddings_hnsw_\(dims) ON task_embeddings USING hnsw ((embedding::vector(\(dims))) vector_cosine_ops) WHERE dims = \(dims)"
                )
            }
            log("postgres: index built in \(Int(build)) ms")
            let byID = Dictionary(uniqueKeysWithValues: zip(pgIDs, ids))
            _ = try await pg.similar(to: queries[0], model: "bench", k: 10)
            var times: [Double] = []
            var found = 0
            for (qi, q) in queries.enumerated() {
                var hits: [(id: TaskID, score: Float)] = []
                times.append(try await timeMs { hits = try await pg.similar(to: q, model: "bench", k: 10) })
                found += Set(hits.compactMap { byID[$0.id] }).intersection(exact[qi]).count
            }
            await pg.close()
            try await Task.sleep(nanoseconds: 700_000_000)  // statistics are flushed at most every 500 ms
            let scans =
                try await PostgresAdmin.query(
                    url: url,
                    "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname LIKE 'task_embeddings_hnsw_%'"
                ).first?[0] ?? "?"
            try? await PostgresAdmin.execute(url: pgURL, "DROP DATABASE \(db) WITH (FORCE)")
            rows.append("| PostgreSQL | HNSW index build (m=16, ef_construction=64) | \(Bench.fmt(build)) |")
            rows.append(
                "| PostgreSQL | top-10 search through the store, HNSW (p50 of \(queryCount)) | \(Bench.fmt(median(times))) |"
            )
            rows.append(
                "| PostgreSQL | recall@10 against the exact ranking | \(String(format: "%.3f", Double(found) / Double(10 * queryCount))) |"
            )
            rows.append(
                "| PostgreSQL | searches answered by the HNSW index (pg_stat_user_indexes) | \(scans) of \(queryCount + 1) |"
            )
        }
        return rows
    }
}

/// `minsky-bench ai-pipeline`: what our AI pipeline adds to a model call. The "model" is the
/// fake server on 127.0.0.1 answering at once; the same request sent with a bare URLSession
/// POST is the floor (HTTP + the server). The difference is ours: building the prompt and
/// schema, the provider, parsing and validating the answer, recording the call, writing tasks.
enum PipelineBench {
    static func run(calls: Int) async throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-pbench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteTaskStore(path: dir.appendingPathComponent("bench.db").path)
        let plan =
            #"{"subtasks":[{"title":"Design the users table","description":"Columns and indexes","complexity":3,"dependsOn":[]},{"title":"Hash passwords","description":"Argon2id","complexity":4,"dependsOn":[0]},{"title":"Login endpoint","description":"POST /login","complexity":5,"dependsOn":[0,1]}]}"#
        let score = #"{"score":6,"reasoning":"several parts","recommendedSubtasks":3,"decompositionPrompt":"by layer"}"#
        var rows = [
            "| pipeline (SQLite store) | p50 total | p50 bare HTTP to the same server | overhead |",
            "|---|---|---|---|",
        ]

        func bare(_ server: FakeLLMServer, path: String, body: JSONValue) async throws -> Double {
            var req = URLRequest(url: URL(string: server.baseURL + path)!)  // constant, valid
            req.httpMethod = "POST"
            req.setValue("application/json", forHTTPHeaderField: "Content-Type")
            req.httpBody = Data(body.canonicalJSON().utf8)
            var times: [Double] = []
            for _ in 0..<calls {
                times.append(try await VectorBench.timeMs { _ = try await URLSession.shared.data(for: req) })
            }
            return VectorBench.median(times)
        }
        func row(_ name: String, _ total: Double, _ floor: Double) -> String {
            "| \(name) | \(Bench.fmt(total)) | \(Bench.fmt(floor)) | \(Bench.fmt(max(0, total - floor))) |"
        }

        for stream in [false, true] {
            let server = try FakeLLMServer(handler: { req in
                let content =
                    (req.body?["messages"]?.arrayValue?.first?["content"]?.stringValue ?? "").contains("Rate")
                    ? score : plan
                return req.body?["stream"] == true ? .openAIStream(content) : .openAI(content)
            })
            // The fake server's URL is always a valid URL.
            var config = ProviderConfig(
                kind: .openai, model: "fake", baseURL: URL(string: server.baseURL + "/v1")!, apiKey: "sk-bench")
            config.stream = stream
            let provider = Providers.make(config)
            var times: [Double] = []
            for i in 0..<calls {
                let parent = try await store.create(NewTask(title: "Build user authentication \(i)"))
                times.append(
                    try await VectorBench.timeMs {
                        let p = try await Decomposer.plan(
                            task: parent, maxSubtasks: 6, guidance: nil,
                            provider: provider.recording(to: store, purpose: "decompose", taskId: parent.id))
                        _ = try await Decomposer.apply(p, to: parent, store: store)
                    })
            }
            let floor = try await bare(
                server, path: "/v1/chat/completions",
                body: ["model": "fake", "stream": .bool(stream), "messages": [["role": "user", "content": "x"]]])
            rows.append(
                row(
                    "decompose → 3 subtasks with dependencies\(stream ? ", streamed" : "")", VectorBench.median(times),
                    floor))
        }

        let embedServer = try FakeLLMServer(handler: FakeLLMServer.embeddings)
        let client = EmbeddingClient(
            config: ProviderConfig(
                kind: .openai, model: "fake", baseURL: URL(string: embedServer.baseURL + "/v1")!, apiKey: nil),
            model: "toy")  // valid
        for i in 0..<1000 { _ = try await store.create(NewTask(title: "Task \(i) about login, tables or docs")) }
        _ = try await client.embedChanged(store: store, all: false)
        var times: [Double] = []
        for _ in 0..<calls {
            times.append(
                try await VectorBench.timeMs {
                    _ = try await client.similar(to: "sign in with a password", store: store, k: 5)
                })
        }
        let floor = try await bare(
            embedServer, path: "/v1/embeddings", body: ["model": "toy", "input": ["sign in with a password"]])
        rows.append(row("similar: embed the query + top-5 of 1,000 tasks", VectorBench.median(times), floor))
        await store.close()
        return rows
    }
}
