import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `minsky plan FILE.md` and `decompose_task` with a document: real HTTP to a fake model server,
/// the real binary, both stores.
@Suite("Plans from a document")
struct PlanTests {
    static let epicPlan =
        #"{"subtasks":[{"title":"Accounts","description":"Sign-up and login","priority":1,"acceptance":[],"dependsOn":[],"parent":null},{"title":"Users table","description":"columns","priority":1,"acceptance":["migration runs on both stores"],"dependsOn":[],"parent":0},{"title":"Login endpoint","description":"POST /login","priority":0,"acceptance":["401 on a bad password","rate limited"],"dependsOn":[1],"parent":0}]}"#

    func run(_ p: AIProject, _ args: [String], stdin: String? = nil) async throws -> ProcessResult {
        try await runProcess(Binaries.minsky, args, cwd: p.dir, env: p.env, stdin: stdin.map { Data($0.utf8) })
    }

    @Test(arguments: StoreKind.allCases)
    func aDocumentBecomesATreeWithPrioritiesDependenciesAndCriteria(kind: StoreKind) async throws {
        let server = try FakeLLMServer([.openAI(Self.epicPlan)])
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let doc = p.dir.appendingPathComponent("auth.md")
            try "# User accounts\n\nPeople sign up and log in.\n\n## Login\n\nWrong passwords get 401.\n".write(
                to: doc, atomically: true, encoding: .utf8)
            let r = try await run(p, ["plan", doc.path, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let out = try JSONParser.parse(r.stdout.utf8)
            let rootID = try #require(out["parentId"]?.stringValue)
            let all = try await p.tasks()
            func task(_ title: String) -> JSONValue? { all.first { $0["title"]?.stringValue == title } }
            let root = try #require(task("User accounts"))  // named after the first heading
            #expect(root["id"]?.stringValue == rootID)
            let epic = try #require(task("Accounts"))
            let table = try #require(task("Users table"))
            let login = try #require(task("Login endpoint"))
            #expect(epic["parentId"]?.stringValue == rootID)
            #expect(table["parentId"] == epic["id"] && login["parentId"] == epic["id"])
            #expect(login["priority"] == 0 && epic["priority"] == 1)
            #expect(
                login["acceptance"]?.arrayValue?.map { $0["text"]?.stringValue ?? "" } == [
                    "401 on a bad password", "rate limited",
                ])
            // The dependency landed: the table is ready, the endpoint waits for it.
            let next = try JSONParser.parse(await run(p, ["tasks", "next", "--limit", "10", "--json"]).stdout.utf8)
            let ready = next["tasks"]?.arrayValue?.compactMap { $0["title"]?.stringValue } ?? []
            #expect(ready.contains("Users table") && !ready.contains("Login endpoint"), "\(ready)")
            // The model read the whole document, with the rules.
            let prompt = server.requests.first?.body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(prompt.contains("Wrong passwords get 401.") && prompt.contains("acceptance criteria"))
            // A plan is a proposal too, recorded as applied.
            let proposals = try JSONParser.parse(
                await run(p, ["tasks", "proposals", "list", rootID, "--json"]).stdout.utf8)
            #expect(proposals.arrayValue?.first?["kind"] == "plan" && proposals.arrayValue?.first?["appliedAt"] != nil)
        }
    }

    @Test func aLongDocumentIsPlannedPartByPartWithNothingCut() async throws {
        // Three sections of ~7k characters: three parts (a part holds at most 12k).
        let sections = (0..<3).map { i in
            "## Section \(i)\n\n" + String(repeating: "Requirement text \(i) that matters. ", count: 200)
                + "\nMARKER-\(i)-END\n\n"
        }
        let document = "# Big spec\n\n" + sections.joined()
        let parts = (0..<3).map { i in
            #"{"subtasks":[{"title":"Work for section \#(i)","description":"","priority":2,"acceptance":[],"dependsOn":\#(i == 0 ? "[]" : "[0]"),"parent":null}]}"#
        }
        let server = try FakeLLMServer(parts.map { .openAI($0) })
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await run(p, ["plan", "-", "--max", "6"], stdin: document)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("planning part 1 of 3") && r.stderr.contains("planning part 3 of 3"))
            #expect(server.requests.count == 3)
            let prompts = server.requests.map { $0.body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? "" }
            // Every section's text went to exactly one call; later calls know what earlier ones planned.
            for i in 0..<3 {
                #expect(prompts.filter { $0.contains("MARKER-\(i)-END") }.count == 1)
                #expect(prompts[i].contains("part \(i + 1) of 3") && prompts[i].contains("## Section 2"))
            }
            #expect(prompts[1].contains("0. Work for section 0") && prompts[2].contains("1. Work for section 1"))
            let titles = try await p.tasks().compactMap { $0["title"]?.stringValue }
            #expect(Set(titles) == ["Big spec", "Work for section 0", "Work for section 1", "Work for section 2"])
            // Too small a --max for the parts is refused before any call, naming the fix.
            let small = try await run(p, ["plan", "-", "--max", "2"], stdin: document)
            #expect(
                small.status == 2 && small.stderr.contains("--max 2") && small.stderr.contains("at least 3"),
                "\(small.stderr)")
            #expect(server.requests.count == 3)
        }
    }

    @Test func aDryRunIsAProposalAppliedInPart() async throws {
        let server = try FakeLLMServer([
            .openAI(#"{"subtasks":[{"title":"x","description":"","priority":9,"acceptance":[],"dependsOn":[]}]}"#),
            .openAI(Self.epicPlan),
        ])
        let p = try await AIProject.make(.sqlite, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            let r = try await run(p, ["plan", "-", "--dry-run"], stdin: "# Accounts\n\nSign up, log in.\n")
            #expect(r.status == 0, "\(r.stderr)")
            // The first answer broke the schema (priority 9): one repair attempt quoting the error.
            #expect(server.requests.count == 2)
            let repair = server.requests[1].body?["messages"]?.arrayValue?.last?["content"]?.stringValue ?? ""
            #expect(repair.contains("rejected") && repair.contains("priority"))
            #expect(r.stdout.contains("2. Login endpoint  [P0]  after 1") && r.stdout.contains("☐ rate limited"))
            let id = try #require(r.stdout.split(separator: " ").first { $0.hasPrefix("pr-") }.map(String.init))
            // A dry run writes nothing but the proposal: not even the root.
            #expect(try await p.tasks().isEmpty)
            let shown = try await run(p, ["tasks", "proposals", "show", id])
            #expect(
                shown.stdout.contains("0. Accounts")
                    && shown.stdout.contains("2. Login endpoint  (under 0)  waits for 1"))
            // Item 2 only: its parent (0) and blocker (1) are not applied yet, and it says so.
            let first = try await run(p, ["tasks", "proposals", "apply", id, "--only", "2", "--json"])
            #expect(first.status == 0, "\(first.stderr)")
            let part = try JSONParser.parse(first.stdout.utf8)
            #expect(part["unkept"]?.arrayValue?.count == 2 && part["remaining"] == [0, 1], "\(part)")
            let root = try #require(part["parentId"]?.stringValue)
            // The root was made now, named after the heading, holding the document.
            let all = try await p.tasks()
            let rootTask = try #require(all.first { $0["id"]?.stringValue == root })
            #expect(
                rootTask["title"] == "Accounts"
                    && rootTask["description"]?.stringValue?.contains("Sign up, log in.") == true)
            // Applying an item twice is refused; the rest applies later, linking to what exists.
            let twice = try await run(p, ["tasks", "proposals", "apply", id, "--only", "2"])
            #expect(twice.status == 2 && twice.stderr.contains("already applied as"), "\(twice.stderr)")
            let rest = try await run(p, ["tasks", "proposals", "apply", id, "--only", "0,1", "--json"])
            #expect(rest.status == 0, "\(rest.stderr)")
            #expect(try JSONParser.parse(rest.stdout.utf8)["remaining"] == [])
            let tasks = try await p.tasks()
            let epic = try #require(tasks.first { $0["title"] == "Accounts" && $0["parentId"]?.stringValue == root })
            let table = try #require(tasks.first { $0["title"] == "Users table" })
            #expect(table["parentId"] == epic["id"])  // item 1 under item 0, as planned
            let done = try await run(p, ["tasks", "proposals", "apply", id])
            #expect(done.status == 4 && done.stderr.contains("already applied in full"), "\(done.stderr)")
            // discard removes a proposal; what was made of it stays.
            #expect(try await run(p, ["tasks", "proposals", "discard", id]).status == 0)
            #expect(try await run(p, ["tasks", "proposals", "show", id]).status == 3)
            #expect(try await p.tasks().count == tasks.count)
        }
    }

    @Test func anAgentPlansADocumentOverMCPByAnsweringItself() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-plan-mcp")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let s = try MCPProcess(cwd: dir)
        defer { s.terminate() }
        #expect(s.initialize() != nil)
        let doc = "# Accounts\n\nSign up and log in.\n"
        let ask = s.call("decompose_task", ["document": .string(doc)])
        #expect(ask?["structuredContent"]?["needsAnswer"] == true, "\(String(describing: ask))")
        #expect(ask?["structuredContent"]?["instructions"]?.stringValue?.contains("parent") == true)
        // A dry run over MCP stores the proposal and nothing else.
        let dry = s.call(
            "decompose_task", ["document": .string(doc), "plan": try JSONValue.parse(Self.epicPlan), "dryRun": true])
        let proposal = try #require(dry?["structuredContent"]?["proposalId"]?.stringValue, "\(String(describing: dry))")
        #expect(s.call("list_tasks")?["structuredContent"]?["tasks"]?.arrayValue?.isEmpty == true)
        let listed = try await runProcess(Binaries.minsky, ["tasks", "proposals"], cwd: dir)
        #expect(listed.stdout.contains(proposal) && listed.stdout.contains("new root"), "\(listed.stdout)")
        let done = s.call("decompose_task", ["document": .string(doc), "plan": try JSONValue.parse(Self.epicPlan)])
        let sc = done?["structuredContent"]
        #expect(sc?["needsAnswer"] == false && sc?["subtasks"]?.arrayValue?.count == 3, "\(String(describing: done))")
        let none = s.call("decompose_task", [:])
        #expect(none?["isError"] == true)
        let bad = s.call(
            "decompose_task",
            [
                "document": .string(doc),
                "plan": try JSONValue.parse(
                    #"{"subtasks":[{"title":"a","description":"","priority":9,"acceptance":[],"dependsOn":[]}]}"#),
            ])
        #expect(bad?["isError"] == true)
        // Links that cannot hold are dropped and said, not the whole plan refused.
        let loose = s.call(
            "decompose_task",
            [
                "document": .string(doc), "dryRun": true,
                "plan": try JSONValue.parse(
                    #"{"subtasks":[{"title":"x","description":"","priority":1,"acceptance":[],"dependsOn":[0],"parent":3}]}"#
                ),
            ])
        #expect(
            loose?["structuredContent"]?["repairs"] == [
                "item 0: parent 3 dropped (not an earlier item); it goes directly under the root",
                "item 0: dependsOn 0 dropped (an item cannot wait for itself)",
            ], "\(String(describing: loose))")
    }
}

@Suite("The board's search by meaning")
struct BoardMeaningTests {
    @Test(arguments: StoreKind.allCases)
    func theBoardFiltersByMeaningWhenEmbeddingsExist(kind: StoreKind) async throws {
        let server = try FakeLLMServer(handler: FakeLLMServer.embeddings)
        let p = try await AIProject.make(kind, server: server)
        try await cleaningUp({ await p.cleanup() }) { () async throws in
            func create(_ t: String) async throws -> String {
                try JSONParser.parse(await p.run("tasks", "create", t, "--json").stdout.utf8)["id"]?.stringValue ?? ""
            }
            let login = try await create("Login endpoint that checks the password")
            _ = try await create("Design the users table schema")
            _ = try await create("CSS button colours")
            #expect(try await p.run("tasks", "embed").status == 0)
            let board = try MCPProcess(args: ["board", "--json"], cwd: p.dir, env: p.env)
            defer { board.terminate() }
            let info = try JSONValue.parse(try #require(board.nextRawLine(timeout: 20)))
            let url = try #require(info["url"]?.stringValue)
            let token = try #require(url.components(separatedBy: "token=").last)
            let port = try #require(info["port"]?.intValue)
            func get(_ query: String) async throws -> (Int, JSONValue) {
                var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/board?\(query)")!)
                req.setValue(token, forHTTPHeaderField: "X-Minsky-Token")
                let (data, response) = try await URLSession.shared.data(for: req)
                return (
                    (response as? HTTPURLResponse)?.statusCode ?? 0,
                    try JSONValue.parse(String(decoding: data, as: UTF8.self))
                )
            }
            let (status, all) = try await get("")
            #expect(status == 200 && all["meaning"] == true && all["tasks"]?.arrayValue?.count == 3)
            let (s2, found) = try await get("q=sign%20in%20and%20authenticate&meaning=1")
            #expect(s2 == 200, "\(found)")
            #expect(found["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [login], "\(found)")
            // Words match words without embeddings.
            let (_, words) = try await get("q=colours")
            #expect(words["tasks"]?.arrayValue?.compactMap { $0["title"]?.stringValue } == ["CSS button colours"])
        }
    }
}
