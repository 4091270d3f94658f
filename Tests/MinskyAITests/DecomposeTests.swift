import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// A project whose AI settings point at a fake model server; the API key lives in a temporary
/// credentials file. On PostgreSQL the store comes from MINSKY_DB while settings stay in the project.
struct AIProject {
    var dir: URL
    var env: [String: String]
    var schema: String?

    static func make(_ kind: StoreKind, server: FakeLLMServer, provider: String = "openai") async throws -> AIProject {
        let dir = try TestEnvironment.tempDirectory("minsky-ai")
        var p = AIProject(
            dir: dir, env: ["MINSKY_CREDENTIALS_FILE": dir.appendingPathComponent("creds/credentials.json").path])
        #expect(try await p.run("init").status == 0)
        #expect(try await p.run("config", "set", "ai.provider", provider).status == 0)
        #expect(
            try await p.run("config", "set", "ai.baseURL", server.baseURL + (provider == "openai" ? "/v1" : "")).status
                == 0)
        #expect(try await p.run("config", "set", "ai.model", "fake-model").status == 0)
        #expect(try await p.run("config", "set", "ai.apiKey", "sk-test-SECRET-1234567890").status == 0)
        if kind == .postgres {
            let (url, schema) = try await TestEnvironment.freshPostgresSchema()
            p.env["MINSKY_DB"] = url
            p.schema = schema
        }
        return p
    }

    func run(_ args: String...) async throws -> ProcessResult {
        try await runProcess(Binaries.minsky, args, cwd: dir, env: env)
    }

    func tasks() async throws -> [JSONValue] {
        try JSONParser.parse(await run("tasks", "list", "--all", "--json").stdout.utf8)["tasks"]?.arrayValue ?? []
    }

    func cleanup() async {
        try? FileManager.default.removeItem(at: dir)
        if let schema { await TestEnvironment.dropSchema(schema) }
    }
}

let goodPlan =
    #"{"subtasks":[{"title":"Design the users table","description":"Columns and indexes","complexity":3,"dependsOn":[]},{"title":"Hash passwords","description":"Argon2id","complexity":4,"dependsOn":[0]},{"title":"Login endpoint","description":"POST /login","complexity":5,"dependsOn":[0,1]}]}"#

@Suite("AI decomposition through real HTTP")
struct DecomposeTests {
    @Test(arguments: StoreKind.allCases)
    func decomposeCreatesSubtasksWithDependenciesInOneGo(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAI(goodPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Build user authentication", "--max", "4", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let out = try JSONParser.parse(r.stdout.utf8)
            let subtasks = out["subtasks"]?.arrayValue ?? []
            #expect(subtasks.count == 3)
            let parent = out["parentId"]?.stringValue
            #expect(subtasks.allSatisfy { $0["parentId"]?.stringValue == parent })
            #expect(subtasks[1]["metadata"]?["complexity"] == 4)
            // Dependencies among siblings landed: only the first subtask is ready.
            let next =
                try JSONParser.parse(await p.run("tasks", "next", "--limit", "5", "--json").stdout.utf8)["tasks"]?
                .arrayValue
                ?? []
            #expect(next.compactMap { $0["title"]?.stringValue } == ["Design the users table"])
            // What went over the wire: the key as a bearer token, structured output requested.
            let req = try #require(server.requests.first)
            #expect(req.path == "/v1/chat/completions")
            #expect(req.headers["authorization"] == "Bearer sk-test-SECRET-1234567890")
            #expect(req.body?["response_format"]?["type"] == "json_schema")
            #expect(req.body?["model"] == "fake-model")
            #expect(
                req.body?["messages"]?.arrayValue?.last?["content"]?.stringValue?.contains("Build user authentication")
                    == true)
            // The call and its tokens are recorded in the store.
            let usage = try JSONParser.parse(await p.run("usage", "--calls", "5", "--json").stdout.utf8)
            #expect(
                usage["usage"] == [
                    [
                        "provider": "openai", "model": "fake-gpt", "purpose": "decompose", "calls": 1, "failed": 0,
                        "inputTokens": 120, "outputTokens": 80,
                    ]
                ])
            let call = usage["calls"]?.arrayValue?.first
            #expect(call?["outcome"] == "ok" && call?["inputTokens"] == 120 && call?["durationMs"]?.intValue != nil)
            #expect(try await p.run("usage").stdout.contains("openai/fake-gpt · decompose"))
        }
    }

    /// The model proposes the paths each subtask touches (invalid ones are left out), and both
    /// decomposition and complexity scoring are shown closed tasks of this project with what
    /// they really took.
    @Test func proposedPathsAreKeptAndPromptsCarryCalibratedExamples() async throws {
        let plan =
            #"{"subtasks":[{"title":"Auth store","description":"","complexity":3,"dependsOn":[],"paths":["Sources/Auth/**","../outside"]},{"title":"Docs","description":"","complexity":2,"dependsOn":[0]}]}"#
        let score =
            #"{"score":6,"reasoning":"several parts","recommendedSubtasks":3,"decompositionPrompt":"split by layer"}"#
        let server = try FakeLLMServer([.openAI(plan), .openAI(score)])
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let old = try JSONParser.parse(await p.run("tasks", "create", "Earlier billing work", "--json").stdout.utf8)
            let oldID = try #require(old["id"]?.stringValue)
            #expect(try await p.run("tasks", "done", oldID, "--minutes", "90", "--tokens", "5000").status == 0)
            let r = try await p.run("tasks", "decompose", "Build user authentication", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let subtasks = try JSONParser.parse(r.stdout.utf8)["subtasks"]?.arrayValue ?? []
            #expect(subtasks.first?["paths"] == ["Sources/Auth/**"])
            #expect(subtasks.last?["paths"] == nil)
            let ask = try #require(server.requests.first)
            let prompt = ask.body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(prompt.contains("tasks this project already finished") && prompt.contains("Earlier billing work"))
            #expect(prompt.contains("took 1.5 h") && prompt.contains("5000 tokens"), "\(prompt)")
            #expect(ask.body?["response_format"]?["json_schema"]?["schema"]?.canonicalJSON().contains("paths") == true)
            let id = try #require(subtasks.first?["id"]?.stringValue)
            #expect(try await p.run("tasks", "complexity", id).status == 0)
            let scoring = server.requests.last?.body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(scoring.contains("Earlier billing work"), "\(scoring)")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anInvalidAnswerGetsOneRepairAttemptQuotingTheError(kind: StoreKind) async throws {
        let bad = #"{"subtasks":[{"title":"only a title"}]}"#
        let server = try FakeLLMServer([.openAI(bad), .openAI(goodPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Build user authentication")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("attempts: 2"))
            #expect(server.requests.count == 2)
            let repair = server.requests[1].body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(repair.contains("rejected") && repair.contains("is required"))
            #expect(try await p.tasks().count == 4)
            let usage = try JSONParser.parse(await p.run("usage", "--json").stdout.utf8)["usage"]?.arrayValue?.first
            #expect(usage?["calls"] == 2 && usage?["inputTokens"] == 240 && usage?["outputTokens"] == 160)
        }
    }

    /// SmolLM2-135M through llama-server numbered its links loosely (an item waiting for a later
    /// one, or for itself), and the whole decomposition was refused after three calls. Links that
    /// cannot hold are dropped and said; the sound ones land; one call is enough.
    @Test(arguments: StoreKind.allCases)
    func linksThatCannotHoldAreDroppedAndSaidNotTheWholePlanRefused(kind: StoreKind) async throws {
        let loose =
            #"{"subtasks":[{"title":"Schema","description":"","complexity":2,"dependsOn":[1]},{"title":"API","description":"","complexity":3,"dependsOn":[0,1,0]},{"title":"UI","description":"","complexity":3,"dependsOn":[1,7]}]}"#
        let server = try FakeLLMServer([.openAI(loose), .openAI(loose)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Ship it", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(server.requests.count == 1, "no repair round trip for links")
            let out = try JSONParser.parse(r.stdout.utf8)
            #expect(
                out["repairs"]?.arrayValue?.compactMap(\.stringValue) == [
                    "item 0: dependsOn 1 dropped (not an earlier item)",
                    "item 1: dependsOn 1 dropped (an item cannot wait for itself)",
                    "item 2: dependsOn 7 dropped (not an earlier item)",
                ])
            // The links that hold landed: Schema first, then API, then UI.
            let next = try JSONParser.parse(await p.run("tasks", "next", "--limit", "5", "--json").stdout.utf8)
            #expect(next["tasks"]?.arrayValue?.compactMap { $0["title"]?.stringValue } == ["Schema"])
            // A person reviewing a dry run sees them too.
            let text = try await p.run("tasks", "decompose", "Again", "--dry-run")
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.contains("! item 2: dependsOn 7 dropped (not an earlier item)"), "\(text.stdout)")
        }
    }
    @Test(arguments: StoreKind.allCases)
    func invalidTwiceIsAClearErrorAndNothingIsWritten(kind: StoreKind) async throws {
        let server = try FakeLLMServer([
            .openAI("this is not json"),
            .openAI(#"{"subtasks":[{"title":"a","description":"","complexity":11,"dependsOn":[]}]}"#),
        ])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let existing =
                try JSONParser.parse(await p.run("tasks", "create", "Parent", "--json").stdout.utf8)["id"]?.stringValue
                ?? ""
            let r = try await p.run("tasks", "decompose", existing)
            #expect(r.status == 2)
            #expect(
                r.stderr.contains("even after one repair attempt") && r.stderr.contains("complexity"), "\(r.stderr)")
            #expect(try await p.tasks().count == 1)
            // Both calls reached the model, and both answers were unusable: usage says so.
            let usage = try JSONParser.parse(await p.run("usage", "--calls", "5", "--json").stdout.utf8)
            let outcomes = usage["calls"]?.arrayValue?.compactMap { $0["outcome"]?.stringValue } ?? []
            #expect(outcomes == ["invalid_answer", "invalid_answer"], "\(usage.canonicalJSON())")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func rateLimitsAreRetriedHonouringRetryAfterAndErrorsHideTheKey(kind: StoreKind) async throws {
        let server = try FakeLLMServer([
            FakeLLMServer.Reply(
                status: 429, headers: ["Retry-After": "1"], body: #"{"error":{"message":"slow down"}}"#),
            .openAI(goodPlan),
        ])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let start = Date()
            #expect(try await p.run("tasks", "decompose", "Retry me").status == 0)
            #expect(Date().timeIntervalSince(start) >= 1)  // waited as asked
            #expect(server.requests.count == 2)

            let failing = try FakeLLMServer([
                FakeLLMServer.Reply(status: 401, body: #"{"error":{"message":"bad key sk-test-SECRET-1234567890"}}"#)
            ])
            let q = try await AIProject.make(kind, server: failing)
            try await cleaningUp({ await q.cleanup() }) { () async throws in
                let r = try await q.run("tasks", "decompose", "Denied")
                #expect(r.status == 2)
                #expect(r.stderr.contains("HTTP 401") && r.stderr.contains("ai.apiKey"))
                #expect(!r.stderr.contains("SECRET"))
                // The refused call is recorded as failed, without tokens.
                let calls = try JSONParser.parse(await q.run("usage", "--calls", "1", "--json").stdout.utf8)["calls"]?
                    .arrayValue
                #expect(calls?.first?["outcome"] == "invalid_input" && calls?.first?["inputTokens"] == nil)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func serverErrorsAndTimeOutsEndInClearMessages(kind: StoreKind) async throws {
        let down = try FakeLLMServer([FakeLLMServer.Reply(status: 503, body: "{}")])
        let p = try await AIProject.make(kind, server: down)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Unlucky")
            #expect(r.status == 6)  // the model server's own exit code, not "store unavailable"
            #expect(r.stderr.contains("HTTP 503") && r.stderr.contains("127.0.0.1:\(down.port)"))
            #expect(down.requests.count == 4)  // the first try and three retries

            let slow = try FakeLLMServer([.init(body: "{}", delay: 3)])
            var q = try await AIProject.make(kind, server: slow)
            let cleanupQ = q
            try await cleaningUp({ await cleanupQ.cleanup() }) { () async throws in
                q.env["MINSKY_AI_TIMEOUT"] = "1"
                let t = try await q.run("tasks", "decompose", "Too slow")
                #expect(t.status == 6)
                #expect(t.stderr.contains("sent nothing for 1 s"))
                #expect(try await q.tasks().isEmpty)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anthropicStructuredOutputThroughATool(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.anthropic(try JSONParser.parse(goodPlan.utf8))])
        let p = try await AIProject.make(kind, server: server, provider: "anthropic")
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await p.run("tasks", "decompose", "Build user authentication", "--dry-run")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("from fake-claude") && r.stdout.contains("2. Login endpoint"))
            #expect(try await p.tasks().count == 1)  // a dry run writes only the parent the proposal hangs on
            let req = try #require(server.requests.first)
            #expect(req.path == "/v1/messages")
            #expect(req.headers["x-api-key"] == "sk-test-SECRET-1234567890")
            #expect(req.body?["tool_choice"]?["name"] == "decomposition")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysStayOutOfTheProjectAndAreMasked(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAI(goodPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let config = try String(contentsOf: p.dir.appendingPathComponent(".minsky/config.json"), encoding: .utf8)
            #expect(config.contains("fake-model") && !config.contains("SECRET"))
            let creds = p.env["MINSKY_CREDENTIALS_FILE"] ?? ""
            #expect(
                ((try FileManager.default.attributesOfItem(atPath: creds))[.posixPermissions] as? NSNumber)?.intValue
                    == 0o600)
            let got = try await p.run("config", "get", "ai.apiKey")
            #expect(got.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "sk-…7890")
            #expect(!(try await p.run("config", "list").stdout.contains("SECRET")))
            #expect(try await p.run("config", "set", "ai.provider", "skynet").status == 2)
            #expect(try await p.run("config", "unset", "ai.provider").status == 0)
            let none = try await p.run("tasks", "decompose", "No provider")
            #expect(none.status == 5)
            #expect(none.stderr.contains("minsky config set ai.provider"))
        }
    }
}

@Suite("AI over MCP and complexity")
struct AIMoreTests {
    @Test(arguments: StoreKind.allCases)
    func complexityIsStoredAndDecomposeUsesTheRecommendedCount(kind: StoreKind) async throws {
        let score =
            #"{"score":7,"reasoning":"many moving parts","recommendedSubtasks":2,"decompositionPrompt":"split by layer"}"#
        let twoSteps =
            #"{"subtasks":[{"title":"A","description":"","complexity":3,"dependsOn":[]},{"title":"B","description":"","complexity":3,"dependsOn":[0]}]}"#
        let server = try FakeLLMServer([.openAI(score), .openAI(twoSteps)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let id =
                try JSONParser.parse(await p.run("tasks", "create", "Rewrite the sync engine", "--json").stdout.utf8)[
                    "id"]?
                .stringValue ?? ""
            let r = try await p.run("tasks", "complexity", id)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("7/10"))
            let task = try JSONParser.parse(await p.run("tasks", "get", id, "--json").stdout.utf8)["task"]
            #expect(task?["metadata"]?["complexity"]?["score"] == 7)
            #expect(task?["metadata"]?["complexity"]?["model"] == "fake-gpt")
            // Over MCP, decompose without max uses the stored recommendation, with progress.
            let s = try MCPProcess(cwd: p.dir, env: p.env)
            defer { s.terminate() }
            _ = s.initialize()
            s.send([
                "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": [
                    "name": "decompose_task", "arguments": ["id": .string(id)], "_meta": ["progressToken": "d"],
                ],
            ])
            let (resp, notes) = s.response(id: 9)
            #expect(resp?["result"]?["isError"] == false, "\(resp?.canonicalJSON() ?? "")")
            #expect(resp?["result"]?["structuredContent"]?["subtasks"]?.arrayValue?.count == 2)
            #expect(notes.contains { $0["method"] == "notifications/progress" })
            #expect(
                server.requests.last?.body?["response_format"]?["json_schema"]?["schema"]?["properties"]?["subtasks"]?[
                    "maxItems"] == 2)
        }
    }
}

extension AIMoreTests {
    /// `complexity --all` asks the model only about tasks whose content changed since their last
    /// score (unless --force), and still reports every task.
    @Test func complexityAllSkipsUnchangedTasksUnlessForced() async throws {
        let score = #"{"score":5,"reasoning":"medium","recommendedSubtasks":2,"decompositionPrompt":""}"#
        let server = try FakeLLMServer([.openAI(score)])
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let a =
                try JSONParser.parse(await p.run("tasks", "create", "First", "--json").stdout.utf8)["id"]?.stringValue
                ?? ""
            _ = try await p.run("tasks", "create", "Second", "--json")
            var r = try await p.run("tasks", "complexity", "--all", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            #expect(server.requests.count == 2)
            r = try await p.run("tasks", "complexity", "--all", "--json")
            #expect(server.requests.count == 2, "unchanged tasks were scored again")
            let out = try JSONParser.parse(r.stdout.utf8)
            #expect(out["scores"]?.arrayValue?.count == 2 && out["unchanged"] == 2)
            _ = try await p.run("tasks", "update", a, "-d", "now with a description")
            _ = try await p.run("tasks", "complexity", "--all")
            #expect(server.requests.count == 3, "only the changed task is scored again")
            _ = try await p.run("tasks", "complexity", "--all", "--force")
            #expect(server.requests.count == 5)
        }
    }

    /// doctor asks the model server for its model list (one cheap request) instead of assuming.
    @Test func doctorContactsTheModelServer() async throws {
        let offers = try FakeLLMServer([FakeLLMServer.Reply(body: #"{"data":[{"id":"other"},{"id":"fake-model"}]}"#)])
        let p = try await AIProject.make(.sqlite, server: offers)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            var r = try await p.run("doctor", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let ai = try JSONParser.parse(r.stdout.utf8).arrayValue?.first { $0["name"] == "ai" }
            #expect(
                ai?["ok"] == true && ai?["detail"]?.stringValue?.contains("fake-model offered") == true,
                "\(ai?.canonicalJSON() ?? "")")
            #expect(offers.requests.last?.path == "/v1/models")
            #expect(offers.requests.last?.headers["authorization"] == "Bearer sk-test-SECRET-1234567890")
            // A model the server does not offer, and a server that is gone: both named, non-zero exit.
            #expect(try await p.run("config", "set", "ai.model", "missing-model").status == 0)
            r = try await p.run("doctor")
            #expect(
                r.status == 2 && r.stdout.contains("! ai") && r.stdout.contains("does not offer missing-model"),
                "\(r.stdout)")
            #expect(try await p.run("config", "set", "ai.baseURL", "http://127.0.0.1:1/v1").status == 0)
            r = try await p.run("doctor")
            #expect(r.status == 6 && r.stdout.contains("cannot reach the model server"), "\(r.stdout)")
            #expect(!r.stdout.contains("SECRET"))
        }
    }

    /// The CLI's decompose asks for the stored recommendation's count with its decomposition
    /// prompt, tells the model the subtasks that exist, and never applies a duplicate of one.
    @Test(arguments: StoreKind.allCases)
    func decomposeUsesTheStoredReviewAndTheExistingSubtasks(kind: StoreKind) async throws {
        let score =
            #"{"score":8,"reasoning":"wide","recommendedSubtasks":3,"decompositionPrompt":"split by layer: storage, API, UI"}"#
        let plan =
            #"{"subtasks":[{"title":"Storage layer","description":"","complexity":3,"dependsOn":[]},{"title":"API layer","description":"","complexity":3,"dependsOn":[0]},{"title":"UI layer","description":"","complexity":2,"dependsOn":[1]}]}"#
        let server = try FakeLLMServer([.openAI(score), .openAI(plan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            func id(_ r: ProcessResult) throws -> String {
                try JSONParser.parse(r.stdout.utf8)["id"]?.stringValue ?? ""
            }
            let parent = try id(await p.run("tasks", "create", "Build the settings page", "--json"))
            _ = try await p.run("tasks", "create", "storage layer", "--parent", parent, "--json")
            #expect(try await p.run("tasks", "complexity", parent).status == 0)
            let r = try await p.run("tasks", "decompose", parent, "--dry-run", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let request = try #require(server.requests.last?.body)
            let prompt =
                request["messages"]?.arrayValue?.compactMap { $0["content"]?.stringValue }.joined(separator: "\n") ?? ""
            #expect(prompt.contains("at most 3"), "\(prompt)")
            #expect(!prompt.contains("at most 6"))
            #expect(prompt.contains("split by layer: storage, API, UI"))
            #expect(prompt.contains("- storage layer [TODO]"))
            #expect(request["response_format"]?["json_schema"]?["schema"]?["properties"]?["subtasks"]?["maxItems"] == 3)
            // Applying leaves out the subtask the parent already has; the others keep their order and links.
            let proposal = try #require(try JSONParser.parse(r.stdout.utf8)["id"]?.stringValue)
            let applied = try await p.run("tasks", "proposals", "apply", proposal, "--json")
            #expect(applied.status == 0, "\(applied.stderr)")
            let kids =
                try JSONParser.parse(await p.run("tasks", "list", "--parent", parent, "--json").stdout.utf8)["tasks"]?
                .arrayValue
                ?? []
            #expect(
                kids.compactMap { $0["title"]?.stringValue }.sorted() == ["API layer", "UI layer", "storage layer"])
        }
    }
}

@Suite("Insights")
struct InsightsTests {
    @Test(arguments: StoreKind.allCases)
    func factsFirstThenAGroundedNarrative(kind: StoreKind) async throws {
        let server = try FakeLLMServer([
            .openAI(#"{"summary":"Two tasks wait on the schema.","recommendations":["Finish the schema first"]}"#)
        ])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            func id(_ r: ProcessResult) throws -> String {
                try JSONParser.parse(r.stdout.utf8)["id"]?.stringValue ?? ""
            }
            let a = try id(await p.run("tasks", "create", "Schema", "--json"))
            let b = try id(await p.run("tasks", "create", "API", "--depends-on", a, "--json"))
            let c = try id(await p.run("tasks", "create", "UI", "--depends-on", b, "--json"))
            _ = try await p.run("tasks", "claim", a, "--owner", "ghost", "--ttl", "0.001s")
            let r = try await p.run("tasks", "insights", "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let out = try JSONParser.parse(r.stdout.utf8)
            #expect(out["facts"]?["total"] == 3)
            #expect(out["facts"]?["longestPath"] == [.string(a), .string(b), .string(c)])
            #expect(out["facts"]?["blocked"]?.arrayValue?.count == 2)
            #expect(out["facts"]?["staleClaims"]?.arrayValue?.first?["id"]?.stringValue == a)
            #expect(out["summary"] == "Two tasks wait on the schema.")
            // The model saw the computed facts.
            let prompt = server.requests.first?.body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(prompt.contains(c) && prompt.contains("longestPath"))
            // Without a provider: the facts alone.
            #expect(try await p.run("config", "unset", "ai.provider").status == 0)
            let plain = try await p.run("tasks", "insights")
            #expect(plain.status == 0)
            #expect(plain.stdout.contains("Longest dependency path (3)") && plain.stdout.contains("facts only"))
        }
    }
}

@Suite("Reviewable proposals")
struct ProposalTests {
    @Test(arguments: StoreKind.allCases)
    func aDryRunIsStoredAndAppliedLaterInPart(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAI(goodPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let parent =
                try JSONParser.parse(await p.run("tasks", "create", "Build user authentication", "--json").stdout.utf8)[
                    "id"]?
                .stringValue ?? ""
            let dry = try await p.run("tasks", "decompose", parent, "--dry-run", "--json")
            #expect(dry.status == 0, "\(dry.stderr)")
            let proposal = try JSONParser.parse(dry.stdout.utf8)
            let pid = proposal["id"]?.stringValue ?? ""
            #expect(proposal["model"] == "fake-gpt" && proposal["promptHash"]?.stringValue?.count == 64)
            #expect(try await p.tasks().count == 1)
            #expect(try await p.run("tasks", "proposals").stdout.contains(pid))
            // Apply subtasks 0 and 2: 2 keeps its dependency on 0; the one on 1 waits until 1 is applied.
            let applied = try await p.run("tasks", "proposals", "apply", pid, "--only", "0,2", "--json")
            #expect(applied.status == 0, "\(applied.stderr)")
            let created = try JSONParser.parse(applied.stdout.utf8)["subtasks"]?.arrayValue ?? []
            try #require(created.count == 2)
            #expect(created.compactMap { $0["title"]?.stringValue } == ["Design the users table", "Login endpoint"])
            let deps = try JSONParser.parse(
                await p.run("deps", "list", created[1]["id"]?.stringValue ?? "", "--json").stdout.utf8)
            #expect(
                deps["blockedBy"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [
                    created[0]["id"]?.stringValue ?? ""
                ]
            )
            // The rest later: item 1 is made, and item 2 (applied before) now waits for it too.
            let rest = try await p.run("tasks", "proposals", "apply", pid, "--json")
            #expect(rest.status == 0, "\(rest.stderr)")
            let late = try JSONParser.parse(rest.stdout.utf8)["subtasks"]?.arrayValue ?? []
            try #require(late.count == 1)
            let after = try JSONParser.parse(
                await p.run("deps", "list", created[1]["id"]?.stringValue ?? "", "--json").stdout.utf8)
            #expect(
                Set(after["blockedBy"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == [
                    created[0]["id"]?.stringValue ?? "", late[0]["id"]?.stringValue ?? "",
                ])
            // Then it is applied in full: once only.
            #expect(try await p.run("tasks", "proposals", "apply", pid).status == 4)
            #expect(try await p.run("tasks", "proposals", "apply", "pr-none").status == 3)
            #expect(server.requests.count == 1)
        }
    }
}

@Suite("Semantic search")
struct SemanticSearchTests {
    static func ids(_ r: ProcessResult) throws -> [String] {
        try (JSONParser.parse(r.stdout.utf8)["tasks"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
    }

    @Test(arguments: StoreKind.allCases)
    func embedsOnlyWhatChangedAndRanksByMeaning(kind: StoreKind) async throws {
        let server = try FakeLLMServer(handler: FakeLLMServer.embeddings)
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            func create(_ t: String) async throws -> String {
                try JSONParser.parse(await p.run("tasks", "create", t, "--json").stdout.utf8)["id"]?.stringValue ?? ""
            }
            let login = try await create("Login endpoint that checks the password")
            let table = try await create("Design the users table schema")
            _ = try await create("CSS button colours")
            let docs = try await create("Write the README guide")
            #expect(try await p.run("tasks", "embed").stdout.contains("Embedded 4"))
            #expect(try await p.run("tasks", "embed").stdout.contains("Embedded 0"))  // nothing changed
            #expect(try await p.run("tasks", "update", docs, "--title", "Write the documentation guide").status == 0)
            #expect(try await p.run("tasks", "embed").stdout.contains("Embedded 1"))
            let signIn = try await p.run("tasks", "search", "--similar", "sign in and authenticate", "--json")
            #expect(signIn.status == 0, "\(signIn.stderr)")
            #expect(try Self.ids(signIn).first == login)
            let scores = (try JSONParser.parse(signIn.stdout.utf8).arrayValue ?? []).compactMap {
                $0["score"]?.doubleValue
            }
            #expect(scores == scores.sorted(by: >))
            #expect(
                try Self.ids(await p.run("tasks", "search", "--similar", "database migration", "--json")).first == table
            )
            #expect(
                server.requests.allSatisfy {
                    $0.path == "/v1/embeddings" && $0.body?["model"] == "text-embedding-3-small"
                })
            // Over MCP, `similar` embeds what changed, then ranks.
            let s = try MCPProcess(cwd: p.dir, env: p.env)
            defer { s.terminate() }
            _ = s.initialize()
            let newer = try await create("Session cookies for login")
            let r = s.call("similar", ["text": "documentation", "limit": 2])
            #expect(r?["isError"] == false, "\(r?.canonicalJSON() ?? "")")
            #expect(r?["structuredContent"]?["tasks"]?.arrayValue?.first?["id"]?.stringValue == docs)
            let again = s.call("similar", ["text": "login session", "limit": 2])
            #expect(
                again?["structuredContent"]?["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue }.contains(newer)
                    == true)
            // With an embedding model configured, creating a near-duplicate warns (and still creates).
            #expect(try await p.run("config", "set", "ai.embeddingModel", "text-embedding-3-small").status == 0)
            let dup = try await p.run("tasks", "create", "Login endpoint checking the password")
            #expect(dup.status == 0)
            // (The toy model puts every login-ish task close together: either earlier one is a fair match.)
            #expect(
                dup.stderr.contains("looks like \(login)") || dup.stderr.contains("looks like \(newer)"),
                "\(dup.stderr)")
            let distinct = try await p.run("tasks", "create", "Quarterly budget spreadsheet")
            #expect(distinct.status == 0 && !distinct.stderr.contains("looks like"))
            // Every embeddings call is recorded, with the tokens the server reported.
            let usage = try JSONParser.parse(await p.run("usage", "--json").stdout.utf8)["usage"]?.arrayValue ?? []
            let embeds = usage.first { $0["purpose"] == "embed" }
            // (embed: 4 tasks, 1 changed, 1 new before an MCP search, 2 creates; search: 2 CLI, 2 MCP, 2 duplicate checks)
            #expect(
                embeds?["calls"] == 5 && embeds?["provider"] == "openai"
                    && embeds?["model"] == "text-embedding-3-small",
                "\(usage)")
            #expect(embeds?["inputTokens"]?.intValue ?? 0 > 0)
            #expect(usage.first { $0["purpose"] == "search" }?["calls"] == 6)
            #expect(usage.compactMap { $0["calls"]?.intValue }.reduce(0, +) == Int64(server.requests.count))
        }
    }
}
