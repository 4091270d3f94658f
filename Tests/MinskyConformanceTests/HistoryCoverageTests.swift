import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Every kind of change leaves its event, alone: a status change that wrote no history passed
/// the whole suite once, because no test changed only a status. Each step below changes one
/// thing and checks that exactly one event was added, of the right kind, naming what changed
/// with its value before and after.
@Suite("Every change leaves its event")
struct HistoryCoverageTests {
    @Test(arguments: StoreKind.allCases)
    func eachKindOfChangeAddsOneEventNamingIt(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t = try await store.create(NewTask(title: "tracked"))
            let other = try await store.create(NewTask(title: "other"))
            var seen = try await store.history(of: t.id, limit: 100, cursor: nil).events.count
            #expect(seen == 1)

            /// Runs `change`, then expects one new event of `kind` on `t` whose changes name `field`.
            func expectEvent(
                _ kind: String, field: String? = nil, before: JSONValue? = nil, after: JSONValue? = nil,
                _ change: () async throws -> Void
            ) async throws {
                try await change()
                let events = try await store.history(of: t.id, limit: 100, cursor: nil).events
                #expect(events.count == seen + 1, "\(kind): \(events.count - seen) events added")
                seen = events.count
                guard let last = events.last else { return }
                #expect(last.kind == kind, "expected \(kind), got \(last.kind)")
                if let field {
                    #expect(last.changes[field] != nil, "\(kind): the event does not name \(field): \(last.changes)")
                    if let before { #expect(last.changes[field]?["before"] == before, "\(kind) \(field) before") }
                    if let after { #expect(last.changes[field]?["after"] == after, "\(kind) \(field) after") }
                }
            }

            try await expectEvent("updated", field: "status", before: "TODO", after: "IN-PROGRESS") {
                _ = try await store.update(t.id, TaskPatch(status: .inProgress), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "title", before: "tracked", after: "renamed") {
                _ = try await store.update(t.id, TaskPatch(title: "renamed"), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "priority", after: 0) {
                _ = try await store.update(t.id, TaskPatch(priority: try Priority(0)), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "description", after: "words") {
                _ = try await store.update(t.id, TaskPatch(description: "words"), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "tags") {
                _ = try await store.update(t.id, TaskPatch(addTags: ["x"]), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "metadata") {
                _ = try await store.update(t.id, TaskPatch(metadata: ["k": 1]), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "parentId", after: .string(other.id.rawValue)) {
                _ = try await store.update(t.id, TaskPatch(parent: .set(other.id)), expectedVersion: nil)
            }
            try await expectEvent("updated", field: "acceptance") {
                var p = TaskPatch()
                p.addAcceptance = ["it works"]
                _ = try await store.update(t.id, p, expectedVersion: nil)
            }
            try await expectEvent("updated", field: "acceptance") {
                var p = TaskPatch()
                p.check = [1: true]
                _ = try await store.update(t.id, p, expectedVersion: nil)
            }
            try await expectEvent("updated", field: "status", before: "IN-PROGRESS", after: "TODO") {
                _ = try await store.update(t.id, TaskPatch(status: .todo), expectedVersion: nil)
            }
            try await expectEvent("claimed", field: "assignee", after: "ana") {
                _ = try await store.claim(t.id, owner: "ana", ttl: 60)
            }
            try await expectEvent("heartbeat") { _ = try await store.heartbeat(t.id, owner: "ana", ttl: 120) }
            try await expectEvent("released", field: "assignee", before: "ana") {
                _ = try await store.release(t.id, owner: "ana")
            }
            let dep = try await store.create(NewTask(title: "blocker"))
            try await expectEvent("dependency_added", field: "dependsOn", after: .string(dep.id.rawValue)) {
                _ = try await store.addDependency(t.id, dependsOn: dep.id)
            }
            try await expectEvent("dependency_removed", field: "dependsOn", before: .string(dep.id.rawValue)) {
                try await store.removeDependency(t.id, dependsOn: dep.id)
            }
            try await expectEvent("note_added", field: "notes") { _ = try await store.addNote(t.id, body: "seen") }
            try await expectEvent("deleted", field: "title") { _ = try await store.delete(t.id, cascade: true) }
            #expect(try await store.history(of: t.id, limit: 100, cursor: nil).events.last?.kind == "deleted")
        }
    }
}

/// What people read agrees with what `tasks next` decides: a finished blocker blocks nothing.
@Suite("Trees show open blockers only")
struct TreeBlockerTests {
    @Test(arguments: StoreKind.allCases)
    func aDoneBlockerIsNotShownAsBlocking(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let outside = try await store.create(NewTask(title: "outside blocker"))
            let parent = try await store.create(NewTask(title: "parent"))
            let first = try await store.create(NewTask(title: "first", parentId: parent.id))
            let second = try await store.create(
                NewTask(title: "second", parentId: parent.id, dependsOn: [first.id, outside.id]))
            func blockers(_ root: TaskID?) async throws -> [TaskID] {
                var stack = try await store.tree(root: root).roots
                while let n = stack.popLast() {
                    if n.task.id == second.id { return n.blockedBy }
                    stack += n.children
                }
                Issue.record("second is not in the tree")
                return []
            }
            #expect(try await blockers(parent.id) == [first.id, outside.id].sorted())
            _ = try await store.update(first.id, TaskPatch(status: .done), expectedVersion: nil)
            #expect(try await blockers(parent.id) == [outside.id])
            #expect(try await blockers(nil) == [outside.id])
            _ = try await store.update(outside.id, TaskPatch(status: .closed), expectedVersion: nil)
            #expect(try await blockers(parent.id) == [])
            #expect(try await blockers(nil) == [])
            // And `next` agrees: the task is ready.
            #expect(try await store.nextReady(limit: 10).map(\.id).contains(second.id))
        }
    }
}

@Suite("Claiming a blocked task")
struct BlockedClaimTests {
    @Test(arguments: StoreKind.allCases)
    func isRefusedNamingTheBlockersUnlessForced(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let blocker = try await store.create(NewTask(title: "migrate the schema"))
            let blocked = try await store.create(NewTask(title: "use the schema", dependsOn: [blocker.id]))
            do {
                _ = try await store.claim(blocked.id, owner: "ana", ttl: 60)
                Issue.record("a blocked task was claimed")
            } catch let e as MinskyError {
                #expect(e.code == .conflict && e.message.contains(blocker.id.rawValue), "\(e.message)")
                #expect(e.message.contains("migrate the schema") && e.message.contains("--force"))
            }
            #expect(try await store.get(blocked.id).assignee == nil)
            let forced = try await store.claim(blocked.id, owner: "ana", ttl: 60, force: true)
            #expect(forced.assignee == "ana" && forced.status == .inProgress)
            // Once the blocker is done, a plain claim works.
            _ = try await store.release(blocked.id, owner: "ana")
            _ = try await store.update(blocker.id, TaskPatch(status: .done), expectedVersion: nil)
            #expect(try await store.claim(blocked.id, owner: "bo", ttl: 60).assignee == "bo")
        }
    }
}

/// History in words a person reads (what `tasks history`, `tasks watch` and the board print).
@Suite("History in words")
struct HistoryWordsTests {
    @Test(arguments: StoreKind.allCases)
    func eventsSayWhatChangedWithValues(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var draft = NewTask(title: "Login endpoint", tags: ["api"])
            draft.acceptance = ["401 on a bad password"]
            let t = try await store.create(draft)
            _ = try await store.update(
                t.id, TaskPatch(title: "Login endpoint v2", status: .inProgress), expectedVersion: nil)
            var check = TaskPatch()
            check.check = [1: true]
            _ = try await store.update(t.id, check, expectedVersion: nil)
            _ = try await store.update(t.id, TaskPatch(metadata: ["owner": "alice"]), expectedVersion: nil)
            _ = try await store.update(
                t.id, TaskPatch(description: String(repeating: "long words ", count: 20)), expectedVersion: nil)
            let words = try await store.history(of: t.id, limit: 10, cursor: nil).events.map(\.words)
            #expect(words.count == 5, "\(words)")
            #expect(words[0] == "created “Login endpoint”, P2, tags api, 1 criteria", "\(words[0])")
            #expect(
                words[1].contains("title: “Login endpoint” → “Login endpoint v2”")
                    && words[1].contains("status: TODO → IN-PROGRESS"), "\(words[1])")
            #expect(words[2] == "checked “401 on a bad password”", "\(words[2])")
            #expect(words[3] == "metadata.owner: ∅ → “alice”", "\(words[3])")
            #expect(words[4].hasPrefix("description: “” → “long words") && words[4].hasSuffix("…"), "\(words[4])")
        }
    }
}
