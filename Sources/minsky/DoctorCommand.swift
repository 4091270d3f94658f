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
            let location = StoreURL.redacted(sel.location)
            if case .sqlite(let path)? = try? StoreURL.parse(sel.location), FileManager.default.fileExists(atPath: path)
            {
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
            if case .postgres(let url)? = try? StoreURL.parse(sel.location) {
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
