import Foundation
import MinskyCore
import MinskyPostgres
import MinskyTestSupport
import Testing

/// Team mode: roles PostgreSQL enforces, checked through the CLI, the MCP server and plain psql,
/// for every allowed case and every refused one. A server of its own with password logins, so
/// the printed passwords are proven to work (and the role names are the documented ones).
@Suite("Team roles", .serialized)
struct TeamTests {
    struct Member {
        var name: String
        var password: String
        var url: String
    }

    @Test
    func teamCommandsOnSQLiteSayTheyNeedPostgreSQL() async throws {
        try await withProject(.sqlite) { cli in
            for args in [["team", "init"], ["team", "list"], ["team", "add", "ana"], ["team", "remove", "ana"]] {
                let r = try await runProcess(Binaries.minsky, args, cwd: cli.cwd)
                #expect(r.status == 5, "\(args): \(r.stderr)")
                #expect(r.stderr.contains("need a PostgreSQL store") && r.stderr.contains("minsky upgrade team"))
            }
        }
    }

    @Test
    func everyRoleCanDoWhatItMayAndNothingElse() async throws {
        let pg = try ScratchPostgres(passwords: true)
        let dir = try TestEnvironment.tempDirectory("minsky-team")
        defer { try? FileManager.default.removeItem(at: dir) }
        let su = CLI(cwd: dir, env: ["MINSKY_DB": pg.url])
        let seed = try #require(try await su.json("tasks", "create", "seeded by the owner")["id"]?.stringValue)

        func doctor(_ cli: CLI) async throws -> [String: JSONValue] {
            let r = try await cli.run("doctor", "--json")
            return Dictionary(
                (try JSONValue.parse(r.stdout).arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) },
                uniquingKeysWith: { a, _ in a })
        }
        let before = try await doctor(su)
        #expect(before["row-level security"]?["ok"] == false)
        #expect(before["row-level security"]?["detail"]?.stringValue?.contains("minsky team init") == true)
        #expect(before["change feed"]?["ok"] == true, "\(before)")

        // Set-up: idempotent, every table owned by the NOLOGIN owner with FORCE ROW LEVEL SECURITY.
        let setup = try await su.json("team", "init")
        // Role names of this database's own (roles belong to the whole server).
        #expect(setup["owner"] == "minsky_postgres_owner" && setup["roles"]?["viewer"] == "minsky_postgres_viewer")
        #expect(try await su.run("team", "init").status == 0)
        let psql = URL(fileURLWithPath: pg.bin + "/psql")
        func sql(_ url: String, _ statement: String) async throws -> ProcessResult {
            try await runProcess(psql, ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url, "-c", statement])
        }
        let tables = try await sql(
            pg.url,
            "SELECT string_agg(c.relname || ':' || r.rolname || ':' || c.relforcerowsecurity, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
        )
        for t in ["tasks", "task_dependencies", "task_events", "proposals", "task_embeddings", "ai_calls"] {
            #expect(tables.stdout.contains("\(t):minsky_postgres_owner:t"), "\(tables.stdout)")
        }

        // Members, with generated passwords (printed once) and one read from stdin.
        var members: [String: Member] = [:]
        for (name, role) in [("vic", "viewer"), ("mel", "member"), ("ada", "admin")] {
            let r = try await su.json("team", "add", name, "--role", role)
            let pw = try #require(r["password"]?.stringValue)
            #expect(pw.count >= 20 && r["role"]?.stringValue == role)
            members[role] = Member(
                name: name, password: pw, url: "postgresql://\(name):\(pw)@127.0.0.1:\(pg.port)/postgres")
        }
        let viaStdin = try await su.run(
            "team", "add", "bot", "--role", "member", "--password-stdin", stdin: "s3cret-bot-pw\n")
        #expect(viaStdin.status == 0 && !viaStdin.stdout.contains("s3cret"), "\(viaStdin.stderr)")
        let list = try await su.json("team", "list")
        let roles = Dictionary(
            uniqueKeysWithValues: (list["members"]?.arrayValue ?? []).map {
                ($0["name"]?.stringValue ?? "", $0["role"]?.stringValue ?? "")
            })
        #expect(roles == ["vic": "viewer", "mel": "member", "ada": "admin", "bot": "member"])
        #expect(try await su.run("team", "add", "vic").status == 2)  // exists
        #expect(try await su.run("team", "add", "Robert'); DROP TABLE tasks;--").status == 2)
        // Nobody is a superuser or bypasses row-level security.
        let attrs = try await sql(
            pg.url,
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('vic','mel','ada','bot','minsky_postgres_owner','minsky_postgres_admin','minsky_postgres_member','minsky_postgres_viewer') AND NOT rolsuper AND NOT rolbypassrls"
        )
        #expect(attrs.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "8")
        let viewer = try #require(members["viewer"])
        let member = try #require(members["member"])
        let admin = try #require(members["admin"])

        // The passwords work, a wrong one does not, and the error does not repeat it.
        let wrong = "postgresql://vic:not-the-password@127.0.0.1:\(pg.port)/postgres"
        let refusedLogin = try await runProcess(Binaries.minsky, ["tasks", "list", "--db", wrong], cwd: dir)
        #expect(refusedLogin.status == 5 && !refusedLogin.stderr.contains("not-the-password"), "\(refusedLogin.stderr)")

        // CLI: the viewer reads only.
        func cli(_ m: Member) -> CLI { CLI(cwd: dir, env: ["MINSKY_DB": m.url]) }
        #expect(try await cli(viewer).json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
        for args in [["tasks", "create", "nope"], ["tasks", "status", seed, "done"], ["tasks", "delete", seed]] {
            let r = try await runProcess(Binaries.minsky, args, cwd: dir, env: ["MINSKY_DB": viewer.url])
            #expect(r.status == 7 && r.stderr.contains("refused role vic"), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains(viewer.password))
        }
        let viewerDoctor = try await doctor(cli(viewer))
        #expect(viewerDoctor["role"]?["detail"]?.stringValue?.contains("vic: read right") == true, "\(viewerDoctor)")
        #expect(viewerDoctor["row-level security"]?["ok"] == true && viewerDoctor["change feed"]?["ok"] == true)
        // The member creates, updates, claims, links and unlinks, but does not delete.
        let m = cli(member)
        let made = try #require(try await m.json("tasks", "create", "by the member")["id"]?.stringValue)
        #expect(try await m.json("tasks", "update", made, "--title", "renamed by the member")["version"] == 2)
        #expect(try await m.json("tasks", "claim", seed, "--owner", "mel")["assignee"] == "mel")
        #expect(try await m.run("deps", "add", made, seed).status == 0)
        #expect(try await m.run("deps", "rm", made, seed).status == 0)
        let memberDelete = try await m.run("tasks", "delete", made)
        #expect(memberDelete.status == 7 && memberDelete.stderr.contains("admin"), "\(memberDelete.stderr)")
        let history = try await m.json("tasks", "history", made)
        let events = history["events"]?.arrayValue ?? []
        #expect(events.count >= 4 && events.allSatisfy { $0["actor"] == "mel" }, "\(history)")
        #expect(try await m.run("team", "add", "eve").status == 7)
        // The admin deletes and manages the team (removing a member the superuser added).
        let a = cli(admin)
        #expect(try await a.json("tasks", "delete", made)["deleted"]?.arrayValue?.count == 1)
        #expect(try await a.json("team", "add", "tmp", "--role", "viewer")["name"] == "tmp")
        #expect(try await a.run("team", "remove", "tmp").status == 0)
        #expect(try await a.run("team", "remove", "bot").status == 0)
        #expect(try await a.run("team", "remove", "nobody").status == 3)
        // Tokens for `minsky serve` are the owner's to manage, not an admin's: the refusal says so.
        let adminToken = try await a.run("team", "token", "create", "ada")
        #expect(adminToken.status == 7, "\(adminToken.stderr)")
        #expect(
            adminToken.stderr.contains("managed by the store's owner")
                && adminToken.stderr.contains("not by team admins"),
            "\(adminToken.stderr)")
        #expect(try await m.run("team", "token", "list").stderr.contains("managed by the store's owner"))

        // Plain psql: the database itself refuses, whatever the client.
        let refusals: [(Member, String)] = [
            (
                viewer,
                "INSERT INTO tasks (id, title, status, priority, tags, metadata, created_at, updated_at) VALUES ('mk-zzzzz', 'x', 'TODO', 2, '[]', '{}', now(), now())"
            ),
            (viewer, "UPDATE tasks SET title = 'hijacked'"),
            (viewer, "DELETE FROM task_dependencies"),
            (viewer, "INSERT INTO task_events VALUES ('e1', 'mk-zzzzz', now(), 'vic', 'fake', '{}')"),
            (member, "DELETE FROM tasks"),
            (member, "UPDATE task_events SET actor = 'someone else'"),
            (member, "DELETE FROM task_events"),
            (member, "INSERT INTO task_events VALUES ('e2', 'mk-zzzzz', now(), 'ada', 'forged', '{}')"),
            (member, "ALTER TABLE tasks DISABLE ROW LEVEL SECURITY"),
            (member, "SET ROLE minsky_postgres_owner"),
            (viewer, "DROP TABLE task_events"),
        ]
        for (who, statement) in refusals {
            let r = try await sql(who.url, statement)
            #expect(
                r.status != 0
                    && (r.stderr.contains("permission denied") || r.stderr.contains("row-level security")
                        || r.stderr.contains("must be owner")),
                "\(who.name) could run: \(statement) \(r.stderr)")
        }
        let allowed: [(Member, String)] = [
            (viewer, "SELECT count(*) FROM task_events"),
            (member, "UPDATE tasks SET title = 'edited in psql' WHERE id = '\(seed)'"),
            (member, "INSERT INTO task_events VALUES ('e3', '\(seed)', now(), 'mel', 'note', '{}')"),
            (admin, "DELETE FROM ai_calls"),
        ]
        for (who, statement) in allowed {
            let r = try await sql(who.url, statement)
            #expect(r.status == 0, "\(who.name) could not run: \(statement) \(r.stderr)")
        }

        // MCP: each role is offered only its tools; a refused call is an isError naming the right.
        func serve(_ who: Member) throws -> MCPProcess {
            let server = try MCPProcess(cwd: dir, env: ["MINSKY_DB": who.url])
            _ = server.initialize()
            return server
        }
        func toolNames(_ server: MCPProcess) -> Set<String> {
            Set(
                server.request("tools/list")?["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
                    ?? [])
        }
        let vs = try serve(viewer)
        defer { vs.terminate() }
        let viewerTools = toolNames(vs)
        #expect(viewerTools.contains("list_tasks") && viewerTools.contains("task_history"))
        #expect(
            viewerTools.isDisjoint(with: ["create_task", "update_task", "claim_task", "delete_task", "backup_store"]))
        let refusedCreate = vs.call("create_task", ["title": "from a viewer"])
        let refusedText = refusedCreate?["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
        #expect(refusedCreate?["isError"] == true && refusedText.contains("write right"), "\(refusedText)")
        #expect(vs.call("list_tasks")?["isError"] == false)
        let ms = try serve(member)
        defer { ms.terminate() }
        let memberTools = toolNames(ms)
        #expect(memberTools.contains("create_task") && memberTools.contains("claim_task"))
        #expect(!memberTools.contains("delete_task") && !memberTools.contains("upgrade_store"))
        #expect(ms.call("create_task", ["title": "from a member agent"])?["isError"] == false)
        let refusedDelete = ms.call("delete_task", ["id": .string(seed)])
        #expect(refusedDelete?["isError"] == true)
        #expect(refusedDelete?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("admin right") == true)
        let adminServer = try serve(admin)
        defer { adminServer.terminate() }
        #expect(
            toolNames(adminServer).isSuperset(of: memberTools.union(["delete_task", "backup_store", "upgrade_store"])))
    }
}

@Suite("upgrade team")
struct UpgradeTeamTests {
    /// `upgrade team` moves a SQLite project to PostgreSQL and ends with the team set up.
    @Test
    func upgradeTeamEndsWithTheTeamSetUp() async throws {
        try await withProject(.sqlite) { cli in
            _ = try await cli.json("tasks", "create", "before the move")
            try await TestEnvironment.withPostgresSchema { url, schema in
                let roles = ["owner", "admin", "member", "viewer"].map { "minsky_postgres_\(schema)_\($0)" }
                try await cleaningUp({
                    await TestEnvironment.dropSchema(schema)
                    for r in roles { try? await PostgresAdmin.execute(url: url, "DROP ROLE IF EXISTS \(r)") }
                }) {
                    let r = try await cli.json("upgrade", "team", "--provider", "postgres", "--db-url", url)
                    #expect(r["team"]?["owner"]?.stringValue == "minsky_postgres_\(schema)_owner", "\(r)")
                    #expect(r["team"]?["tables"]?.arrayValue?.contains("task_events") == true)
                    let list = try await cli.json("team", "list")
                    #expect(list["members"]?.arrayValue == [])
                    let doctor = try await cli.run("doctor", "--json")
                    #expect(doctor.stdout.contains("forced on all"), "\(doctor.stdout)")
                    #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
                }
            }
        }
    }
}
