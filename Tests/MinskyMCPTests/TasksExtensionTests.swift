import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// The Tasks extension on the raw wire: a long call becomes a job in the store, followed from
/// the server that runs it, from a second server, after a restart, after its server was killed,
/// cancelled from another process, and asking the person through `input_required`.
@Suite("MCP tasks (the Tasks extension)")
struct TasksExtensionTests {
    static let plan =
        #"{"subtasks":[{"title":"Lex","description":"","complexity":2,"dependsOn":[]},{"title":"Parse","description":"","complexity":3,"dependsOn":[0]}]}"#
    static let caps: JSONValue = ["extensions": ["io.modelcontextprotocol/tasks": .object([:])]]

    /// A project whose configured model is `server`; on PostgreSQL the store is a fresh schema.
    static func project(
        _ kind: StoreKind, model server: FakeLLMServer, _ body: (URL, [String: String]) async throws -> Void
    )
        async throws
    {
        let dir = try TestEnvironment.tempDirectory("minsky-jobs")
        defer { try? FileManager.default.removeItem(at: dir) }
        var env = ["MINSKY_CREDENTIALS_FILE": dir.appendingPathComponent("creds.json").path]
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        for (k, v) in [
            ("ai.provider", "openai"), ("ai.baseURL", server.baseURL + "/v1"), ("ai.model", "fake-model"),
            ("ai.apiKey", "sk-test-1234567890"),
        ] {
            #expect(try await runProcess(Binaries.minsky, ["config", "set", k, v], cwd: dir, env: env).status == 0)
        }
        switch kind {
        case .sqlite: try await body(dir, env)
        case .postgres:
            try await TestEnvironment.withPostgresSchema { url, _ in
                env["MINSKY_DB"] = url
                try await body(dir, env)
            }
        }
    }

    static func createTask(_ s: MCPProcess, _ title: String) throws -> String {
        try #require(
            s.modern("tools/call", ["name": "create_task", "arguments": ["title": .string(title)]])?["result"]?[
                "structuredContent"]?["id"]?.stringValue)
    }

    /// Polls `tasks/get` until the job leaves `working` (or 30 s pass).
    static func settle(_ s: MCPProcess, _ taskId: String) -> JSONValue? {
        for _ in 0..<120 {
            let r = s.modern("tasks/get", ["taskId": .string(taskId)])?["result"]
            if r?["status"] != "working" { return r }
            usleep(250_000)
        }
        return nil
    }

    @Test(arguments: StoreKind.allCases)
    func aLongCallIsATaskReadFromAnyServerAndAfterARestart(kind: StoreKind) async throws {
        let model = try FakeLLMServer([
            FakeLLMServer.Reply(body: FakeLLMServer.Reply.openAI(Self.plan).body, delay: 1.5)
        ])
        try await Self.project(kind, model: model) { dir, env in
            let a = try MCPProcess(cwd: dir, env: env)
            defer { a.terminate() }
            let parent = try Self.createTask(a, "Ship the parser")
            let call: [String: JSONValue] = ["name": "decompose_task", "arguments": ["id": .string(parent)]]
            let handle = try #require(a.modern("tools/call", call, capabilities: Self.caps)?["result"])
            #expect(handle["resultType"] == "task" && handle["status"] == "working", "\(handle)")
            #expect(handle["pollIntervalMs"]?.intValue ?? 0 > 0 && handle["ttlMs"]?.intValue ?? 0 > 0)
            let taskId = try #require(handle["taskId"]?.stringValue)
            // Durable the moment the handle is answered: a second server on the store reads it.
            let b = try MCPProcess(cwd: dir, env: env)
            defer { b.terminate() }
            let seen = try #require(b.modern("tasks/get", ["taskId": .string(taskId)])?["result"])
            #expect(seen["resultType"] == "complete" && seen["status"] == "working", "\(seen)")
            let done = try #require(Self.settle(b, taskId))
            #expect(done["status"] == "completed", "\(done)")
            let result = try #require(done["result"])
            #expect(result["isError"] == false)
            #expect(result["structuredContent"]?["subtasks"]?.arrayValue?.count == 2, "\(result)")
            // After a restart of both servers, a new one still answers for it.
            a.terminate()
            b.terminate()
            let c = try MCPProcess(cwd: dir, env: env)
            defer { c.terminate() }
            #expect(c.modern("tasks/get", ["taskId": .string(taskId)])?["result"]?["status"] == "completed")
            #expect(errorCode(c.modern("tasks/get", ["taskId": "job-unknown"])) == -32602)
            // The CLI lists and follows it.
            let listed = try await runProcess(Binaries.minsky, ["jobs"], cwd: dir, env: env)
            #expect(listed.stdout.contains(taskId) && listed.stdout.contains("completed"), "\(listed.stdout)")
            let follow = try await runProcess(Binaries.minsky, ["jobs", "follow", taskId], cwd: dir, env: env)
            #expect(follow.status == 0, "\(follow.stdout)\(follow.stderr)")
            // A client without the extension gets the plain result, as before.
            let plain = try #require(c.modern("tools/call", call)?["result"])
            #expect(plain["resultType"] == "complete" && plain["structuredContent"]?["subtasks"] != nil, "\(plain)")
        }
    }

    @Test func aJobWhoseServerWasKilledIsReportedFailedNotWorkingForever() async throws {
        let model = try FakeLLMServer([FakeLLMServer.Reply(body: FakeLLMServer.Reply.openAI(Self.plan).body, delay: 20)]
        )
        try await Self.project(.sqlite, model: model) { dir, env in
            let a = try MCPProcess(cwd: dir, env: env)
            let parent = try Self.createTask(a, "Ship the parser")
            let handle = a.modern(
                "tools/call", ["name": "decompose_task", "arguments": ["id": .string(parent)]], capabilities: Self.caps)
            let taskId = try #require(handle?["result"]?["taskId"]?.stringValue)
            kill(a.pid, SIGKILL)
            _ = a.waitForExit(timeout: 10)
            let b = try MCPProcess(cwd: dir, env: env)
            defer { b.terminate() }
            let got = try #require(b.modern("tasks/get", ["taskId": .string(taskId)])?["result"])
            #expect(got["status"] == "failed", "\(got)")
            #expect(got["error"]?["message"]?.stringValue?.contains("stopped before it finished") == true, "\(got)")
            #expect(got["statusMessage"]?.stringValue?.contains("call the tool again") == true)
        }
    }

    @Test func cancellingFromAnotherServerStopsTheJobAtItsNextHeartbeat() async throws {
        let model = try FakeLLMServer([FakeLLMServer.Reply(body: FakeLLMServer.Reply.openAI(Self.plan).body, delay: 30)]
        )
        try await Self.project(.sqlite, model: model) { dir, env in
            let a = try MCPProcess(cwd: dir, env: env)
            defer { a.terminate() }
            let parent = try Self.createTask(a, "Ship the parser")
            let handle = a.modern(
                "tools/call", ["name": "decompose_task", "arguments": ["id": .string(parent)]], capabilities: Self.caps)
            let taskId = try #require(handle?["result"]?["taskId"]?.stringValue)
            let b = try MCPProcess(cwd: dir, env: env)
            defer { b.terminate() }
            #expect(b.modern("tasks/cancel", ["taskId": .string(taskId)])?["result"]?["resultType"] == "complete")
            let after = try #require(Self.settle(a, taskId))
            #expect(after["status"] == "cancelled", "\(after)")
            // Nothing was written by the cancelled decomposition.
            let kids = a.modern("tools/call", ["name": "list_tasks", "arguments": ["parentId": .string(parent)]])
            #expect(kids?["result"]?["structuredContent"]?["tasks"]?.arrayValue?.isEmpty == true)
        }
    }

    /// upgrade_store asks the person first; inside a task the question is the task's
    /// `input_required`, answered with `tasks/update` (here: declined, so nothing moves). A
    /// subscription on the task hears each change.
    @Test func aTaskAsksThePersonThroughInputRequiredAndTasksUpdate() async throws {
        try await withServer(initialize: false) { s in
            let caps: JSONValue = [
                "elicitation": .object([:]), "extensions": ["io.modelcontextprotocol/tasks": .object([:])],
            ]
            let handle = s.modern(
                "tools/call", ["name": "upgrade_store", "arguments": ["dbUrl": "postgresql://nobody@127.0.0.1:1/x"]],
                capabilities: caps)
            let taskId = try #require(handle?["result"]?["taskId"]?.stringValue, "\(String(describing: handle))")
            // Listening to a task needs the extension declared on the listen request.
            let refused = s.modern("subscriptions/listen", ["notifications": ["taskIds": [.string(taskId)]]])
            #expect(errorCode(refused) == -32021)
            #expect(refused?["error"]?["data"]?["requiredCapabilities"]?["extensions"] != nil)
            s.send(
                [
                    "jsonrpc": "2.0", "id": "watch", "method": "subscriptions/listen",
                    "params": [
                        "_meta": MCPProcess.modernMeta(capabilities: caps),
                        "notifications": ["taskIds": [.string(taskId)]],
                    ],
                ])
            let ack = s.notification("notifications/subscriptions/acknowledged")
            #expect(ack?["params"]?["notifications"]?["taskIds"] == [.string(taskId)])
            let waiting = try #require(Self.settle(s, taskId))
            #expect(waiting["status"] == "input_required", "\(waiting)")
            let ask = try #require(waiting["inputRequests"]?["confirm-0"])
            #expect(ask["method"] == "elicitation/create")
            #expect(ask["params"]?["message"]?.stringValue?.contains("nobody@127.0.0.1:1/x") == true)
            // An answer to a question never asked is ignored; the real one moves the task on.
            #expect(
                s.modern("tasks/update", ["taskId": .string(taskId), "inputResponses": ["nope": .object([:])]])?[
                    "result"] != nil)
            #expect(s.modern("tasks/get", ["taskId": .string(taskId)])?["result"]?["status"] == "input_required")
            let update = s.modern(
                "tasks/update", ["taskId": .string(taskId), "inputResponses": ["confirm-0": ["action": "decline"]]])
            #expect(update?["result"]?["resultType"] == "complete")
            let done = try #require(Self.settle(s, taskId))
            #expect(done["status"] == "completed" && done["result"]?["isError"] == true, "\(done)")
            #expect(done["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue?.hasPrefix("declined") == true)
            let heard = s.notification("notifications/tasks", timeout: 10) { $0["params"]?["status"] == "completed" }
            #expect(
                heard?["params"]?["_meta"]?["io.modelcontextprotocol/subscriptionId"] == "watch",
                "\(String(describing: heard))")
            #expect(heard?["params"]?["taskId"] == .string(taskId))
        }
    }
}
