import Foundation
import MinskyCore
import MinskyPostgres
import MinskySQLite
import MinskyTestSupport
import Testing

@testable import MinskySQL

/// Deterministic pseudo-random vectors, so both stores see the same data.
func testVectors(count: Int, dims: Int, seed: UInt64) -> [[Float]] {
    var gen = SplitMix64(seed: seed)
    return (0..<count).map { _ in (0..<dims).map { _ in gen.nextSigned() } }
}

/// Exact cosine ranking computed here, independently of the stores.
func bruteForce(_ query: [Float], _ items: [(TaskID, [Float])], k: Int) -> [TaskID] {
    func cos(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for i in a.indices {
            dot += Double(a[i] * b[i])
            na += Double(a[i] * a[i])
            nb += Double(b[i] * b[i])
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
    return items.map { ($0.0, cos(query, $0.1)) }.sorted { $0.1 > $1.1 }.prefix(k).map(\.0)
}

@Suite("Semantic search on both stores")
struct VectorSearchTests {
    @Test(arguments: StoreKind.allCases)
    func similarRanksByCosineAndFollowsEveryChange(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var tasks: [TaskID] = []
            for i in 0..<60 { tasks.append(try await store.create(NewTask(title: "task \(i)")).id) }
            let vectors = testVectors(count: 60, dims: 24, seed: 7)
            try await store.saveEmbeddings(
                zip(tasks, vectors).map { TaskEmbedding(taskId: $0, model: "m", contentHash: "h", vector: $1) })
            var items = Array(zip(tasks, vectors))
            let queries = testVectors(count: 5, dims: 24, seed: 99)
            for q in queries {
                let hits = try await store.similar(to: q, model: "m", k: 5)
                #expect(hits.map(\.id) == bruteForce(q, items, k: 5))
                #expect(hits.map(\.score) == hits.map(\.score).sorted(by: >))
                #expect(hits.allSatisfy { $0.score <= 1.0001 && $0.score >= -1.0001 })
            }
            // A vector equal to a stored one finds that task first with score 1.
            let exact = try await store.similar(to: vectors[17], model: "m", k: 1)
            #expect(exact.first?.id == tasks[17])
            #expect(abs((exact.first?.score ?? 0) - 1) < 1e-4)
            // Deleting a task removes it from the results (a cached matrix must notice).
            _ = try await store.delete(tasks[17], cascade: false)
            items.removeAll { $0.0 == tasks[17] }
            #expect(
                try await store.similar(to: vectors[17], model: "m", k: 3).map(\.id)
                    == bruteForce(vectors[17], items, k: 3))
            // Re-embedding a task moves it.
            try await store.saveEmbeddings([
                TaskEmbedding(taskId: tasks[3], model: "m", contentHash: "h2", vector: vectors[17])
            ])
            #expect(try await store.similar(to: vectors[17], model: "m", k: 1).first?.id == tasks[3])
            #expect(try await store.embeddingHashes(model: "m")[tasks[3]] == "h2")
            #expect(try await store.embeddingHashes(model: "m").count == 59)
            // Another model's vectors are not mixed in; odd input finds nothing rather than failing.
            #expect(try await store.similar(to: vectors[0], model: "other", k: 3).isEmpty)
            #expect(try await store.similar(to: [1, 2], model: "m", k: 3).isEmpty)
            #expect(try await store.similar(to: vectors[0], model: "m", k: 0).isEmpty)
            await expectError(.invalidInput, field: "vector") {
                try await store.saveEmbeddings([
                    TaskEmbedding(taskId: tasks[1], model: "m", contentHash: "x", vector: [1, .nan])
                ])
            }
            #expect(try await store.embeddingHashes(model: "m")[tasks[1]] == "h", "a refused batch writes nothing")
        }
    }

    @Test func postgresSearchesWithAnHNSWIndexAndFillsCopiedRows() async throws {
        let (url, schema) = try await TestEnvironment.freshPostgresSchema()
        let store = try await PostgresTaskStore.connect(url: url)
        var tasks: [TaskID] = []
        for i in 0..<40 { tasks.append(try await store.create(NewTask(title: "t\(i)")).id) }
        let vectors = testVectors(count: 40, dims: 16, seed: 3)
        try await store.saveEmbeddings(
            zip(tasks, vectors).map { TaskEmbedding(taskId: $0, model: "m", contentHash: "h", vector: $1) })
        #expect(await store.vectorSearchMethod().hasPrefix("pgvector HNSW"))
        // pgvector holds exactly the stored float32 values, awkward ones included.
        let odd: [Float] = [
            0.1, -0.0, 1e-45, -1.1754942e-38, 3.4028235e38, -2.5e-8, 1, 123456.79, .pi, -.ulpOfOne, 1e-40, 0.5,
            -7, 65504, 1.0000001, 9.999999e-21,
        ]
        try await store.saveEmbeddings([TaskEmbedding(taskId: tasks[0], model: "odd", contentHash: "h", vector: odd)])
        let back =
            try await PostgresAdmin.query(
                url: url, "SELECT embedding::real[]::text FROM task_embeddings WHERE task_id = '\(tasks[0])'"
            ).first?[0] ?? ""
        let parsed = back.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").compactMap {
            Float(String($0))
        }
        #expect(parsed.map(\.bitPattern) == odd.map(\.bitPattern), "\(back)")
        try await store.saveEmbeddings([
            TaskEmbedding(taskId: tasks[0], model: "m", contentHash: "h", vector: vectors[0])
        ])
        let indexes = try await PostgresAdmin.query(
            url: url,
            "SELECT indexdef FROM pg_indexes WHERE schemaname = '\(schema)' AND indexname = 'task_embeddings_hnsw_16'")
        #expect(indexes.first?[0]?.contains("USING hnsw") == true)
        // The planner uses that index for the search query.
        let vec = "[" + vectors[0].map { "\($0)" }.joined(separator: ",") + "]"
        let session = try PostgresSession(url: url)
        try session.execute("SET enable_seqscan = off")
        let plan = try session.query(
            "EXPLAIN SELECT task_id FROM task_embeddings WHERE dims = 16 AND model = 'm' ORDER BY embedding::public.vector(16) OPERATOR(public.<=>) '\(vec)'::public.vector(16) LIMIT 5"
        )
        .compactMap { $0[0].text }.joined(separator: "\n")
        #expect(plan.contains("task_embeddings_hnsw_16"), "\(plan)")
        // Rows written without the pgvector column (as an upgrade's COPY writes them) are filled on the next search.
        try await PostgresAdmin.execute(url: url, "UPDATE task_embeddings SET embedding = NULL")
        #expect(
            try await store.similar(to: vectors[9], model: "m", k: 3).map(\.id)
                == bruteForce(vectors[9], Array(zip(tasks, vectors)), k: 3))
        let unfilled = try await PostgresAdmin.query(
            url: url, "SELECT count(*) FROM task_embeddings WHERE embedding IS NULL")
        #expect(unfilled.first?[0] == "0")
        await store.close()
        await TestEnvironment.dropSchema(schema)
    }

    @Test func postgresWithoutPGVectorSearchesExactly() async throws {
        // Debian's postgresql-15 has no pgvector: the store says so and still ranks correctly.
        let pg = try ScratchPostgres(bin: "/usr/lib/postgresql/15/bin")
        defer { try? pg.stop() }
        let store = try await PostgresTaskStore.connect(url: pg.url)
        var tasks: [TaskID] = []
        for i in 0..<20 { tasks.append(try await store.create(NewTask(title: "t\(i)")).id) }
        let vectors = testVectors(count: 20, dims: 8, seed: 5)
        try await store.saveEmbeddings(
            zip(tasks, vectors).map { TaskEmbedding(taskId: $0, model: "m", contentHash: "h", vector: $1) })
        let method = await store.vectorSearchMethod()
        #expect(method.contains("exact") && method.contains("not installed"), "\(method)")
        #expect(
            try await store.similar(to: vectors[4], model: "m", k: 4).map(\.id)
                == bruteForce(vectors[4], Array(zip(tasks, vectors)), k: 4))
        await store.close()
    }
}

@Suite("Text search stays exact while the SQLite index fills in batches")
struct TextIndexBatchTests {
    @Test(arguments: StoreKind.allCases)
    func pendingAndIndexedTasksAreFoundEditedAndDeletedAlike(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            func search(_ text: String) async throws -> [TaskID] {
                try await store.list(TaskQuery(text: text, limit: 200)).tasks.map(\.id)
            }
            // 70 creates: the first 64 are flushed into the index together, the rest stay pending.
            var ids: [TaskID] = []
            for i in 0..<70 {
                ids.append(
                    try await store.create(NewTask(title: "alpha item\(i)", description: i % 2 == 0 ? "even" : "odd"))
                        .id)
            }
            #expect(try await search("alpha").count == 70)
            #expect(try await search("even").count == 35)
            // Edits and deletes of indexed (early) and just-created (late) tasks are both seen.
            for id in [ids[3], ids[68]] {
                _ = try await store.update(id, TaskPatch(title: "omega renamed"), expectedVersion: nil)
            }
            #expect(Set(try await search("omega")) == [ids[3], ids[68]])
            #expect(try await search("alpha").count == 68)
            let fresh = try await store.create(NewTask(title: "gamma fresh"))
            _ = try await store.update(fresh.id, TaskPatch(title: "delta fresh"), expectedVersion: nil)
            #expect(try await search("gamma").isEmpty)
            #expect(try await search("delta") == [fresh.id])
            _ = try await store.delete(ids[5], cascade: false)
            _ = try await store.delete(fresh.id, cascade: false)
            _ = try await store.delete(ids[69], cascade: false)
            #expect(try await search("delta").isEmpty)
            #expect(try await search("alpha").count == 66)
            // A new task may reuse a deleted task's rowid; it is found by its own words only.
            let reuse = try await store.create(NewTask(title: "epsilon"))
            #expect(try await search("epsilon") == [reuse.id])
            #expect(try await search("item69").isEmpty)
            // A batch import lands in the index too.
            let batch = try await store.createMany(
                (0..<100).map { NewTask(title: "zeta \($0)") }, progress: nil, isCancelled: { false })
            #expect(try await search("zeta").count == batch.count)
        }
    }
}

/// The first search of a new SQLite process maps the vectors from a file beside the store
/// instead of reading every stored vector: the file is made by a search, private, used by the
/// next store opened on the file (a new process), and never used for other vectors than those it
/// was made from (after a change, or a restore of an older copy of the store).
@Suite("The vector file beside a SQLite store")
struct VectorFileTests {
    @Test func aNewProcessMapsTheFileAndNeverUsesAStaleOne() async throws {
        let dir = try TestEnvironment.tempDirectory("vector-file")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let n = 1200
        let dims = 16
        let vectors = testVectors(count: n, dims: dims, seed: 22)
        let query = testVectors(count: 1, dims: dims, seed: 23)[0]
        let store = try SQLiteTaskStore(path: path)
        let made = try await store.createMany(
            (0..<n).map { NewTask(title: "task \($0)") }, progress: nil, isCancelled: { false })
        let items = zip(made.map(\.id), vectors).map { ($0, $1) }
        try await store.saveEmbeddings(
            items.map { TaskEmbedding(taskId: $0.0, model: "m", contentHash: "h", vector: $0.1) })
        let expected = bruteForce(query, items, k: 10)
        #expect(try await store.similar(to: query, model: "m", k: 10).map(\.id) == expected)
        await store.close()
        let file = VectorFile.path(store: path, model: "m")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the vector file is private: \(String(mode ?? 0, radix: 8))")

        // A new process: the same answer, from the file. (Proof that the file is what it reads:
        // a row changed in the file alone changes the answer.)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let valuesStart = bytes.count - n * dims * 4
        let sorted = made.map(\.id).sorted()
        let planted = sorted[777]
        let q = EmbeddingMatrixTestSupport.normalized(query)
        bytes.withUnsafeMutableBytes { raw in
            for j in 0..<dims {
                raw.storeBytes(of: q[j], toByteOffset: valuesStart + (777 * dims + j) * 4, as: Float.self)
            }
        }
        try bytes.write(to: URL(fileURLWithPath: file))
        let second = try SQLiteTaskStore(path: path)
        #expect(try await second.similar(to: query, model: "m", k: 1).first?.id == planted)
        // A change of the embeddings: the file is not used (and is made again).
        try await second.saveEmbeddings([
            TaskEmbedding(taskId: made[5].id, model: "m", contentHash: "h2", vector: query)
        ])
        #expect(try await second.similar(to: query, model: "m", k: 1).first?.id == made[5].id)
        let backup = dir.appendingPathComponent("backup.db").path
        await second.close()
        try FileManager.default.copyItem(atPath: path, toPath: backup)
        let third = try SQLiteTaskStore(path: path)
        #expect(try await third.similar(to: query, model: "m", k: 1).first?.id == made[5].id)
        try await third.saveEmbeddings([
            TaskEmbedding(taskId: made[9].id, model: "m", contentHash: "h3", vector: query.map { $0 * 2 })
        ])
        try await third.saveEmbeddings([
            TaskEmbedding(taskId: made[5].id, model: "m", contentHash: "h4", vector: vectors[5])
        ])
        #expect(try await third.similar(to: query, model: "m", k: 1).first?.id == made[9].id)
        await third.close()
        // The older copy comes back and changes as often as the one the file was made from did
        // (a counter would now name the file's vectors): its vectors, not the file's.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: backup, toPath: path)
        let restored = try SQLiteTaskStore(path: path)
        try await restored.saveEmbeddings([
            TaskEmbedding(taskId: made[100].id, model: "m", contentHash: "x", vector: vectors[101])
        ])
        try await restored.saveEmbeddings([
            TaskEmbedding(taskId: made[101].id, model: "m", contentHash: "y", vector: vectors[100])
        ])
        #expect(try await restored.similar(to: query, model: "m", k: 1).first?.id == made[5].id)
        await restored.close()
    }
}

enum EmbeddingMatrixTestSupport {
    static func normalized(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }
}
