import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// An initialized `minsky mcp` on a fresh store of `kind`.
func withServer(
    _ kind: StoreKind = .sqlite, env: [String: String] = [:], initialize: Bool = true,
    _ body: (MCPProcess) async throws -> Void
) async throws {
    let dir = try TestEnvironment.tempDirectory("minsky-mcp")
    defer { try? FileManager.default.removeItem(at: dir) }
    func serve(_ env: [String: String]) async throws -> MCPProcess {
        let server = try MCPProcess(cwd: dir, env: env)
        if initialize { #expect(server.initialize()?["result"]?["protocolVersion"] == "2025-11-25") }
        try await cleaningUp({ server.terminate() }) { try await body(server) }
        return server
    }
    let server: MCPProcess
    switch kind {
    case .sqlite:
        let r = try await runProcess(Binaries.minsky, ["init"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        server = try await serve(env)
    case .postgres:
        server = try await TestEnvironment.withPostgresSchema { url, _ in
            try await serve(env.merging(["MINSKY_DB": url]) { _, b in b })
        }
    }
    // Whatever happened, stdout carried JSON-RPC 2.0 messages only.
    for line in server.allLines {
        let v = try? JSONParser.parse(line.utf8)
        #expect(v?["jsonrpc"] == "2.0", "non-protocol line on stdout: \(line.prefix(200))")
    }
}

func errorCode(_ response: JSONValue?) -> Int64? { response?["error"]?["code"]?.intValue }

/// The structured result of a successful tool call, checked against its text block.
func structured(_ result: JSONValue?, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue? {
    guard let r = result else {
        Issue.record("no result", sourceLocation: sourceLocation)
        return nil
    }
    #expect(r["isError"] == false, "tool failed: \(r.canonicalJSON().prefix(500))", sourceLocation: sourceLocation)
    let sc = r["structuredContent"]
    let text = r["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
    #expect(
        (try? JSONParser.parse(text.utf8)) == sc, "text block differs from structuredContent",
        sourceLocation: sourceLocation)
    return sc
}
