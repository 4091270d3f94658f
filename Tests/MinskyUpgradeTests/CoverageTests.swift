import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import Testing

/// Nothing a person made is dropped on the way between stores. Every table of both stores,
/// read from their own catalogs, is named in `Schema.coverage`; for each path (export/import,
/// backup, upgrade to-postgres, migrate rollback, sync) every table the list says is carried
/// arrives with every row, through the real binary and a real PostgreSQL.
@Suite(.serialized) struct CoverageTests {
    func run(_ cwd: URL, _ args: String..., env: [String: String] = [:]) async throws -> ProcessResult {
        let r = try await runProcess(Binaries.minsky, args, cwd: cwd, env: env)
        #expect(r.status == 0, "minsky \(args.joined(separator: " ")): \(r.stderr)")
        return r
    }

    func sqliteCounts(_ path: String) throws -> [String: Int] {
        let db = try DatabaseQueue(path: path)
        return try db.read { db in
            var out: [String: Int] = [:]
            for t in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                out[t] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(t)\"") ?? 0
            }
            return out
        }
    }

    func postgresCounts(_ url: String) async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try await PostgresAdmin.query(
            url: url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        {
            guard let t = row[0] else { continue }
            out[t] = Int(try await PostgresAdmin.query(url: url, "SELECT count(*) FROM \"\(t)\"").first?[0] ?? "0") ?? 0
        }
        return out
    }

    /// Every table of `counts` is declared; every table `path` carries has the source's rows.
    func check(_ path: Schema.DataPath, source: [String: Int], arrived: [String: Int]) {
        for t in arrived.keys {
            #expect(Schema.coverage[t] != nil, "\(t) is in a store but not in Schema.coverage: declare what carries it")
        }
        for (t, n) in source where n > 0 {
            guard let declared = Schema.coverage[t], declared[path] == nil else { continue }
            #expect(
                arrived[t] == n,
                "\(path.rawValue) carries \(t) by the list, but \(arrived[t] ?? 0) of \(n) rows arrived")
        }
    }

    @Test func everyTableIsCarriedOrDeclaredNotToBeOnEveryPath() async throws {
        let root = try TestEnvironment.tempDirectory("coverage")
        defer { try? FileManager.default.removeItem(at: root) }
        let project = root.appendingPathComponent("source")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        _ = try await run(project, "init")
        let dbPath = project.appendingPathComponent(".minsky/tasks.db").path
        // A row in every content table, through the store's own calls.
        let store = try SQLiteTaskStore(path: dbPath)
        let a = try await store.create(NewTask(title: "a", metadata: ["k": "v"]))
        let b = try await store.create(NewTask(title: "b", dependsOn: [a.id]))
        _ = try await store.create(NewTask(title: "c", parentId: a.id))
        _ = try await store.addNote(b.id, body: "a note")
        try await store.saveProposal(
            Proposal(
                id: Proposal.newID(), taskId: a.id, kind: "decompose", model: "m", promptHash: "h",
                body: ["subtasks": [["title": "s"]]], createdAt: .now()))
        try await store.saveEmbeddings([TaskEmbedding(taskId: a.id, model: "m", contentHash: "h", vector: [1, 0, 0.5])])
        try await store.recordAICall(
            AICall(
                at: .now(), purpose: "decompose", provider: "openai", model: "m", taskId: a.id, inputTokens: 3,
                outputTokens: 4, durationMs: 5, outcome: "ok"))
        await store.close()
        let source = try sqliteCounts(dbPath)
        for t in [
            "tasks", "task_dependencies", "task_notes", "proposals", "task_embeddings", "task_events", "ai_calls",
        ] {
            #expect(source[t] ?? 0 > 0, "the fixture has no row in \(t)")
        }
        for t in source.keys { #expect(Schema.coverage[t] != nil, "SQLite table \(t) is not in Schema.coverage") }

        // export → import into an empty project.
        let exported = try await run(project, "tasks", "export").stdout
        let copy = root.appendingPathComponent("imported")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        _ = try await run(copy, "init")
        let file = root.appendingPathComponent("tasks.jsonl")
        try Data(exported.utf8).write(to: file)
        _ = try await run(copy, "tasks", "import", file.path)
        check(
            .exportImport, source: source,
            arrived: try sqliteCounts(copy.appendingPathComponent(".minsky/tasks.db").path))

        // backup: the snapshot file itself.
        let backup = root.appendingPathComponent("snapshot.db").path
        _ = try await run(project, "backup", "create", "--out", backup)
        check(.backup, source: source, arrived: try sqliteCounts(backup))

        try await TestEnvironment.withPostgresSchema { url, _ in
            // upgrade to-postgres, then rollback to a fresh SQLite store.
            let moved = root.appendingPathComponent("moved")
            try FileManager.default.copyItem(at: project, to: moved)
            _ = try await run(moved, "upgrade", "to-postgres", "--db-url", url)
            let onPostgres = try await postgresCounts(url)
            check(.upgrade, source: source, arrived: onPostgres)
            for t in onPostgres.keys {
                #expect(Schema.coverage[t] != nil, "PostgreSQL table \(t) is not in Schema.coverage")
            }
            let back = try JSONValue.parse(try await run(moved, "migrate", "rollback", "--json").stdout)
            let rolled = try #require(back["database"]?.stringValue)
            let rolledPath = rolled.hasPrefix("sqlite:") ? String(rolled.dropFirst(7)) : rolled
            let absolute =
                rolledPath.hasPrefix("/") ? rolledPath : moved.appendingPathComponent(".minsky/" + rolledPath).path
            check(.rollback, source: source, arrived: try sqliteCounts(absolute))
        }
        try await TestEnvironment.withPostgresSchema { url, _ in
            // sync: the replica's content reaches an empty remote.
            _ = try await run(project, "sync", "enable", "--remote-db", url)
            check(.sync, source: source, arrived: try await postgresCounts(url))
        }
    }
}
