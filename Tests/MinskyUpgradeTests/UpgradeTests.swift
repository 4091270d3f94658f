import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import MinskyUpgrade
import Synchronization
import Testing

@testable import MinskyUpgrade

/// A project on SQLite with a varied store, and an empty PostgreSQL schema to upgrade into.
struct UpgradeFixture {
    /// Awkward float32 values (largest, smallest subnormal, negative zero) that must arrive bit-exact.
    static let vector: [Float] = [0.5, -1.25, 3.0e-8, .greatestFiniteMagnitude, -0.0, .leastNonzeroMagnitude]
    var dir: URL
    var url: String
    var schema: String
    var pgpass: URL
    var env: [String: String] { ["PGPASSFILE": pgpass.path] }
    var storePath: String { dir.appendingPathComponent(".minsky/tasks.db").path }

    static func make(tasks: Int = 40) async throws -> UpgradeFixture {
        let dir = try TestEnvironment.tempDirectory("minsky-upgrade")
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let (url, schema) = try await TestEnvironment.freshPostgresSchema()
        let f = UpgradeFixture(dir: dir, url: url, schema: schema, pgpass: dir.appendingPathComponent("pgpass"))
        let store = try SQLiteTaskStore(path: f.storePath)
        var ids: [TaskID] = []
        let zoo: JSONValue = [
            "f": 1.5e-07, "big": 1e300, "neg": -0.5, "one": 1.0, "int": 42,
            "s": "tab\there \u{1} \u{8}\u{C}\u{2028} ü 🎉", "nested": ["bb": 1, "a": [true, nil, "x"]], "": "empty key",
        ]
        for i in 0..<tasks {
            let t = try await store.create(
                NewTask(
                    title: i % 5 == 0 ? "'; DROP TABLE tasks; -- \\ \"q\" 🎉 #\(i)" : "Task \(i) — ünïcode",
                    description: i == 3
                        ? String(repeating: "long text ", count: 50_000) : "line1\nline2\r\n\ttab \\N \\. end",
                    priority: try Priority(i % 5), tags: i % 2 == 0 ? ["even", "t\(i)"] : [],
                    metadata: i % 3 == 0 ? zoo : ["i": .int(Int64(i))],
                    parentId: i > 0 && i % 4 == 0 ? ids[i / 2] : nil,
                    dependsOn: ids.isEmpty || i % 3 != 1 ? [] : [ids[i - 1]]))
            ids.append(t.id)
        }
        _ = try await store.claim(ids[1], owner: "agent-ü", ttl: 600, force: true)
        // Embeddings must arrive bit-exact (validated as bytes on both sides).
        try await store.saveEmbeddings([TaskEmbedding(taskId: ids[0], model: "m", contentHash: "h", vector: vector)])
        try await store.saveProposal(
            Proposal(
                id: "pr-fixture1", taskId: ids[0], kind: "decomposition", model: "m", promptHash: "h",
                body: ["subtasks": [["title": "x \u{1} ü", "n": 1.5e-07]]], createdAt: .now()))
        try await store.recordAICall(
            AICall(
                at: .now(), purpose: "decompose", provider: "openai", model: "gpt-ü", taskId: ids[0],
                inputTokens: 120, outputTokens: 80, durationMs: 1234, outcome: "ok"))
        try await store.recordAICall(
            AICall(
                at: .now(), purpose: "decompose", provider: "sampling", model: "client model", taskId: nil,
                inputTokens: nil, outputTokens: nil, durationMs: 0, outcome: "cancelled"))
        _ = try await store.update(ids[2], TaskPatch(status: .done), expectedVersion: nil)
        // Acceptance criteria and notes travel like every other field and row.
        var criteria = TaskPatch()
        criteria.acceptance = [
            AcceptanceCriterion("ü criterion \u{1} 🎉", done: true), AcceptanceCriterion("second \\N"),
        ]
        _ = try await store.update(ids[ids.count - 1], criteria, expectedVersion: nil)
        // So do paths and evidence.
        var evidence = TaskPatch()
        evidence.paths = ["Sources/ü/**", "README.md"]
        evidence.evidence = Evidence(
            commits: ["3f2a9c1"], command: "swift test \\N ü", exitStatus: 0, tests: "12 passed",
            links: ["https://ci/1"],
            tokens: 1200, minutes: 7.5)
        _ = try await store.update(ids[1], evidence, expectedVersion: nil)
        _ = try await store.addNote(ids[0], body: "note ü 🎉 \\N \t tab \u{1}")
        _ = try await store.addNote(ids[0], body: String(repeating: "long note ", count: 3_000))
        await store.close()
        return f
    }

    func run(_ args: String..., extraEnv: [String: String] = [:]) async throws -> ProcessResult {
        try await runProcess(Binaries.minsky, args, cwd: dir, env: env.merging(extraEnv) { _, b in b })
    }

    /// Everything a user can see: every task in full and every dependency edge.
    func snapshot(sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let list = try await run("tasks", "list", "--all", "--json")
        #expect(list.status == 0, "\(list.stderr)", sourceLocation: sourceLocation)
        let tree = try await run("tasks", "tree", "--json")
        let proposals = try await run("tasks", "proposals", "--json")
        return [
            "tasks": try JSONParser.parse(list.stdout.utf8)["tasks"] ?? .null,
            "tree": try JSONParser.parse(tree.stdout.utf8),
            "proposals": try JSONParser.parse(proposals.stdout.utf8),
        ]
    }

    /// The same command, run to its end on the calling thread.
    func runBlocking(_ args: String..., extraEnv: [String: String] = [:]) throws -> ProcessResult {
        try runProcessBlocking(Binaries.minsky, args, cwd: dir, env: env.merging(extraEnv) { _, b in b })
    }

    /// Calls `write` with 1, 2, 3… for as long as `work` runs and 20 times after it ends (and at
    /// least 50 times in all), however fast or slow the machine; returns what `work` returned. `work` runs on a thread of its own:
    /// `write` blocks its caller (it waits for a server's answer), and a task waiting to resume on
    /// Swift's cooperative pool could wait for ever behind such loops.
    static func writing<T: Sendable>(while work: @escaping @Sendable () throws -> T, _ write: (Int) -> Void) throws -> T
    {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        Thread { outcome.withLock { $0 = Result { try work() } } }.start()
        var i = 0
        var after = 0
        // A deadline, so an upgrade that never ends fails the test instead of hanging it.
        let deadline = Date().addingTimeInterval(300)
        while after < 20 || i < 50 {
            if outcome.withLock({ $0 != nil }) { after += 1 }
            i += 1
            write(i)
            if Date() > deadline && outcome.withLock({ $0 == nil }) {
                throw MinskyError(.internal, "the upgrade did not finish within 300 s while \(i) writes ran")
            }
        }
        // The loop ends only once `work` has set its outcome.
        return try outcome.withLock { $0! }.get()
    }

    func config() throws -> String {
        try String(contentsOf: dir.appendingPathComponent(".minsky/config.json"), encoding: .utf8)
    }

    /// Whether the database carries the mark of an upgrade that has not finished.
    func unfinishedMark() async throws -> Bool {
        let exists = try await PostgresAdmin.query(url: url, "SELECT to_regclass('minsky_migrations') IS NOT NULL")
        guard exists.first?.first.flatMap({ $0 }) == "t" else { return false }
        let rows = try await PostgresAdmin.query(
            url: url, "SELECT count(*) FROM minsky_migrations WHERE name = '\(Schema.unfinishedUpgrade)'")
        return rows.first?.first.flatMap { $0 } == "1"
    }

    func pgCount(_ table: String = "tasks") async throws -> Int {
        let exists = try await PostgresAdmin.query(url: url, "SELECT to_regclass('\(table)') IS NOT NULL")
        guard exists.first?.first == "t" else { return 0 }
        return Int(
            try await PostgresAdmin.query(url: url, "SELECT count(*) FROM \(table)").first?.first.flatMap { $0 } ?? "0")
            ?? 0
    }

    func cleanup() async {
        try? FileManager.default.removeItem(at: dir)
        await TestEnvironment.dropSchema(schema)
    }
}

func sha(_ path: String) throws -> String { SHA256.hex(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// The URL with a password the trust-auth test server ignores, to prove where passwords go.
func withPassword(_ url: String) -> String {
    url.replacingOccurrences(of: "postgresql://postgres@", with: "postgresql://postgres:s3cr3t-pw@")
}

@Suite("Upgrade, rollback and backups")
struct UpgradeTests {
    @Test func upgradeCarriesEverythingAndRollbackBringsItBack() async throws {
        let f = try await UpgradeFixture.make()
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let before = try await f.snapshot()
            let r = try await f.run("upgrade", "to-postgres", "--db-url", withPassword(f.url))
            #expect(r.status == 0, "\(r.stderr)")
            for line in [
                "✓ Exporting SQLite data...", "✓ Creating PostgreSQL schema...", "✓ Migrating 40 tasks...",
                "✓ Migrating 13 task relationships...",
                "✓ Migrating 1 AI embeddings...", "✓ Migrating 1 proposals...", "✓ Migrating 2 AI call records...",
                "✓ Indexing 1 AI embeddings for pgvector search...", "✓ Validating data integrity...",
                "✓ Switching backend configuration...", "✓ Migration complete!",
                "Old SQLite database backed up to: ",
            ] {
                #expect(r.stdout.contains(line), "missing \(line) in:\n\(r.stdout)")
            }
            #expect(!r.stdout.contains("s3cr3t-pw") && !r.stderr.contains("s3cr3t-pw"))
            // Checksums read as 32 hexadecimal digits, never as (negative) decimals.
            let sums = r.stdout.split(separator: "\n").filter { $0.contains("checksum") }
            #expect(!sums.isEmpty)
            for line in sums {
                let word = line.split(separator: " ").drop { $0 != "checksum" }.dropFirst().first ?? ""
                #expect(word.count == 32 && word.allSatisfy(\.isHexDigit), "\(line)")
            }
            // Config points at PostgreSQL, without the password; the password is in the 0600 pgpass file.
            let config = try f.config()
            #expect(config.contains("postgresql://postgres@127.0.0.1"))
            #expect(!config.contains("s3cr3t-pw"))
            #expect(try String(contentsOf: f.pgpass, encoding: .utf8).contains(":s3cr3t-pw"))
            #expect(
                ((try FileManager.default.attributesOfItem(atPath: f.pgpass.path))[.posixPermissions] as? NSNumber)?
                    .intValue == 0o600)
            #expect(
                FileManager.default.fileExists(
                    atPath: f.dir.appendingPathComponent(".minsky/pre-migration-backup.db").path)
            )
            #expect(try await f.pgCount() == 40)
            // The embedding is searchable through pgvector at once: vector filled, HNSW index built.
            let vector =
                try await PostgresAdmin.query(url: f.url, "SELECT embedding::real[]::text FROM task_embeddings").first?
                .first ?? nil
            let floats = (vector ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",")
                .compactMap { Float(String($0)) }
            #expect(floats.map(\.bitPattern) == UpgradeFixture.vector.map(\.bitPattern), "\(vector ?? "nil")")
            #expect(
                try await PostgresAdmin.query(url: f.url, "SELECT to_regclass('task_embeddings_hnsw_6') IS NOT NULL")
                    .first?
                    .first == "t")
            // Field for field, what users see is the same on PostgreSQL.
            #expect(try await f.snapshot() == before)

            // Work continues on PostgreSQL; rollback brings it all back to SQLite.
            #expect(try await f.run("tasks", "create", "written after the upgrade").status == 0)
            let onPostgres = try await f.snapshot()
            let rb = try await f.run("migrate", "rollback")
            #expect(rb.status == 0, "\(rb.stderr)")
            #expect(try f.config().contains("sqlite:tasks.db"))
            #expect(try await f.snapshot() == onPostgres)
            #expect(try await f.pgCount() == 41)  // PostgreSQL left untouched

            // --from-backup restores the pre-migration state instead.
            #expect(try await f.run("upgrade", "to-postgres", "--db-url", f.url, "--force").status == 0)
            let fb = try await f.run("migrate", "rollback", "--from-backup")
            #expect(fb.status == 0, "\(fb.stderr)")
            #expect(try await f.snapshot()["tasks"]?.arrayValue?.count == 41)
        }
    }

    @Test func theCatalogCarriesEveryTableAndColumn() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-catalog")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteTaskStore(path: dir.appendingPathComponent("t.db").path)
        let sqliteTables = try await store.driver.databasePool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").filter {
                !Schema.isBookkeeping($0)
            }
        }
        #expect(
            Set(sqliteTables) == Set(Schema.catalog.map(\.name)),
            "a table exists that upgrade, backup and rollback would not carry")
        for t in Schema.catalog {
            let cols = try await store.driver.databasePool.read { db in
                try Row.fetchAll(db, sql: "PRAGMA table_info(\(t.name))").map { $0["name"] as String }
            }
            #expect(cols == t.columns.map(\.name), "columns of \(t.name) differ from Schema.catalog")
        }
        await store.close()
        let (url, schema) = try await TestEnvironment.freshPostgresSchema()
        let pg = try await PostgresTaskStore.connect(url: url)
        await pg.close()
        let pgTables = try await PostgresAdmin.query(
            url: url, "SELECT table_name FROM information_schema.tables WHERE table_schema = '\(schema)'"
        ).compactMap { $0[0] }
        #expect(Set(pgTables.filter { !Schema.isBookkeeping($0) }) == Set(Schema.catalog.map(\.name)))
        for t in Schema.catalog {
            let cols = try await PostgresAdmin.query(
                url: url,
                "SELECT column_name FROM information_schema.columns WHERE table_schema = '\(schema)' AND table_name = '\(t.name)' ORDER BY ordinal_position"
            ).compactMap { $0[0] }
            #expect(cols.filter { !Schema.postgresDerivedColumns.contains($0) } == t.columns.map(\.name))
        }
        await TestEnvironment.dropSchema(schema)
    }

    @Test func validationNamesTheTableAndTheFirstDifferingRow() async throws {
        let f = try await UpgradeFixture.make(tasks: 12)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let driver = try SQLiteDriver(path: f.storePath, create: false)
            let exports = try await driver.databasePool.read { try Transfer.exportSQLite($0, reporter: nil) }
            try driver.databasePool.close()
            let victim = exports[0].digest.sorted()[5].parts.joined(separator: "|")
            let pg = try PostgresSession(url: f.url)
            try pg.execute("BEGIN")
            try pg.migrateInTransaction()
            try pg.execute("SET CONSTRAINTS ALL DEFERRED")
            try Transfer.copy(exports, into: pg, reporter: nil, faultPoint: nil)
            try Transfer.validate(pg, exports[0])  // identical so far
            try pg.execute("UPDATE tasks SET title = title || '!' WHERE id = $1", [.text(victim)])
            do {
                try Transfer.validate(pg, exports[0])
                Issue.record("a changed row passed validation")
            } catch let e as MinskyError {
                #expect(e.message.contains("table tasks"))
                #expect(e.message.contains("first differing row: \(victim)"))
            }
            // JSON is compared by value as PostgreSQL stores it: a changed number is caught too.
            try pg.execute("UPDATE tasks SET title = rtrim(title, '!') WHERE id = $1", [.text(victim)])
            try Transfer.validate(pg, exports[0])
            try pg.execute(
                "UPDATE tasks SET metadata = jsonb_set(metadata, '{f}', '0.00000016') WHERE metadata ? 'f' AND id = (SELECT min(id) FROM tasks WHERE metadata ? 'f')"
            )
            #expect(throws: MinskyError.self) { try Transfer.validate(pg, exports[0]) }
            try pg.execute("ROLLBACK")
        }
    }

    @Test func nonEmptyTargetsNeedForceAndDryRunsWriteNothing() async throws {
        let f = try await UpgradeFixture.make(tasks: 10)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let dry = try await f.run("upgrade", "to-postgres", "--db-url", f.url, "--dry-run")
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("Dry run"))
            #expect(try await f.pgCount() == 0)
            #expect(try f.config().contains("sqlite:tasks.db"))
            // Something else already in the target: refused, named, and nothing changes.
            let other = try await PostgresTaskStore.connect(url: f.url)
            _ = try await other.create(NewTask(title: "someone else's"))
            await other.close()
            let refused = try await f.run("upgrade", "to-postgres", "--db-url", f.url)
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("not empty") && refused.stderr.contains("--force"))
            #expect(try f.config().contains("sqlite:tasks.db"))
            #expect(try await f.pgCount() == 1)
            let forced = try await f.run("upgrade", "to-postgres", "--db-url", f.url, "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try await f.pgCount() == 10)
        }
    }

    /// Pre-flight (integrity, foreign keys) runs beside the copy: a store that fails it is refused
    /// with its own message, and PostgreSQL, the config and the SQLite file stay as they were,
    /// though the copy had begun (PostgreSQL commits only after the checks pass).
    @Test(arguments: ["moved", "orphan"])
    func aStoreFailingPreflightIsRefusedAndNothingIsCommitted(damage: String) async throws {
        let f = try await UpgradeFixture.make(tasks: 12)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            // Written behind the store's back: a mark that it was moved already (the copy itself
            // would succeed), or a dependency on a task that does not exist (the copy's own
            // foreign-key check fails too; pre-flight's message is the one to see).
            let q = try DatabaseQueue(path: f.storePath)
            try await q.writeWithoutTransaction { db in
                if damage == "moved" {
                    try db.execute(
                        sql:
                            "INSERT INTO store_moved (url, moved_at) VALUES ('postgresql://elsewhere/db', '2026-01-01T00:00:00Z')"
                    )
                } else {
                    try db.execute(sql: "PRAGMA foreign_keys = OFF")
                    try db.execute(
                        sql:
                            "INSERT INTO task_dependencies (task_id, depends_on_id, created_at) SELECT id, 'mk-gone0000', created_at FROM tasks LIMIT 1"
                    )
                }
                _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
            try q.close()
            let sqliteBefore = try sha(f.storePath)
            // Small COPY chunks: both connections of the load commit rows, which must go again.
            let r = try await f.run("upgrade", "to-postgres", "--db-url", f.url, extraEnv: ["MINSKY_COPY_CHUNK": "512"])
            #expect(r.status != 0)
            let expected = damage == "moved" ? "already upgraded to postgresql://elsewhere/db" : "broken foreign key"
            #expect(r.stderr.contains(expected), "\(r.stderr)")
            #expect(try await f.pgCount() == 0, "PostgreSQL committed a copy of a store that failed pre-flight")
            #expect(try await f.pgCount("task_dependencies") == 0)
            #expect(try await f.unfinishedMark() == false, "the failed load left its mark")
            #expect(try f.config().contains("sqlite:tasks.db"))
            #expect(try sha(f.storePath) == sqliteBefore)
        }
    }

    @Test func unreachableTargetNamesHostAndPortNotThePassword() async throws {
        let f = try await UpgradeFixture.make(tasks: 3)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let before = try sha(f.storePath)
            let r = try await f.run("upgrade", "to-postgres", "--db-url", "postgresql://bob:hunter2@127.0.0.1:1/x")
            #expect(r.status == 5)
            #expect(r.stderr.contains("127.0.0.1:1"))
            #expect(!r.stderr.contains("hunter2"))
            // A wrong URL fails before anything is written: no backup either.
            let backup = f.dir.appendingPathComponent(".minsky/\(Upgrader.backupName)").path
            #expect(!FileManager.default.fileExists(atPath: backup))
            #expect(try sha(f.storePath) == before)
            #expect(try f.config().contains("sqlite:tasks.db"))
        }
    }

    /// SIGKILL at each step: SQLite unchanged, config never ahead of a validated copy, PostgreSQL
    /// either without rows or with rows under the unfinished-upgrade mark (the load commits on
    /// two connections; small COPY chunks here so both carry rows), which every store refuses
    /// to open, and a rerun finishes the job.
    @Test(arguments: ["after-backup", "copy", "validate", "switch"])
    func killedUpgradesLeaveEverythingConsistent(point: String) async throws {
        let f = try await UpgradeFixture.make(tasks: 30)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let before = try await f.snapshot()
            let sqliteBefore = try sha(f.storePath)
            let killed = try await f.run(
                "upgrade", "to-postgres", "--db-url", f.url,
                extraEnv: ["MINSKY_FAULT": "\(point):kill", "MINSKY_COPY_CHUNK": "1024"])
            #expect(killed.status != 0)
            #expect(killed.stderr.contains("fault point \(point) reached"))
            #expect(try sha(f.storePath) == sqliteBefore, "the SQLite store changed")
            let n = try await f.pgCount()
            let marked = try await f.unfinishedMark()
            let config = try f.config()
            if config.contains("postgresql://") { #expect(n == 30 && !marked) }  // never an unvalidated database
            #expect(n == 0 || marked || point == "switch", "PostgreSQL holds \(n) of 30 rows without the mark")
            if point == "validate" { #expect(n == 30 && marked, "every row committed, still marked: \(n)") }
            if point == "switch" { #expect(n == 30 && !marked) }
            if marked {
                do {
                    _ = try await PostgresTaskStore.connect(url: f.url)
                    Issue.record("a store opened a database an upgrade had not finished")
                } catch let e as MinskyError {
                    #expect(e.message.contains("has not finished") && e.message.contains("rerun the upgrade"), "\(e)")
                }
            }
            let rerun = try await f.run("upgrade", "to-postgres", "--db-url", f.url)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(try f.config().contains("postgresql://"))
            #expect(try await f.pgCount() == 30)
            #expect(try await f.snapshot() == before)
        }
    }

    @Test func backupsAreVerifiedAndRestoredOnBothStores() async throws {
        let f = try await UpgradeFixture.make(tasks: 15)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let before = try await f.snapshot()
            let c = try await f.run("backup", "create", "--json")
            #expect(c.status == 0, "\(c.stderr)")
            let manifest = try JSONParser.parse(c.stdout.utf8)
            #expect(manifest["tables"]?["tasks"] == 15)
            let file = f.dir.appendingPathComponent(".minsky/backups/\(manifest["file"]?.stringValue ?? "")").path
            #expect(try await f.run("backup", "list").stdout.contains(manifest["file"]?.stringValue ?? "?"))
            #expect(try await f.run("backup", "verify", file).status == 0)
            // Restoring over a non-empty store needs --force; into an empty PostgreSQL it does not.
            #expect(try await f.run("backup", "restore", file).status == 2)
            let toPG = try await f.run("backup", "restore", file, "--to", f.url)
            #expect(toPG.status == 0, "\(toPG.stderr)")
            #expect(try await f.pgCount() == 15)
            // A backup of the PostgreSQL store is the same portable format, with the same checksums.
            let pgBackup = try await runProcess(
                Binaries.minsky,
                ["backup", "create", "--json", "--db", f.url, "--out", f.dir.appendingPathComponent("pg.db").path],
                cwd: f.dir, env: f.env)
            #expect(pgBackup.status == 0, "\(pgBackup.stderr)")
            #expect(try JSONParser.parse(pgBackup.stdout.utf8)["checksums"] == manifest["checksums"])
            // Tampering is caught.
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            bytes[bytes.count - 100] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: file))
            let bad = try await f.run("backup", "verify", file)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("SHA-256"))
            // Restore the PostgreSQL backup over the SQLite store with --force: same content.
            #expect(try await f.run("tasks", "create", "extra").status == 0)
            let forced = try await f.run(
                "backup", "restore", f.dir.appendingPathComponent("pg.db").path, "--force", "--json")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(try await f.snapshot() == before)
            // What the store held (16 tasks, the extra one included) was saved first, and is a valid backup.
            let safety = try #require(try JSONParser.parse(forced.stdout.utf8)["safetyBackup"]?.stringValue)
            let saved = try await f.run("backup", "verify", safety, "--json")
            #expect(saved.status == 0, "\(saved.stderr)")
            #expect(try JSONParser.parse(saved.stdout.utf8)["tables"]?["tasks"] == 16)
        }
    }
}

@Suite("Upgrade under pressure")
struct UpgradePressureTests {
    /// The server goes away in the middle of the copy: a clear error, nothing switched, and a
    /// rerun completes once it is back.
    @Test func postgresStoppingMidCopyIsAClearErrorAndRerunCompletes() async throws {
        let pgServer = try ScratchPostgres()
        let f = try await UpgradeFixture.make(tasks: 25)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let sqliteBefore = try sha(f.storePath)
            let go = f.dir.appendingPathComponent("go").path
            let upgrade = Task.detached {
                try await f.run(
                    "upgrade", "to-postgres", "--db-url", pgServer.url, extraEnv: ["MINSKY_FAULT": "copy:wait=\(go)"])
            }
            // Stop the server once the upgrade is known to be in the copy, then let it go on.
            let deadline = Date().addingTimeInterval(120)
            while !FileManager.default.fileExists(atPath: go + ".reached") {
                guard Date() < deadline else {
                    upgrade.cancel()
                    Issue.record("the upgrade never reached its copy within 120 s")
                    FileManager.default.createFile(atPath: go, contents: nil)
                    return
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            try pgServer.stop()
            FileManager.default.createFile(atPath: go, contents: nil)
            let r = try await upgrade.value
            #expect(r.status != 0)
            #expect(r.stderr.contains("127.0.0.1:\(pgServer.port)"), "\(r.stderr)")
            #expect(try f.config().contains("sqlite:tasks.db"))
            #expect(try sha(f.storePath) == sqliteBefore)
            try pgServer.start()
            let rerun = try await f.run("upgrade", "to-postgres", "--db-url", pgServer.url)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(rerun.stdout.contains("Migrating 25 tasks"))
        }
    }

    /// Two projects upgraded into one database at once: the second is refused while the first
    /// loads (it must not take the first's committed rows for an interrupted load's and clear
    /// them), and the first completes.
    @Test func aSecondUpgradeIntoTheSameDatabaseWaitsItsTurn() async throws {
        let f = try await UpgradeFixture.make(tasks: 20)
        let other = try await UpgradeFixture.make(tasks: 5)
        try await cleaningUp({
            await f.cleanup()
            await other.cleanup()
        }) { () async throws in
            let go = f.dir.appendingPathComponent("go").path
            let first = Task.detached {
                try await f.run(
                    "upgrade", "to-postgres", "--db-url", f.url,
                    extraEnv: ["MINSKY_FAULT": "validate:wait=\(go)", "MINSKY_COPY_CHUNK": "1024"])
            }
            let deadline = Date().addingTimeInterval(120)
            while !FileManager.default.fileExists(atPath: go + ".reached") {
                guard Date() < deadline else {
                    FileManager.default.createFile(atPath: go, contents: nil)
                    Issue.record("the first upgrade never reached validation within 120 s")
                    return
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            let second = try await other.run("upgrade", "to-postgres", "--db-url", f.url)
            FileManager.default.createFile(atPath: go, contents: nil)
            #expect(second.status == 2, "\(second.stderr)")
            #expect(second.stderr.contains("another `minsky upgrade to-postgres` is loading"), "\(second.stderr)")
            #expect(try other.config().contains("sqlite:tasks.db"))
            let r = try await first.value
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try await f.pgCount() == 20)
        }
    }

    /// An agent keeps writing through its MCP server while the store is upgraded: its writes
    /// wait for the copy, then follow the store to PostgreSQL; every acknowledged write is there.
    @Test func writersDuringTheUpgradeFollowItToPostgres() async throws {
        let f = try await UpgradeFixture.make(tasks: 10)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let server = try MCPProcess(cwd: f.dir, env: f.env)
            defer { server.terminate() }
            _ = server.initialize()
            var acknowledged: [String] = []
            var failures: [String] = []
            // Some writes wait for the upgrade, some follow the store to PostgreSQL.
            let r = try UpgradeFixture.writing(while: {
                try f.runBlocking(
                    "upgrade", "to-postgres", "--db-url", f.url, extraEnv: ["MINSKY_FAULT": "validate:sleep=1"])
            }) { i in
                let r = server.call("create_task", ["title": .string("live write \(i)")])
                if r?["isError"] == false, let id = r?["structuredContent"]?["id"]?.stringValue {
                    acknowledged.append(id)
                } else {
                    failures.append(r?.canonicalJSON() ?? "no answer")
                }
                if i % 10 == 0, let first = acknowledged.first {
                    _ = server.call("update_task", ["id": .string(first), "description": .string("updated \(i)")])
                }
            }
            #expect(r.status == 0, "\(r.stderr)")
            #expect(failures.isEmpty, "writes failed during the upgrade: \(failures.prefix(3))")
            #expect(acknowledged.count >= 20)
            let onPostgres = try await f.snapshot()["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            let missing = Set(acknowledged).subtracting(onPostgres)
            #expect(missing.isEmpty, "acknowledged writes missing from PostgreSQL: \(missing.prefix(5))")
            #expect(try f.config().contains("postgresql://"))
        }
    }
}

@Suite("Live upgrade")
struct LiveUpgradeTests {
    /// A writer creates and updates tasks through its MCP server during the whole live migration
    /// (the copy is slowed down so plenty happens while it runs); afterwards every acknowledged
    /// write, and the last acknowledged version of every update, is in PostgreSQL.
    @Test func everyAcknowledgedWriteDuringALiveUpgradeIsInPostgres() async throws {
        let f = try await UpgradeFixture.make(tasks: 20)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            let server = try MCPProcess(cwd: f.dir, env: f.env)
            defer { server.terminate() }
            _ = server.initialize()
            var created: [String] = []
            var lastDescription: [String: String] = [:]
            var failures: [String] = []
            let r = try UpgradeFixture.writing(while: {
                try f.runBlocking(
                    "upgrade", "to-postgres", "--live", "--db-url", f.url, extraEnv: ["MINSKY_FAULT": "copy:sleep=2"])
            }) { i in
                let r = server.call("create_task", ["title": .string("live \(i)")])
                if r?["isError"] == false, let id = r?["structuredContent"]?["id"]?.stringValue {
                    created.append(id)
                } else {
                    failures.append(r?.canonicalJSON() ?? "no answer")
                }
                if let target = created.randomElement() {
                    let text = "revision \(i)"
                    let u = server.call("update_task", ["id": .string(target), "description": .string(text)])
                    if u?["isError"] == false {
                        lastDescription[target] = text
                    } else {
                        failures.append(u?.canonicalJSON() ?? "no answer")
                    }
                }
                if i % 7 == 0, let victim = created.first {
                    let d = server.call("delete_task", ["id": .string(victim)])
                    if d?["isError"] == false {
                        created.removeFirst()
                        lastDescription[victim] = nil
                    }
                }
            }
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("Replayed changes"))
            #expect(failures.isEmpty, "writes failed: \(failures.prefix(3))")
            #expect(created.count > 20)
            #expect(try f.config().contains("postgresql://"))
            let tasks = try await f.snapshot()["tasks"]?.arrayValue ?? []
            let byID = Dictionary(
                tasks.compactMap { t in t["id"]?.stringValue.map { ($0, t) } }, uniquingKeysWith: { a, _ in a })
            let missing = created.filter { byID[$0] == nil }
            #expect(missing.isEmpty, "acknowledged creates missing: \(missing.prefix(5))")
            for (id, text) in lastDescription {
                #expect(byID[id]?["description"]?.stringValue == text, "update of \(id) lost")
            }
            // The writer is on PostgreSQL now and keeps going.
            #expect(server.call("create_task", ["title": "after the switch"])?["isError"] == false)
            #expect(try await f.pgCount() == tasks.count + 1)
        }
    }
}

@Suite("Upgrade leaves the schema a migration would")
struct UpgradeSchemaTests {
    static func shape(_ url: String, _ schema: String) async throws -> [String] {
        let idx = try await PostgresAdmin.query(
            url: url,
            "SELECT indexname || ': ' || replace(indexdef, '\(schema).', '') FROM pg_indexes WHERE schemaname = '\(schema)' ORDER BY 1"
        )
        let fks = try await PostgresAdmin.query(
            url: url,
            """
            SELECT conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint \
            WHERE connamespace = '\(schema)'::regnamespace ORDER BY 1
            """)
        return (idx + fks).map { ($0.first ?? nil) ?? "" }.map { $0.replacingOccurrences(of: "\(schema).", with: "") }
    }

    /// The bulk load drops foreign keys and indexes and re-creates them: the result must be
    /// exactly what the migrations create.
    @Test func indexesAndForeignKeysMatchAFreshlyMigratedStore() async throws {
        let f = try await UpgradeFixture.make(tasks: 5)
        try await cleaningUp({ await f.cleanup() }) { () async throws in
            #expect(try await f.run("upgrade", "to-postgres", "--db-url", f.url).status == 0)
            let (fresh, freshSchema) = try await TestEnvironment.freshPostgresSchema()
            let s = try await PostgresTaskStore.connect(url: fresh)
            // Used normally, a store with a 6-dimension embedding gets the same pgvector objects the
            // upgrade prepared for the fixture's embedding.
            let t = try await s.create(NewTask(title: "t"))
            try await s.saveEmbeddings([
                TaskEmbedding(taskId: t.id, model: "m", contentHash: "h", vector: [1, 2, 3, 4, 5, 6])
            ])
            await s.close()
            let upgraded = try await Self.shape(f.url, f.schema)
            let migrated = try await Self.shape(fresh, freshSchema)
            await TestEnvironment.dropSchema(freshSchema)
            #expect(upgraded.count > 8)
            #expect(upgraded == migrated)
        }
    }
}
