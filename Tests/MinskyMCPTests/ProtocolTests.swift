import Foundation
import MinskyCore
import MinskyMCP
import MinskyTestSupport
import Testing

@Suite("MCP protocol over pipes")
struct ProtocolTests {
    @Test(arguments: ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"])
    func negotiatesEverySupportedVersion(version: String) async throws {
        try await withServer(initialize: false) { s in
            let r = s.initialize(version: version)
            #expect(r?["result"]?["protocolVersion"]?.stringValue == version)
            #expect(r?["result"]?["serverInfo"]?["name"] == "minsky")
            #expect(r?["result"]?["capabilities"]?["tools"] != nil)
            #expect(r?["result"]?["capabilities"]?["resources"] != nil)
            #expect(r?["result"]?["capabilities"]?["logging"] != nil)
            let tools = s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []
            #expect(!tools.isEmpty)
            // Output schemas and titles exist from 2025-06-18, annotations from 2025-03-26.
            #expect((tools[0]["outputSchema"] != nil) == (version >= "2025-06-18"))
            #expect((tools[0]["annotations"] != nil) == (version >= "2025-03-26"))
            let call = s.call("list_tasks")
            #expect(call?["isError"] == false)
            #expect((call?["structuredContent"] != nil) == (version >= "2025-06-18"))
        }
    }

    @Test func unknownVersionGetsTheNewestAndLifecycleIsEnforced() async throws {
        try await withServer(initialize: false) { s in
            #expect(s.request("ping")?["result"] == .object([:]))
            #expect(errorCode(s.request("tools/list")) == -32600)
            #expect(errorCode(s.request("initialize", ["capabilities": .object([:])])) == -32602)
            let r = s.initialize(version: "1999-01-01")
            #expect(r?["result"]?["protocolVersion"] == "2025-11-25")
            #expect(errorCode(s.initialize()) == -32600)
            #expect(s.request("tools/list")?["result"] != nil)
        }
    }

    @Test func jsonRPCErrorsUseTheExactCodes() async throws {
        try await withServer { s in
            s.sendLine("{not json")
            var m = s.nextMessage()
            #expect(m?["error"]?["code"] == -32700)
            #expect(m?["id"] == .null)
            s.sendRaw([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D, 0x0A])  // invalid UTF-8
            m = s.nextMessage()
            #expect(m?["error"]?["code"] == -32700)
            s.sendLine("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]")
            #expect(s.nextMessage()?["error"]?["code"] == -32600)
            s.sendLine("{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}")
            m = s.nextMessage()
            #expect(m?["error"]?["code"] == -32600)
            #expect(m?["id"] == 7)
            s.sendLine("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":42}")
            #expect(s.nextMessage()?["error"]?["code"] == -32600)
            s.sendLine("{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}")
            #expect(s.nextMessage()?["error"]?["code"] == -32600)
            s.sendLine("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":[1]}")
            #expect(s.nextMessage()?["error"]?["code"] == -32602)
            s.sendLine("\"just a string\"")
            #expect(s.nextMessage()?["error"]?["code"] == -32600)
            #expect(errorCode(s.request("no/such/method")) == -32601)
            #expect(errorCode(s.request("tools/call", ["name": "no_such_tool", "arguments": .object([:])])) == -32602)
            #expect(errorCode(s.request("tools/call", ["arguments": .object([:])])) == -32602)
            #expect(errorCode(s.request("tools/call", ["name": "list_tasks", "arguments": [1, 2]])) == -32602)
            #expect(errorCode(s.request("tools/list", ["cursor": "bogus"])) == -32602)
            #expect(errorCode(s.request("logging/setLevel", ["level": "loud"])) == -32602)
            #expect(s.request("logging/setLevel", ["level": "debug"])?["result"] == .object([:]))
            #expect(errorCode(s.request("resources/read", ["uri": "minsky://tasks/mk-nope0"])) == -32002)
            #expect(errorCode(s.request("resources/read", ["uri": "https://example.com"])) == -32602)
            // Notifications never get an answer; the next request still does.
            s.send(["jsonrpc": "2.0", "method": "notifications/whatever"])
            #expect(s.request("ping")?["result"] == .object([:]))
        }
    }

    @Test func toolFailuresAreResultsWithIsError() async throws {
        try await withServer { s in
            let bad = s.call("create_task", ["title": 42])
            #expect(bad?["isError"] == true)
            #expect(bad?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("title must be string") == true)
            let missing = s.call("get_task", ["id": "mk-zzzzz"])
            #expect(missing?["isError"] == true)
            #expect(missing?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("not found") == true)
            let extra = s.call("list_tasks", ["colour": "blue"])
            #expect(
                extra?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("unknown argument colour") == true)
            let a = structured(s.call("create_task", ["title": "a"]))?["id"]?.stringValue ?? ""
            let b =
                structured(s.call("create_task", ["title": "b", "dependsOn": [.string(a)]]))?["id"]?.stringValue ?? ""
            let cycle = s.call("add_dependency", ["taskId": .string(a), "dependsOn": .string(b)])
            #expect(cycle?["isError"] == true)
            #expect(cycle?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("cycle") == true)
            let stale = s.call("update_task", ["id": .string(a), "title": "x", "expectedVersion": 5])
            #expect(stale?["isError"] == true)
            #expect(stale?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("conflict") == true)
        }
    }

    @Test func toolsListPaginatesAndMatchesToolsJSON() async throws {
        try await withServer(env: ["MINSKY_MCP_PAGE_SIZE": "5"]) { s in
            var all: [JSONValue] = []
            var cursor: JSONValue?
            var pages = 0
            repeat {
                var params: [String: JSONValue] = [:]
                if let cursor { params["cursor"] = cursor }
                let r = s.request("tools/list", .object(params))?["result"]
                all += r?["tools"]?.arrayValue ?? []
                cursor = r?["nextCursor"]
                pages += 1
            } while cursor != nil && pages < 20
            #expect(pages == (all.count + 4) / 5)
            #expect(all.count == Tool.all.count)
            let file = try JSONParser.parse(Data(contentsOf: repositoryRoot().appendingPathComponent("tools.json")))
            #expect(
                file["tools"] == .array(all), "tools.json is stale: run `swift run minsky mcp tools-json > tools.json`")
            let names = all.compactMap { $0["name"]?.stringValue }
            for n in [
                "list_tasks", "create_task", "update_task", "delete_task", "set_status", "add_dependency",
                "remove_dependency",
                "next_task", "claim_task", "task_tree", "search_tasks", "get_task",
            ] {
                #expect(names.contains(n))
            }
            for t in all {
                #expect(t["inputSchema"]?["type"] == "object")
                #expect(t["outputSchema"]?["type"] == "object")
                #expect(t["annotations"]?["readOnlyHint"]?.boolValue != nil)
                #expect(t["annotations"]?["destructiveHint"]?.boolValue != nil)
                #expect(t["annotations"]?["idempotentHint"]?.boolValue != nil)
                #expect(t["annotations"]?["openWorldHint"]?.boolValue != nil)
            }
            // The agent-economy budget: every definition together under 4k tokens (chars / 4).
            let chars = JSONValue.array(all).canonicalJSON().count
            #expect(chars / 4 < 4000)
        }
    }

    @Test func thousandPipelinedRequestsThenEOFAreAllAnswered() async throws {
        try await withServer { s in
            var batch = ""
            for i in 0..<1000 {
                let m: JSONValue =
                    i % 2 == 0
                    ? ["jsonrpc": "2.0", "id": .int(Int64(i)), "method": "ping"]
                    : [
                        "jsonrpc": "2.0", "id": .string("r\(i)"), "method": "tools/call",
                        "params": ["name": "create_task", "arguments": ["title": .string("pipelined \(i)")]],
                    ]
                batch += m.canonicalJSON() + "\n"
            }
            s.sendLine(String(batch.dropLast()))
            s.closeInput()
            var ids = Set<JSONValue>()
            while let m = s.nextMessage(timeout: 60) {
                if let id = m["id"] { ids.insert(id) }
                if m["result"]?["isError"] == true { Issue.record("tool failed: \(m.canonicalJSON())") }
            }
            #expect(ids.count == 1000)
            #expect(s.waitForExit() == 0)
        }
    }

    @Test func cancellationStopsTheWorkAndSuppressesTheResponse() async throws {
        try await withServer { s in
            let tasks = JSONValue.array(
                (0..<500).map {
                    .object([
                        "title": .string("bulk \($0)"),
                        "description": .string(String(repeating: "lorem ipsum ", count: 400)),
                    ])
                })
            s.send([
                "jsonrpc": "2.0", "id": "bulk", "method": "tools/call",
                "params": ["name": "create_tasks", "arguments": ["tasks": tasks], "_meta": ["progressToken": "p1"]],
            ])
            // Wait for the first progress notification, then cancel.
            let first = s.nextMessage()
            #expect(first?["method"] == "notifications/progress")
            s.send([
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": ["requestId": "bulk", "reason": "test"],
            ])
            #expect(s.request("ping")?["result"] == .object([:]))
            s.closeInput()
            var answeredBulk = false
            while let m = s.nextMessage(timeout: 20) { if m["id"] == "bulk" { answeredBulk = true } }
            #expect(!answeredBulk)
            #expect(s.waitForExit() == 0)
            // All or nothing: the cancelled batch left no task behind.
            let check = try MCPProcess(cwd: s.cwd)
            _ = check.initialize()
            #expect(structured(check.call("list_tasks"))?["tasks"]?.arrayValue?.count == 0)
        }
    }

    @Test func progressNotificationsPrecedeTheResult() async throws {
        try await withServer { s in
            let tasks = JSONValue.array((0..<40).map { .object(["title": .string("step \($0)")]) })
            s.send([
                "jsonrpc": "2.0", "id": 77, "method": "tools/call",
                "params": ["name": "create_tasks", "arguments": ["tasks": tasks], "_meta": ["progressToken": 5]],
            ])
            let (r, notes) = s.response(id: 77)
            let progress = notes.filter { $0["method"] == "notifications/progress" }
            #expect(progress.count >= 2)
            #expect(progress.allSatisfy { $0["params"]?["progressToken"] == 5 })
            let values = progress.compactMap { $0["params"]?["progress"]?.doubleValue }
            #expect(values == values.sorted())
            #expect(values.last == 40)
            #expect(structured(r?["result"])?["created"]?.arrayValue?.count == 40)
        }
    }

    @Test func megabyteArgumentsAndUnicodeRoundTrip() async throws {
        try await withServer { s in
            let big = String(repeating: "ünïcødé 🎉 ", count: 70_000)
            #expect(big.utf8.count > 1_000_000)
            let title = "\"quotes\" \\ back \u{1} ctrl עברית 👩‍👩‍👧 data:text/plain;base64,AAAA"
            let id =
                structured(s.call("create_task", ["title": .string(title), "description": .string(big)]))?["id"]?
                .stringValue ?? ""
            // get_task answers in bounded pieces; reading on with offset yields every character.
            var text = ""
            var rounds = 0
            while rounds < 1_000 {
                let got = structured(
                    s.call("get_task", ["id": .string(id), "offset": .int(Int64(text.unicodeScalars.count))]))?["task"]
                #expect(got?["title"]?.stringValue == title)
                text += got?["description"]?.stringValue ?? ""
                rounds += 1
                if got?["descriptionTruncated"] != true { break }
            }
            #expect(text == big)
            #expect(rounds > 1)
        }
    }

    @Test func resourcesExposeTasks() async throws {
        try await withServer { s in
            let id = structured(s.call("create_task", ["title": "as a resource"]))?["id"]?.stringValue ?? ""
            let list = s.request("resources/list")?["result"]?["resources"]?.arrayValue ?? []
            #expect(list.first?["uri"]?.stringValue == "minsky://tasks/\(id)")
            let read = s.request("resources/read", ["uri": .string("minsky://tasks/\(id)")])?["result"]?["contents"]?
                .arrayValue?.first
            #expect(read?["mimeType"] == "application/json")
            let body = try JSONParser.parse((read?["text"]?.stringValue ?? "").utf8)
            #expect(body["title"] == "as a resource")
            let templates = s.request("resources/templates/list")?["result"]?["resourceTemplates"]?.arrayValue
            #expect(templates?.first?["uriTemplate"] == "minsky://tasks/{id}")
        }
    }

    @Test func sigtermShutsDownGracefully() async throws {
        try await withServer { s in
            #expect(s.request("ping") != nil)
            kill(s.pid, SIGTERM)
            #expect(s.waitForExit() == 0)
        }
    }

    /// A client that keeps pipelining creates through a SIGTERM: the server stops reading at the
    /// signal, answers what it had taken in, executes nothing it did not answer, and exits soon.
    @Test func sigtermStopsReadingAndFinishesOnlyWhatWasReceived() async throws {
        try await withServer { s in
            @Sendable func burst(_ from: Int, _ n: Int) {
                var text = ""
                for id in from..<(from + n) {
                    text +=
                        JSONValue.object([
                            "jsonrpc": "2.0", "id": .int(Int64(id)), "method": "tools/call",
                            "params": ["name": "create_task", "arguments": ["title": .string("t\(id)")]],
                        ]).canonicalJSON() + "\n"
                }
                s.sendRaw(Array(text.utf8))
            }
            burst(1, 500)
            kill(s.pid, SIGTERM)
            // Keeps writing after the signal (the pipe may close under it).
            let writer = Thread { for k in 0..<40 { burst(501 + k * 250, 250) } }
            writer.start()
            #expect(s.waitForExit(timeout: 15) == 0)
            let answered = s.allLines.compactMap { try? JSONParser.parse($0.utf8) }.filter {
                $0["result"]?["isError"] == false
            }
            // Reading stopped: far fewer than the 10,500 sent were even read.
            #expect(answered.count < 2_000, "\(answered.count) creates answered after a SIGTERM")
            let list = try await runProcess(
                Binaries.minsky, ["tasks", "list", "--all", "--json"], cwd: try #require(s.cwd))
            let stored = try JSONParser.parse(list.stdout.utf8)["tasks"]?.arrayValue?.count ?? -1
            #expect(
                stored == answered.count,
                "every executed create was answered: \(stored) stored, \(answered.count) answered")
        }
    }

    @Test func idsAreEchoedExactlyEvenBeyond64BitsAndInUnparsableMessages() async throws {
        try await withServer { s in
            for raw in [
                "9223372036854775808", "-9223372036854775809", "1.5", "1e400", "123456789012345678901234567890",
            ] {
                s.sendLine("{\"jsonrpc\":\"2.0\",\"id\":\(raw),\"method\":\"ping\"}")
                let line = s.nextRawLine() ?? ""
                #expect(line.hasPrefix("{\"id\":\(raw),"), "\(raw) → \(line)")
            }
            // A lone surrogate makes the message invalid, but its id is readable: answer that id.
            s.sendLine(
                #"{"jsonrpc":"2.0","id":"lone","method":"tools/call","params":{"name":"create_task","arguments":{"title":"\ud800"}}}"#
            )
            let r = s.nextMessage()
            #expect(r?["id"] == "lone")
            #expect(r?["error"]?["code"] == .int(-32700))
            s.sendLine(#"{"id":77,"jsonrpc":"2.0","method":"ping","params":{"x":"\udc00"}}"#)
            #expect(s.nextMessage()?["id"] == 77)
            // Nothing readable: null, as the spec says.
            s.sendLine(#"{"jsonrpc":"2.0","method":"ping","id":"#)
            #expect(s.nextMessage()?["id"] == .null)
        }
    }

    @Test func startsWithoutAStoreAndSaysHowToConfigureOne() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-mcp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try MCPProcess(cwd: dir)
        #expect(s.initialize()?["result"] != nil)
        let r = s.call("list_tasks")
        #expect(r?["isError"] == true)
        #expect(r?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("minsky init") == true)
        s.closeInput()
        #expect(s.waitForExit() == 0)
    }

    @Test func defaultListPagesStayWithinTheTokenBudget() async throws {
        try await withServer { s in
            let long = String(repeating: "a long descriptive title ", count: 18)
            let tasks = JSONValue.array((0..<60).map { .object(["title": .string("\($0) \(long)")]) })
            _ = structured(s.call("create_tasks", ["tasks": tasks]))
            var seen: [String] = []
            var cursor: JSONValue?
            repeat {
                var args: [String: JSONValue] = [:]
                if let cursor { args["cursor"] = cursor }
                let r = s.call("list_tasks", .object(args))
                let text = r?["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
                #expect(text.count / 4 < 2000, "a default page is \(text.count / 4) tokens")
                let page = structured(r)
                seen += page?["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                cursor = page?["nextCursor"]
            } while cursor != nil
            #expect(seen.count == 60)
            #expect(Set(seen).count == 60)
        }
    }

    @Test func pipelinedRequestsSeeEarlierWrites() async throws {
        try await withServer { s in
            s.send([
                "jsonrpc": "2.0", "id": "w", "method": "tools/call",
                "params": ["name": "create_task", "arguments": ["title": "written first"]],
            ])
            s.send([
                "jsonrpc": "2.0", "id": "r", "method": "tools/call",
                "params": ["name": "list_tasks", "arguments": .object([:])],
            ])
            let (r, _) = s.response(id: "r")
            #expect(structured(r?["result"])?["tasks"]?.arrayValue?.count == 1)
        }
    }

    @Test func theScriptedSampleSessionRuns() async throws {
        let script = repositoryRoot().appendingPathComponent("examples/sample-session.sh")
        let r = try await runProcess(script, [Binaries.minsky.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"assignee\": \"sample-agent\""))
        #expect(r.stdout.contains("Login endpoint"))
    }
}
