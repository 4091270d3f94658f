import Foundation
import MinskyTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `minsky-bench scale --minsky PATH [--tasks 100000] [--postgres URL]`: a generated store
/// (epics of 20, up to two dependencies each on earlier siblings, words in titles and
/// descriptions) imported with `tasks import`, then every hot path measured the way people and
/// agents meet it: the whole CLI process (median of 5) and MCP over pipes (p50 of 200), with each
/// goal of issue 22 beside its figure. PostgreSQL too when a server URL is given (a database of
/// its own is created and dropped). Prints a Markdown table.
enum ScaleBench {
    static let words = [
        "billing", "parser", "search", "sync", "login", "export", "cache", "index", "report", "upload",
        "schema", "queue", "retry", "token", "board", "import", "render", "metric", "alert", "deploy",
    ]

    /// The JSONL file `tasks import` reads, and an epic's id and a subtask's id to look at.
    static func generate(_ n: Int, to path: String) throws -> (epic: String, task: String) {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        var buf = ""
        buf.reserveCapacity(1 << 20)
        var rng = SplitMix64(seed: 42)  // every run builds the same store
        for i in 0..<n {
            let epic = i - i % 20
            let w1 = words[Int(rng.next() % UInt64(words.count))]
            let w2 = words[Int(rng.next() % UInt64(words.count))]
            var o = "{\"id\":\"mk-s\(i)\",\"title\":\"\(w1) \(w2) task \(i)\""
            o += ",\"description\":\"Work on the \(w1) path so the \(w2) part holds under load (item \(i)).\""
            o += ",\"tags\":[\"\(w1)\"],\"priority\":\(Int(rng.next() % 5))"
            if i % 7 == 0 { o += ",\"status\":\"DONE\"" }
            if i != epic {
                o += ",\"parentId\":\"mk-s\(epic)\""
                var deps: [Int] = []
                for _ in 0..<Int(rng.next() % 3) {
                    let j = epic + 1 + Int(rng.next() % UInt64(max(1, i - epic - 1)))
                    if j < i, !deps.contains(j) { deps.append(j) }
                }
                if !deps.isEmpty { o += ",\"dependsOn\":[" + deps.map { "\"mk-s\($0)\"" }.joined(separator: ",") + "]" }
            }
            buf += o + "}\n"
            if buf.utf8.count > 1 << 20 {
                h.write(Data(buf.utf8))
                buf.removeAll(keepingCapacity: true)
            }
        }
        h.write(Data(buf.utf8))
        let epic = (n / 2) - (n / 2) % 20
        return ("mk-s\(epic)", "mk-s\(epic + 5)")
    }

    /// Runs a command in `cwd` (posix_spawn, waitpid: Foundation's Process polls for the exit
    /// and would round every figure up to 50 ms), returning wall milliseconds and peak memory
    /// in KiB (getrusage of the child).
    static func timed(_ argv: [String], cwd: String) throws -> (ms: Double, kib: Int) {
        _ = FileManager.default.changeCurrentDirectoryPath(cwd)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let errPath = NSTemporaryDirectory() + "minsky-scale-err-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        let t0 = DispatchTime.now().uptimeNanoseconds
        guard posix_spawn(&pid, argv[0], &actions, nil, cargs, environ) == 0 else {
            throw NSError(domain: "scale", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot start \(argv[0])"])
        }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        guard status == 0 else {
            let message = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw NSError(
                domain: "scale", code: Int(status),
                userInfo: [NSLocalizedDescriptionKey: "\(argv.joined(separator: " ")) failed: \(message.suffix(400))"])
        }
        return (ms, usage.ru_maxrss)
    }

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// `keep`: a directory that stays afterwards; a SQLite project already imported there by an
    /// earlier run of the same size is measured again without importing it anew.
    static func run(minsky: String, tasks n: Int, postgres: String?, keep: String? = nil) throws -> [String] {
        let dir = keep ?? NSTemporaryDirectory() + "minsky-scale-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let file = dir + "/tasks.jsonl"
        let (epic, task) = try generate(n, to: file)
        var rows = [
            "| \(n) tasks | SQLite | goal (1M) | PostgreSQL | goal (1M) |", "|---|---|---|---|---|",
        ]
        var results: [String: [String: String]] = [:]
        func fmt(_ ms: Double) -> String {
            ms >= 1000 ? String(format: "%.1f s", ms / 1000) : String(format: "%.1f ms", ms)
        }

        func measure(_ kind: String, _ project: String) throws {
            var r: [String: String] = [:]
            if FileManager.default.fileExists(atPath: project + "/.minsky/imported-\(n)") {
                r["import"] = "(kept from an earlier run)"
            } else {
                let imported = try timed([minsky, "tasks", "import", file], cwd: project)
                r["import"] = "\(fmt(imported.ms)), \(imported.kib / 1024) MB peak"
                if keep != nil {
                    FileManager.default.createFile(atPath: project + "/.minsky/imported-\(n)", contents: nil)
                }
            }
            let cli: [(String, [String])] = [
                ("tasks get", ["tasks", "get", task]), ("tasks next", ["tasks", "next"]),
                ("tasks list --limit 50", ["tasks", "list", "--limit", "50"]),
                ("tasks list --status TODO --limit 50", ["tasks", "list", "--status", "TODO", "--limit", "50"]),
                ("tasks list --tag billing --limit 50", ["tasks", "list", "--tag", "billing", "--limit", "50"]),
                ("tasks tree EPIC (20 tasks)", ["tasks", "tree", epic]),
                ("tasks search billing", ["tasks", "search", "billing"]),
            ]
            for (name, args) in cli {
                _ = try timed([minsky] + args, cwd: project)  // warm the page cache
                r[name] = fmt(median(try (0..<5).map { _ in try timed([minsky] + args, cwd: project).ms }))
            }
            // MCP over pipes, stateless requests (the 2026-07-28 era).
            _ = FileManager.default.changeCurrentDirectoryPath(project)
            let s = try MCPBench.Child([minsky, "mcp"], cwd: project)
            defer { s.stop() }
            let meta = MCPBench.modernMeta
            let calls: [(String, String)] = [
                ("get_task", #"{"id":"\#(task)"}"#), ("next_task", "{}"), ("list_tasks", #"{"limit":25}"#),
                ("search_tasks", #"{"query":"billing","limit":25}"#), ("task_tree", #"{"id":"\#(epic)"}"#),
            ]
            for (tool, args) in calls {
                let line = { (i: Int) in
                    #"{"jsonrpc":"2.0","id":\#(i),"method":"tools/call","params":{"_meta":\#(meta),"name":"\#(tool)","arguments":\#(args)}}"#
                }
                let first = s.roundTrip(line(0))
                guard first.contains("\"isError\":false") else {
                    throw NSError(
                        domain: "scale", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(tool): \(first.prefix(300))"]
                    )
                }
                let p50 = MCPBench.p50(200) { i in _ = s.roundTrip(line(i + 1)) }
                r["MCP \(tool)"] = String(format: "%.3f ms", p50)
            }
            results[kind] = r
        }

        let sqliteProject = dir + "/sqlite"
        if !FileManager.default.fileExists(atPath: sqliteProject + "/.minsky/imported-\(n)") {
            try? FileManager.default.removeItem(atPath: sqliteProject)
            try FileManager.default.createDirectory(atPath: sqliteProject, withIntermediateDirectories: true)
            _ = try timed([minsky, "init"], cwd: sqliteProject)
        }
        try measure("sqlite", sqliteProject)

        if let url = postgres {
            let db = "minsky_scale_\(UUID().uuidString.prefix(8).lowercased())"
            let admin = url
            _ = try timed(["/usr/bin/env", "psql", "-q", admin, "-c", "CREATE DATABASE \(db)"], cwd: dir)
            defer {
                _ = try? timed(
                    ["/usr/bin/env", "psql", "-q", admin, "-c", "DROP DATABASE \(db) WITH (FORCE)"], cwd: dir)
            }
            let target = url.replacingOccurrences(
                of: #"/[^/?]*(\?|$)"#, with: "/\(db)$1", options: .regularExpression)
            let pgProject = dir + "/pg"
            try FileManager.default.createDirectory(atPath: pgProject, withIntermediateDirectories: true)
            _ = try timed([minsky, "init", "--db", target], cwd: pgProject)
            try measure("postgres", pgProject)
        }
        let goals: [(String, String, String)] = [
            ("import", "≤ 60 s, ≤ 500 MB", "≤ 120 s, ≤ 500 MB"),
            ("tasks get", "≤ 25 ms", "≤ 25 ms"), ("tasks next", "≤ 25 ms", "≤ 25 ms"),
            ("tasks list --limit 50", "≤ 25 ms", "≤ 25 ms"),
            ("tasks list --status TODO --limit 50", "≤ 25 ms", "≤ 25 ms"),
            ("tasks list --tag billing --limit 50", "≤ 25 ms", "≤ 25 ms"),
            ("tasks tree EPIC (20 tasks)", "≤ 25 ms", "≤ 25 ms"), ("tasks search billing", "≤ 50 ms", "≤ 50 ms"),
            ("MCP get_task", "≤ 1 ms", "≤ 3 ms"), ("MCP next_task", "≤ 1 ms", "≤ 3 ms"),
            ("MCP list_tasks", "≤ 1 ms", "≤ 3 ms"), ("MCP search_tasks", "≤ 1 ms", "≤ 3 ms"),
            ("MCP task_tree", "≤ 1 ms", "≤ 3 ms"),
        ]
        for (name, gs, gp) in goals {
            rows.append(
                "| \(name) | \(results["sqlite"]?[name] ?? "–") | \(gs) | \(results["postgres"]?[name] ?? "–") | \(gp) |"
            )
        }
        return rows
    }
}
