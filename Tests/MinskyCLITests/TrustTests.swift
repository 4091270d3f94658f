import Foundation
import MinskyCore
import MinskyPostgres
import MinskyTestSupport
import Testing

/// What the database enforces, probed the way a hostile member, a careless admin and a second
/// team on the same server would: plain psql as each role, the real binary, real replicas.
/// Each test reproduces a defect found on an earlier build and fails on it.
@Suite("Trust", .serialized)
struct TrustTests {
    let pg: ScratchPostgres
    let dir: URL
    let psql: URL

    init() throws {
        pg = try ScratchPostgres(passwords: true)
        dir = try TestEnvironment.tempDirectory("minsky-trust")
        psql = URL(fileURLWithPath: pg.bin + "/psql")
    }

    func url(_ db: String, user: String = "postgres", password: String? = nil) -> String {
        "postgresql://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(pg.port)/\(db)"
    }

    func sql(_ url: String, _ statement: String) async throws -> ProcessResult {
        try await runProcess(psql, ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url, "-c", statement])
    }

    func value(_ url: String, _ statement: String) async throws -> String {
        let r = try await sql(url, statement)
        #expect(r.status == 0, "\(statement): \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func cli(_ url: String, in d: URL? = nil, env: [String: String] = [:]) -> CLI {
        CLI(cwd: d ?? dir, env: env.merging(["MINSKY_DB": url], uniquingKeysWith: { $1 }))
    }

    /// A database with a store and a team, and one login per role (password = name + "-password").
    func team(_ db: String, prefix: String? = nil) async throws -> [TeamRole: String] {
        #expect(try await sql(url("postgres"), "CREATE DATABASE \(db)").status == 0)
        let su = cli(url(db))
        _ = try await su.json("tasks", "create", "seeded in \(db)")
        if let prefix {
            _ = try await su.json("team", "init", "--prefix", prefix)
        } else {
            _ = try await su.json("team", "init")
        }
        var logins: [TeamRole: String] = [:]
        for role in TeamRole.allCases {
            let name = "\(role.rawValue.prefix(3))_\(db)"
            let r = try await su.run(
                "team", "add", name, "--role", role.rawValue, "--password-stdin", stdin: "\(name)-password\n")
            #expect(r.status == 0, "\(r.stderr)")
            logins[role] = url(db, user: name, password: "\(name)-password")
        }
        return logins
    }

    @Test func eachDatabaseHasItsOwnTeamAndAPlainOneStaysPlain() async throws {
        let one = try await team("one")
        let two = try await team("two")
        #expect(try await sql(url("postgres"), "CREATE DATABASE three").status == 0)
        // Before the fix, a superuser's first write in a third database failed with "permission
        // denied for schema public": it was taken for a team store because minsky_owner existed.
        let plain = try await cli(url("three")).json("tasks", "create", "plain database")
        #expect(plain["id"]?.stringValue?.isEmpty == false)
        let owners = try await value(
            url("postgres"),
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'minsky%owner'")
        #expect(owners == "minsky_one_owner,minsky_two_owner", "\(owners)")
        // Ownership is per database: each store's tasks belong to its own team's owner.
        #expect(
            try await value(url("one"), "SELECT tableowner FROM pg_tables WHERE tablename = 'tasks'")
                == "minsky_one_owner")
        #expect(
            try await value(url("two"), "SELECT tableowner FROM pg_tables WHERE tablename = 'tasks'")
                == "minsky_two_owner")
        #expect(
            try await value(url("three"), "SELECT tableowner FROM pg_tables WHERE tablename = 'tasks'") == "postgres")
        // A member of one team reads its store and nothing of the other's.
        let member = try #require(one[.member])
        #expect(try await cli(member).json("tasks", "list")["tasks"]?.arrayValue?.count == 1)
        let across = member.replacingOccurrences(of: "/one", with: "/two")
        let refused = try await sql(across, "SELECT count(*) FROM tasks")
        #expect(refused.status != 0 && refused.stderr.contains("permission denied"), "\(refused.stderr)")
        let names = try await cli(url("two")).json("team", "list")["members"]?.arrayValue?.compactMap {
            $0["name"]?.stringValue
        }
        #expect(names == ["adm_two", "mem_two", "vie_two"], "\(names ?? [])")
        #expect(try #require(two[.admin]).contains("adm_two"))
        // A prefix that another database's team holds is refused, naming the fix.
        #expect(try await sql(url("postgres"), "CREATE DATABASE four").status == 0)
        _ = try await cli(url("four")).json("tasks", "create", "four")
        let taken = try await cli(url("four")).run("team", "init", "--prefix", "minsky_one")
        #expect(taken.status == 2 && taken.stderr.contains("another database's team"), "\(taken.stderr)")
        #expect(
            try await value(url("four"), "SELECT tableowner FROM pg_tables WHERE tablename = 'tasks'") == "postgres")
        // The doctor of the plain database says it has no team; the team store's says roles are enforced.
        let doctor = try await cli(url("three")).run("doctor", "--json")
        #expect(doctor.stdout.contains("minsky team init"), "\(doctor.stdout)")
    }

    @Test func anAdminCannotBecomeSuperuserNorRewriteHistory() async throws {
        let logins = try await team("hq")
        let admin = try #require(logins[.admin])
        let member = try #require(logins[.member])
        let seed = try #require(
            try await cli(member).json("tasks", "create", "by the member")["id"]?.stringValue)
        let attempts = [
            "SET ROLE minsky_hq_owner",
            "CREATE FUNCTION escalate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE adm_hq SUPERUSER; RETURN NEW; END $$",
            "CREATE TRIGGER escalate BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION pg_catalog.now()",
            "DROP POLICY minsky_read ON tasks",
            "ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY",
            "ALTER TABLE tasks DISABLE ROW LEVEL SECURITY",
            "TRUNCATE tasks",
            "UPDATE task_events SET actor = 'someone else'",
            "DELETE FROM task_events",
            "TRUNCATE task_events",
            "GRANT minsky_hq_owner TO adm_hq",
            "ALTER ROLE adm_hq SUPERUSER",
            "ALTER ROLE adm_hq BYPASSRLS",
        ]
        for statement in attempts {
            let r = try await sql(admin, statement)
            #expect(r.status != 0, "the admin could run: \(statement)")
        }
        #expect(
            try await value(url("hq"), "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'adm_hq'") == "f")
        #expect(
            try await value(url("hq"), "SELECT pg_has_role('adm_hq', 'minsky_hq_owner', 'MEMBER')") == "f")
        // What an admin is for still works: deleting, managing people, backups.
        #expect(try await cli(admin).json("tasks", "delete", seed)["deleted"]?.arrayValue?.count == 1)
        let added = try await cli(admin).run("team", "add", "tmp_hq", "--role", "viewer")
        if Int(try await value(url("hq"), "SHOW server_version_num")) ?? 0 >= 160000 {
            #expect(added.status == 0, "\(added.stderr)")
            let removed = try await cli(admin).run("team", "remove", "tmp_hq")
            #expect(removed.status == 0, "\(removed.stderr)")
        } else {
            // Before PostgreSQL 16, CREATEROLE could grant any role: admins there do not get it.
            #expect(added.status == 7 && added.stderr.contains("PostgreSQL 16"), "\(added.stderr)")
        }
        let backup = try await cli(admin).run("backup", "create", "--out", dir.appendingPathComponent("hq-backup").path)
        #expect(backup.status == 0, "\(backup.stderr)")
        // The history of the deleted task stays, with its deletion recorded by the admin.
        let kinds = try await value(
            url("hq"),
            "SELECT string_agg(kind || ':' || actor, ',' ORDER BY at, id) FROM task_events WHERE task_id = '\(seed)'")
        #expect(kinds.hasPrefix("created:mem_hq") && kinds.hasSuffix("deleted:adm_hq"), "\(kinds)")
        // Even the superuser cannot rewrite the history through minsky's tables.
        let rewrite = try await sql(url("hq"), "DELETE FROM task_events WHERE task_id = '\(seed)'")
        #expect(rewrite.status != 0 && rewrite.stderr.contains("append-only"), "\(rewrite.stderr)")

        // Something a superuser did not create, attached to a table: minsky refuses to write as a
        // superuser (the trigger would run with its rights) and says what to drop.
        let plant = try await sql(
            url("hq"),
            """
            CREATE ROLE mallory NOLOGIN; CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; \
            ALTER FUNCTION public.planted() OWNER TO mallory; \
            CREATE TRIGGER planted BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION public.planted()
            """)
        #expect(plant.status == 0, "\(plant.stderr)")
        let before = try await value(url("hq"), "SELECT count(*) FROM tasks")
        let blocked = try await cli(url("hq")).run("tasks", "create", "as the superuser")
        #expect(blocked.status == 7 && blocked.stderr.contains("trigger planted on tasks"), "\(blocked.stderr)")
        #expect(try await value(url("hq"), "SELECT count(*) FROM tasks") == before)
        let reinit = try await cli(url("hq")).run("team", "init")
        #expect(reinit.status == 7, "team init ran beside a foreign trigger: \(reinit.stderr)")
        // A team role is not a superuser: its work goes on (the trigger runs with its own rights).
        #expect(try await cli(member).run("tasks", "create", "still working").status == 0)
        _ = try await sql(url("hq"), "DROP TRIGGER planted ON tasks; DROP FUNCTION public.planted(); DROP ROLE mallory")
        #expect(try await cli(url("hq")).run("tasks", "create", "as the superuser").status == 0)

        // A store set up by an earlier minsky (admins in the owner role): doctor says so, and
        // `team init` takes them out.
        #expect(try await sql(url("hq"), "GRANT minsky_hq_owner TO minsky_hq_admin").status == 0)
        let legacy = try await cli(url("hq")).run("doctor", "--json")
        #expect(legacy.stdout.contains("earlier minsky"), "\(legacy.stdout)")
        #expect(try await cli(url("hq")).run("team", "init").status == 0)
        #expect(try await sql(admin, "SET ROLE minsky_hq_owner").status != 0)
        let fixed = try await cli(url("hq")).run("doctor", "--json")
        #expect(fixed.stdout.contains("admins hold no owner rights"), "\(fixed.stdout)")
    }

    @Test func authorAndTimeAreTheDatabases() async throws {
        let logins = try await team("notes")
        let member = try #require(logins[.member])
        let id = try #require(try await cli(member).json("tasks", "create", "noted")["id"]?.stringValue)
        let forged = try await sql(
            member,
            "INSERT INTO task_notes (id, task_id, author, body, created_at) VALUES ('nt-forged', '\(id)', 'adm_notes', 'signed as the admin', '2020-01-01')"
        )
        #expect(forged.status == 0, "\(forged.stderr)")
        let stored = try await value(
            url("notes"),
            "SELECT author || '|' || (created_at > now() - interval '1 hour') FROM task_notes WHERE id = 'nt-forged'")
        #expect(stored == "mem_notes|true", "\(stored)")
        let shown = try await cli(member).json("tasks", "get", id)
        let authors = shown["notes"]?.arrayValue?.compactMap { $0["author"]?.stringValue } ?? []
        #expect(authors == ["mem_notes"], "\(shown)")
        // Backdated history is stamped now; a member cannot record a deletion or sign as another.
        let backdated = try await sql(
            member, "INSERT INTO task_events VALUES ('ev-old', '\(id)', '2020-01-01', 'mem_notes', 'note_added', '{}')")
        #expect(backdated.status == 0, "\(backdated.stderr)")
        #expect(
            try await value(url("notes"), "SELECT at > now() - interval '1 hour' FROM task_events WHERE id = 'ev-old'")
                == "t")
        for statement in [
            "INSERT INTO task_events VALUES ('ev-del', '\(id)', now(), 'mem_notes', 'deleted', '{}')",
            "INSERT INTO task_events VALUES ('ev-as', '\(id)', now(), 'adm_notes', 'note_added', '{}')",
        ] {
            let r = try await sql(member, statement)
            #expect(r.status != 0 && r.stderr.contains("row-level security"), "\(statement): \(r.stderr)")
        }
        // A refusal says what the role may not do in minsky's words; --verbose adds the database's.
        let viewer = try #require(logins[.viewer])
        let refused = try await cli(viewer).run("tasks", "note", id, "from a viewer")
        #expect(refused.status == 7 && refused.stderr.contains("may not add to notes"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("permission denied for table"), "\(refused.stderr)")
        let verbose = try await cli(viewer).run("tasks", "note", id, "from a viewer", "--verbose")
        #expect(verbose.stderr.contains("permission denied for table task_notes"), "\(verbose.stderr)")
    }

    @Test func aForgedSyncChangeIsRefusedByEveryReplica() async throws {
        let logins = try await team("shared")
        let member = try #require(logins[.member])
        let kept = try #require(
            try await cli(url("shared")).json("tasks", "list")["tasks"]?.arrayValue?.first?["id"]?.stringValue)
        let pgpass = dir.appendingPathComponent("pgpass")
        let env = ["PGPASSFILE": pgpass.path]
        // A member enables sync on a team store nobody synced before.
        let replicaDir = try TestEnvironment.tempDirectory("minsky-trust-replica")
        defer { try? FileManager.default.removeItem(at: replicaDir) }
        let replica = CLI(cwd: replicaDir, env: env)
        #expect(try await replica.run("init").status == 0)
        let enabled = try await replica.run("sync", "enable", "--remote-db", member, "--json")
        #expect(enabled.status == 0, "a member could not enable sync: \(enabled.stderr)")
        #expect(try await replica.json("tasks", "get", kept)["task"]?["title"] == "seeded in shared")

        // The log takes only entries in one's own name.
        let asAdmin = try await sql(
            member,
            "INSERT INTO sync_log (seq, change_id, replica, entity, key, body, at, actor) SELECT max(seq) + 1, 'ch-as-admin', 'rx', 'task', '\(kept)', '{}', now(), 'adm_shared' FROM sync_log"
        )
        #expect(asAdmin.status != 0 && asAdmin.stderr.contains("row-level security"), "\(asAdmin.stderr)")
        // Entries in one's own name that describe changes nobody made: a deletion (a member may
        // not delete) and a new title the task does not have.
        let deletion =
            #"{"changed":{"_present":"0000000000000000-"},"deleted":true,"fields":{},"stamps":{"_present":"ffffffffffff0000-rx"}}"#
        let title =
            #"{"changed":{"title":"0000000000000000-"},"deleted":false,"fields":{"title":"forged title"},"stamps":{"title":"ffffffffffff0000-rx"}}"#
        for (id, body) in [("ch-forged-title", title), ("ch-forged-delete", deletion)] {
            let r = try await sql(
                member,
                "INSERT INTO sync_log (seq, change_id, replica, entity, key, body, at) SELECT max(seq) + 1, '\(id)', 'rx', 'task', '\(kept)', '\(body)', now() FROM sync_log"
            )
            #expect(r.status == 0, "\(r.stderr)")
        }
        let pulled = try await replica.json("sync", "pull")
        let refused = Set(pulled["refused"]?.arrayValue?.compactMap { $0["changeId"]?.stringValue } ?? [])
        #expect(refused == ["ch-forged-delete", "ch-forged-title"], "\(pulled)")
        let task = try await replica.json("tasks", "get", kept)
        #expect(task["task"]?["title"] == "seeded in shared", "\(task)")
        let status = try await replica.json("sync", "status")
        #expect(status["pending"] == 0 && status["conflicts"] == 0, "\(status)")
        // A second replica starting from nothing refuses them too and holds what PostgreSQL holds.
        let secondDir = try TestEnvironment.tempDirectory("minsky-trust-second")
        defer { try? FileManager.default.removeItem(at: secondDir) }
        let second = CLI(cwd: secondDir, env: env)
        #expect(try await second.run("init").status == 0)
        _ = try await second.json("sync", "enable", "--remote-db", member)
        #expect(try await second.json("tasks", "get", kept)["task"]?["title"] == "seeded in shared")

        // A note written on the member's replica arrives under the member's role, and the
        // replica ends with the note as the database stored it (nothing reported as refused).
        _ = try await replica.json("tasks", "note", kept, "written offline")
        let round = try await replica.json("sync", "now")
        #expect(round["refused"]?.arrayValue == [], "\(round)")
        #expect(
            try await value(url("shared"), "SELECT author FROM task_notes WHERE body = 'written offline'")
                == "mem_shared")
        let notes = try await replica.json("tasks", "get", kept)["notes"]?.arrayValue ?? []
        #expect(notes.map { $0["author"]?.stringValue } == ["mem_shared"], "\(notes)")

        // A push of many rows goes through the remote's scratch-table upsert (a temporary table
        // of the member's own, then one INSERT … SELECT under the member's policies): 80 new
        // tasks, then an edit of each.
        let bulk = replicaDir.appendingPathComponent("bulk.jsonl")
        try (0..<80).map { #"{"id":"mk-bulk\#($0)","title":"bulk \#($0)"}"# }.joined(separator: "\n")
            .write(to: bulk, atomically: true, encoding: .utf8)
        #expect(try await replica.run("tasks", "import", bulk.path).status == 0)
        let pushed = try await replica.json("sync", "now")
        #expect(pushed["pushed"] == 80 && pushed["conflicts"]?.arrayValue == [], "\(pushed)")
        for i in 0..<80 { _ = try await replica.json("tasks", "update", "mk-bulk\(i)", "--title", "bulk \(i) edited") }
        let edited = try await replica.json("sync", "now")
        #expect(edited["pushed"] == 80 && edited["conflicts"]?.arrayValue == [], "\(edited)")
        #expect(
            try await value(
                url("shared"),
                "SELECT count(*) FROM tasks WHERE title LIKE 'bulk % edited' AND version = 2 AND id LIKE 'mk-bulk%'")
                == "80")
        #expect(
            try await value(
                url("shared"), "SELECT count(DISTINCT actor) FROM task_events WHERE task_id LIKE 'mk-bulk%'")
                == "1")

        // ~/.pgpass: a refused password never replaces the working entry, nor drops others.
        let text = try String(contentsOf: pgpass, encoding: .utf8)
        #expect(text.contains("mem_shared:mem_shared-password"), "\(text)")
        let other = "elsewhere:5432:db:someone:other-secret\n"
        try (text + other).write(to: pgpass, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: pgpass.path)
        let thirdDir = try TestEnvironment.tempDirectory("minsky-trust-third")
        defer { try? FileManager.default.removeItem(at: thirdDir) }
        let third = CLI(cwd: thirdDir, env: env)
        #expect(try await third.run("init").status == 0)
        let wrong = member.replacingOccurrences(of: "mem_shared-password", with: "wrong-password")
        let failed = try await third.run("sync", "enable", "--remote-db", wrong)
        #expect(failed.status == 5, "\(failed.stderr)")
        let after = try String(contentsOf: pgpass, encoding: .utf8)
        #expect(after.contains("mem_shared:mem_shared-password") && after.contains(other), "\(after)")
        #expect(!after.contains("wrong-password"), "\(after)")
        // And the working replica still syncs with it.
        let again = try await replica.run("sync", "now")
        #expect(again.status == 0, "\(again.stderr)")
    }
    @Test func aForgedNotificationWakesWatchersButShowsThemNothing() async throws {
        let logins = try await team("feed")
        let member = try #require(logins[.member])
        let viewer = try #require(logins[.viewer])
        let watcher = try MCPProcess(args: ["tasks", "watch", "--json"], cwd: dir, env: ["MINSKY_DB": member])
        defer { watcher.terminate() }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        // Anyone who may connect can NOTIFY the channel, with any payload: a hint, never news.
        let forged = try await sql(
            viewer, "NOTIFY minsky_events, '{\"id\":\"mk-forged\",\"kind\":\"deleted\"}'; NOTIFY minsky_events")
        #expect(forged.status == 0, "\(forged.stderr)")
        let real = try #require(try await cli(member).json("tasks", "create", "a real change")["id"]?.stringValue)
        // The first thing the watcher reports is the real change, read from the history.
        let line = try #require(watcher.nextRawLine(timeout: 20), "the watcher reported nothing")
        let event = try JSONValue.parse(line)
        #expect(event["taskId"]?.stringValue == real && event["kind"] == "created", "\(line)")
        #expect(!line.contains("mk-forged"))
    }

    /// A job's result is what someone's agent reads back (`tasks/get`): on a team store only its
    /// starter may write it. Another member (here the admin, who holds the member rights too) and
    /// a viewer change nothing; the starter can.
    @Test func onlyItsStarterWritesAJob() async throws {
        let logins = try await team("jobs_trust")
        let member = try #require(logins[.member])
        let insert = """
            INSERT INTO mcp_jobs (id, tool, arguments, client, status, created_at, updated_at, ttl_ms) \
            VALUES ('job-t', 'decompose_task', '{}', '{}', 'working', now(), now(), 86400000)
            """
        let inserted = try await sql(member, insert)
        #expect(inserted.status == 0, "\(inserted.stderr)")
        let forge =
            "UPDATE mcp_jobs SET status = 'completed', result = '{\"forged\": true}' WHERE id = 'job-t' RETURNING id"
        for other in [TeamRole.admin, .viewer] {
            let r = try await sql(try #require(logins[other]), forge)
            #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(other): \(r.stdout)")
        }
        #expect(try await value(url("jobs_trust"), "SELECT status FROM mcp_jobs WHERE id = 'job-t'") == "working")
        #expect(try await value(member, forge) == "job-t")
    }
}

extension TrustTests {
    /// Bulk writes go by COPY on PostgreSQL, which the server refuses for a table whose row-level
    /// security applies to the writer: a member's import of a hundred tasks, and a replica's push
    /// of a hundred changes, must still go in (by INSERT, under the same policies), with the
    /// database's author on the history; a viewer's import is still refused whole.
    @Test func aMembersBulkWritesGoInUnderTheTeamsPolicies() async throws {
        let logins = try await team("bulk")
        let lines = (0..<150).map { #"{"title": "bulk \#($0)", "dependsOn": []}"# }.joined(separator: "\n")
        let member = cli(logins[.member] ?? "")
        let r = try await member.run("tasks", "import", "-", stdin: lines)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try await value(url("bulk"), "SELECT count(*) FROM tasks WHERE title LIKE 'bulk %'") == "150")
        #expect(
            try await value(url("bulk"), "SELECT DISTINCT actor FROM task_events WHERE kind = 'imported'")
                == "mem_bulk")
        let viewer = try await cli(logins[.viewer] ?? "").run("tasks", "import", "-", stdin: lines)
        #expect(viewer.status != 0)
        #expect(try await value(url("bulk"), "SELECT count(*) FROM tasks WHERE title LIKE 'bulk %'") == "150")
    }
}
