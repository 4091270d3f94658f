import Foundation
import MinskyCore
import MinskyMCP
import MinskyTestSupport
import Testing

/// The 2026-07-28 revision on the raw wire of the built server: every request carries its
/// version in `_meta` and is answered on its own, without `initialize`.
@Suite("MCP 2026-07-28 on the wire")
struct ModernProtocolTests {
    static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    @Test func discoverAnswersVersionsCapabilitiesAndIdentityWithoutAHandshake() async throws {
        try await withServer(initialize: false) { s in
            let r = try #require(s.modern("server/discover")?["result"])
            #expect(r["resultType"] == "complete")
            #expect(r["supportedVersions"]?.arrayValue?.first == "2026-07-28")
            #expect(r["supportedVersions"]?.arrayValue?.contains("2025-11-25") == true)
            #expect(r["capabilities"]?["tools"] != nil && r["capabilities"]?["extensions"] != nil)
            #expect(r["capabilities"]?["resources"]?["subscribe"] == true)
            #expect(r["instructions"]?.stringValue?.contains("next_task") == true)
            #expect(r["_meta"]?[Self.serverInfoKey]?["name"] == "minsky")
            #expect(r["ttlMs"]?.intValue ?? -1 >= 0 && r["cacheScope"]?.stringValue != nil)
            // And a handshake afterwards still works: both eras on one connection.
            #expect(s.initialize()?["result"]?["protocolVersion"] == "2025-11-25")
        }
    }

    /// MCP Apps on stdio, in both eras: the extension is declared, `next_task` names its view,
    /// and the view is read as `text/html;profile=mcp-app` (rendered in Chromium by ServeTests).
    @Test func theReadyQueueViewIsOfferedInBothEras() async throws {
        try await withServer(initialize: false) { s in
            let discovered = try #require(s.modern("server/discover")?["result"])
            #expect(discovered["capabilities"]?["extensions"]?["io.modelcontextprotocol/ui"] != nil, "\(discovered)")
            let tools = try #require(s.modern("tools/list")?["result"]?["tools"]?.arrayValue)
            let next = try #require(tools.first { $0["name"] == "next_task" })
            #expect(next["_meta"]?["ui"]?["resourceUri"] == "ui://minsky/ready")
            let read = try #require(s.modern("resources/read", ["uri": "ui://minsky/ready"])?["result"])
            let content = try #require(read["contents"]?.arrayValue?.first)
            #expect(content["mimeType"] == "text/html;profile=mcp-app")
            #expect(content["text"]?.stringValue?.contains("ui/initialize") == true)
            #expect(s.initialize()?["result"]?["capabilities"]?["extensions"]?["io.modelcontextprotocol/ui"] != nil)
            let legacy = try #require(s.request("resources/read", ["uri": "ui://minsky/ready"])?["result"])
            #expect(legacy["contents"]?.arrayValue?.first?["mimeType"] == "text/html;profile=mcp-app", "\(legacy)")
        }
    }

    @Test func aMissingOrUnsupportedVersionIsMinus32022NamingTheSupportedOnes() async throws {
        try await withServer(initialize: false) { s in
            let none = s.request("server/discover", ["_meta": .object([:])])
            #expect(errorCode(none) == -32022)
            #expect(none?["error"]?["data"]?["supported"]?.arrayValue?.contains("2026-07-28") == true)
            #expect(none?["error"]?["data"]?["requested"] == .null)
            let old = s.request(
                "tools/list", ["_meta": MCPProcess.modernMeta(version: "1900-01-01")])
            #expect(errorCode(old) == -32022)
            #expect(old?["error"]?["data"]?["requested"] == "1900-01-01")
            #expect(old?["error"]?["message"]?.stringValue?.contains("2026-07-28") == true)
            // A request without `_meta` before any handshake keeps the handshake era's answer.
            #expect(s.request("tools/list")?["error"]?["message"]?.stringValue?.contains("initialize") == true)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func resultsCarryTheirTypeCacheFieldsAndToolsInAFixedOrder(kind: StoreKind) async throws {
        try await withServer(kind, initialize: false) { s in
            let a = try #require(s.modern("tools/list")?["result"])
            #expect(a["resultType"] == "complete" && a["cacheScope"] == "private")
            #expect(a["ttlMs"]?.intValue ?? 0 > 0)
            let names = a["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names == Tool.all.map(\.name))
            let b = try #require(s.modern("tools/list")?["result"])
            #expect(b["tools"] == a["tools"])
            // The committed tools.json is what both eras serve.
            let file = try JSONParser.parse(
                Array(try Data(contentsOf: repositoryRoot().appendingPathComponent("tools.json"))))
            #expect(a["tools"] == file["tools"], "tools.json is stale: minsky mcp tools-json > tools.json")
            // Progress per request: create_tasks with a progress token reports on this request.
            let progress = s.modernWithNotes(
                "tools/call",
                [
                    "name": "create_tasks", "arguments": ["tasks": [["title": "p1"], ["title": "p2"]]],
                ], meta: ["progressToken": "tok-1"])
            #expect(progress.response?["result"]?["isError"] == false)
            #expect(
                progress.notes.contains {
                    $0["method"] == "notifications/progress" && $0["params"]?["progressToken"] == "tok-1"
                },
                "\(progress.notes)")
            let created = try #require(s.modern("tools/call", ["name": "create_task", "arguments": ["title": "x"]]))
            let result = try #require(created["result"])
            #expect(result["resultType"] == "complete" && result["isError"] == false)
            #expect(result["_meta"]?[Self.serverInfoKey]?["version"] != nil)
            let id = try #require(result["structuredContent"]?["id"]?.stringValue)
            let read = try #require(s.modern("resources/read", ["uri": .string("minsky://tasks/\(id)")])?["result"])
            #expect(read["resultType"] == "complete" && read["ttlMs"] == 0 && read["cacheScope"] == "private")
            let list = try #require(s.modern("resources/list")?["result"])
            #expect(list["ttlMs"] != nil && list["resources"]?.arrayValue?.count == 3)
            let templates = try #require(s.modern("resources/templates/list")?["result"])
            #expect(templates["cacheScope"] == "public")
            // An unknown task is invalid params in this revision (it was -32002).
            #expect(errorCode(s.modern("resources/read", ["uri": "minsky://tasks/mk-nope"])) == -32602)
        }
    }

    @Test func removedMethodsAreUnknownInThisEra() async throws {
        try await withServer(initialize: false) { s in
            #expect(errorCode(s.modern("ping")) == -32601)
            #expect(errorCode(s.modern("logging/setLevel", ["level": "debug"])) == -32601)
            #expect(errorCode(s.modern("resources/subscribe", ["uri": "minsky://tasks/mk-a"])) == -32601)
        }
    }

    @Test func logsFlowOnlyForRequestsThatAskForThem() async throws {
        try await withServer(initialize: false) { s in
            let quiet = s.modernWithNotes("tools/call", ["name": "list_tasks", "arguments": .object([:])])
            #expect(quiet.response?["result"]?["isError"] == false)
            #expect(!quiet.notes.contains { $0["method"] == "notifications/message" })
            let loud = s.modernWithNotes(
                "tools/call", ["name": "list_tasks", "arguments": .object([:])],
                meta: ["io.modelcontextprotocol/logLevel": "debug"])
            let log = loud.notes.first { $0["method"] == "notifications/message" }
            #expect(log?["params"]?["level"] == "debug", "\(loud.notes)")
            #expect(log?["params"]?["data"]?.stringValue?.contains("list_tasks answered") == true)
            let bad = s.modern("tools/list", meta: ["io.modelcontextprotocol/logLevel": "loud"])
            #expect(errorCode(bad) == -32602)
        }
    }

    /// decompose_task without a configured model, for a client that declares sampling: an
    /// InputRequiredResult asks its model; the retry carries the answer and the sealed state.
    @Test(arguments: StoreKind.allCases)
    func samplingIsAskedByAnInputRequiredResultAndTheStateCannotBeForged(kind: StoreKind) async throws {
        try await withServer(kind, initialize: false) { s in
            let sampling: JSONValue = ["sampling": .object([:])]
            let parent = try #require(
                s.modern("tools/call", ["name": "create_task", "arguments": ["title": "Ship the parser"]])?["result"]?[
                    "structuredContent"]?["id"]?.stringValue)
            let call: [String: JSONValue] = ["name": "decompose_task", "arguments": ["id": .string(parent)]]
            let first = try #require(s.modern("tools/call", call, capabilities: sampling)?["result"])
            #expect(first["resultType"] == "input_required", "\(first)")
            let ask = try #require(first["inputRequests"]?["sample-0"])
            #expect(ask["method"] == "sampling/createMessage")
            #expect(
                ask["params"]?["messages"]?.arrayValue?.first?["content"]?["text"]?.stringValue?.contains(
                    "Ship the parser") == true)
            let state = try #require(first["requestState"]?.stringValue)
            // Nothing was written while the client's model is asked.
            let kids = s.modern("tools/call", ["name": "list_tasks", "arguments": ["parentId": .string(parent)]])
            #expect(kids?["result"]?["structuredContent"]?["tasks"]?.arrayValue?.isEmpty == true)

            let answer: JSONValue = [
                "role": "assistant", "model": "wire-model",
                "content": [
                    "type": "text",
                    "text": .string(
                        #"{"subtasks":[{"title":"Lex","description":"","complexity":2,"dependsOn":[]},{"title":"Parse","description":"","complexity":3,"dependsOn":[0]}]}"#
                    ),
                ],
            ]
            // A state altered by one character, or presented for other arguments, is refused.
            var tampered = Array(state)
            tampered[5] = tampered[5] == "A" ? "B" : "A"
            var forged = call
            forged["inputResponses"] = ["sample-0": answer]
            forged["requestState"] = .string(String(tampered))
            let refused = s.modern("tools/call", forged, capabilities: sampling)
            #expect(errorCode(refused) == -32602)
            #expect(
                refused?["error"]?["message"]?.stringValue?.contains("altered") == true,
                "\(String(describing: refused))")
            var other = forged
            other["arguments"] = ["id": .string(parent), "max": 2]
            other["requestState"] = .string(state)
            let misused = s.modern("tools/call", other, capabilities: sampling)
            #expect(misused?["error"]?["message"]?.stringValue?.contains("another request") == true)

            var retry = call
            retry["inputResponses"] = ["sample-0": answer]
            retry["requestState"] = .string(state)
            let done = try #require(s.modern("tools/call", retry, capabilities: sampling)?["result"])
            #expect(done["resultType"] == "complete" && done["isError"] == false, "\(done)")
            #expect(
                done["structuredContent"]?["subtasks"]?.arrayValue?.compactMap { $0["title"]?.stringValue } == [
                    "Lex", "Parse",
                ])
            // Without the sampling capability: the agent-answers-itself path, no input request.
            let plain = try #require(s.modern("tools/call", call)?["result"])
            #expect(plain["resultType"] == "complete" && plain["structuredContent"]?["needsAnswer"] == true)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func subscriptionsAreAcknowledgedTaggedCancelledAndClosed(kind: StoreKind) async throws {
        try await withServer(kind, initialize: false) { s in
            let id = try #require(
                s.modern("tools/call", ["name": "create_task", "arguments": ["title": "watched"]])?["result"]?[
                    "structuredContent"]?["id"]?.stringValue)
            let uri = JSONValue.string("minsky://tasks/\(id)")
            // Two subscriptions at once: one on the list, one on the task.
            s.send(
                [
                    "jsonrpc": "2.0", "id": "sub-list", "method": "subscriptions/listen",
                    "params": ["_meta": MCPProcess.modernMeta(), "notifications": ["resourcesListChanged": true]],
                ])
            s.send(
                [
                    "jsonrpc": "2.0", "id": "sub-task", "method": "subscriptions/listen",
                    "params": [
                        "_meta": MCPProcess.modernMeta(),
                        "notifications": [
                            "resourceSubscriptions": [uri], "promptsListChanged": true, "toolsListChanged": true,
                        ],
                    ],
                ])
            let key = "io.modelcontextprotocol/subscriptionId"
            let ackList = s.notification("notifications/subscriptions/acknowledged") {
                $0["params"]?["_meta"]?[key] == "sub-list"
            }
            #expect(ackList?["params"]?["notifications"] == ["resourcesListChanged": true])
            let ackTask = s.notification("notifications/subscriptions/acknowledged") {
                $0["params"]?["_meta"]?[key] == "sub-task"
            }
            // No prompts here, and the tools never change while the server runs: not honoured.
            #expect(ackTask?["params"]?["notifications"] == ["resourceSubscriptions": [uri]])

            // Another process changes the task and creates one.
            let cwd = try #require(s.cwd)
            #expect(
                try await runProcess(
                    Binaries.minsky, ["tasks", "update", id, "--title", "renamed"], cwd: cwd, env: s.env
                ).status == 0)
            let updated = s.notification("notifications/resources/updated", timeout: 15) { $0["params"]?["uri"] == uri }
            #expect(updated?["params"]?["_meta"]?[key] == "sub-task", "\(String(describing: updated))")
            #expect(
                try await runProcess(Binaries.minsky, ["tasks", "create", "another"], cwd: cwd, env: s.env).status == 0)
            let listed = s.notification("notifications/resources/list_changed", timeout: 15)
            #expect(listed?["params"]?["_meta"]?[key] == "sub-list")

            // Cancelled: nothing more for it; the other still hears.
            s.send(["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": "sub-task"]])
            #expect(s.modern("resources/list")?["result"] != nil)  // the cancel was read
            #expect(
                try await runProcess(
                    Binaries.minsky, ["tasks", "update", id, "--title", "again"], cwd: cwd, env: s.env
                ).status == 0)
            #expect(
                try await runProcess(Binaries.minsky, ["tasks", "create", "third"], cwd: cwd, env: s.env).status == 0)
            #expect(s.notification("notifications/resources/list_changed", timeout: 15) != nil)
            #expect(s.notification("notifications/resources/updated", timeout: 1) == nil)

            // End of input: the open subscription is closed with its result, then the server exits.
            s.closeInput()
            let (closed, _) = s.response(id: "sub-list", timeout: 15)
            #expect(closed?["result"]?["resultType"] == "complete")
            #expect(closed?["result"]?["_meta"]?[key] == "sub-list")
            #expect(s.response(id: "sub-task", timeout: 1).0 == nil, "a cancelled subscription gets no result")
            #expect(s.waitForExit(timeout: 20) == 0)
        }
    }

    @Test func aBadFilterIsInvalidParams() async throws {
        try await withServer(initialize: false) { s in
            #expect(errorCode(s.modern("subscriptions/listen")) == -32602)
            #expect(
                errorCode(s.modern("subscriptions/listen", ["notifications": ["resourcesListChanged": "yes"]]))
                    == -32602)
            let bad = s.modern(
                "subscriptions/listen", ["notifications": ["resourceSubscriptions": ["file:///etc/passwd"]]])
            #expect(errorCode(bad) == -32602)
        }
    }
}

/// Destructive calls ask the person through the client when it can ask (elicitation): by an
/// InputRequiredResult in the 2026-07-28 era, by a request to the client in the handshake era.
@Suite("Confirmation of destructive calls")
struct ConfirmationTests {
    static func family(_ s: MCPProcess, modern: Bool) throws -> String {
        func call(_ name: String, _ args: JSONValue) -> JSONValue? {
            modern ? s.modern("tools/call", ["name": .string(name), "arguments": args])?["result"] : s.call(name, args)
        }
        let root = try #require(call("create_task", ["title": "Release"])?["structuredContent"]?["id"]?.stringValue)
        for i in 0..<5 {
            #expect(
                call("create_task", ["title": .string("step \(i)"), "parentId": .string(root)])?["isError"] == false)
        }
        return root
    }

    @Test func aModernClientIsAskedAndADeclineChangesNothing() async throws {
        try await withServer(initialize: false) { s in
            let root = try Self.family(s, modern: true)
            let caps: JSONValue = ["elicitation": .object([:])]
            let call: [String: JSONValue] = [
                "name": "delete_task", "arguments": ["id": .string(root), "cascade": true],
            ]
            let first = try #require(s.modern("tools/call", call, capabilities: caps)?["result"])
            #expect(first["resultType"] == "input_required", "\(first)")
            let ask = try #require(first["inputRequests"]?["confirm-0"])
            #expect(ask["method"] == "elicitation/create" && ask["params"]?["mode"] == "form")
            #expect(ask["params"]?["message"]?.stringValue?.contains("5 subtasks") == true)
            let state = try #require(first["requestState"]?.stringValue)
            var no = call
            no["inputResponses"] = ["confirm-0": ["action": "decline"]]
            no["requestState"] = .string(state)
            let declined = try #require(s.modern("tools/call", no, capabilities: caps)?["result"])
            #expect(declined["isError"] == true)
            #expect(declined["content"]?.arrayValue?.first?["text"]?.stringValue?.hasPrefix("declined") == true)
            let left = s.modern("tools/call", ["name": "list_tasks", "arguments": .object([:])])
            #expect(left?["result"]?["structuredContent"]?["tasks"]?.arrayValue?.count == 6)
            var yes = call
            yes["inputResponses"] = ["confirm-0": ["action": "accept", "content": ["confirm": true]]]
            yes["requestState"] = .string(state)
            let done = try #require(s.modern("tools/call", yes, capabilities: caps)?["result"])
            #expect(done["structuredContent"]?["deleted"]?.arrayValue?.count == 6, "\(done)")
            // A client that cannot ask: the call proceeds as it always did.
            let other = try Self.family(s, modern: true)
            let plain = s.modern(
                "tools/call", ["name": "delete_task", "arguments": ["id": .string(other), "cascade": true]])
            #expect(plain?["result"]?["structuredContent"]?["deleted"]?.arrayValue?.count == 6)
        }
    }

    @Test func aHandshakeClientIsAskedByARequest() async throws {
        try await withServer(initialize: false) { s in
            let r = s.request(
                "initialize",
                [
                    "protocolVersion": "2025-11-25", "capabilities": ["elicitation": .object([:])],
                    "clientInfo": ["name": "minsky-tests", "version": "1"],
                ])
            #expect(r?["result"]?["protocolVersion"] == "2025-11-25")
            s.send(["jsonrpc": "2.0", "method": "notifications/initialized"])
            let root = try Self.family(s, modern: false)
            s.send(
                [
                    "jsonrpc": "2.0", "id": "del", "method": "tools/call",
                    "params": ["name": "delete_task", "arguments": ["id": .string(root), "cascade": true]],
                ])
            // (Change notifications of the creates may come first.)
            let ask = try #require(s.notification("elicitation/create", timeout: 10))
            #expect(ask["id"] != nil && ask["params"]?["mode"] == nil, "\(ask)")
            s.send([
                "jsonrpc": "2.0", "id": ask["id"] ?? .null,
                "result": ["action": "accept", "content": ["confirm": true]],
            ])
            let (done, _) = s.response(id: "del")
            #expect(
                done?["result"]?["structuredContent"]?["deleted"]?.arrayValue?.count == 6, "\(String(describing: done))"
            )
        }
    }
}

/// What an installed server says it is, and the folder a client's settings name.
@Suite("Version and project folder")
struct VersionAndFolderTests {
    @Test func theVersionComesFromOnePlaceAndTheServerSaysTheSame() async throws {
        let v = try await runProcess(Binaries.minsky, ["--version"])
        #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == MinskyVersion.description)
        #expect(v.stdout.contains("commit "))
        let dir = try TestEnvironment.tempDirectory("minsky-version")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try MCPProcess(cwd: dir)
        defer { s.terminate() }
        let info = s.modern("server/discover")?["result"]?["_meta"]?["io.modelcontextprotocol/serverInfo"]
        #expect(
            info?["version"] == .string(MinskyVersion.number + "+" + MinskyVersion.commit),
            "\(String(describing: info))")
    }

    /// A Claude Desktop extension starts `minsky mcp` anywhere, with the chosen folder in
    /// MINSKY_PROJECT: that folder becomes a project on first use and is served.
    @Test func aFolderNamedByTheClientBecomesTheProjectServed() async throws {
        let folder = try TestEnvironment.tempDirectory("minsky-folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        let s = try MCPProcess(cwd: URL(fileURLWithPath: "/"), env: ["MINSKY_PROJECT": folder.path])
        defer { s.terminate() }
        let made = s.modern("tools/call", ["name": "create_task", "arguments": ["title": "in the chosen folder"]])
        #expect(made?["result"]?["isError"] == false, "\(String(describing: made)) \(s.stderrText)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(".minsky/tasks.db").path))
        let listed = try await runProcess(Binaries.minsky, ["tasks", "list"], cwd: folder)
        #expect(listed.stdout.contains("in the chosen folder"), "\(listed.stdout)")
    }
}
