import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Notes, acceptance criteria and ready-work filters through the MCP tools, on both stores.
@Suite("MCP: notes, criteria, ready filters")
struct NotesToolsTests {
    @Test(arguments: StoreKind.allCases)
    func agentsNoteCheckCriteriaAndLearnWhyNothingIsReady(kind: StoreKind) async throws {
        try await withServer(kind) { s in
            // Every answer below must also match the output schema its tool declares.
            let schemas = Dictionary(
                (s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []).map {
                    ($0["name"]?.stringValue ?? "", $0["outputSchema"] ?? .null)
                }, uniquingKeysWith: { a, _ in a })
            func structured(_ r: JSONValue?, _ tool: String, sourceLocation: SourceLocation = #_sourceLocation)
                -> JSONValue?
            {
                let sc = MinskyMCPTests.structured(r, sourceLocation: sourceLocation)
                if let problem = JSONSchema.firstError(sc ?? .null, schemas[tool] ?? .null) {
                    Issue.record("\(tool): \(problem)", sourceLocation: sourceLocation)
                }
                return sc
            }
            let t = try #require(
                structured(
                    s.call(
                        "create_task",
                        ["title": "Ship login", "acceptance": ["tests pass", "docs updated"], "tags": ["auth"]]),
                    "create_task"))
            let id = try #require(t["id"]?.stringValue)
            #expect(t["acceptance"]?.arrayValue?.count == 2)
            // A note alone appends it and answers the task, whose version stays.
            let noted = try #require(
                structured(s.call("update_task", ["id": .string(id), "note": "found the cause"]), "update_task"))
            #expect(noted["id"]?.stringValue == id && noted["version"] == 1)
            // DONE with unchecked criteria: isError naming them; with force it goes through.
            let refused = s.call("set_status", ["id": .string(id), "status": "DONE"])
            #expect(refused?["isError"] == true)
            #expect(refused?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("docs updated") == true)
            let checked = try #require(
                structured(
                    s.call(
                        "update_task",
                        ["id": .string(id), "check": [1, 2], "note": "both verified", "expectedVersion": 1]),
                    "update_task"))
            #expect(
                checked["acceptance"]?.arrayValue?.allSatisfy { $0["done"] == true } == true && checked["version"] == 2)
            let detail = try #require(structured(s.call("get_task", ["id": .string(id)]), "get_task"))
            #expect(
                detail["notes"]?.arrayValue?.compactMap { $0["body"]?.stringValue } == [
                    "found the cause", "both verified",
                ])
            let badNumber = s.call("update_task", ["id": .string(id), "check": [7]])
            #expect(badNumber?["isError"] == true)
            // Claimed by someone else: next_task with the tag is empty and says who holds it.
            _ = try #require(structured(s.call("claim_task", ["id": .string(id), "owner": "agent-9"]), "claim_task"))
            let next = try #require(structured(s.call("next_task", ["tag": "auth"]), "next_task"))
            #expect(next["tasks"]?.arrayValue?.isEmpty == true)
            #expect(next["why"]?["summary"]?.stringValue?.contains("\(id) by agent-9") == true, "\(next)")
            let none = try #require(structured(s.call("next_task", ["unassigned": true, "tag": "ui"]), "next_task"))
            #expect(none["why"]?["open"] == 0)
            let plan = try JSONValue.parse(
                #"{"subtasks":[{"title":"Epic","description":"","priority":1,"acceptance":[],"dependsOn":[],"parent":null},{"title":"Part","description":"","priority":2,"acceptance":["works"],"dependsOn":[],"parent":0}]}"#
            )
            let planned = try #require(
                structured(
                    s.call("decompose_task", ["document": "# Feature\n\nDo it.\n", "plan": plan]), "decompose_task"))
            #expect(planned["subtasks"]?.arrayValue?.count == 2)
            let both = s.call("next_task", ["unassigned": true, "assignee": "x"])
            #expect(both?["isError"] == true)
        }
    }
}
