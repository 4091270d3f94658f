import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Notes, acceptance criteria and ready-work filters: the same contract on both stores.
@Suite("Notes, acceptance criteria, ready filters")
struct NotesAndReadyTests {
    @Test(arguments: StoreKind.allCases)
    func notesAppendWithAuthorAndTimeWithoutANewVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t = try await store.create(NewTask(title: "Investigate"))
            let a = try await store.addNote(t.id, body: "first: *markdown* kept\nsecond line")
            let b = try await store.addNote(t.id, body: "ünïcödé ✓")
            #expect(!a.author.isEmpty)
            #expect(a.taskId == t.id)
            let notes = try await store.notes(of: t.id)
            #expect(notes.map(\.body) == ["first: *markdown* kept\nsecond line", "ünïcödé ✓"])
            #expect(notes.map(\.id) == [a.id, b.id])
            #expect(notes[0].createdAt <= notes[1].createdAt)
            // A note is not an edit: the version a board or agent holds stays valid.
            #expect(try await store.get(t.id).version == t.version)
            let kinds = try await store.history(of: t.id, limit: 50, cursor: nil).events.map(\.kind)
            #expect(kinds.filter { $0 == "note_added" }.count == 2)
            await expectError(.invalidInput, field: "note") { _ = try await store.addNote(t.id, body: "  \n") }
            await expectError(.notFound) { _ = try await store.addNote(TaskID(trusted: "mk-nope1"), body: "x") }
            await expectError(.notFound) { _ = try await store.notes(of: TaskID(trusted: "mk-nope1")) }
            #expect(try await store.notes(of: t.id).count == 2)
            // Notes go with their task.
            _ = try await store.delete(t.id, cascade: false)
            let other = try await store.create(NewTask(title: "Other"))
            #expect(try await store.notes(of: other.id).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func acceptanceCriteriaAreCheckedByNumberAndGuardDone(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var draft = NewTask(title: "Ship login")
            draft.acceptance = ["tests pass", "docs updated"]
            let t = try await store.create(draft)
            #expect(t.acceptance == [AcceptanceCriterion("tests pass"), AcceptanceCriterion("docs updated")])
            #expect(try await store.get(t.id).acceptance == t.acceptance)
            // DONE with unchecked criteria is refused, naming them; nothing changes.
            await expectError(.invalidInput, field: "force") {
                _ = try await store.update(t.id, TaskPatch(status: .done), expectedVersion: nil)
            }
            #expect(try await store.get(t.id).status == .todo)
            var check = TaskPatch()
            check.check = [1: true]
            let one = try await store.update(t.id, check, expectedVersion: t.version)
            #expect(one.acceptance.map(\.done) == [true, false])
            #expect(one.version == t.version + 1)
            var bad = TaskPatch()
            bad.check = [3: true]
            await expectError(.invalidInput, field: "number") {
                _ = try await store.update(t.id, bad, expectedVersion: nil)
            }
            var add = TaskPatch()
            add.addAcceptance = ["reviewed"]
            add.check = [2: true]
            let three = try await store.update(t.id, add, expectedVersion: nil)
            #expect(three.acceptance.map(\.text) == ["tests pass", "docs updated", "reviewed"])
            #expect(three.uncheckedCriteria.map(\.number) == [3])
            var forced = TaskPatch(status: .done)
            forced.force = true
            let done = try await store.update(t.id, forced, expectedVersion: nil)
            #expect(done.status == .done)
            #expect(try await store.get(t.id) == done)
            // The history records criteria changes like any field.
            let events = try await store.history(of: t.id, limit: 50, cursor: nil).events
            #expect(events.contains { $0.changes["acceptance"] != nil && $0.kind == "updated" })
            // Export → import keeps them.
            let record = TaskRecord(done, dependsOn: [])
            let again = try TaskRecord(json: record.json, origin: "line 1")
            #expect(again.acceptance == done.acceptance)
            var tooMany = NewTask(title: "x")
            tooMany.acceptance = Array(repeating: "c", count: TaskRules.maxCriteria + 1)
            await expectError(.invalidInput, field: "acceptance") { _ = try await store.create(tooMany) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func nextReadyFiltersAndSaysWhyNothingIsReady(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            // Nothing at all.
            var why = try await store.notReadyReport(filter: ReadyFilter())
            #expect(why.open == 0)
            #expect(why.summary.contains("Nothing is open"))
            let epic = try await store.create(NewTask(title: "Epic"))
            let a = try await store.create(NewTask(title: "A", tags: ["ui"], parentId: epic.id))
            let sub = try await store.create(NewTask(title: "Sub", parentId: a.id))
            let b = try await store.create(NewTask(title: "B", tags: ["api"], dependsOn: [sub.id]))
            let c = try await store.create(NewTask(title: "C", tags: ["ui"]))
            _ = try await store.update(c.id, TaskPatch(assignee: "alice"), expectedVersion: nil)
            func ids(_ f: ReadyFilter) async throws -> [TaskID] {
                try await store.nextReady(limit: 10, filter: f).map(\.id)
            }
            #expect(try await ids(ReadyFilter()) == [sub.id, c.id])
            #expect(try await ids(ReadyFilter(tag: "ui")) == [c.id])
            #expect(try await ids(ReadyFilter(parent: epic.id)) == [sub.id])  // the whole subtree
            #expect(try await ids(ReadyFilter(assignee: "alice")) == [c.id])
            #expect(try await ids(ReadyFilter(unassigned: true)) == [sub.id])
            await expectError(.notFound) {
                _ = try await store.nextReady(limit: 1, filter: ReadyFilter(parent: TaskID(trusted: "mk-nope1")))
            }
            await expectError(.invalidInput, field: "unassigned") {
                _ = try await store.nextReady(limit: 1, filter: ReadyFilter(assignee: "x", unassigned: true))
            }
            // Claimed: named with the owner.
            _ = try await store.claim(sub.id, owner: "bot-1", ttl: nil)
            #expect(try await ids(ReadyFilter(parent: epic.id)).isEmpty)
            why = try await store.notReadyReport(filter: ReadyFilter(parent: epic.id))
            #expect(why.claimed.map(\.id) == [sub.id])
            #expect(why.waitingForSubtasks.map(\.id) == [a.id])
            #expect(why.summary.contains("\(sub.id) by bot-1"))
            // Blocked: named with what blocks it.
            why = try await store.notReadyReport(filter: ReadyFilter(tag: "api"))
            #expect(why.blocked.map(\.task.id) == [b.id])
            #expect(why.blocked.first?.blockers.map(\.id) == [sub.id])
            #expect(why.summary.contains("\(b.id) by \(sub.id) [IN-PROGRESS]"))
            #expect(why.json["blocked"]?.arrayValue?.first?["blockedBy"] == [.string(sub.id.rawValue)])
            // All done.
            _ = try await store.update(c.id, TaskPatch(status: .done), expectedVersion: nil)
            why = try await store.notReadyReport(filter: ReadyFilter(assignee: "alice"))
            #expect(why.open == 0 && why.resolved == 1)
            #expect(why.summary.contains("done or closed"))
            // claimNext honours the filter.
            #expect(try await store.claimNext(owner: "bot-2", ttl: nil, filter: ReadyFilter(tag: "ui")) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func whyNothingIsReadyCountsEveryTaskExactly(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let gate = try await store.create(NewTask(title: "Gate", tags: ["other"]))
            _ = try await store.claim(gate.id, owner: "bot", ttl: nil)
            let parent = try await store.create(NewTask(title: "Parent", tags: ["work"]))
            _ = try await store.create(NewTask(title: "Child", tags: ["other"], parentId: parent.id))
            // More blocked tasks than the report names: every one is counted as blocked (by a
            // blocker outside the filter), none as waiting for subtasks.
            for i in 0..<(NotReadyReport.named * 5) {
                _ = try await store.create(NewTask(title: "Waits \(i)", tags: ["work"], dependsOn: [gate.id]))
            }
            let why = try await store.notReadyReport(filter: ReadyFilter(tag: "work"))
            #expect(why.open == NotReadyReport.named * 5 + 1)
            #expect(why.blocked.count == NotReadyReport.named * 5)
            #expect(why.blocked.allSatisfy { $0.blockers.map(\.id) == [gate.id] })
            #expect(why.waitingForSubtasks.map(\.id) == [parent.id])
            #expect(why.json["blocked"]?.arrayValue?.count == NotReadyReport.named)
            #expect(why.summary.contains("\(NotReadyReport.named * 5) blocked"))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func latestHistoryIsTheNewestEventsInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t = try await store.create(NewTask(title: "v0"))
            for i in 1...7 { _ = try await store.update(t.id, TaskPatch(title: "v\(i)"), expectedVersion: nil) }
            let all = try await store.history(of: t.id, limit: 100, cursor: nil).events
            #expect(all.count == 8)
            #expect(try await store.latestHistory(of: t.id, limit: 3) == Array(all.suffix(3)))
            #expect(try await store.latestHistory(of: t.id, limit: 100) == all)
            await expectError(.invalidInput, field: "limit") { _ = try await store.latestHistory(of: t.id, limit: 0) }
        }
    }
}
