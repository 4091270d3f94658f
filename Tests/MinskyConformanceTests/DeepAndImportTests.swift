import Foundation
import GRDB
import GRDBSQLite
import MinskyCore
import MinskySQLite
import MinskyTestSupport
import Testing

/// Shapes that once differed between the stores or broke on depth: deep subtrees, imports.
@Suite("TaskStore conformance: depth and import")
struct DeepAndImportTests {
    /// A chain of subtasks deeper than SQLite's trigger-recursion limit (1,000): the tree is
    /// shown to `TaskTree.maxDepth` and says what it left out; a cascade deletes all of it.
    @Test(arguments: StoreKind.allCases)
    func deepSubtreesRenderAndDeleteAlike(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let depth = 1_200
            var drafts = [NewTask(title: "level 0")]
            for i in 1..<depth {
                var d = NewTask(title: "level \(i)")
                d.batchParent = i - 1
                drafts.append(d)
            }
            let chain = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            let other = try await store.create(NewTask(title: "unrelated"))
            let tree = try await store.tree(root: chain[0].id)
            #expect(tree.cut)
            var node = try #require(tree.roots.first)
            var shown = 1
            while let next = node.children.first {
                node = next
                shown += 1
            }
            #expect(shown == TaskTree.maxDepth + 1)
            #expect(node.omittedDescendants == depth - shown)
            let json = TaskJSON.tree(tree, full: true)
            #expect(json["cutAtDepth"] == .int(Int64(TaskTree.maxDepth)))
            #expect(json.canonicalJSON().count > 1_000)
            let deleted = try await store.delete(chain[0].id, cascade: true)
            #expect(deleted.count == depth)
            #expect(try await store.count() == 1)
            #expect(try await store.get(other.id).title == "unrelated")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func importKeepsEverythingOrNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let existing = try await store.create(NewTask(title: "already here"))
            func record(_ id: String?, _ title: String, parent: String? = nil, deps: [String] = []) -> TaskRecord {
                var r = TaskRecord(title: title, origin: "line \(title)")
                r.id = id.map { TaskID(trusted: $0) }
                r.parentId = parent.map { TaskID(trusted: $0) }
                r.dependsOn = deps.map { TaskID(trusted: $0) }
                return r
            }
            // Children before parents, a blocker named before it exists, one on a stored task.
            var done = record("mk-i3", "c", parent: "mk-i1")
            done.status = .done
            done.version = 7
            done.createdAt = Timestamp(microseconds: 1_700_000_000_000_000)
            done.updatedAt = Timestamp(microseconds: 1_700_000_000_500_000)
            done.assignee = "ana"
            let records = [
                done, record("mk-i2", "b", deps: ["mk-i3", existing.id.rawValue]), record("mk-i1", "a"),
                record(nil, "fresh", parent: "mk-i1"),
            ]
            let ids = try await store.importRecords(records)
            #expect(ids.count == 4 && ids[..<3] == ["mk-i3", "mk-i2", "mk-i1"])
            let fresh = try await store.get(ids[3])
            #expect(fresh.title == "fresh" && fresh.parentId == "mk-i1")
            let c = try await store.get("mk-i3")
            #expect(c.version == 7 && c.status == .done && c.assignee == "ana" && c.parentId == "mk-i1")
            #expect(
                c.createdAt == Timestamp(microseconds: 1_700_000_000_000_000)
                    && c.updatedAt == Timestamp(microseconds: 1_700_000_000_500_000))
            #expect(
                try await store.dependencies(of: "mk-i2").blockedBy.map(\.id).sorted()
                    == ["mk-i3", existing.id].sorted())
            // Counters were rebuilt: b waits for `existing` (TODO); a has open subtasks.
            #expect(try await store.nextReady(limit: 10).map(\.id).sorted() == [existing.id, ids[3]].sorted())
            let before = try await store.count()
            // A cycle, an id already stored, a parent loop: refused whole.
            await expectError(.cycle) {
                _ = try await store.importRecords([
                    record("mk-x1", "x", deps: ["mk-x2"]), record("mk-x2", "y", deps: ["mk-x1"]),
                ])
            }
            await expectError(.conflict) {
                _ = try await store.importRecords([record("mk-x3", "ok"), record("mk-i1", "dup")])
            }
            await expectError(.cycle) {
                _ = try await store.importRecords([
                    record("mk-x4", "p", parent: "mk-x5"), record("mk-x5", "q", parent: "mk-x4"),
                ])
            }
            await expectError(.notFound) {
                _ = try await store.importRecords([record("mk-x6", "ok"), record("mk-x7", "z", deps: ["mk-gone"])])
            }
            #expect(try await store.count() == before)
            await expectError(.invalidInput, field: "expectedVersion") {
                _ = try await store.update(existing.id, TaskPatch(title: "v0"), expectedVersion: 0)
            }
        }
    }
}

@Suite("TaskStore conformance: claims are leases")
struct LeaseTests {
    /// Heartbeats extend a claim its owner holds; an expired claim is taken by another owner,
    /// after which the first owner's heartbeat and release are conflicts naming the holder.
    @Test(arguments: StoreKind.allCases)
    func heartbeatsExtendAndStaleOwnersAreToldWhoHoldsTheClaim(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let t = try await store.create(NewTask(title: "leased"))
            let claimed = try await store.claim(t.id, owner: "ana", ttl: 60)
            let beat = try await store.heartbeat(t.id, owner: "ana", ttl: 600)
            #expect(beat.assignee == "ana" && beat.version == claimed.version + 1)
            #expect(try #require(beat.claimExpiresAt) > (try #require(claimed.claimExpiresAt)))
            await expectError(.conflict, field: "owner") { _ = try await store.heartbeat(t.id, owner: "bob", ttl: 60) }
            await expectError(.conflict, field: "owner") { _ = try await store.release(t.id, owner: "bob") }
            await expectError(.alreadyClaimed) { _ = try await store.claim(t.id, owner: "bob", ttl: 60) }
            // Ana's lease lapses; Bob takes the task; Ana is now a stale owner.
            clock.advance(seconds: 601)
            #expect(try await store.claim(t.id, owner: "bob", ttl: 60).assignee == "bob")
            do {
                _ = try await store.heartbeat(t.id, owner: "ana", ttl: 60)
                Issue.record("a stale owner's heartbeat succeeded")
            } catch let e as MinskyError {
                #expect(e.code == .conflict && e.message.contains("claimed by bob"), "\(e.message)")
            }
            await expectError(.conflict) { _ = try await store.release(t.id, owner: "ana") }
            let released = try await store.release(t.id, owner: "bob")
            #expect(released.status == .todo && released.assignee == nil && released.claimExpiresAt == nil)
            #expect(try await store.get(t.id) == released)
            await expectError(.conflict) { _ = try await store.release(t.id, owner: "bob") }
            await expectError(.conflict) { _ = try await store.heartbeat(t.id, owner: "bob", ttl: 60) }
            await expectError(.invalidInput, field: "ttl") { _ = try await store.heartbeat(t.id, owner: "bob", ttl: 0) }
        }
    }
}

@Suite("TaskStore conformance: history")
struct HistoryTests {
    /// Every change leaves one event, in order, with who made it and the fields before and after;
    /// a deleted task keeps its history; pages follow cursors.
    @Test(arguments: StoreKind.allCases)
    func everyChangeIsRecordedInOrder(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let blocker = try await store.create(NewTask(title: "blocker"))
            let t = try await store.create(
                NewTask(title: "watched", priority: try Priority(1), dependsOn: [blocker.id]))
            _ = try await store.update(t.id, TaskPatch(title: "watched closely", addTags: ["x"]), expectedVersion: nil)
            // no change: no event
            _ = try await store.update(t.id, TaskPatch(title: "watched closely"), expectedVersion: nil)
            _ = try await store.claim(t.id, owner: "ana", ttl: 60, force: true)  // blocked: forced
            _ = try await store.heartbeat(t.id, owner: "ana", ttl: 120)
            _ = try await store.release(t.id, owner: "ana")
            try await store.removeDependency(t.id, dependsOn: blocker.id)
            _ = try await store.addDependency(t.id, dependsOn: blocker.id)
            _ = try await store.delete(t.id, cascade: false)
            let page = try await store.history(of: t.id, limit: 100, cursor: nil)
            #expect(
                page.events.map(\.kind) == [
                    "created", "updated", "claimed", "heartbeat", "released", "dependency_removed", "dependency_added",
                    "deleted",
                ])
            let created = page.events[0].changes
            #expect(created["title"]?["after"] == "watched" && created["title"]?["before"] == nil)
            #expect(created["dependsOn"]?["after"] == [.string(blocker.id.rawValue)])
            let updated = page.events[1].changes
            #expect(updated["title"]?["before"] == "watched" && updated["title"]?["after"] == "watched closely")
            #expect(updated["tags"]?["after"] == ["x"])
            #expect(updated["version"] == nil && updated["description"] == nil)
            #expect(page.events[2].changes["assignee"]?["after"] == "ana")
            #expect(page.events[4].changes["status"]?["after"] == "TODO")
            #expect(page.events[7].changes["title"]?["before"] == "watched closely")
            // The actor: the database role on PostgreSQL, the configured one on SQLite.
            #expect(Set(page.events.map(\.actor)).count == 1)
            #expect(page.events[0].actor == (kind == .postgres ? "postgres" : "unknown"), "\(page.events[0].actor)")
            #expect(zip(page.events, page.events.dropFirst()).allSatisfy { $0.at <= $1.at })
            // Pages of three follow each other without gaps or repeats.
            var seen: [String] = []
            var cursor: String?
            repeat {
                let p = try await store.history(of: t.id, limit: 3, cursor: cursor)
                seen += p.events.map(\.id)
                cursor = p.nextCursor
            } while cursor != nil
            #expect(seen == page.events.map(\.id))
            #expect(try await store.history(of: blocker.id, limit: 10, cursor: nil).events.map(\.kind) == ["created"])
        }
    }
}

@Suite("Imports larger than a statement can bind")
struct LargeImportTests {
    /// An import refreshed every task's readiness in one statement with one bound value per
    /// task: past SQLite's variable limit ("too many SQL variables" at a million tasks with
    /// Debian's 250,000; 32,766 is SQLite's own default) or PostgreSQL's 65,535 parameters, nothing
    /// imported. The test lowers this connection's limit to SQLite's default so 33,000 tasks cross
    /// it. Statements now bind a few hundred ids each, and the import still lands or nothing does.
    @Test func thirtyThreeThousandTasksImportPastTheVariableLimit() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-large-import")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteTaskStore(path: dir.appendingPathComponent("tasks.db").path)
        defer { Task { await store.close() } }
        try await store.driver.databasePool.writeWithoutTransaction { db in
            _ = sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
        }
        var records: [TaskRecord] = []
        records.reserveCapacity(33_000)
        for i in 0..<33_000 {
            var r = TaskRecord(title: "task \(i)", origin: "line \(i + 1)")
            r.id = TaskID(trusted: "mk-t\(i)")
            if i % 20 != 0 { r.parentId = TaskID(trusted: "mk-t\(i - i % 20)") }
            if i % 20 > 1 { r.dependsOn = [TaskID(trusted: "mk-t\(i - 1)")] }
            records.append(r)
        }
        let made = try await store.importRecords(records)
        #expect(made.count == 33_000)
        #expect(try await store.count() == 33_000)
        // Readiness was refreshed for all: in each epic only its first subtask is ready.
        let ready = try await store.nextReady(limit: 5, filter: ReadyFilter())
        #expect(ready.map(\.id.rawValue) == ["mk-t1", "mk-t21", "mk-t41", "mk-t61", "mk-t81"], "\(ready.map(\.id))")
    }
}

@Suite("Text search over many matches")
struct CommonWordSearchTests {
    /// A word matching more than a thousand tasks is searched by walking the creation order (on
    /// SQLite) instead of sorting every match: the pages must be the same, oldest first, and the
    /// cursor must go on where the page ended.
    @Test(arguments: StoreKind.allCases)
    func pagesOfACommonWordAreTheOldestMatchesInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let drafts = (0..<1_300).map { i in
                NewTask(title: i % 3 == 0 ? "plain item \(i)" : "common word item \(i)")
            }
            let made = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            let matching = made.filter { $0.title.hasPrefix("common") }
            #expect(matching.count > 800)
            var q = TaskQuery(text: "common", limit: 50)
            let first = try await store.list(q)
            #expect(first.tasks.map(\.id) == Array(matching.prefix(50)).map(\.id))
            q.cursor = first.nextCursor
            let second = try await store.list(q)
            #expect(second.tasks.map(\.id) == Array(matching.dropFirst(50).prefix(50)).map(\.id))
            // More than a thousand matches: the other plan, the same answer.
            let more = (0..<400).map { NewTask(title: "common again \($0)") }
            let extra = try await store.createMany(more, progress: nil, isCancelled: { false })
            let all = matching + extra
            var collected: [TaskID] = []
            var page = TaskQuery(text: "common", limit: 200)
            while true {
                let p = try await store.list(page)
                collected += p.tasks.map(\.id)
                guard let c = p.nextCursor else { break }
                page.cursor = c
            }
            #expect(collected == all.map(\.id), "\(collected.count) of \(all.count)")
        }
    }
}
