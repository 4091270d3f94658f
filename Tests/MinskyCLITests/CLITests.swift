import Foundation
import MinskyApp
import MinskyCore
import MinskyTestSupport
import Testing

/// Drives the built `minsky` binary over real pipes and checks stdout, stderr and exit codes.
struct CLI {
    var cwd: URL
    var env: [String: String] = [:]

    @discardableResult
    func run(_ args: String..., stdin: String? = nil) async throws -> ProcessResult {
        try await runProcess(Binaries.minsky, args, cwd: cwd, env: env, stdin: stdin.map { Data($0.utf8) })
    }

    /// Runs with --json, expects success, returns the parsed stdout.
    func json(_ args: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let r = try await runProcess(Binaries.minsky, args + ["--json"], cwd: cwd, env: env)
        #expect(r.status == 0, "minsky \(args.joined(separator: " ")): \(r.stderr)", sourceLocation: sourceLocation)
        return try JSONValue.parse(r.stdout)
    }
}

/// A project for `kind`: SQLite through `minsky init` in a temp dir, PostgreSQL through MINSKY_DB.
func withProject(_ kind: StoreKind, _ body: (CLI) async throws -> Void) async throws {
    let dir = try TestEnvironment.tempDirectory("minsky-cli")
    defer { try? FileManager.default.removeItem(at: dir) }
    var cli = CLI(cwd: dir)
    switch kind {
    case .sqlite:
        let r = try await cli.run("init")
        #expect(r.status == 0, "\(r.stderr)")
        try await body(cli)
    case .postgres:
        try await TestEnvironment.withPostgresSchema { url, _ in
            cli.env["MINSKY_DB"] = url
            try await body(cli)
        }
    }
}

/// The same words everywhere: `init` takes `--db` like every command (the old `--db-url`
/// still works), and `--since` takes the durations `--ttl` takes.
@Suite("Consistent options")
struct ConsistentOptionTests {
    @Test func initTakesDbAndTheOldNameAndWatchTakesADuration() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        let made = try await cli.json("init", "--db", "sqlite:chosen.db")
        #expect(made["store"]?.stringValue?.hasSuffix("chosen.db") == true, "\(made)")
        let other = dir.appendingPathComponent("old-name")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        #expect(try await CLI(cwd: other).run("init", "--db-url", "sqlite:legacy.db").status == 0)
        #expect(FileManager.default.fileExists(atPath: other.appendingPathComponent(".minsky/legacy.db").path))
        let help = try await cli.run("init", "--help")
        #expect(help.stdout.contains("--db <url>") && !help.stdout.contains("--db-url"), "\(help.stdout)")

        let id = try #require(try await cli.json("tasks", "create", "seen by a late watcher")["id"]?.stringValue)
        let watcher = try MCPProcess(args: ["tasks", "watch", "--since", "10m", "--json"], cwd: dir)
        defer { watcher.terminate() }
        let line = try #require(watcher.nextRawLine(timeout: 20), "the watcher did not catch up")
        #expect(try JSONValue.parse(line)["taskId"]?.stringValue == id)
        // People read words: the history and a plain watch line say what changed, with the title.
        _ = try await cli.json("tasks", "status", id, "in-progress")
        let history = try await cli.run("tasks", "history", id)
        #expect(history.stdout.contains("created “seen by a late watcher”"), "\(history.stdout)")
        #expect(history.stdout.contains("status: TODO → IN-PROGRESS"), "\(history.stdout)")
        let plain = try MCPProcess(args: ["tasks", "watch", "--since", "10m"], cwd: dir)
        defer { plain.terminate() }
        let first = try #require(plain.nextRawLine(timeout: 20))
        #expect(first.contains("\(id) “seen by a late watcher”  created “seen by a late watcher”"), "\(first)")
        let second = try #require(plain.nextRawLine(timeout: 20))
        #expect(second.contains("“seen by a late watcher”  status: TODO → IN-PROGRESS"), "\(second)")
        let bad = try await cli.run("tasks", "watch", "--since", "yesterday-ish")
        #expect(bad.status == 2 && bad.stderr.contains("duration like 10m"), "\(bad.stderr)")
    }

    /// Planning without a model says agents can plan over MCP; a hosted provider without a key
    /// is refused at once (no network round trip), naming the setting.
    @Test func aMissingModelOrKeyIsSaidAtOnce() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = [
            "HOME": dir.path, "XDG_CONFIG_HOME": dir.appendingPathComponent("xdg").path, "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "", "OLLAMA_HOST": "",
        ]
        let cli = CLI(cwd: dir, env: env)
        #expect(try await cli.run("init").status == 0)
        let doc = dir.appendingPathComponent("spec.md")
        try Data("# Spec\n\nBuild a thing.\n".utf8).write(to: doc)
        let none = try await cli.run("plan", doc.path)
        #expect(none.status == 5 && none.stderr.contains("decompose_task"), "\(none.stderr)")
        #expect(try await cli.run("config", "set", "ai.provider", "openai").status == 0)
        for args in [["plan", doc.path], ["tasks", "decompose", "a new parent"]] {
            let r = try await runProcess(Binaries.minsky, args, cwd: dir, env: env)
            #expect(
                r.status == 5 && r.stderr.contains("needs an API key") && r.stderr.contains("ai.apiKey"), "\(r.stderr)")
        }
        #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.isEmpty == true)
    }
}

@Suite("minsky CLI end to end")
struct CLITests {
    @Test func initCreatesStoreAndConfigAndIsFoundFromSubdirectories() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        let r = try await cli.run("init")
        #expect(r.status == 0)
        #expect(r.stdout.contains("Initialized minsky"))
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: dir.appendingPathComponent(".minsky/tasks.db").path))
        let config = try JSONValue.parse(
            String(contentsOf: dir.appendingPathComponent(".minsky/config.json"), encoding: .utf8))
        #expect(config["database"] == "sqlite:tasks.db")
        #expect(config["idPrefix"] == "mk")
        #expect(
            try String(contentsOf: dir.appendingPathComponent(".minsky/.gitignore"), encoding: .utf8).contains(
                "tasks.db"))
        // Re-running is harmless and keeps tasks.
        _ = try await cli.json("tasks", "create", "keep me")
        #expect(try await cli.run("init").stdout.contains("already initialized"))
        let sub = dir.appendingPathComponent("src/deep/er")
        try fm.createDirectory(at: sub, withIntermediateDirectories: true)
        let list = try await CLI(cwd: sub).json("tasks", "list")
        #expect(list["tasks"]?.arrayValue?.count == 1)
    }

    @Test func commandsWithoutAStoreSayHowToCreateOne() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI(cwd: dir).run("tasks", "list")
        #expect(r.status == 5)
        #expect(r.stderr.contains("minsky init"))
        #expect(r.stdout.isEmpty)
    }

    @Test func dbFlagAndEnvironmentOverrideTheProject() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        #expect(try await cli.run("init").status == 0)
        let other = dir.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        #expect(try await CLI(cwd: other).run("init").status == 0)
        let otherDB = other.appendingPathComponent(".minsky/tasks.db").path
        _ = try await cli.json("tasks", "create", "in other", "--db", otherDB)
        #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 0)
        var envCLI = cli
        envCLI.env["MINSKY_DB"] = "sqlite:" + otherDB
        #expect(try await envCLI.json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
    }

    @Test func initRefusesPasswordsInTheCommittedConfig() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI(cwd: dir).run("init", "--db", "postgresql://bob:hunter2@db.example:5432/tasks")
        #expect(r.status == 2)
        #expect(!r.stderr.contains("hunter2"))
        #expect(r.stderr.contains(".pgpass"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(".minsky/config.json").path))
    }

    @Test func pointingAtAFileThatIsNotSQLiteFailsAndLeavesItAlone() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("notes.txt")
        let content = Data(String(repeating: "my precious notes\n", count: 20).utf8)
        try content.write(to: file)
        let r = try await CLI(cwd: dir).run("tasks", "list", "--db", file.path)
        #expect(r.status == 5)
        #expect(r.stderr.contains("not a SQLite database"))
        #expect(try Data(contentsOf: file) == content)
    }

    @Test(arguments: StoreKind.allCases)
    func fullWorkflow(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let epic = try await cli.json(
                "tasks", "create", "Build user authentication", "-d", "Sign-up *and* login", "-p", "1", "-t",
                "auth,backend", "--meta", "estimate=5", "--meta", "owner=\"team a\"")
            let epicID = try #require(epic["id"]?.stringValue)
            #expect(epic["priority"] == 1)
            #expect(epic["tags"] == ["auth", "backend"])
            #expect(epic["metadata"] == ["estimate": 5, "owner": "team a"])
            let schema = try #require(
                try await cli.json("tasks", "create", "Design users table", "--parent", epicID)["id"]?.stringValue)
            let login = try #require(
                try await cli.json("tasks", "create", "Login endpoint", "--parent", epicID, "--depends-on", schema)[
                    "id"]?
                    .stringValue)

            // Human output is a table.
            let table = try await cli.run("tasks", "list")
            #expect(table.status == 0)
            #expect(
                table.stdout.contains("ID") && table.stdout.contains("STATUS")
                    && table.stdout.contains("Login endpoint"))

            let got = try await cli.json("tasks", "get", login)
            #expect(got["task"]?["parentId"]?.stringValue == epicID)
            #expect(got["blockedBy"]?.arrayValue?.first?["id"]?.stringValue == schema)

            // Next ready: the schema task (login is blocked, epic has open subtasks).
            #expect(try await cli.json("tasks", "next")["tasks"]?.arrayValue?.first?["id"]?.stringValue == schema)

            // Claims are exclusive.
            let claimed = try await cli.json("tasks", "claim", schema, "--owner", "agent-1", "--ttl", "30m")
            #expect(claimed["status"] == "IN-PROGRESS")
            let refused = try await cli.run("tasks", "claim", schema, "--owner", "agent-2")
            #expect(refused.status == 4)
            #expect(refused.stderr.contains("already claimed by agent-1"))

            // Optimistic concurrency from the command line.
            let v = try #require(try await cli.json("tasks", "get", schema)["task"]?["version"]?.intValue)
            let stale = try await cli.run("tasks", "update", schema, "--title", "x", "--expect-version", "\(v - 1)")
            #expect(stale.status == 4)
            #expect(stale.stderr.contains("version \(v)"))
            let done = try await cli.json("tasks", "status", schema, "done", "--expect-version", "\(v)")
            #expect(done["status"] == "DONE")
            #expect(try await cli.json("tasks", "next")["tasks"]?.arrayValue?.first?["id"]?.stringValue == login)

            // Dependencies: list, cycle refusal, removal.
            let deps = try await cli.json("deps", "list", schema)
            #expect(deps["blocks"]?.arrayValue?.first?["id"]?.stringValue == login)
            let cycle = try await cli.run("deps", "add", schema, login)
            #expect(cycle.status == 4)
            #expect(cycle.stderr.contains("cycle"))
            #expect(try await cli.run("deps", "rm", login, schema).status == 0)
            #expect(try await cli.run("deps", "rm", login, schema).status == 3)
            #expect(try await cli.json("deps", "add", login, schema)["dependsOn"]?.stringValue == schema)

            // Update several fields at once.
            let upd = try await cli.json(
                "tasks", "update", login, "--add-tag", "api", "--meta", "estimate=2", "-p", "high")
            #expect(upd["tags"] == ["api"] && upd["metadata"] == ["estimate": 2] && upd["priority"] == 1)

            // Filters and search.
            #expect(try await cli.json("tasks", "list", "--status", "done")["tasks"]?.arrayValue?.count == 1)
            #expect(try await cli.json("tasks", "list", "-q", "login")["tasks"]?.arrayValue?.count == 2)
            #expect(try await cli.json("tasks", "list", "--tag", "backend")["tasks"]?.arrayValue?.count == 1)
            #expect(try await cli.json("tasks", "list", "--root")["tasks"]?.arrayValue?.count == 1)
            let page = try await cli.json("tasks", "list", "--limit", "2")
            let cursor = try #require(page["nextCursor"]?.stringValue)
            #expect(
                try await cli.json("tasks", "list", "--limit", "2", "--cursor", cursor)["tasks"]?.arrayValue?.count == 1
            )

            // Tree.
            let tree = try await cli.run("tasks", "tree")
            #expect(tree.status == 0)
            // The schema task is DONE: the tree agrees with `tasks next` that login is not blocked.
            #expect(tree.stdout.contains("└─") && !tree.stdout.contains("blocked by \(schema)"), "\(tree.stdout)")
            #expect(
                try await cli.json("tasks", "tree", epicID)["roots"]?.arrayValue?.first?["children"]?.arrayValue?.count
                    == 2)

            // Delete: refused with subtasks, then cascade.
            let refusedDelete = try await cli.run("tasks", "delete", epicID)
            #expect(refusedDelete.status == 2)
            #expect(refusedDelete.stderr.contains("--cascade"))
            #expect(try await cli.json("tasks", "delete", epicID, "--cascade")["deleted"]?.arrayValue?.count == 3)
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func badInputGivesFieldNamedErrorsAndExitCodes(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let t = try #require(try await cli.json("tasks", "create", "valid")["id"]?.stringValue)
            let badStatus = try await cli.run("tasks", "status", t, "finished")
            // An unknown value is a bad command line; the message lists the values that exist.
            #expect(badStatus.status == 64)
            #expect(
                badStatus.stderr.contains("'finished'") && badStatus.stderr.contains("TODO")
                    && badStatus.stderr.contains("IN-PROGRESS"))
            let jsonErr = try await cli.run("tasks", "status", t, "finished", "--json")
            #expect(try JSONValue.parse(jsonErr.stderr)["error"]?["field"] == "status")
            #expect(jsonErr.stdout.isEmpty)
            #expect(try await cli.run("tasks", "get", "mk-nope0").status == 3)
            #expect(try await cli.run("tasks", "create", "  ").status == 2)
            #expect(try await cli.run("tasks", "create", "x", "-p", "9").stderr.contains("priority"))
            #expect(try await cli.run("tasks", "create", "x", "--metadata", "[1]").stderr.contains("metadata"))
            #expect(try await cli.run("tasks", "get", "bad id!").status == 2)
            #expect(try await cli.run("tasks", "list", "--cursor", "garbage").stderr.contains("cursor"))
            #expect(try await cli.run("tasks", "frobnicate").status == 64)
            // Numbers out of range, negative ones included, are invalid input naming the option.
            let negative = try await cli.run("tasks", "list", "--limit", "-1")
            #expect(negative.status == 2 && negative.stderr.contains("--limit"), "\(negative.stderr)")
            let zero = try await cli.run("tasks", "update", t, "--title", "v", "--expect-version", "0")
            #expect(zero.status == 2 && zero.stderr.contains("--expect-version"), "\(zero.stderr)")
            // A stale version is a conflict told in the CLI's words, not the MCP argument's.
            let stale = try await cli.run("tasks", "update", t, "--title", "v", "--expect-version", "9", "--json")
            #expect(stale.status == 4)
            #expect(
                !stale.stderr.contains("expectedVersion") && stale.stderr.contains("expect-version"), "\(stale.stderr)")
            // Broken UTF-8 in an argument is refused, not stored as U+FFFD.
            let broken = try await runProcess(
                URL(fileURLWithPath: "/bin/sh"),
                ["-c", "exec \"$0\" tasks create \"$(printf 'bad \\377\\376 end')\"", Binaries.minsky.path],
                cwd: cli.cwd, env: cli.env)
            #expect(broken.status == 2 && broken.stderr.contains("UTF-8"), "\(broken.stderr)")
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func hostileTextSurvivesTheCommandLine(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let title = "'; DROP TABLE tasks; -- \"q\" \\ 🎉 עברית \u{1}"
            let desc = "line1\nline2\r\n\ttabbed $(rm -rf /) `x`"
            let id = try #require(try await cli.json("tasks", "create", title, "-d", desc)["id"]?.stringValue)
            let back = try await cli.json("tasks", "get", id)
            #expect(back["task"]?["title"]?.stringValue == title)
            #expect(back["task"]?["description"]?.stringValue == desc)
        }
    }

    @Test func importValidatesEveryLineBeforeWriting() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        #expect(try await cli.run("init").status == 0)
        let bad = try await cli.run("tasks", "import", "-", stdin: "{\"title\":\"ok\"}\n{\"title\":\"\"}\n")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("line 2"))
        #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.isEmpty == true)
        let good = try await cli.run(
            "tasks", "import", "-",
            stdin: "{\"title\":\"a\",\"priority\":1,\"tags\":[\"x\"]}\n\n{\"title\":\"b\",\"status\":\"done\"}\n")
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try await cli.json("tasks", "list", "--status", "DONE")["tasks"]?.arrayValue?.count == 1)
    }

    /// Eight processes write to one SQLite file at once: every task lands, no "database is locked".
    @Test func eightProcessesCreate4000TasksInOneSQLiteStore() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        #expect(try await cli.run("init").status == 0)
        let results = try await withThrowingTaskGroup(of: ProcessResult.self) { g in
            for p in 0..<8 {
                let lines = (0..<500).map { "{\"title\":\"process \(p) task \($0)\",\"tags\":[\"p\(p)\"]}" }.joined(
                    separator: "\n")
                g.addTask { try await cli.run("tasks", "import", "-", stdin: lines) }
            }
            var all: [ProcessResult] = []
            for try await r in g { all.append(r) }
            return all
        }
        for r in results {
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stderr.lowercased().contains("locked"))
            #expect(r.stdout.contains("Imported 500"))
        }
        let all = try await cli.json("tasks", "list", "--all")
        let tasks = all["tasks"]?.arrayValue ?? []
        #expect(tasks.count == 4000)
        #expect(Set(tasks.compactMap { $0["id"]?.stringValue }).count == 4000)
        for p in 0..<8 {
            #expect(try await cli.json("tasks", "list", "--tag", "p\(p)", "--all")["tasks"]?.arrayValue?.count == 500)
        }
    }

    @Test func quickstartShowsTheNextReadyTask() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI(cwd: dir).run("quickstart", "--dir", dir.appendingPathComponent("demo").path)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("next ready task"))
        #expect(r.stdout.contains("Design the users table"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("demo/.minsky/tasks.db").path))
    }
}

@Suite("minsky doctor")
struct DoctorTests {
    @Test(arguments: StoreKind.allCases)
    func doctorReportsTheStoreAndWhatIsMissing(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            _ = try await cli.json("tasks", "create", "one")
            let checks = try await cli.json("doctor").arrayValue ?? []
            let names = checks.compactMap { $0["name"]?.stringValue }
            #expect(
                names.contains("store") && names.contains("schema") && names.contains("ai")
                    && names.contains("embeddings"))
            #expect(names.contains("pgvector") == (kind == .postgres))
            let ai = checks.first { $0["name"] == "ai" }
            #expect(ai?["ok"] == false)
            #expect(ai?["detail"]?.stringValue?.contains("minsky config set ai.provider") == true)
            #expect(checks.first { $0["name"] == "embeddings" }?["detail"]?.stringValue?.contains("0 of 1") == true)
        }
    }

    /// A damaged page: doctor runs the same integrity check the upgrade does, and says so.
    @Test func doctorFindsADamagedSQLiteFile() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir)
        #expect(try await cli.run("init").status == 0)
        let long = String(repeating: "lorem ipsum ", count: 400)
        for i in 0..<40 { _ = try await cli.run("tasks", "create", "task \(i)", "-d", long) }
        #expect(try await cli.json("doctor").arrayValue?.first { $0["name"] == "integrity" }?["ok"] == true)
        // Fold the WAL into the file, then overwrite the middle of a page deep inside it.
        let path = dir.appendingPathComponent(".minsky/tasks.db").path
        _ = try await runProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                "import sqlite3; c=sqlite3.connect('\(path)'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
            ], cwd: dir)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        // The b-tree page headers of pages 2-6 (4 KiB pages): structure quick_check must notice.
        for page in 1..<6 {
            try handle.seek(toOffset: UInt64(page * 4096))
            handle.write(Data(repeating: 0xA5, count: 12))
        }
        try handle.close()
        let r = try await cli.run("doctor")
        #expect(r.status != 0)
        #expect(r.stdout.contains("! integrity") || r.stdout.contains("! store"), "\(r.stdout)")
        #expect(!r.stdout.contains("✓ integrity"))
    }
}

@Suite("Store URLs")
struct StoreURLTests {
    @Test func passwordsAreFoundRedactedAndRemovedWhereverLibpqTakesThem() throws {
        func loc(_ s: String) throws -> StoreLocation { try StoreLocation(parsing: s) }
        let userinfo = try loc("postgresql://bob:s3cret@db.example:5432/tasks?sslmode=require")
        #expect(userinfo.hasPassword)
        #expect(userinfo.redacted == "postgresql://bob:****@db.example:5432/tasks?sslmode=require")
        #expect("\(userinfo)" == userinfo.redacted, "interpolation never shows the password")
        #expect(userinfo.withoutPassword.connectionString == "postgresql://bob@db.example:5432/tasks?sslmode=require")
        #expect(userinfo.connectionString.contains("s3cret"), "the driver still connects with it")
        let query = try loc("postgresql://bob@db.example/tasks?sslmode=require&password=s3cret&application_name=x")
        #expect(query.hasPassword)
        #expect(query.redacted == "postgresql://bob@db.example/tasks?sslmode=require&password=****&application_name=x")
        #expect(
            query.withoutPassword.connectionString
                == "postgresql://bob@db.example/tasks?sslmode=require&application_name=x")
        #expect(try loc("postgresql://bob@h/d?password=x").withoutPassword.connectionString == "postgresql://bob@h/d")
        #expect(try loc("postgresql://bob:x@h/d").sameStore(as: loc("postgresql://bob@h/d")))
        let clean = try loc("postgresql://bob@db.example:5432/tasks")
        #expect(!clean.hasPassword)
        #expect(clean.redacted == clean.connectionString && clean.withoutPassword == clean)
        let file = try loc("sqlite:/tmp/a:b@c.db")
        #expect(!file.hasPassword && file.sqlitePath == "/tmp/a:b@c.db" && !file.isPostgres)
        #expect(try loc("tasks.db").resolved(relativeTo: "/p/.minsky").sqlitePath == "/p/.minsky/tasks.db")
        #expect(try loc("sqlite:///abs/t.db").sqlitePath == "/abs/t.db")
        // libpq's keyword form is a PostgreSQL location, and its password is found too.
        let keywords = "host=db.example dbname=tasks user=bob password='s3 cret' sslmode=require"
        #expect(try loc(keywords).kind == .postgres(conninfo: keywords))
        #expect(try loc(keywords).hasPassword)
        #expect(try loc(keywords).redacted == "host=db.example dbname=tasks user=bob password=**** sslmode=require")
        #expect(!(try loc(keywords).redacted.contains("s3")))
        // What cannot be a store is refused once, where it is parsed, naming the field.
        for bad in ["mysql://h/d", "", "sqlite:"] {
            #expect(throws: MinskyError.self) { try loc(bad) }
            do { _ = try loc(bad) } catch let e as MinskyError { #expect(e.field == "db", "\(e)") }
        }
        #expect(!"\((try? loc("mysql://u:pw@h/d")) as Any)".contains("pw"))
        do { _ = try loc("mysql://u:hunter2@h/d") } catch let e as MinskyError {
            #expect(!e.message.contains("hunter2"))
        }
    }

    @Test func aKeywordConnectionStringIsUsedAndItsPasswordNeverShown() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLI(cwd: dir).run(
            "tasks", "list", "--db", "host=127.0.0.1 port=1 dbname=nope user=bob password=hunter2")
        #expect(r.status == 5)
        #expect(r.stderr.contains("127.0.0.1") && r.stderr.contains("PostgreSQL"), "\(r.stderr)")
        #expect(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"))
    }
}

/// The README's "Using it" block runs as written in a fresh directory: every `minsky` line in
/// order, the example ids replaced by the ones `tasks create` printed (in order of first mention),
/// placeholder lines (`[…]`) and `watch` (it runs until Ctrl-C) left out.
@Suite("The README as written")
struct ReadmeTests {
    @Test func theUsingItExamplesRunInOrder() async throws {
        let readme = try String(contentsOf: repositoryRoot().appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Using it"))
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```bash\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        let lines = rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
        let commands = lines.filter { $0.hasPrefix("minsky ") && !$0.contains("[") && !$0.contains(" watch") }
        #expect(commands.count >= 20, "\(commands)")
        // Example ids in order of first mention; real ids in order of creation.
        var examples: [String] = []
        for l in commands {
            for m in l.matches(of: /mk-[0-9a-z]{5}/) where !examples.contains(String(m.0)) {
                examples.append(String(m.0))
            }
        }
        let dir = try TestEnvironment.tempDirectory("minsky-readme")
        defer { try? FileManager.default.removeItem(at: dir) }
        var real: [String] = []
        for line in commands {
            // The command without its trailing comment (two spaces then #).
            var cmd = line
            if let c = cmd.range(of: #"\s{2,}#"#, options: .regularExpression) { cmd = String(cmd[..<c.lowerBound]) }
            for (i, e) in examples.enumerated() where i < real.count {
                cmd = cmd.replacingOccurrences(of: e, with: real[i])
            }
            cmd = Binaries.minsky.path + cmd.dropFirst("minsky".count)
            let r = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", cmd], cwd: dir)
            #expect(r.status == 0, "README line failed: \(line)\n\(r.stderr)")
            if line.hasPrefix("minsky tasks create"), let m = r.stdout.firstMatch(of: /Created (mk-[0-9a-z]+)/) {
                real.append(String(m.1))
            }
            if r.status != 0 { return }
        }
        #expect(real.count == 3)
        // After the delete and the import, everything is back, notes and dependencies included.
        let back = try await runProcess(Binaries.minsky, ["tasks", "get", real[1], "--json"], cwd: dir)
        let task = try JSONValue.parse(back.stdout)
        #expect(task["task"]?["status"] == "DONE" && task["notes"]?.arrayValue?.count == 1, "\(back.stdout)")
        #expect(task["blocks"]?.arrayValue?.first?["id"]?.stringValue == real[2], "\(back.stdout)")
    }
}

@Suite("Start-up")
struct StartUpTests {
    /// ArgumentParser names a command without an explicit `commandName` by `String(describing:)`
    /// of its type, and the first such lookups scan every protocol-conformance record of the
    /// static binary: giving every command its name took `minsky --version` from 17.7 to 12.2 ms
    /// (BENCHMARKS "Scale"). A command added without one would bring the cost back.
    @Test func everyCommandNamesItself() throws {
        let dir = repositoryRoot().appendingPathComponent("Sources/minsky")
        var missing: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".swift") {
            let lines = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where line.contains("CommandConfiguration(") {
                let window = lines[i..<min(lines.count, i + 3)].joined(separator: "\n")
                if !window.contains("commandName:") { missing.append("\(name):\(i + 1)") }
            }
        }
        #expect(missing.isEmpty, "commands without commandName: \(missing)")
    }
}
