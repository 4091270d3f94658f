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
            let t = try #require(
                structured(
                    s.call(
                        "create_task",
                        ["title": "Ship login", "acceptance": ["tests pass", "docs updated"], "tags": ["auth"]])))
            let id = try #require(t["id"]?.stringValue)
            #expect(t["acceptance"]?.arrayValue?.count == 2)
            // A note alone appends and answers the note; the task's version stays.
            let note = try #require(structured(s.call("update_task", ["id": .string(id), "note": "found the cause"])))
            #expect(note["body"] == "found the cause" && note["author"]?.stringValue?.isEmpty == false)
            // DONE with unchecked criteria: isError naming them; with force it goes through.
            let refused = s.call("set_status", ["id": .string(id), "status": "DONE"])
            #expect(refused?["isError"] == true)
            #expect(refused?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("docs updated") == true)
            let checked = try #require(
                structured(
                    s.call(
                        "update_task",
                        ["id": .string(id), "check": [1, 2], "note": "both verified", "expectedVersion": 1])))
            #expect(
                checked["acceptance"]?.arrayValue?.allSatisfy { $0["done"] == true } == true && checked["version"] == 2)
            let detail = try #require(structured(s.call("get_task", ["id": .string(id)])))
            #expect(
                detail["notes"]?.arrayValue?.compactMap { $0["body"]?.stringValue } == [
                    "found the cause", "both verified",
                ])
            let badNumber = s.call("update_task", ["id": .string(id), "check": [7]])
            #expect(badNumber?["isError"] == true)
            // Claimed by someone else: next_task with the tag is empty and says who holds it.
            _ = try #require(structured(s.call("claim_task", ["id": .string(id), "owner": "agent-9"])))
            let next = try #require(structured(s.call("next_task", ["tag": "auth"])))
            #expect(next["tasks"]?.arrayValue?.isEmpty == true)
            #expect(next["why"]?["summary"]?.stringValue?.contains("\(id) by agent-9") == true, "\(next)")
            let none = try #require(structured(s.call("next_task", ["unassigned": true, "tag": "ui"])))
            #expect(none["why"]?["open"] == 0)
            let both = s.call("next_task", ["unassigned": true, "assignee": "x"])
            #expect(both?["isError"] == true)
        }
    }
}
