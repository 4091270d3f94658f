import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Path leases, evidence, changes since a cursor and briefs through the MCP tools of the real
/// binary, on both stores.
@Suite("MCP: coordination")
struct CoordinationToolsTests {
    @Test(arguments: StoreKind.allCases)
    func leasesEvidenceAndACursorBriefAfter500Changes(kind: StoreKind) async throws {
        try await withServer(kind) { s in
            let schemas = Dictionary(
                (s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []).map {
                    ($0["name"]?.stringValue ?? "", $0["outputSchema"] ?? .null)
                }, uniquingKeysWith: { a, _ in a })
            func call(_ tool: String, _ args: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) throws
                -> JSONValue
            {
                let sc = try #require(structured(s.call(tool, args), sourceLocation: sourceLocation))
                if let problem = JSONSchema.firstError(sc, schemas[tool] ?? .null) {
                    Issue.record("\(tool): \(problem)", sourceLocation: sourceLocation)
                }
                return sc
            }
            func text(_ r: JSONValue?) -> String { r?["content"]?.arrayValue?.first?["text"]?.stringValue ?? "" }

            // Paths given at creation (create_tasks: as decomposition and plans write them).
            let made = try call(
                "create_tasks",
                [
                    "tasks": [
                        ["title": "Rework the store", "paths": ["Sources/Store/**"], "priority": 1],
                        ["title": "Fix one query", "paths": ["Sources/Store/Query.swift"], "priority": 1],
                        ["title": "Write the guide", "paths": ["docs/guide.md"], "priority": 2],
                    ]
                ])
            let ids = made["created"]?.arrayValue?.compactMap(\.stringValue) ?? []
            try #require(ids.count == 3)
            let (store, query, guide) = (ids[0], ids[1], ids[2])
            _ = try call("claim_task", ["id": .string(store), "owner": "agent-a", "ttlSeconds": 600])
            // agent-b's next skips the overlapping task; its claim is refused naming the holder.
            let next = try call("next_task", ["owner": "agent-b", "limit": 5])
            #expect(next["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [guide])
            let refused = s.call("claim_task", ["id": .string(query), "owner": "agent-b"])
            #expect(refused?["isError"] == true)
            #expect(
                text(refused).contains(store) && text(refused).contains("agent-a")
                    && text(refused).contains("Sources/Store/**"))
            // Nothing else ready for agent-b once it holds the guide: why names the claim and paths.
            _ = try call("claim_task", ["owner": "agent-b"])
            let none = try call("next_task", ["owner": "agent-b"])
            #expect(none["why"]?["pathConflicts"]?.arrayValue?.first?["id"]?.stringValue == query)
            #expect(none["why"]?["summary"]?.stringValue?.contains("paths others hold") == true)
            // Closing with evidence; bad evidence names the field.
            let bad = s.call("set_status", ["id": .string(store), "status": "DONE", "evidence": ["commits": ["zz"]]])
            #expect(bad?["isError"] == true && text(bad).contains("evidence.commits"))
            let done = try call(
                "set_status",
                [
                    "id": .string(store), "status": "DONE",
                    "evidence": [
                        "commits": ["3f2a9c1"], "command": "swift test", "exitStatus": 0, "tests": "12 passed",
                        "changed": ["Sources/Store/Pool.swift"], "tokens": 4200,
                    ],
                ])
            #expect(done["evidence"]?["commits"] == ["3f2a9c1"])
            #expect(done["paths"] == ["Sources/Store/**", "Sources/Store/Pool.swift"])
            // The lease ended with the claim: the query task can be taken now.
            _ = try call("claim_task", ["id": .string(query), "owner": "agent-b"])

            // A cursor, then 500 changes by several agents.
            let startAnswer = try call("task_history", ["since": "1h", "budgetTokens": 50000])
            var cursor = try #require(startAnswer["cursor"]?.stringValue)
            var pool: [String] = []
            for i in 0..<60 {
                let made = try call("create_task", ["title": .string("Pool task \(i)")])
                pool.append(try #require(made["id"]?.stringValue))
            }
            var changed = Set(pool)
            var r = SplitMix64(seed: 7)
            for n in 0..<440 {
                let id = pool[Int(r.next() % UInt64(pool.count))]
                switch n % 4 {
                case 0: _ = try call("update_task", ["id": .string(id), "note": .string("agent note \(n)")])
                case 1: _ = try call("update_task", ["id": .string(id), "description": .string("revised \(n)")])
                case 2: _ = try call("update_task", ["id": .string(id), "title": .string("Pool task renamed \(n)")])
                default: _ = try call("update_task", ["id": .string(id), "addTags": [.string("t\(n % 7)")]])
                }
                changed.insert(id)
            }
            // Wait until the last changes are sure to have committed (ChangeDigest.settle).
            try await Task.sleep(nanoseconds: 5_600_000_000)
            var seen: Set<String> = []
            var pages = 0
            while true {
                let page = try call("task_history", ["since": .string(cursor), "budgetTokens": 1500])
                pages += 1
                let size = page.canonicalJSON().count
                #expect(size <= 1500 * 4, "page \(pages) is \(size) characters, over 1,500 tokens")
                for t in page["tasks"]?.arrayValue ?? [] {
                    if let id = t["id"]?.stringValue { seen.insert(id) }
                }
                cursor = try #require(page["cursor"]?.stringValue)
                if page["more"] != true { break }
                #expect(pages < 100)
            }
            #expect(pages > 1)
            #expect(changed.isSubset(of: seen), "missed: \(changed.subtracting(seen).sorted().prefix(5))")
            #expect(seen.subtracting(changed).isEmpty, "reported unchanged tasks")
            let mixed = s.call("task_history", ["since": .string(cursor), "cursor": "x"])
            #expect(mixed?["isError"] == true && text(mixed).contains("pass it as since"))
            let neither = s.call("task_history", [:])
            #expect(neither?["isError"] == true && text(neither).contains("pass id"))
            let quiet = try call("task_history", ["since": .string(cursor)])
            #expect(quiet["tasks"]?.arrayValue?.isEmpty == true)

            // A brief of one busy task stays within the budget the caller chooses.
            let busy = pool[0]
            for budget in [400, 1500] {
                let b = try call("get_task", ["id": .string(busy), "brief": true, "budgetTokens": .int(Int64(budget))])
                #expect(b.canonicalJSON().count <= budget * 4)
                #expect(b["task"]?["id"]?.stringValue == busy)
            }
            let plain = try call("get_task", ["id": .string(busy)])
            #expect(plain["blockedBy"] != nil)
        }
    }

    /// done.requires is the project's: set while the server runs, it applies at the next call.
    @Test func doneRequiresEvidenceWhenTheProjectSaysSo() async throws {
        try await withServer(.sqlite) { s in
            let t = try #require(structured(s.call("create_task", ["title": "Ship"]))?["id"]?.stringValue)
            let dir = try #require(s.cwd)
            let set = try await runProcess(Binaries.minsky, ["config", "set", "done.requires", "evidence"], cwd: dir)
            #expect(set.status == 0, "\(set.stderr)")
            let refused = s.call("set_status", ["id": .string(t), "status": "DONE"])
            #expect(refused?["isError"] == true)
            #expect(refused?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("done.requires") == true)
            let failing = s.call(
                "set_status",
                ["id": .string(t), "status": "DONE", "evidence": ["command": "make test", "exitStatus": 2]])
            #expect(failing?["isError"] == true)
            let ok = structured(
                s.call("set_status", ["id": .string(t), "status": "DONE", "evidence": ["links": ["https://ci/run/1"]]]))
            #expect(ok?["status"] == "DONE")
            let bad = try await runProcess(Binaries.minsky, ["config", "set", "done.requires", "always"], cwd: dir)
            #expect(bad.status == 2 && bad.stderr.contains("evidence, criteria or none"))
        }
    }
}
