import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQLite
import MinskyTestSupport
import Testing

/// Sync through the real binary: two machines (two project directories, each its own SQLite)
/// and a real PostgreSQL that goes away and comes back; `minsky mcp` working offline and
/// syncing in the background; `sync push`/`pull` killed with SIGKILL at random points; a viewer's
/// push refused by the database.
@Suite(.serialized) struct SyncCLITests {
    func project(_ label: String) async throws -> CLI {
        let dir = try TestEnvironment.tempDirectory(label)
        let cli = CLI(cwd: dir)
        let r = try await cli.run("init")
        #expect(r.status == 0, "\(r.stderr)")
        return cli
    }

    func titles(_ cli: CLI) async throws -> [String: JSONValue] {
        let list = try await cli.json("tasks", "list", "--limit", "500")
        var out: [String: JSONValue] = [:]
        for t in list["tasks"]?.arrayValue ?? [] {
            out[t["id"]?.stringValue ?? ""] = [
                "title": t["title"] ?? .null, "priority": t["priority"] ?? .null, "status": t["status"] ?? .null,
            ]
        }
        return out
    }

    @Test func twoMachinesOfflineReconnectAndConverge() async throws {
        let server = try ScratchPostgres()
        let a = try await project("sync-a")
        let b = try await project("sync-b")
        defer {
            try? FileManager.default.removeItem(at: a.cwd)
            try? FileManager.default.removeItem(at: b.cwd)
        }
        let shared = try await a.json("tasks", "create", "shared plan")["id"]?.stringValue ?? ""
        _ = try await a.json("sync", "enable", "--remote-db", server.url, "--strategy", "manual", "--interval", "1")
        let enabled = try await b.json("sync", "enable", "--remote-db", server.url, "--strategy", "manual")
        #expect(enabled["sync"]?["pulled"]?.intValue ?? 0 >= 1)
        #expect(try await titles(b)[shared]?["title"] == "shared plan")

        // Both offline: every command keeps working on SQLite.
        try server.stop()
        #expect(try await a.run("tasks", "update", shared, "--title", "title from A").status == 0)
        #expect(try await b.run("tasks", "update", shared, "--title", "title from B").status == 0)
        #expect(try await b.run("tasks", "update", shared, "--priority", "0").status == 0)
        let onlyA = try await a.json("tasks", "create", "only on A")["id"]?.stringValue ?? ""
        let onlyB = try await b.json("tasks", "create", "only on B")["id"]?.stringValue ?? ""
        let row = try await b.json("sync", "status", shared)
        #expect(row["state"] == "pending", "\(row)")
        let pendingFields = Set(row["pendingFields"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        #expect(pendingFields.isSuperset(of: ["title", "priority"]), "\(row)")
        let failed = try await a.run("sync", "now")
        #expect(failed.status != 0 && failed.stderr.contains("local change(s) are kept"), "\(failed.stderr)")
        let offline = try await a.json("sync", "status")
        #expect(offline["reachable"] == false && (offline["pending"]?.intValue ?? 0) >= 2, "\(offline)")

        // The MCP server answers from SQLite while the remote is down.
        let mcp = try MCPProcess(cwd: a.cwd)
        defer { mcp.terminate() }
        _ = mcp.initialize()
        let made = mcp.call("create_task", ["title": "made by an agent offline"])
        #expect(made?["isError"] != true, "\(made.map { "\($0)" } ?? "no answer")")
        let viaMCP = made?["structuredContent"]?["id"]?.stringValue ?? ""
        let status = mcp.call("sync", ["action": "status"])
        #expect(status?["structuredContent"]?["reachable"] == false, "\(status.map { "\($0)" } ?? "")")

        // Back online: the MCP server's background sync pushes A's changes by itself.
        try server.start()
        var pending = -1
        for _ in 0..<60 {
            try await Task.sleep(nanoseconds: 250_000_000)
            pending = Int(try await a.json("sync", "status")["pending"]?.intValue ?? -1)
            if pending == 0 { break }
        }
        #expect(pending == 0, "the MCP server did not push in the background")

        // B syncs: its title edit meets A's (a true conflict under manual); its priority edit does not.
        let round = try await b.json("sync", "now")
        #expect(round["conflicts"]?.arrayValue?.count == 1, "\(round)")
        let conflicts = try await b.json("sync", "conflicts")["conflicts"]?.arrayValue ?? []
        #expect(conflicts.count == 1 && conflicts.first?["field"] == "title", "\(conflicts)")
        #expect(conflicts.first?["local"] == "title from B" && conflicts.first?["remote"] == "title from A")
        #expect(try await titles(b)[shared]?["title"] == "title from B", "both versions are kept meanwhile")
        #expect(try await b.json("sync", "status", shared)["state"] == "conflict")
        #expect(try await b.run("sync", "resolve", shared, "--take", "local").status == 0)
        _ = try await b.json("sync", "now")
        _ = try await a.json("sync", "now")
        _ = try await b.json("sync", "now")

        let final = try await titles(a)
        #expect(final == (try await titles(b)))
        #expect(final[shared] == ["title": "title from B", "priority": 0, "status": "TODO"])
        for id in [onlyA, onlyB, viaMCP] { #expect(final[id] != nil, "\(id) missing after sync") }
        #expect(try await b.json("sync", "conflicts")["conflicts"]?.arrayValue?.isEmpty == true)
        #expect(try await a.json("sync", "status", shared)["state"] == "synced")
    }

    /// Runs `minsky args` in `cli.cwd` and kills it with SIGKILL part way through: once `done()`
    /// shows that some of the work has landed (more than `before`), after a further random pause
    /// of up to `jitter` seconds. Returns the count after the kill, or nil when the process
    /// finished before any kill. Watching the work (rather than guessing a delay) makes the kill
    /// land mid-way on a fast machine and on a loaded CI machine alike.
    func killedPartWay(
        _ cli: CLI, _ args: [String], before: Int, jitter: Double,
        done: () async throws -> Int
    ) async throws -> Int? {
        let p = Process()
        p.executableURL = Binaries.minsky
        p.arguments = args
        p.currentDirectoryURL = cli.cwd
        var env = ProcessInfo.processInfo.environment
        // Small batches: many commits, so the kill lands between two of them even when this
        // test's polling is delayed by a loaded machine (with 20, a pull of 1,500 once finished
        // before a delayed poll saw its first batch, in a full parallel run).
        env["MINSKY_SYNC_BATCH"] = "5"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        while p.isRunning, try await done() <= before {
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        try await Task.sleep(nanoseconds: UInt64(jitter * 1_000_000_000))
        let wasRunning = p.isRunning
        if wasRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return wasRunning ? try await done() : nil
    }

    @Test func sigkillDuringPushAndPullLosesAndDuplicatesNothing() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let a = try await project("sync-kill-a")
            let b = try await project("sync-kill-b")
            defer {
                try? FileManager.default.removeItem(at: a.cwd)
                try? FileManager.default.removeItem(at: b.cwd)
            }
            let total = 1500
            let lines = (0..<total).map { #"{"title": "task \#($0)", "tags": ["bulk"]}"# }.joined(separator: "\n")
            #expect(try await a.run("tasks", "import", "-", stdin: lines).status == 0)
            _ = try await a.json("sync", "enable", "--remote-db", url, "--no-sync")
            var rng = SplitMix64(seed: 7)
            // A kill counts as mid-push only when the remote has part of the work afterwards:
            // more than before the process started, less than all of it.
            let observer = try await SyncEngine.openRemote(url)
            var midPush = 0
            for _ in 0..<6 {
                let before = try await observer.count()
                let after = try await killedPartWay(
                    a, ["sync", "push"], before: before, jitter: Double(rng.next() % 40) / 1000
                ) { try await observer.count() }
                guard let after else { break }
                if after > before && after < total { midPush += 1 }
                if midPush >= 3 { break }
            }
            await observer.close()
            #expect(midPush > 0, "no push was killed part way through")
            _ = try await a.json("sync", "push")
            #expect(try await a.json("sync", "status")["pending"] == 0)

            _ = try await b.json("sync", "enable", "--remote-db", url, "--no-sync")
            let local = try SQLiteTaskStore(path: b.cwd.appendingPathComponent(".minsky/tasks.db").path)
            var midPull = 0
            for _ in 0..<6 {
                let before = try await local.count()
                let after = try await killedPartWay(
                    b, ["sync", "pull"], before: before, jitter: Double(rng.next() % 40) / 1000
                ) { try await local.count() }
                guard let after else { break }
                if after > before && after < total { midPull += 1 }
                if midPull >= 3 { break }
            }
            await local.close()
            #expect(midPull > 0, "no pull was killed part way through")
            _ = try await b.json("sync", "pull")

            let remote = try await SyncEngine.openRemote(url)
            defer { Task { await remote.close() } }
            #expect(try await remote.count() == total, "the remote has duplicates or lost tasks")
            let truth = try await remote.syncSnapshot()
            for cli in [a, b] {
                let engine = try await SyncEngine.open(
                    local: .sqlite(cli.cwd.appendingPathComponent(".minsky/tasks.db").path))
                #expect(try await engine.local.syncSnapshot() == truth)
                await engine.closeAll()
            }
        }
    }

    @Test func aViewerPullsButItsPushIsRefusedAndNothingIsLost() async throws {
        let server = try ScratchPostgres(passwords: true)
        await (try await StoreFactory.open(StoreLocation(parsing: server.url), create: true)).close()
        _ = try await Blocking.run { try PostgresTeam.initialize(url: server.url) }
        try await Blocking.run {
            try PostgresTeam.add(url: server.url, name: "vera", role: .viewer, password: "pw-vera-1")
        }
        // An admin's replica starts tracking and shares a task.
        let admin = try await project("sync-admin")
        let viewer = try await project("sync-viewer")
        defer {
            try? FileManager.default.removeItem(at: admin.cwd)
            try? FileManager.default.removeItem(at: viewer.cwd)
        }
        let shared = try await admin.json("tasks", "create", "from the admin")["id"]?.stringValue ?? ""
        _ = try await admin.json("sync", "enable", "--remote-db", server.url)
        var v = viewer
        v.env["PGPASSWORD"] = "pw-vera-1"
        let viewerURL = "postgresql://vera@127.0.0.1:\(server.port)/postgres"
        _ = try await v.json("sync", "enable", "--remote-db", viewerURL, "--no-sync")
        _ = try await v.json("tasks", "create", "the viewer's own note")
        let pull = try await v.json("sync", "pull")
        #expect(pull["pulled"]?.intValue ?? 0 >= 1)
        #expect(try await titles(v)[shared]?["title"] == "from the admin")
        let push = try await v.run("sync", "push")
        #expect(push.status == 7, "\(push.stderr)")
        #expect(push.stderr.contains("vera") && push.stderr.contains("pull works, push is refused"), "\(push.stderr)")
        #expect(try await v.json("sync", "status")["pending"]?.intValue ?? 0 >= 1, "the viewer's changes are kept")
        #expect(try await titles(v).values.contains { $0["title"] == "the viewer's own note" })
    }
}
