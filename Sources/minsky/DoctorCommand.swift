import ArgumentParser
import Foundation
import MinskyAI
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

/// `minsky doctor`: what this project uses and whether it is healthy, with the fix for each
/// problem. Each check is real: the store is opened and read, a SQLite file gets the same
/// integrity check the upgrade runs, and the model server answers one cheap request.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract:
            "Check the store, its integrity and schema, PostgreSQL extensions and the AI settings; say how to fix what is wrong.",
        discussion: "Exits 0 when every check passes or only warns, else with the exit code of the first failed check.")
    @OptionGroup var global: GlobalOptions

    struct Check: Encodable {
        var name: String
        var ok: Bool
        var detail: String
    }

    /// On PostgreSQL: who is connected and with which right, whether row-level security is forced
    /// on every table, and whether the change feed delivers (a real LISTEN/NOTIFY round trip).
    static func teamChecks(store: any MinskyStore, session: PostgresSession, url: String) async throws -> [Check] {
        var checks: [Check] = []
        let access = try await store.access()
        checks.append(
            Check(
                name: "role", ok: true,
                detail: access.enforced
                    ? "\(access.identity): \(access.right.rawValue) right (team role \(access.right.teamRole))"
                    : "\(access.identity) is a superuser and bypasses row-level security; give people and agents team roles instead (minsky team add NAME --role member)"
            ))
        let forced = try PostgresTeam.forcedRowSecurity(session)
        let loose = forced.filter { !$0.value }.keys.sorted()
        checks.append(
            Check(
                name: "row-level security", ok: loose.isEmpty,
                detail: loose.isEmpty
                    ? "forced on all \(forced.count) tables"
                    : loose.count == forced.count
                        ? "not set up (one user): run `minsky team init` as the database owner to enforce roles"
                        : "not forced on \(loose.joined(separator: ", ")): run `minsky team init` as the database owner"
            ))
        if let team = try PostgresTeam.detect(query: { try session.query($0) }) {
            // A store set up by an earlier minsky made admins members of the owner role (DDL,
            // policies, triggers): `team init` takes them out, and nothing foreign may be attached.
            let adminOwns =
                try session.query(
                    "SELECT pg_has_role($1, $2, 'MEMBER')", [.text(team.group(.admin)), .text(team.owner)]
                ).first?[0].text == "t"
            let foreign = try PostgresTeam.foreignObjects(query: { try session.query($0) })
            checks.append(
                Check(
                    name: "team integrity", ok: !adminOwns && foreign.isEmpty,
                    detail: adminOwns
                        ? "admins are members of \(team.owner) (set up by an earlier minsky): run `minsky team init` as a superuser to take them out"
                        : foreign.isEmpty
                            ? "roles \(team.base)_*: admins hold no owner rights; no foreign trigger, rule or function"
                            : "not created by minsky: \(foreign.joined(separator: "; ")); inspect and drop it"
                ))
        }
        let trigger =
            try session.query(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'task_events_notify' AND tgrelid = to_regclass('task_events')"
            ).first?[0].text == "1"
        let started = Date()
        let delivered = try await Blocking.run { () throws -> Bool in
            let listener = try PGListener(url: url)
            try session.execute("SELECT pg_notify('\(SQLDialect.changeChannel)', '')")
            return listener.wait(timeout: 2)
        }
        let ms = Int(Date().timeIntervalSince(started) * 1000)
        checks.append(
            Check(
                name: "change feed", ok: trigger && delivered,
                detail: !trigger
                    ? "the task_events_notify trigger is missing: reopen the store with this minsky to migrate it"
                    : delivered
                        ? "LISTEN/NOTIFY round trip in \(ms) ms"
                        : "no notification within 2 s: connect directly or through a session pooler (a transaction pooler drops LISTEN)"
            ))
        return checks
    }

    func run() async throws {
        let out = Output(json: global.json)
        var checks: [Check] = []
        var failure: MinskyError?
        func fail(_ name: String, _ e: MinskyError) {
            checks.append(Check(name: name, ok: false, detail: e.message))
            if failure == nil { failure = e }
        }
        try await out.reportingErrors {
            let sel = try global.selection()
            let location = sel.location.redacted
            if let path = sel.location.sqlitePath, FileManager.default.fileExists(atPath: path) {
                do {
                    let result = try SQLiteDriver.quickCheck(path: path)
                    if result == ["ok"] {
                        checks.append(Check(name: "integrity", ok: true, detail: "quick_check ok"))
                    } else {
                        fail(
                            "integrity",
                            MinskyError(
                                .storeIncompatible,
                                "\(path) is damaged (\(result.prefix(2).joined(separator: "; "))); restore a backup: minsky backup list, then minsky backup restore FILE --force"
                            ))
                    }
                } catch let e as MinskyError { fail("integrity", e) }
            }
            let store: any MinskyStore
            do { store = try await sel.open() } catch let e as MinskyError {
                fail("store", MinskyError(e.code, "\(location): \(e.message)"))
                return
            }
            let count: Int
            do { count = try await store.count() } catch let e as MinskyError {
                await store.close()
                fail("store", MinskyError(e.code, "\(location): \(e.message)"))
                return
            }
            checks.insert(Check(name: "store", ok: true, detail: location), at: 0)
            checks.append(
                Check(
                    name: "schema", ok: true,
                    detail: "migrations \(Schema.migrationNames.joined(separator: ", ")); \(count) tasks"))
            if let url = sel.location.postgresConninfo {
                let session = try PostgresSession(url: url)
                let version = try session.query("SHOW server_version").first?[0].text ?? "?"
                checks.append(Check(name: "postgresql", ok: true, detail: "server \(version)"))
                let installed = try session.query("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                    .first?[0].text
                let method = await store.vectorSearchMethod()
                checks.append(
                    Check(
                        name: "pgvector", ok: method.hasPrefix("pgvector"),
                        detail: installed.map { "\($0); semantic search: \(method)" } ?? "semantic search: \(method)"))
                checks += try await Self.teamChecks(store: store, session: session, url: url)
            } else {
                checks.append(
                    Check(name: "search", ok: true, detail: "semantic search: \(await store.vectorSearchMethod())"))
            }
            let embedded = try await store.embeddingHashes(
                model: sel.project?.config.ai?.embeddingModel ?? "text-embedding-3-small"
            ).count
            await store.close()
            if let provider = try resolveProvider(project: sel.project) {
                let what =
                    "\(provider.kind.rawValue) \(provider.model) at \(provider.baseURL.absoluteString); key \(provider.apiKey == nil ? "not set" : "set")"
                do {
                    checks.append(
                        Check(name: "ai", ok: true, detail: "\(what): " + (try await Providers.check(provider))))
                } catch let e as MinskyError {
                    fail("ai", MinskyError(e.code, "\(what): \(e.message)"))
                }
            } else {
                checks.append(
                    Check(
                        name: "ai", ok: false,
                        detail:
                            "no provider: minsky config set ai.provider openai (agents over MCP can still answer themselves)"
                    ))
            }
            checks.append(
                Check(
                    name: "embeddings", ok: embedded > 0 || count == 0,
                    detail: "\(embedded) of \(count) tasks embedded"
                        + (embedded < count ? "; run minsky tasks embed" : "")))
        }
        if out.json {
            try out.emit(checks)
        } else {
            for c in checks { out.line("\(c.ok ? "✓" : "!") \(c.name): \(c.detail)") }
        }
        if let failure { throw ExitCode(failure.code.exitCode) }
    }
}
