import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

@Suite("tasks import / export")
struct ImportExportTests {
    @Test(arguments: StoreKind.allCases)
    func importIsAllOrNothingAndRefusesWhatItDoesNotKnow(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let file = cli.cwd.appendingPathComponent("in.jsonl")
            // A bad second line: the first is not stored either.
            try Data("{\"title\":\"b\"}\n{\"title\":\"c\",\"parentId\":\"mk-nope\"}\n".utf8).write(to: file)
            var r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 3)
            #expect(r.stderr.contains("line 2") && r.stderr.contains("mk-nope"))
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 0)
            // Unknown keys are named with their line, never dropped.
            try Data("{\"title\":\"ok\"}\n{\"title\":\"a\",\"prio\":0,\"depends_on\":[\"mk-zzz\"]}\n".utf8).write(
                to: file)
            r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 2)
            #expect(r.stderr.contains("line 2") && r.stderr.contains("\"prio\"") && r.stderr.contains("\"depends_on\""))
            // A cycle among imported tasks and an id already stored are refused whole.
            try Data(
                "{\"id\":\"mk-a1\",\"title\":\"a\",\"dependsOn\":[\"mk-b1\"]}\n{\"id\":\"mk-b1\",\"title\":\"b\",\"dependsOn\":[\"mk-a1\"]}\n"
                    .utf8
            ).write(to: file)
            r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 4)
            #expect(r.stderr.contains("cycle"))
            let kept = try await cli.json("tasks", "create", "kept")
            let keptID = try #require(kept["id"]?.stringValue)
            try Data("{\"title\":\"new\"}\n{\"id\":\"\(keptID)\",\"title\":\"dup\"}\n".utf8).write(to: file)
            r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 4)
            #expect(r.stderr.contains("line 2") && r.stderr.contains("already exists"))
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
            // Invalid UTF-8 is refused, not repaired.
            try Data([0x7B, 0x22, 0x74, 0x69, 0x74, 0x6C, 0x65, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D, 0x0A]).write(
                to: file)
            r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 2)
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func exportThenImportIntoAnEmptyStoreReproducesEveryTask(kind: StoreKind) async throws {
        var exported = ""
        try await withProject(kind) { cli in
            let root = try #require(
                try await cli.json("tasks", "create", "root", "-p", "high", "-t", "a,b", "--meta", "n=3")["id"]?
                    .stringValue)
            let kid = try #require(
                try await cli.json("tasks", "create", "kid", "--parent", root, "-d", "line\n\ttab ✓ \u{1F600}")["id"]?
                    .stringValue)
            let grand = try #require(
                try await cli.json(
                    "tasks", "create", "grandkid", "--parent", kid, "--metadata", "{\"deep\":{\"x\":[1,2.5,null,true]}}"
                )["id"]?.stringValue)
            let other = try #require(try await cli.json("tasks", "create", "other")["id"]?.stringValue)
            // An edge to a task created later than its dependent: import must not need file order.
            _ = try await cli.json("deps", "add", other, grand)
            _ = try await cli.json("deps", "add", kid, other)
            _ = try await cli.json("tasks", "claim", other, "--owner", "ana", "--ttl", "2h", "--force")
            _ = try await cli.json("tasks", "update", root, "--title", "root v2", "--add-tag", "c")
            _ = try await cli.json("tasks", "status", grand, "done")
            // Notes are the task's own: export carries them (author, time, body) and import takes them back.
            _ = try await cli.json("tasks", "note", kid, "first note")
            _ = try await cli.json("tasks", "note", kid, "second note, with \"quotes\" and ✓")
            let r = try await cli.run("tasks", "export")
            #expect(r.status == 0, "\(r.stderr)")
            exported = r.stdout
            #expect(exported.split(separator: "\n").count == 4)
            #expect(exported.contains("first note") && exported.contains("second note"), "\(exported)")
        }
        try await withProject(kind) { cli in
            let file = cli.cwd.appendingPathComponent("tasks.jsonl")
            // Reversed, so children and dependents come before what they point at.
            let reversed = exported.split(separator: "\n").reversed().joined(separator: "\n") + "\n"
            try Data(reversed.utf8).write(to: file)
            let r = try await cli.run("tasks", "import", file.path)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try await cli.run("tasks", "export").stdout == exported)
            let kidLine = try #require(exported.split(separator: "\n").first { $0.contains("first note") })
            let kid = try #require(try JSONValue.parse(String(kidLine))["id"]?.stringValue)
            let notes = try await cli.json("tasks", "get", kid)["notes"]?.arrayValue?.compactMap {
                $0["body"]?.stringValue
            }
            #expect(notes == ["first note", "second note, with \"quotes\" and ✓"], "\(notes ?? [])")
            // Importing the same notes again is refused whole: nothing of the file is added.
            let again = try await cli.run("tasks", "import", file.path)
            let unchanged = try await cli.run("tasks", "export").stdout
            #expect(again.status != 0 && unchanged == exported, "\(again.stderr)")
            // The readiness counters were rebuilt: the same task is next on both.
            #expect(try await cli.json("tasks", "next")["tasks"]?.arrayValue?.count == 0)
        }
    }

    @Test func aFailedInitLeavesNothingAndAHalfMadeProjectIsAnError() async throws {
        let outer = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: outer) }
        #expect(try await CLI(cwd: outer).run("init").status == 0)
        _ = try await CLI(cwd: outer).json("tasks", "create", "outer task")
        let inner = outer.appendingPathComponent("inner")
        try FileManager.default.createDirectory(at: inner, withIntermediateDirectories: true)
        let r = try await CLI(cwd: inner).run("init", "--db-url", "postgresql://nobody@127.0.0.1:1/nope")
        #expect(r.status == 5)
        #expect(!FileManager.default.fileExists(atPath: inner.appendingPathComponent(".minsky").path))
        // A .minsky/ without config.json stops the search instead of falling through to the outer project.
        try FileManager.default.createDirectory(
            at: inner.appendingPathComponent(".minsky"), withIntermediateDirectories: true)
        let list = try await CLI(cwd: inner).run("tasks", "list")
        #expect(list.status == 5)
        #expect(
            list.stderr.contains(inner.appendingPathComponent(".minsky").path) && list.stderr.contains("config.json"))
        #expect(!list.stdout.contains("outer task"))
        let ignore = try String(contentsOf: outer.appendingPathComponent(".minsky/.gitignore"), encoding: .utf8)
        for pattern in ["pre-migration-backup.db", "*.before-rollback-*", "backups/"] {
            #expect(ignore.contains(pattern))
        }
    }
}

@Suite("Deep trees on the command line")
struct DeepTreeCLITests {
    /// A 300-deep chain prints whole, as JSON and as text (it once failed with an encoder error
    /// whose message dumped the whole tree), and one past the cut says where and how to go on.
    @Test func deepChainsPrintWholeOrSayWhereTheyWereCut() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        #expect(try await cli.run("init").status == 0)
        func chain(_ n: Int, prefix: String) -> String {
            (0..<n).map { i in
                "{\"id\":\"mk-\(prefix)\(i)\",\"title\":\"level \(i)\""
                    + (i > 0 ? ",\"parentId\":\"mk-\(prefix)\(i - 1)\"" : "") + "}"
            }.joined(separator: "\n") + "\n"
        }
        let file = dir.appendingPathComponent("chain.jsonl")
        try Data(chain(300, prefix: "a").utf8).write(to: file)
        #expect(try await cli.run("tasks", "import", file.path).status == 0)
        let r = try await cli.run("tasks", "tree", "mk-a0", "--json")
        #expect(r.status == 0, "\(r.stderr.prefix(300))")
        #expect(r.stderr.count < 1_000)
        // Deeper than our own parser's nesting bound (it guards the MCP server): read it with Python's.
        let py = try await runProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                "import json,sys; n=json.load(sys.stdin)['roots'][0]; d=0\nwhile n.get('children'): n=n['children'][0]; d+=1\nprint(d)",
            ],
            stdin: Data(r.stdout.utf8))
        #expect(py.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "299", "\(py.stderr)")
        #expect(try await cli.run("tasks", "tree", "mk-a0").stdout.contains("level 299"))
        try Data(chain(TaskTree.maxDepth + 5, prefix: "b").utf8).write(to: file)
        #expect(try await cli.run("tasks", "import", file.path).status == 0)
        let cut = try await cli.run("tasks", "tree", "mk-b0")
        #expect(cut.status == 0)
        #expect(
            cut.stdout.contains("4 deeper subtask(s) not shown")
                && cut.stdout.contains("minsky tasks tree mk-b\(TaskTree.maxDepth)"), "\(cut.stdout.suffix(300))")
    }
}

@Suite("Leases on the command line")
struct LeaseCLITests {
    @Test(arguments: StoreKind.allCases)
    func heartbeatAndReleaseNameTheHolder(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let id = try #require(try await cli.json("tasks", "create", "leased")["id"]?.stringValue)
            #expect(try await cli.run("tasks", "claim", id, "--owner", "ana", "--ttl", "1m").status == 0)
            let beat = try await cli.json("tasks", "heartbeat", id, "--owner", "ana", "--ttl", "2h")
            #expect(beat["assignee"] == "ana" && beat["claimExpiresAt"] != nil)
            let stale = try await cli.run("tasks", "heartbeat", id, "--owner", "bob")
            #expect(stale.status == 4 && stale.stderr.contains("claimed by ana"), "\(stale.stderr)")
            let released = try await cli.json("tasks", "release", id, "--owner", "ana")
            #expect(released["status"] == "TODO" && released["assignee"] == nil)
            #expect(try await cli.run("tasks", "release", id, "--owner", "ana").status == 4)
        }
    }
}

@Suite("Change feed")
struct WatchTests {
    /// `tasks watch` in one process prints the changes another process makes, as they happen,
    /// after catching up from `--since`.
    @Test(arguments: StoreKind.allCases)
    func aWatcherSeesAnotherProcessesChanges(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let start = Timestamp.now().iso8601
            let before = try #require(try await cli.json("tasks", "create", "before the watch")["id"]?.stringValue)
            let watcher = try MCPProcess(
                args: ["tasks", "watch", "--json", "--since", start], cwd: cli.cwd, env: cli.env)
            defer { watcher.terminate() }
            func next() throws -> JSONValue {
                try JSONValue.parse(
                    try #require(watcher.nextRawLine(timeout: 15), "no line from the watcher: \(watcher.stderrText)"))
            }
            let caughtUp = try next()
            #expect(caughtUp["kind"] == "created" && caughtUp["taskId"]?.stringValue == before)
            let id = try #require(try await cli.json("tasks", "create", "during the watch")["id"]?.stringValue)
            let created = try next()
            #expect(created["kind"] == "created" && created["taskId"]?.stringValue == id)
            _ = try await cli.json("tasks", "update", id, "--title", "renamed while watched")
            let updated = try next()
            #expect(updated["kind"] == "updated" && updated["changes"]?["title"]?["after"] == "renamed while watched")
            #expect(updated["actor"]?.stringValue?.isEmpty == false)
        }
    }

    /// A PostgreSQL server restart does not lose the watcher's place: it reconnects and catches
    /// up from the history, including what was written while it was away.
    @Test
    func aWatcherReconnectsAfterAServerRestart() async throws {
        let pg = try ScratchPostgres()
        let dir = try TestEnvironment.tempDirectory("minsky-watch-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir, env: ["MINSKY_DB": pg.url])
        _ = try await cli.json("tasks", "create", "before the restart")
        let watcher = try MCPProcess(
            args: ["tasks", "watch", "--json", "--since", "2000-01-01T00:00:00Z"], cwd: dir, env: cli.env)
        defer { watcher.terminate() }
        func nextTitle() -> String? {
            guard let line = watcher.nextRawLine(timeout: 20), let e = try? JSONValue.parse(line) else { return nil }
            return e["changes"]?["title"]?["after"]?.stringValue
        }
        #expect(nextTitle() == "before the restart", "\(watcher.stderrText)")
        try pg.stop()
        try pg.start()
        _ = try await cli.json("tasks", "create", "after the restart")
        #expect(nextTitle() == "after the restart", "\(watcher.stderrText)")
        _ = try await cli.json("tasks", "create", "and the next one")
        #expect(nextTitle() == "and the next one")
    }
}
