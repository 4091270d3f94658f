import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Streamed answers over real HTTP (server-sent events from the fake server), through the real
/// binary: OpenAI chunks and Anthropic events, usage from the stream, the time-out as the longest
/// silence, errors mid-stream, progress over MCP, and `ai.stream false`.
@Suite("Streamed model answers")
struct StreamingTests {
    /// Waiting on a slow model costs no CPU: the transfer sleeps in poll (URLSession on Linux
    /// busy-polled: 6.3 s of CPU over an 8 s answer). Generous bound: a tenth of the wait.
    @Test func waitingOnASlowAnswerCostsNoCPU() async throws {
        let server = try FakeLLMServer([.openAIStream(goodPlan, pieces: 8, interval: 0.5)])
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await runProcess(
                URL(fileURLWithPath: "/usr/bin/time"),
                ["-f", "cpu %U %S wall %e", Binaries.minsky.path, "tasks", "decompose", "Build user authentication"],
                cwd: p.dir, env: p.env)
            #expect(r.status == 0, "\(r.stderr)")
            let line = try #require(r.stderr.split(separator: "\n").last { $0.hasPrefix("cpu ") })
            let f = line.split(separator: " ").compactMap { Double($0) }
            try #require(f.count == 3)
            #expect(f[2] >= 4, "the answer took \(f[2]) s; it should take about 4.5")
            #expect(f[0] + f[1] < f[2] / 10, "minsky used \(f[0] + f[1]) s of CPU while waiting \(f[2]) s")
        }
    }

    /// Every request is bounded (max_tokens from the schema, every string and list of the schema
    /// bounded), and an answer cut for room is said at once, streamed or not, with nothing written.
    @Test(arguments: [true, false])
    func requestsAreBoundedAndACutAnswerIsSaidAtOnce(streamed: Bool) async throws {
        let cut = String(goodPlan.prefix(40))
        let server = try FakeLLMServer([
            streamed ? .openAIStream(cut, pieces: 3, finish: "length") : .openAI(cut, finish: "length")
        ])
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            if !streamed { #expect(try await p.run("config", "set", "ai.stream", "false").status == 0) }
            let r = try await p.run("tasks", "decompose", "Build user authentication", "--max", "4")
            #expect(r.status != 0 && r.stderr.contains("ran out of room"), "\(r.stderr)")
            #expect(!r.stderr.contains("not valid JSON"), "\(r.stderr)")
            #expect(server.requests.count == 1, "a cut answer is not retried as a repair")
            #expect(
                try JSONParser.parse(await p.run("tasks", "list", "--json").stdout.utf8)["tasks"]?.arrayValue?.isEmpty
                    == true)
            let body = try #require(server.requests.first?.body)
            let maxTokens = try #require(body["max_tokens"]?.intValue)
            #expect(maxTokens >= 256 && maxTokens <= 16_384, "\(maxTokens)")
            // The schema bounds every string and list, so a constrained model cannot write forever.
            var unbounded: [String] = []
            func walk(_ v: JSONValue, _ path: String) {
                if v["type"] == "string" && v["maxLength"] == nil && v["enum"] == nil { unbounded.append(path) }
                if v["type"] == "array" && v["maxItems"] == nil { unbounded.append(path) }
                for (k, sub) in v["properties"]?.objectValue ?? [:] { walk(sub, path + "." + k) }
                if let items = v["items"] { walk(items, path + "[]") }
            }
            walk(body["response_format"]?["json_schema"]?["schema"] ?? .null, "schema")
            #expect(unbounded.isEmpty, "unbounded: \(unbounded)")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func openAIStreamBuildsTheAnswerAndRecordsItsUsage(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAIStream(goodPlan, pieces: 7)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Build user authentication", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try JSONParser.parse(r.stdout.utf8)["subtasks"]?.arrayValue?.count == 3)
            let body = try #require(server.requests.first?.body)
            #expect(body["stream"] == true && body["stream_options"]?["include_usage"] == true)
            let usage = try JSONParser.parse(await p.run("usage", "--json").stdout.utf8)["usage"]?.arrayValue?.first
            #expect(usage?["inputTokens"] == 120 && usage?["outputTokens"] == 80 && usage?["model"] == "fake-gpt")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anthropicStreamAssemblesTheToolInput(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.anthropicStream(try JSONParser.parse(goodPlan.utf8), pieces: 5)])
        let p = try await AIProject.make(kind, server: server, provider: "anthropic")
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Build user authentication")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try await p.tasks().count == 4)
            #expect(server.requests.first?.body?["stream"] == true)
            let usage = try JSONParser.parse(await p.run("usage", "--json").stdout.utf8)["usage"]?.arrayValue?.first
            #expect(
                usage?["provider"] == "anthropic" && usage?["inputTokens"] == 100 && usage?["outputTokens"] == 50
                    && usage?["model"] == "fake-claude")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theTimeOutIsSilenceNotLength(kind: StoreKind) async throws {
        // 24 pieces 0.25 s apart: ~6 s in all, three times the time-out, never 2 s of silence.
        // The server then keeps the connection open for 30 s: the answer is complete at [DONE].
        var reply = FakeLLMServer.Reply.openAIStream(goodPlan, pieces: 24, interval: 0.25)
        reply.holdOpen = 30
        let server = try FakeLLMServer([reply])
        var p = try await AIProject.make(kind, server: server)
        let cleanupP = p
        try await cleaningUp({ await cleanupP.cleanup() }) { () async throws in
            p.env["MINSKY_AI_TIMEOUT"] = "2"
            // (Waiting for the close instead would hit the 2 s time-out and fail.)
            let r = try await p.run("tasks", "decompose", "A long answer")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try await p.tasks().count == 4)

            // A stream that goes quiet for 8 s fails clearly, and nothing is written.
            let stalls = try FakeLLMServer([.openAIStream(goodPlan, pieces: 2, interval: 8)])
            var q = try await AIProject.make(kind, server: stalls)
            let cleanupQ = q
            try await cleaningUp({ await cleanupQ.cleanup() }) { () async throws in
                q.env["MINSKY_AI_TIMEOUT"] = "2"
                let t = try await q.run("tasks", "decompose", "Stalls")
                #expect(t.status == 6, "\(t.stderr)")
                #expect(t.stderr.contains("sent nothing for 2 s"))
                #expect(try await q.tasks().isEmpty)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anErrorInTheStreamIsReportedAndNothingIsWritten(kind: StoreKind) async throws {
        var reply = FakeLLMServer.Reply.openAIStream(goodPlan, pieces: 2)
        reply.events = Array(reply.events!.prefix(2)) + [#"data: {"error":{"message":"model overloaded"}}"#]
        let server = try FakeLLMServer([reply])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Overloaded")
            #expect(r.status == 6, "\(r.stderr)")
            #expect(r.stderr.contains("model overloaded"))
            #expect(try await p.tasks().isEmpty)
            let call = try JSONParser.parse(await p.run("usage", "--calls", "1", "--json").stdout.utf8)["calls"]?
                .arrayValue?
                .first
            #expect(call?["outcome"] == "model_unavailable")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func streamingCanBeTurnedOffAndServersThatIgnoreItStillWork(kind: StoreKind) async throws {
        // A server that answers `stream: true` with one JSON body (as some do).
        let server = try FakeLLMServer([.openAI(goodPlan), .openAI(goodPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            #expect(try await p.run("tasks", "decompose", "Plain answer").status == 0)
            #expect(server.requests[0].body?["stream"] == true)
            #expect(try await p.run("config", "set", "ai.stream", "maybe").status == 2)
            #expect(try await p.run("config", "set", "ai.stream", "false").status == 0)
            #expect(try await p.run("config", "get", "ai.stream").stdout.contains("false"))
            #expect(try await p.run("tasks", "decompose", "Plain again").status == 0)
            #expect(server.requests[1].body?["stream"] == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func mcpDecomposeReportsProgressWhileTheModelWrites(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAIStream(goodPlan, pieces: 6, interval: 0.05)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let id =
                try JSONParser.parse(await p.run("tasks", "create", "Streamed over MCP", "--json").stdout.utf8)["id"]?
                .stringValue
                ?? ""
            let s = try MCPProcess(cwd: p.dir, env: p.env)
            defer { s.terminate() }
            _ = s.initialize()
            s.send([
                "jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": [
                    "name": "decompose_task", "arguments": ["id": .string(id), "max": 4],
                    "_meta": ["progressToken": "s"],
                ],
            ])
            let (resp, notes) = s.response(id: 5)
            #expect(resp?["result"]?["isError"] == false, "\(resp?.canonicalJSON() ?? "")")
            let writing = notes.filter {
                $0["method"] == "notifications/progress"
                    && ($0["params"]?["message"]?.stringValue ?? "").contains("characters")
            }
            #expect(writing.count >= 4, "\(notes.map { $0.canonicalJSON() })")
            let values = writing.compactMap { $0["params"]?["progress"]?.doubleValue }
            #expect(values == values.sorted())
        }
    }
}

@Suite("Embeddings from their own server")
struct EmbeddingServerTests {
    @Test(arguments: StoreKind.allCases)
    func anthropicChatWithEmbeddingsFromAnotherServer(kind: StoreKind) async throws {
        let chat = try FakeLLMServer([.anthropic(try JSONParser.parse(goodPlan.utf8))])
        let embedder = try FakeLLMServer(handler: FakeLLMServer.embeddings)
        let p = try await AIProject.make(kind, server: chat, provider: "anthropic")
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let login = try JSONParser.parse(
                await p.run("tasks", "create", "Login endpoint that checks the password", "--json").stdout.utf8)["id"]?
                .stringValue
            _ = try await p.run("tasks", "create", "CSS button colours")
            // Without an OpenAI-compatible server for embeddings, the error says how to add one.
            let none = try await p.run("tasks", "embed")
            #expect(none.status == 5 && none.stderr.contains("ai.embeddingBaseURL"), "\(none.stderr)")
            #expect(try await p.run("config", "set", "ai.embeddingBaseURL", "not a url").status == 2)
            #expect(try await p.run("config", "set", "ai.embeddingBaseURL", embedder.baseURL + "/v1").status == 0)
            #expect(try await p.run("config", "set", "ai.embeddingApiKey", "sk-embed-SECRET-0987654321").status == 0)
            #expect(try await p.run("config", "get", "ai.embeddingApiKey").stdout.contains("sk-…4321"))
            #expect(!(try await p.run("config", "list").stdout.contains("SECRET")))
            let config = try String(contentsOf: p.dir.appendingPathComponent(".minsky/config.json"), encoding: .utf8)
            #expect(config.contains("ai") && !config.contains("SECRET"))
            #expect(try await p.run("tasks", "embed").stdout.contains("Embedded 2"))
            #expect(
                try SemanticSearchTests.ids(await p.run("tasks", "search", "--similar", "sign in", "--json")).first
                    == login)
            #expect(
                embedder.requests.allSatisfy {
                    $0.headers["authorization"] == "Bearer sk-embed-SECRET-0987654321" && $0.path == "/v1/embeddings"
                })
            #expect(chat.requests.isEmpty)  // chat stayed with Anthropic, unused here
            // Decompose still goes to Anthropic.
            #expect(try await p.run("tasks", "decompose", "Build user authentication").status == 0)
            #expect(chat.requests.first?.path == "/v1/messages")
        }
    }
}
