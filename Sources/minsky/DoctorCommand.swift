import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL

/// `minsky doctor`: what this project uses and whether it is healthy, with the fix for each problem.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the store, its schema, PostgreSQL extensions and the AI settings; say how to fix what is wrong.")
    @OptionGroup var global: GlobalOptions

    struct Check: Encodable {
        var name: String
        var ok: Bool
        var detail: String
    }

    func run() async throws {
        let out = Output(json: global.json)
        try await out.reportingErrors {
            var checks: [Check] = []
            let sel = try global.selection()
            checks.append(Check(name: "store", ok: true, detail: StoreURL.redacted(sel.location)))
            let store = try await sel.open()
            let count = try await store.count()
            checks.append(Check(name: "schema", ok: true, detail: "migrations \(Schema.migrationNames.joined(separator: ", ")); \(count) tasks"))
            if case .postgres(let url)? = try? StoreURL.parse(sel.location) {
                let session = try PostgresSession(url: url)
                let version = try session.query("SHOW server_version").first?[0].text ?? "?"
                checks.append(Check(name: "postgresql", ok: true, detail: "server \(version)"))
                let installed = try session.query("SELECT extversion FROM pg_extension WHERE extname = 'vector'").first?[0].text
                let method = await store.vectorSearchMethod()
                checks.append(Check(name: "pgvector", ok: method.hasPrefix("pgvector"),
                                    detail: installed.map { "\($0); semantic search: \(method)" } ?? "semantic search: \(method)"))
            } else {
                checks.append(Check(name: "search", ok: true, detail: "semantic search: \(await store.vectorSearchMethod())"))
            }
            let embedded = try await store.embeddingHashes(model: sel.project?.config.ai?.embeddingModel ?? "text-embedding-3-small").count
            await store.close()
            if let provider = try resolveProvider(project: sel.project) {
                checks.append(Check(name: "ai", ok: true, detail: "\(provider.kind.rawValue) \(provider.model) at \(provider.baseURL.absoluteString); key \(provider.apiKey == nil ? "not set" : "set")"))
            } else {
                checks.append(Check(name: "ai", ok: false, detail: "no provider: minsky config set ai.provider openai (agents over MCP can still answer themselves)"))
            }
            checks.append(Check(name: "embeddings", ok: embedded > 0 || count == 0, detail: "\(embedded) of \(count) tasks embedded" + (embedded < count ? "; run minsky tasks embed" : "")))
            if out.json { try out.emit(checks); return }
            for c in checks { out.line("\(c.ok ? "✓" : "!") \(c.name): \(c.detail)") }
        }
    }
}
