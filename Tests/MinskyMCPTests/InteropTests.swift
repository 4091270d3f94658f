import Foundation
import MinskyCore
import MinskyMCP
import MinskyTestSupport
import Testing

/// The official Python MCP client (mcp 2.3.0, installed by scripts/test into .venv) drives the
/// built server: initialize, list tools, call every tool, validate every structuredContent.
@Suite("Interop with the official Python MCP client")
struct InteropTests {
    static var python: URL {
        if let p = ProcessInfo.processInfo.environment["MINSKY_TEST_PYTHON"] { return URL(fileURLWithPath: p) }
        return repositoryRoot().appendingPathComponent(".venv/bin/python")
    }

    /// Runs a script of Tests/interop with the official client against a new project (on
    /// PostgreSQL its store is a fresh schema, MINSKY_DB), checks it exited 0, then hands over its
    /// result, the project and the environment for checks of the store.
    static func withScript(
        _ name: String, _ kind: StoreKind,
        _ body: (ProcessResult, URL, [String: String]) async throws -> Void
    ) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-interop")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        var env: [String: String] = [:]
        var schema: String?
        if kind == .postgres {
            let (url, s) = try await TestEnvironment.freshPostgresSchema()
            env["MINSKY_DB"] = url
            schema = s
        }
        let script = repositoryRoot().appendingPathComponent("Tests/interop/" + name).path
        let r = try await runProcess(
            python, [script, Binaries.minsky.path, dir.path] + env.map { "\($0.key)=\($0.value)" })
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        try await cleaningUp({ if let schema { await TestEnvironment.dropSchema(schema) } }) {
            try await body(r, dir, env)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pythonClientCallsAndValidatesEveryTool(kind: StoreKind) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python.path) else {
            Issue.record("no Python with the mcp package at \(Self.python.path): run scripts/test, which creates it")
            return
        }
        let dir = try TestEnvironment.tempDirectory("minsky-interop")
        defer { try? FileManager.default.removeItem(at: dir) }
        var extra: [String] = []
        var schema: String?
        if kind == .sqlite {
            #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
            let (url, s) = try await TestEnvironment.freshPostgresSchema()
            schema = s
            extra = ["UPGRADE_URL=\(url)"]
        } else {
            let (url, s) = try await TestEnvironment.freshPostgresSchema()
            schema = s
            extra = ["MINSKY_DB=\(url)", "MINSKY_BACKUP_DIR=\(dir.appendingPathComponent("backups").path)"]
        }
        let script = repositoryRoot().appendingPathComponent("Tests/interop/mcp_interop.py").path
        let r = try await runProcess(Self.python, [script, Binaries.minsky.path, dir.path] + extra)
        if let schema { await TestEnvironment.dropSchema(schema) }
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        #expect(r.stdout.contains("ok: \(Tool.all.count) of \(Tool.all.count) tools called and validated"))
    }
}

@Suite("Sampling through the official Python client")
struct SamplingTests {
    @Test(arguments: StoreKind.allCases)
    func aiToolsUseTheAgentsOwnModelWhenNoProviderIsConfigured(kind: StoreKind) async throws {
        try await InteropTests.withScript("mcp_sampling.py", kind) { r, dir, env in
            #expect(r.stdout.contains("ok: sampling answered by the client"))
            // Both calls are recorded: the client's model, no token counts (sampling reports none).
            let usage = try await runProcess(Binaries.minsky, ["usage", "--calls", "5", "--json"], cwd: dir, env: env)
            let calls = try JSONParser.parse(usage.stdout.utf8)["calls"]?.arrayValue ?? []
            #expect(calls.count == 3, "\(usage.stdout) \(usage.stderr)")
            #expect(
                calls.allSatisfy { $0["provider"] == "sampling" && $0["outcome"] == "ok" && $0["inputTokens"] == nil })
            #expect(Set(calls.compactMap { $0["purpose"]?.stringValue }) == ["decompose", "complexity", "plan"])
        }
    }
}

/// The official client in each of its connect modes: pinned to 2026-07-28, `auto` (which must
/// negotiate 2026-07-28 through `server/discover`) and `legacy` (the handshake): every tool.
@Suite("The Python client in every connect mode")
struct ConnectModeTests {
    @Test(arguments: ["2026-07-28", "auto", "legacy"])
    func everyToolInEachMode(mode: String) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-mode")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let (url, schema) = try await TestEnvironment.freshPostgresSchema()
        let script = repositoryRoot().appendingPathComponent("Tests/interop/mcp_interop.py").path
        let r = try await runProcess(
            InteropTests.python, [script, Binaries.minsky.path, dir.path, "UPGRADE_URL=\(url)", "MODE=\(mode)"])
        await TestEnvironment.dropSchema(schema)
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        #expect(r.stdout.contains("protocol \(mode == "legacy" ? "2025-11-25" : "2026-07-28")"), "\(r.stdout)")
        #expect(r.stdout.contains("ok: \(Tool.all.count) of \(Tool.all.count) tools called and validated"))
    }

    /// Multi round-trip sampling (with a refused first answer, so two rounds) and a subscription
    /// that sees the CLI's changes, through the SDK's own `Client` and `listen`.
    @Test(arguments: StoreKind.allCases)
    func roundTripSamplingAndSubscriptionsThroughTheSDK(kind: StoreKind) async throws {
        try await InteropTests.withScript("mcp_modern.py", kind) { r, dir, env in
            #expect(r.stdout.contains("ok: multi round-trip sampling and subscriptions"))
            // Each model answer is recorded once, not again when a later round replays it.
            let usage = try await runProcess(Binaries.minsky, ["usage", "--calls", "10", "--json"], cwd: dir, env: env)
            let calls = try JSONParser.parse(usage.stdout.utf8)["calls"]?.arrayValue ?? []
            #expect(
                calls.compactMap { $0["outcome"]?.stringValue }.sorted() == ["invalid_answer", "ok", "ok"],
                "\(usage.stdout)")
        }
    }
}
