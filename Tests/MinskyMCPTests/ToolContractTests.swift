import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// What every tool promises beyond its input schema: its annotations hold for the calls it
/// takes, its result matches its output schema, and no result outgrows the agent's budget.
@Suite("Tool contracts")
struct ToolContractTests {
    /// Every stored field of every task, as `tasks export` writes them, plus the backups made.
    static func snapshot(_ dir: URL) async throws -> String {
        let r = try await runProcess(Binaries.minsky, ["tasks", "export"], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    struct Fixture {
        var a: String, b: String, c: String
    }

    /// A, B (waits for A), C (subtask of A).
    static func fixture(_ s: MCPProcess) -> Fixture {
        let a =
            structured(s.call("create_task", ["title": "alpha task", "description": "first"]))?["id"]?.stringValue ?? ""
        let b =
            structured(s.call("create_task", ["title": "beta task", "dependsOn": [.string(a)]]))?["id"]?.stringValue
            ?? ""
        let c =
            structured(s.call("create_task", ["title": "gamma task", "parentId": .string(a)]))?["id"]?.stringValue ?? ""
        return Fixture(a: a, b: b, c: c)
    }

    /// One representative call per tool (upgrade_store and similar need outside servers and are
    /// covered by the upgrade and AI suites).
    static func arguments(_ name: String, _ f: Fixture) -> JSONValue? {
        switch name {
        case "list_tasks": ["full": true]
        case "search_tasks": ["query": "alpha"]
        case "get_task": ["id": .string(f.a)]
        case "task_history": ["id": .string(f.a), "limit": 5]
        case "next_task": ["limit": 5]
        case "task_tree": .object([:])
        case "create_task": ["title": "delta"]
        case "create_tasks": ["tasks": [["title": "eps"], ["title": "zeta", "dependsOnIndex": [0]]]]
        case "update_task": ["id": .string(f.b), "title": "beta renamed", "addTags": ["x"]]
        case "set_status": ["id": .string(f.b), "status": "IN-REVIEW"]
        case "delete_task": ["id": .string(f.c)]
        case "add_dependency": ["taskId": .string(f.c), "dependsOn": .string(f.b)]
        case "remove_dependency": ["taskId": .string(f.b), "dependsOn": .string(f.a)]
        case "claim_task": ["id": .string(f.b), "owner": "tester", "ttlSeconds": 600, "force": true]
        case "decompose_task":
            [
                "id": .string(f.b),
                "plan": ["subtasks": [["title": "one", "description": "", "complexity": 2, "dependsOn": []]]],
            ]
        case "score_complexity":
            [
                "id": .string(f.b),
                "answer": ["score": 3, "reasoning": "small", "recommendedSubtasks": 1, "decompositionPrompt": ""],
            ]
        case "backup_store": .object([:])
        default: nil
        }
    }

    @Test func everyToolKeepsTheAnnotationsItDeclaresAndMatchesItsOutputSchema() async throws {
        var declared: [JSONValue] = []
        try await withServer { s in declared = s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? [] }
        var checked: [String] = []
        for tool in declared {
            let name = tool["name"]?.stringValue ?? ""
            let hints = tool["annotations"] ?? .null
            try await withServer { s in
                let f = Self.fixture(s)
                guard let args = Self.arguments(name, f), let dir = s.cwd else { return }
                let before = try await Self.snapshot(dir)
                let first = s.call(name, args)
                let result = structured(first)
                if let problem = JSONSchema.firstError(result ?? .null, tool["outputSchema"] ?? .null) {
                    Issue.record("\(name): result does not match its output schema: \(problem)")
                }
                let once = try await Self.snapshot(dir)
                if hints["readOnlyHint"] == true {
                    #expect(once == before, "\(name) is marked read-only but changed the store")
                }
                if hints["destructiveHint"] == false {
                    // Only additive: every task from before is still there with every field as it
                    // was, except that it may wait for more tasks than before.
                    func tasks(_ export: String) -> [String: JSONValue] {
                        var out: [String: JSONValue] = [:]
                        for line in export.split(separator: "\n") {
                            guard let v = try? JSONParser.parse(line.utf8), let id = v["id"]?.stringValue else {
                                continue
                            }
                            out[id] = v
                        }
                        return out
                    }
                    let after = tasks(once)
                    for (id, old) in tasks(before) {
                        guard var now = after[id]?.objectValue, var was = old.objectValue else {
                            Issue.record("\(name) is marked non-destructive but \(id) is gone")
                            continue
                        }
                        let grew = Set(was["dependsOn"]?.arrayValue ?? []).isSubset(
                            of: Set(now["dependsOn"]?.arrayValue ?? []))
                        now["dependsOn"] = nil
                        was["dependsOn"] = nil
                        #expect(grew && now == was, "\(name) is marked non-destructive but changed \(id)")
                    }
                }
                if hints["idempotentHint"] == true {
                    _ = s.call(name, args)
                    #expect(
                        try await Self.snapshot(dir) == once,
                        "\(name) is marked idempotent but a repeat changed the store")
                }
                checked.append(name)
            }
        }
        #expect(checked.count == 17, "\(checked)")
    }

    /// A 4 MiB description: no tool answers more than ~2k tokens (text and structured content
    /// together), and get_task still reads it all, piece by piece.
    @Test func resultsStayBoundedWhateverTheTasksHold() async throws {
        try await withServer { s in
            let huge = String(repeating: "0123456789abcdef", count: TaskRules.maxDescriptionBytes / 16)
            let created = s.call("create_task", ["title": "huge", "description": .string(huge), "tags": ["big"]])
            let id = structured(created)?["id"]?.stringValue ?? ""
            var batch: [JSONValue] = []
            for i in 0..<500 {
                batch.append(["title": .string("step \(i) of a long generated plan with a descriptive title")])
            }
            let many = s.call("create_tasks", ["tasks": .array(batch)])
            for i in 0..<30 {
                _ = s.call(
                    "create_task", ["title": .string("big \(i)"), "description": .string(String(huge.prefix(200_000)))])
            }
            var results: [(String, JSONValue?)] = [("create_task", created), ("create_tasks", many)]
            for (name, args) in [
                ("get_task", ["id": .string(id)]), ("list_tasks", .object([:])),
                ("list_tasks", ["full": true, "limit": 200]),
                ("search_tasks", ["query": "big", "full": true]), ("next_task", ["limit": 20]),
                ("task_tree", .object([:])),
                ("update_task", ["id": .string(id), "title": "huge renamed"]),
                ("set_status", ["id": .string(id), "status": "BLOCKED"]),
                ("claim_task", ["id": .string(id), "owner": "x"]),
            ] as [(String, JSONValue)] {
                results.append((name, s.call(name, args)))
            }
            for (name, r) in results {
                #expect(r?["isError"] == false, "\(name) failed: \(r?.canonicalJSON().prefix(300) ?? "")")
                let size = r?.canonicalJSON().utf8.count ?? 0
                // A batch answers its new ids and nothing else (~24 bytes per task, JSON and text copy).
                let limit = name == "create_tasks" ? 500 * 26 : 10_000
                #expect(size <= limit, "\(name) answered \(size) bytes (~\(size / 4) tokens)")
            }
            let tree = structured(s.call("task_tree", .object([:])))
            #expect((tree?["omitted"]?.intValue ?? 0) > 400, "a cut tree says how much it left out")
            let got = structured(s.call("get_task", ["id": .string(id)]))?["task"]
            #expect(got?["descriptionTruncated"] == true)
            #expect(got?["descriptionLength"] == .int(Int64(huge.count)))
            let tail = structured(s.call("get_task", ["id": .string(id), "offset": .int(Int64(huge.count - 10))]))?[
                "task"]
            #expect(tail?["description"]?.stringValue == String(huge.suffix(10)))
            #expect(tail?["descriptionTruncated"] == nil)
        }
    }
}
