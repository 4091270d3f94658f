import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

/// Store micro-benchmarks, in process, on both stores. Run with a release build:
///   swift run -c release minsky-bench [--postgres URL] [--tasks 10000]
///   swift run -c release minsky-bench vectors [--postgres URL] [--vectors 100000] [--dims 384]
///   swift run -c release minsky-bench ai-pipeline [--calls 200]
///   swift run -c release minsky-bench mcp [--minsky PATH]     (the MCP server over pipes)
///   swift run -c release minsky-bench scale [--minsky PATH] [--tasks 100000] [--postgres URL] [--keep DIR]
///   swift run -c release minsky-bench sync --postgres URL [--changes 10000]
///   swift run -c release minsky-bench upgrade --postgres URL [--tasks 100000] [--dir D] [--embeddings 384]
///   swift run -c release minsky-bench --profile-creates 20000 [--tracked]   (creates alone, for perf record)
/// Prints a Markdown table for BENCHMARKS.md.
@main
struct Bench {
    static func measure(_ n: Int, _ body: (Int) async throws -> Void) async throws -> (p50: Double, mean: Double) {
        var samples: [Double] = []
        samples.reserveCapacity(n)
        for i in 0..<n {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try await body(i)
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        samples.sort()
        return (samples[samples.count / 2], samples.reduce(0, +) / Double(samples.count))
    }

    static func fmt(_ ms: Double) -> String { ms < 1 ? String(format: "%.3f ms", ms) : String(format: "%.2f ms", ms) }

    /// 10k tasks (20% done, random priorities, some subtasks) and 20k dependencies on earlier tasks.
    static func populate<D: SQLDriver>(_ store: SQLTaskStore<D>, tasks: Int, deps: Int) async throws -> [TaskID] {
        var rng = SystemRandomNumberGenerator()
        var ids: [TaskID] = []
        let d = store.driver.dialect
        let start = Timestamp.now()
        let batch = 1000
        for b in stride(from: 0, to: tasks, by: batch) {
            let rows: [(TaskID, Int, String, Timestamp)] = (b..<min(tasks, b + batch)).map { i in
                (
                    TaskID.random(prefix: "mk", length: 9), Int.random(in: 0...4, using: &rng),
                    i % 5 == 0 ? "DONE" : "TODO", start.adding(seconds: Double(i) / 1000)
                )
            }
            ids += rows.map(\.0)
            try await store.driver.write { c in
                for (id, prio, status, ts) in rows {
                    try c.execute(
                        """
                        INSERT INTO tasks (id, title, description, status, priority, tags, metadata, created_at, updated_at, version) \
                        VALUES (\(id), \(text: "Benchmark task \(id) about parsing, storage and search"), \(text: "Some *markdown* description for \(id)."), \
                        \(text: status), \(int: prio), \(json: ["bench"]), \(json: .object([:])), \(ts), \(ts), 1)
                        """)
                }
            }
        }
        var edges = Set<[Int]>()
        while edges.count < deps {
            let a = Int.random(in: 1..<tasks, using: &rng)
            edges.insert([a, Int.random(in: 0..<a, using: &rng)])
        }
        let list = Array(edges)
        let idsCopy = ids
        for b in stride(from: 0, to: list.count, by: 2000) {
            let chunk = Array(list[b..<min(list.count, b + 2000)])
            try await store.driver.write { c in
                for e in chunk {
                    try c.execute(
                        "INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES (\(idsCopy[e[0]]), \(idsCopy[e[1]]), \(start))"
                    )
                }
            }
        }
        try await store.refreshAllCounters()
        if d == .postgres { _ = try await store.driver.write { c in try c.execute("ANALYZE") } }
        return ids
    }

    static func run<D: SQLDriver>(_ name: String, _ store: SQLTaskStore<D>, tasks: Int) async throws -> [String] {
        var rows: [String] = []
        let create = try await measure(2000) { i in
            _ = try await store.create(NewTask(title: "created \(i)", tags: ["x"]))
        }
        rows.append("| \(name) | create | \(fmt(create.p50)) | \(fmt(create.mean)) |")
        let first = try await store.create(NewTask(title: "updated again and again"))
        let update = try await measure(1000) { i in
            _ = try await store.update(first.id, TaskPatch(title: "updated \(i)"), expectedVersion: nil)
        }
        rows.append("| \(name) | update (title) | \(fmt(update.p50)) | \(fmt(update.mean)) |")
        let ids = try await populate(store, tasks: tasks, deps: tasks * 2)
        let hop = try await measure(5000) { _ in _ = try await store.driver.read { _ in 0 } }
        rows.append("| \(name) | (empty read transaction) | \(fmt(hop.p50)) | \(fmt(hop.mean)) |")
        let whop = try await measure(2000) { _ in _ = try await store.driver.write { _ in 0 } }
        rows.append("| \(name) | (empty write transaction) | \(fmt(whop.p50)) | \(fmt(whop.mean)) |")
        let get = try await measure(5000) { i in _ = try await store.get(ids[(i * 7919) % ids.count]) }
        rows.append("| \(name) | get | \(fmt(get.p50)) | \(fmt(get.mean)) |")
        var cursor: PageCursor?
        let list = try await measure(200) { _ in
            let p = try await store.list(TaskQuery(limit: 50, cursor: cursor))
            cursor = p.nextCursor
        }
        rows.append("| \(name) | list (page of 50, \(tasks / 1000)k tasks) | \(fmt(list.p50)) | \(fmt(list.mean)) |")
        let search = try await measure(200) { _ in
            _ = try await store.list(TaskQuery(text: "parsing storage", limit: 50))
        }
        rows.append("| \(name) | text search (page of 50) | \(fmt(search.p50)) | \(fmt(search.mean)) |")
        let next = try await measure(200) { _ in _ = try await store.nextReady(limit: 1) }
        rows.append(
            "| \(name) | next ready (\(tasks / 1000)k tasks, \(tasks * 2 / 1000)k deps) | \(fmt(next.p50)) | \(fmt(next.mean)) |"
        )
        let dep = try await measure(200) { i in
            let a = ids[tasks - 1 - i]
            let b = ids[i]
            _ = try await store.addDependency(a, dependsOn: b)
        }
        rows.append("| \(name) | add dependency (cycle check) | \(fmt(dep.p50)) | \(fmt(dep.mean)) |")
        return rows
    }

    /// For `perf record`: nothing but creates on a fresh SQLite store.
    /// With `tracked`, the store tracks its changes for sync (as a replica does).
    static func profileCreates(_ n: Int, tracked: Bool) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-profile-\(UUID().uuidString.prefix(8)).db"
        ).path
        let store = try SQLiteTaskStore(path: path)
        if tracked { _ = try await store.syncStartTracking(remote: nil, strategy: nil) }
        let r = try await measure(n) { i in _ = try await store.create(NewTask(title: "created \(i)", tags: ["x"])) }
        print("create p50 \(fmt(r.p50)) mean \(fmt(r.mean))")
        await store.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    static func main() async throws {
        let args = CommandLine.arguments
        func option(_ name: String) -> String? {
            args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
        }
        let tasks = Int(option("--tasks") ?? "") ?? 10_000
        if let n = option("--profile-creates").flatMap(Int.init) {
            try await profileCreates(n, tracked: args.contains("--tracked"))
            return
        }
        if args.count > 1 && args[1] == "upgrade" {
            guard let url = option("--postgres") ?? ProcessInfo.processInfo.environment["MINSKY_BENCH_POSTGRES_URL"]
            else {
                FileHandle.standardError.write(Data("minsky-bench upgrade needs --postgres URL\n".utf8))
                return
            }
            try await UpgradeBench.run(
                pgURL: url, tasks: Int(option("--tasks") ?? "") ?? 100_000, keep: option("--dir"),
                embeddingDims: Int(option("--embeddings") ?? "") ?? 0)
            return
        }
        if args.count > 1 && args[1] == "sync" {
            guard let url = option("--postgres") ?? ProcessInfo.processInfo.environment["MINSKY_BENCH_POSTGRES_URL"]
            else {
                FileHandle.standardError.write(Data("minsky-bench sync needs --postgres URL\n".utf8))
                return
            }
            try await SyncBench.run(pgURL: url, changes: Int(option("--changes") ?? "") ?? 10_000)
            return
        }
        if args.count > 1 && args[1] == "vectors" {
            let rows = try await VectorBench.run(
                pgURL: option("--postgres") ?? ProcessInfo.processInfo.environment["MINSKY_BENCH_POSTGRES_URL"],
                count: Int(option("--vectors") ?? "") ?? 100_000, dims: Int(option("--dims") ?? "") ?? 384,
                queryCount: Int(option("--queries") ?? "") ?? 100, noise: Float(option("--noise") ?? "") ?? 0.6)
            print(rows.joined(separator: "\n"))
            return
        }
        if args.count > 1 && args[1] == "ai-pipeline" {
            print(try await PipelineBench.run(calls: Int(option("--calls") ?? "") ?? 200).joined(separator: "\n"))
            return
        }
        if args.count > 1 && args[1] == "scale" {
            let minsky =
                option("--minsky")
                ?? URL(fileURLWithPath: args[0]).deletingLastPathComponent().appendingPathComponent("minsky").path
            let rows = try ScaleBench.run(
                minsky: minsky, tasks: Int(option("--tasks") ?? "") ?? 100_000, postgres: option("--postgres"),
                keep: option("--keep"))
            FileHandle.standardOutput.write(Data((rows.joined(separator: "\n") + "\n").utf8))
            return
        }
        if args.count > 1 && args[1] == "mcp" {
            let minsky =
                option("--minsky")
                ?? URL(fileURLWithPath: args[0]).deletingLastPathComponent().appendingPathComponent("minsky").path
            FileHandle.standardOutput.write(
                Data((try MCPBench.run(minsky: minsky).joined(separator: "\n") + "\n").utf8))
            return
        }
        let pgURL = option("--postgres") ?? ProcessInfo.processInfo.environment["MINSKY_BENCH_POSTGRES_URL"]
        var rows = ["| store | operation | p50 | mean |", "|---|---|---|---|"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sqlite = try SQLiteTaskStore(path: dir.appendingPathComponent("bench.db").path)
        rows += try await run("SQLite", sqlite, tasks: tasks)
        await sqlite.close()
        if let pgURL {
            let schema = "bench_\(UUID().uuidString.prefix(8).lowercased())"
            try await PostgresAdmin.execute(url: pgURL, "CREATE SCHEMA \(schema)")
            let url = pgURL + (pgURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
            let pg = try await PostgresTaskStore.connect(url: url)
            rows += try await run("PostgreSQL", pg, tasks: tasks)
            await pg.close()
            try await PostgresAdmin.execute(url: pgURL, "DROP SCHEMA \(schema) CASCADE")
        } else {
            FileHandle.standardError.write(
                Data("(no --postgres URL or MINSKY_BENCH_POSTGRES_URL: PostgreSQL skipped)\n".utf8))
        }
        print(rows.joined(separator: "\n"))
    }
}
