import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

@discardableResult
func expectError(
    _ code: MinskyError.Code, field: String? = nil, _ body: () async throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> MinskyError? {
    do {
        try await body()
        Issue.record("expected \(code) error, got success", sourceLocation: sourceLocation)
    } catch let e as MinskyError {
        #expect(e.code == code, "\(e.message)", sourceLocation: sourceLocation)
        if let field { #expect(e.field == field, "field of: \(e.message)", sourceLocation: sourceLocation) }
        return e
    } catch {
        Issue.record("expected MinskyError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

func asyncResult<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// The store contract. Every test runs once per store: a behaviour one store lacks fails here.
@Suite("TaskStore conformance")
struct ConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func createAndGetRoundTrip(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let parent = try await store.create(NewTask(title: "Parent"))
            let draft = NewTask(
                title: "Write the spec", description: "# Heading\n\n- item", status: .inReview,
                priority: try Priority(0),
                tags: ["docs", "spec", "docs"], metadata: ["estimate": 3, "nested": ["a": [1, 2.5, "x", true, nil]]],
                parentId: parent.id)
            let t = try await store.create(draft)
            #expect(t.id.rawValue.hasPrefix("mk-"))
            #expect(t.id.rawValue.count == 3 + TaskID.defaultSuffixLength)
            #expect(t.version == 1)
            #expect(t.tags == ["docs", "spec"])
            #expect(t.createdAt == t.updatedAt)
            let read = try await store.get(t.id)
            #expect(read == t)
            #expect(read.metadata["nested"]?["a"] == [1, 2.5, "x", true, nil])
            #expect(read.parentId == parent.id)
            #expect(try await store.count() == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func validationErrorsNameTheField(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            await expectError(.invalidInput, field: "title") { _ = try await store.create(NewTask(title: "   ")) }
            await expectError(.invalidInput, field: "title") {
                _ = try await store.create(NewTask(title: String(repeating: "x", count: 501)))
            }
            await expectError(.invalidInput, field: "tags") {
                _ = try await store.create(NewTask(title: "t", tags: ["two words"]))
            }
            await expectError(.invalidInput, field: "tags") {
                _ = try await store.create(NewTask(title: "t", tags: [""]))
            }
            await expectError(.invalidInput, field: "metadata") {
                _ = try await store.create(NewTask(title: "t", metadata: [1, 2]))
            }
            await expectError(.notFound, field: "parent") {
                _ = try await store.create(NewTask(title: "t", parentId: "mk-nope1"))
            }
            await expectError(.notFound, field: "dependsOn") {
                _ = try await store.create(NewTask(title: "t", dependsOn: ["mk-nope1"]))
            }
            await expectError(.notFound) { _ = try await store.get("mk-zzzzz") }
            await expectError(.invalidInput, field: "limit") { _ = try await store.list(TaskQuery(limit: 0)) }
            // Nothing half-written by any refusal above.
            #expect(try await store.count() == 0)
            let ok = try await store.create(NewTask(title: String(repeating: "é", count: 500)))
            #expect(ok.title.count == 500)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func nulIsRefusedTheSameWayEverywhere(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            await expectError(.invalidInput, field: "title") { _ = try await store.create(NewTask(title: "a\u{0}b")) }
            await expectError(.invalidInput, field: "description") {
                _ = try await store.create(NewTask(title: "t", description: "x\u{0}"))
            }
            await expectError(.invalidInput, field: "tags") {
                _ = try await store.create(NewTask(title: "t", tags: ["a\u{0}"]))
            }
            await expectError(.invalidInput, field: "metadata") {
                _ = try await store.create(NewTask(title: "t", metadata: ["k": "v\u{0}"]))
            }
            await expectError(.invalidInput, field: "metadata") {
                _ = try await store.create(NewTask(title: "t", metadata: ["k\u{0}": 1]))
            }
            let t = try await store.create(NewTask(title: "ok"))
            await expectError(.invalidInput, field: "title") {
                _ = try await store.update(t.id, TaskPatch(title: "\u{0}"), expectedVersion: nil)
            }
            await expectError(.invalidInput, field: "owner") {
                _ = try await store.claim(t.id, owner: "a\u{0}", ttl: nil)
            }
            #expect(try await store.get(t.id) == t)
        }
    }

    static let hostile = [
        "'; DROP TABLE tasks; --", "Robert\"); DELETE FROM tasks WHERE (\"1\"=\"1",
        "back\\slash \\x00 \\u0000 %s %d $1 ? :name",
        "tab\there\r\nnewline\u{1}\u{7}\u{1B}[31mred\u{7F}", "emoji 🎉👩‍👩‍👧‍👦🏳️‍🌈", "עברית العربية 中文 日本語 한국어",
        "e\u{301} vs é, ﬁ ligature, Ω", "\u{FEFF}bom \u{200B}zero-width \u{2028}sep", "'quoted' \"double\" `back`",
    ]

    @Test(arguments: StoreKind.allCases)
    func hostileTextIsStoredByteExact(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for s in Self.hostile {
                let tag = String(s.filter { !$0.isWhitespace && $0 != "," }.prefix(60))
                let t = try await store.create(
                    NewTask(
                        title: s, description: s + "\n" + s, tags: [tag],
                        metadata: [s: .string(s), "list": [.string(s)]]))
                let r = try await store.get(t.id)
                #expect(Array(r.title.utf8) == Array(s.utf8))
                #expect(Array(r.description.utf8) == Array((s + "\n" + s).utf8))
                #expect(r.tags == [tag])
                #expect(Array((r.tags.first ?? "").utf8) == Array(tag.utf8))
                #expect(r.metadata[s]?.stringValue.map { Array($0.utf8) } == Array(s.utf8))
                let owner = String(s.prefix(100))
                if !owner.trimmingCharacters(in: .whitespaces).isEmpty {
                    let c = try await store.claim(t.id, owner: owner, ttl: nil)
                    #expect(try await store.get(t.id).assignee.map { Array($0.utf8) } == Array(owner.utf8))
                    #expect(c.assignee == owner)
                }
                let byTag = try await store.list(TaskQuery(tag: tag))
                #expect(byTag.tasks.map(\.id) == [t.id])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func veryLongTextRoundTrips(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var big = ""
            for i in 0..<40_000 { big += "word\(i) ünïcødé 🎉 " }
            #expect(big.utf8.count > 1_000_000)
            let t = try await store.create(NewTask(title: "big", description: big))
            #expect(try await store.get(t.id).description == big)
            // Searchable within the indexed prefix.
            #expect(try await store.list(TaskQuery(text: "word17")).tasks.map(\.id) == [t.id])
            await expectError(.invalidInput, field: "description") {
                _ = try await store.create(
                    NewTask(
                        title: "too big", description: String(repeating: "x", count: TaskRules.maxDescriptionBytes + 1))
                )
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func updatesBumpVersionAndHonourExpectedVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t = try await store.create(NewTask(title: "v1", tags: ["a", "b"], metadata: ["keep": 1, "drop": 2]))
            let u = try await store.update(
                t.id,
                TaskPatch(
                    title: "v2", priority: try Priority(1), addTags: ["c"], removeTags: ["a"],
                    metadata: ["drop": nil, "new": "x"]), expectedVersion: 1)
            #expect(u.version == 2)
            #expect(u.title == "v2")
            #expect(u.tags == ["b", "c"])
            #expect(u.metadata == ["keep": 1, "new": "x"])
            #expect(u.updatedAt >= t.updatedAt)
            #expect(try await store.get(t.id) == u)
            await expectError(.conflict, field: "expectedVersion") {
                _ = try await store.update(t.id, TaskPatch(title: "stale"), expectedVersion: 1)
            }
            #expect(try await store.get(t.id).title == "v2")
            let s = try await store.update(t.id, TaskPatch(status: .done), expectedVersion: nil)
            #expect(s.version == 3 && s.status == .done)
            await expectError(.invalidInput, field: "patch") {
                _ = try await store.update(t.id, TaskPatch(), expectedVersion: nil)
            }
            await expectError(.notFound) {
                _ = try await store.update("mk-nope9", TaskPatch(title: "x"), expectedVersion: nil)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentUpdatesWithSameExpectedVersionExactlyOneWins(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for round in 0..<3 {
                let t = try await store.create(NewTask(title: "race \(round)"))
                let results = await withTaskGroup(of: Result<TaskItem, any Error>.self) { g in
                    for i in 0..<8 {
                        g.addTask {
                            await asyncResult {
                                try await store.update(t.id, TaskPatch(title: "writer \(i)"), expectedVersion: 1)
                            }
                        }
                    }
                    var all: [Result<TaskItem, any Error>] = []
                    for await r in g { all.append(r) }
                    return all
                }
                let wins = results.compactMap { try? $0.get() }
                #expect(wins.count == 1)
                for case .failure(let e) in results { #expect((e as? MinskyError)?.code == .conflict) }
                let final = try await store.get(t.id)
                #expect(final.version == 2)
                #expect(final.title == wins.first?.title)
            }
            // Without expected versions nothing is lost: every increment lands.
            let c = try await store.create(NewTask(title: "counter", metadata: ["n": 0]))
            await withTaskGroup(of: Void.self) { g in
                for i in 0..<10 {
                    g.addTask { _ = try? await store.update(c.id, TaskPatch(addTags: ["t\(i)"]), expectedVersion: nil) }
                }
            }
            let after = try await store.get(c.id)
            #expect(after.version == 11)
            #expect(Set(after.tags) == Set((0..<10).map { "t\($0)" }))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deleteRefusesSubtasksUnlessCascade(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let p = try await store.create(NewTask(title: "parent"))
            let c1 = try await store.create(NewTask(title: "child", parentId: p.id))
            let g1 = try await store.create(NewTask(title: "grandchild", parentId: c1.id))
            let other = try await store.create(NewTask(title: "other", dependsOn: [g1.id]))
            await expectError(.invalidInput, field: "cascade") { _ = try await store.delete(p.id, cascade: false) }
            #expect(try await store.count() == 4)
            let deleted = try await store.delete(p.id, cascade: true)
            #expect(Set(deleted) == [p.id, c1.id, g1.id])
            #expect(try await store.count() == 1)
            #expect(try await store.dependencies(of: other.id).blockedBy.isEmpty)
            #expect(try await store.delete(other.id, cascade: false) == [other.id])
            await expectError(.notFound) { _ = try await store.delete(other.id, cascade: false) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func dependenciesRefuseSelfAndCycles(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let a = try await store.create(NewTask(title: "a"))
            let b = try await store.create(NewTask(title: "b"))
            let c = try await store.create(NewTask(title: "c"))
            await expectError(.cycle, field: "dependsOn") { _ = try await store.addDependency(a.id, dependsOn: a.id) }
            let ab = try await store.addDependency(a.id, dependsOn: b.id)
            #expect(ab.taskId == a.id && ab.dependsOn == b.id)
            #expect(try await store.addDependency(a.id, dependsOn: b.id) == ab)  // idempotent
            _ = try await store.addDependency(b.id, dependsOn: c.id)
            do {
                _ = try await store.addDependency(c.id, dependsOn: a.id)
                Issue.record("cycle accepted")
            } catch let e as MinskyError {
                #expect(e.code == .cycle)
                #expect(e.message.contains("\(c.id) → \(a.id) → \(b.id) → \(c.id)"))
            }
            let deps = try await store.dependencies(of: b.id)
            #expect(try await store.details(b.id).dependencies == deps)
            #expect(try await store.details(b.id).task == (try await store.get(b.id)))
            await expectError(.notFound) { _ = try await store.details("mk-gone1") }
            #expect(deps.blockedBy.map(\.id) == [c.id])
            #expect(deps.blocks.map(\.id) == [a.id])
            #expect(try await store.dependencyEdges(among: nil).count == 2)
            try await store.removeDependency(a.id, dependsOn: b.id)
            await expectError(.notFound, field: "dependsOn") { try await store.removeDependency(a.id, dependsOn: b.id) }
            await expectError(.notFound, field: "dependsOn") {
                _ = try await store.addDependency(a.id, dependsOn: "mk-gone0")
            }
            // Now c → a is fine: a no longer reaches c.
            _ = try await store.addDependency(c.id, dependsOn: a.id)
            // A subtask cannot wait for its own parent.
            let kid = try await store.create(NewTask(title: "kid", parentId: a.id))
            await expectError(.invalidInput, field: "dependsOn") {
                _ = try await store.addDependency(kid.id, dependsOn: a.id)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentOppositeEdgesCannotBothLand(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for _ in 0..<5 {
                let a = try await store.create(NewTask(title: "a"))
                let b = try await store.create(NewTask(title: "b"))
                async let x = asyncResult { try await store.addDependency(a.id, dependsOn: b.id) }
                async let y = asyncResult { try await store.addDependency(b.id, dependsOn: a.id) }
                let results = await [x, y]
                #expect(results.filter { (try? $0.get()) != nil }.count == 1)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func parentLinksRefuseCycles(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let a = try await store.create(NewTask(title: "a"))
            let b = try await store.create(NewTask(title: "b", parentId: a.id))
            let c = try await store.create(NewTask(title: "c", parentId: b.id))
            await expectError(.cycle, field: "parent") {
                _ = try await store.update(a.id, TaskPatch(parent: .set(c.id)), expectedVersion: nil)
            }
            await expectError(.cycle, field: "parent") {
                _ = try await store.update(a.id, TaskPatch(parent: .set(a.id)), expectedVersion: nil)
            }
            let moved = try await store.update(c.id, TaskPatch(parent: .clear), expectedVersion: nil)
            #expect(moved.parentId == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func nextReadyOrdersByPriorityThenAgeAndSkipsBlocked(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            #expect(try await store.nextReady(limit: 5).isEmpty)
            let low = try await store.create(NewTask(title: "low", priority: try Priority(3)))
            let urgentOld = try await store.create(NewTask(title: "urgent old", priority: try Priority(0)))
            let urgentNew = try await store.create(NewTask(title: "urgent new", priority: try Priority(0)))
            let blocker = try await store.create(NewTask(title: "blocker", priority: try Priority(2)))
            let blocked = try await store.create(
                NewTask(title: "blocked", priority: try Priority(0), dependsOn: [blocker.id]))
            let parent = try await store.create(NewTask(title: "parent", priority: try Priority(0)))
            let kid = try await store.create(NewTask(title: "kid", priority: try Priority(1), parentId: parent.id))
            _ = try await store.create(NewTask(title: "done", status: .done, priority: try Priority(0)))
            _ = try await store.create(NewTask(title: "flagged", status: .blocked, priority: try Priority(0)))
            _ = try await store.create(NewTask(title: "review", status: .inReview, priority: try Priority(0)))
            #expect(
                try await store.nextReady(limit: 10).map(\.id) == [
                    urgentOld.id, urgentNew.id, kid.id, blocker.id, low.id,
                ])
            #expect(try await store.nextReady(limit: 1).map(\.id) == [urgentOld.id])
            // A claimed task is not ready for others; a lapsed claim makes it ready again.
            _ = try await store.claim(urgentOld.id, owner: "agent-1", ttl: 60)
            #expect(try await store.nextReady(limit: 1).map(\.id) == [urgentNew.id])
            clock.advance(seconds: 61)
            #expect(try await store.nextReady(limit: 1).map(\.id) == [urgentOld.id])
            // Resolving the blocker releases the blocked task; CLOSED counts as resolved too.
            _ = try await store.update(blocker.id, TaskPatch(status: .closed), expectedVersion: nil)
            #expect(try await store.nextReady(limit: 10).map(\.id).contains(blocked.id))
            // Finishing every subtask makes the parent ready.
            #expect(!(try await store.nextReady(limit: 10).map(\.id).contains(parent.id)))
            _ = try await store.update(kid.id, TaskPatch(status: .done), expectedVersion: nil)
            #expect(try await store.nextReady(limit: 10).map(\.id).contains(parent.id))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func claimIsAtomicAndRespectsExpiry(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let t = try await store.create(NewTask(title: "claim me"))
            let c = try await store.claim(t.id, owner: "alice", ttl: 300)
            #expect(c.status == .inProgress && c.assignee == "alice" && c.version == 2)
            #expect(c.claimExpiresAt != nil)
            #expect(try await store.get(t.id) == c)
            await expectError(.alreadyClaimed) { _ = try await store.claim(t.id, owner: "bob", ttl: 300) }
            let again = try await store.claim(t.id, owner: "alice", ttl: 600)  // renewal by the holder
            #expect(again.version == 3)
            clock.advance(seconds: 601)
            let stolen = try await store.claim(t.id, owner: "bob", ttl: nil)
            #expect(stolen.assignee == "bob" && stolen.claimExpiresAt == nil)
            clock.advance(seconds: 100_000)
            // no expiry
            await expectError(.alreadyClaimed) { _ = try await store.claim(t.id, owner: "alice", ttl: nil) }
            // Back to TODO releases the claim.
            let released = try await store.update(t.id, TaskPatch(status: .todo), expectedVersion: nil)
            #expect(released.assignee == nil)
            _ = try await store.update(t.id, TaskPatch(status: .done), expectedVersion: nil)
            await expectError(.invalidInput, field: "status") {
                _ = try await store.claim(t.id, owner: "carol", ttl: nil)
            }
            await expectError(.notFound) { _ = try await store.claim("mk-none0", owner: "carol", ttl: nil) }
            await expectError(.invalidInput, field: "owner") { _ = try await store.claim(t.id, owner: " ", ttl: nil) }
            await expectError(.invalidInput, field: "ttl") { _ = try await store.claim(t.id, owner: "x", ttl: 9.2e18) }
            await expectError(.invalidInput, field: "ttl") { _ = try await store.claim(t.id, owner: "x", ttl: -1) }

            // Eight agents race for one task: exactly one gets it.
            let race = try await store.create(NewTask(title: "race"))
            let winners = await withTaskGroup(of: String?.self) { g in
                for i in 0..<8 { g.addTask { try? await store.claim(race.id, owner: "agent-\(i)", ttl: 60).assignee } }
                var w: [String] = []
                for await r in g { if let r { w.append(r) } }
                return w
            }
            #expect(winners.count == 1)
            #expect(try await store.get(race.id).assignee == winners.first)
            #expect(try await store.get(race.id).version == 2)
            // claimNext hands distinct tasks to distinct agents.
            for i in 0..<4 { _ = try await store.create(NewTask(title: "work \(i)")) }
            let got = await withTaskGroup(of: TaskID?.self) { g in
                for i in 0..<4 { g.addTask { try? await store.claimNext(owner: "worker-\(i)", ttl: 60)?.id } }
                var ids: [TaskID] = []
                for await r in g { if let r { ids.append(r) } }
                return ids
            }
            #expect(got.count == 4 && Set(got).count == 4)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func listFiltersAndSearch(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let auth = try await store.create(
                NewTask(
                    title: "Build user authentication", description: "OAuth login and sessions",
                    tags: ["backend", "security"]))
            let kid = try await store.create(
                NewTask(
                    title: "Login form", description: "email + password fields", tags: ["frontend"], parentId: auth.id))
            let docs = try await store.create(NewTask(title: "Write documentation", status: .done, tags: ["docs"]))
            _ = try await store.claim(kid.id, owner: "ana", ttl: nil)
            #expect(try await store.list(TaskQuery(statuses: [.done])).tasks.map(\.id) == [docs.id])
            #expect(
                try await store.list(TaskQuery(statuses: [.done, .inProgress])).tasks.map(\.id) == [kid.id, docs.id])
            #expect(try await store.list(TaskQuery(parent: .task(auth.id))).tasks.map(\.id) == [kid.id])
            #expect(try await store.list(TaskQuery(parent: .root)).tasks.map(\.id) == [auth.id, docs.id])
            #expect(try await store.list(TaskQuery(tag: "security")).tasks.map(\.id) == [auth.id])
            #expect(try await store.list(TaskQuery(tag: "nope")).tasks.isEmpty)
            #expect(try await store.list(TaskQuery(assignee: "ana")).tasks.map(\.id) == [kid.id])
            #expect(try await store.list(TaskQuery(text: "login")).tasks.map(\.id) == [auth.id, kid.id])
            #expect(try await store.list(TaskQuery(text: "LOGIN form")).tasks.map(\.id) == [kid.id])
            #expect(try await store.list(TaskQuery(text: "authent")).tasks.map(\.id) == [auth.id])  // prefix
            #expect(try await store.list(TaskQuery(text: "documentation")).tasks.map(\.id) == [docs.id])
            #expect(try await store.list(TaskQuery(text: "zebra")).tasks.isEmpty)
            #expect(try await store.list(TaskQuery(text: "' OR 1=1 --")).tasks.isEmpty)
            #expect(try await store.list(TaskQuery(text: "!!!")).tasks.isEmpty)
            #expect(try await store.list(TaskQuery(tag: "frontend", text: "login")).tasks.isEmpty == false)
            // Updates reach the index.
            _ = try await store.update(docs.id, TaskPatch(title: "Write the zebra guide"), expectedVersion: nil)
            #expect(try await store.list(TaskQuery(text: "zebra")).tasks.map(\.id) == [docs.id])
            #expect(try await store.list(TaskQuery(text: "documentation")).tasks.isEmpty)
            _ = try await store.delete(docs.id, cascade: false)
            #expect(try await store.list(TaskQuery(text: "zebra")).tasks.isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func paginationHasNoDuplicatesOrGaps(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var created: [TaskID] = []
            for i in 0..<237 {
                created.append(
                    try await store.create(NewTask(title: "task \(i)", tags: i % 3 == 0 ? ["third"] : [])).id)
            }
            var seen: [TaskID] = []
            var q = TaskQuery(limit: 10)
            var pages = 0
            while true {
                let page = try await store.list(q)
                pages += 1
                #expect(page.tasks.count <= 10)
                seen += page.tasks.map(\.id)
                guard let c = page.nextCursor else { break }
                // Inserts between pages never shift what is left to read.
                if pages == 3 { _ = try await store.create(NewTask(title: "late arrival")) }
                q.cursor = try PageCursor(token: c.token)
            }
            #expect(pages == 24)
            #expect(Array(seen.prefix(237)) == created)
            #expect(Set(seen).count == seen.count)
            #expect(seen.count == 238)
            let thirds = try await store.listAll(TaskQuery(tag: "third", limit: 7))
            #expect(thirds.count == 79)
            await expectError(.invalidInput, field: "cursor") { _ = try PageCursor(token: "not-a-cursor") }
            let hostile = Data("-9223372036854775808:mk-aaaaa".utf8).base64EncodedString()
            await expectError(.invalidInput, field: "cursor") { _ = try PageCursor(token: hostile) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func proposalsAreStoredListedAndAppliedOnce(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let t = try await store.create(NewTask(title: "to split"))
            let body: JSONValue = [
                "subtasks": [["title": "a", "description": "ü 🎉", "complexity": 3, "dependsOn": []]], "model": "m",
                "attempts": 1, "usage": [],
            ]
            let p = Proposal(
                id: Proposal.newID(), taskId: t.id, kind: "decomposition", model: "m", promptHash: "abc", body: body,
                createdAt: Timestamp(iso8601: "2026-01-01T00:00:00.000001Z")!)
            try await store.saveProposal(p)
            #expect(try await store.proposal(p.id) == p)
            #expect(try await store.proposals(for: t.id) == [p])
            #expect(try await store.proposals(for: nil).count == 1)
            await expectError(.notFound, field: "taskId") {
                try await store.saveProposal(
                    Proposal(
                        id: Proposal.newID(), taskId: "mk-gone2", kind: "x", model: "m", promptHash: "", body: [:],
                        createdAt: .now()))
            }
            try await store.markProposalApplied(p.id)
            #expect(try await store.proposal(p.id).appliedAt != nil)
            await expectError(.conflict, field: "proposal") { try await store.markProposalApplied(p.id) }
            await expectError(.notFound, field: "proposal") { _ = try await store.proposal("pr-nothing") }
            _ = try await store.delete(t.id, cascade: false)
            #expect(try await store.proposals(for: nil).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func treeNestsSubtasksWithBlockers(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let root = try await store.create(NewTask(title: "epic"))
            let a = try await store.create(NewTask(title: "a", parentId: root.id))
            let b = try await store.create(NewTask(title: "b", parentId: root.id, dependsOn: [a.id]))
            let deep = try await store.create(NewTask(title: "deep", parentId: b.id))
            _ = try await store.create(NewTask(title: "loose"))
            let tree = try await store.tree(root: root.id)
            #expect(tree.roots.count == 1)
            #expect(tree.roots[0].task.id == root.id)
            #expect(tree.roots[0].children.map(\.task.id) == [a.id, b.id])
            #expect(tree.roots[0].children[1].blockedBy == [a.id])
            #expect(tree.roots[0].children[1].children.map(\.task.id) == [deep.id])
            #expect(try await store.tree(root: nil).roots.count == 2)
        }
    }
}

/// "Next ready" is served from maintained counters; this checks them against the definition
/// (computed here from every task and edge) after a long random mix of writes.
@Suite("Readiness counters")
struct ReadinessTests {
    static func reference(_ tasks: [TaskItem], _ edges: [Dependency], now: Timestamp) -> [TaskID] {
        let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
        return tasks.filter { t in
            let statusOK =
                t.status == .todo || (t.status == .inProgress && (t.claimExpiresAt.map { $0 <= now } ?? false))
            let blockersDone = edges.filter { $0.taskId == t.id }.allSatisfy {
                byID[$0.dependsOn]?.status.isResolved ?? true
            }
            let kidsDone = tasks.filter { $0.parentId == t.id }.allSatisfy(\.status.isResolved)
            return statusOK && blockersDone && kidsDone
        }
        .sorted { ($0.priority, $0.createdAt, $0.id) < ($1.priority, $1.createdAt, $1.id) }
        .map(\.id)
    }

    @Test(arguments: StoreKind.allCases)
    func nextReadyMatchesTheDefinitionAfterRandomWrites(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            var rng = SplitMix(seed: 42)
            var ids: [TaskID] = []
            let statuses = TaskStatus.allCases
            for step in 0..<400 {
                let roll = Int(rng.next() % 100)
                do {
                    if ids.count < 8 || roll < 30 {
                        let parent = ids.isEmpty || roll % 3 != 0 ? nil : ids[Int(rng.next() % UInt64(ids.count))]
                        let deps = ids.isEmpty ? [] : [ids[Int(rng.next() % UInt64(ids.count))]]
                        ids.append(
                            try await store.create(
                                NewTask(
                                    title: "t\(step)", priority: try Priority(Int(rng.next() % 5)), parentId: parent,
                                    dependsOn: deps)
                            ).id)
                    } else if roll < 55 {
                        let id = ids[Int(rng.next() % UInt64(ids.count))]
                        _ = try await store.update(
                            id, TaskPatch(status: statuses[Int(rng.next() % UInt64(statuses.count))]),
                            expectedVersion: nil)
                    } else if roll < 70 {
                        _ = try await store.addDependency(
                            ids[Int(rng.next() % UInt64(ids.count))],
                            dependsOn: ids[Int(rng.next() % UInt64(ids.count))])
                    } else if roll < 78 {
                        let id = ids[Int(rng.next() % UInt64(ids.count))]
                        if let b = try await store.dependencies(of: id).blockedBy.first {
                            try await store.removeDependency(id, dependsOn: b.id)
                        }
                    } else if roll < 85 {
                        let id = ids[Int(rng.next() % UInt64(ids.count))]
                        let gone = try await store.delete(id, cascade: true)
                        ids.removeAll { gone.contains($0) }
                    } else if roll < 89 {
                        // An import: statuses of every kind, parents and blockers in the file (named
                        // before or after) and in the store; its rows are written with their counters.
                        var records: [TaskRecord] = []
                        let n = 2 + Int(rng.next() % 3)
                        for j in 0..<n {
                            var r = TaskRecord(title: "i\(step)-\(j)", origin: "line \(j + 1)")
                            r.id = TaskID(trusted: "mk-imp\(step)x\(j)")
                            r.status = statuses[Int(rng.next() % UInt64(statuses.count))]
                            let pick = rng.next() % 4
                            if pick == 0, j + 1 < n { r.parentId = TaskID(trusted: "mk-imp\(step)x\(j + 1)") }
                            if pick == 1 { r.parentId = ids[Int(rng.next() % UInt64(ids.count))] }
                            if rng.next() % 2 == 0 { r.dependsOn.append(ids[Int(rng.next() % UInt64(ids.count))]) }
                            if j + 1 < n, rng.next() % 2 == 0 {
                                r.dependsOn.append(TaskID(trusted: "mk-imp\(step)x\(n - 1)"))
                            }
                            records.append(r)
                        }
                        ids += try await store.importRecords(records)
                    } else if roll < 92 {
                        let id = ids[Int(rng.next() % UInt64(ids.count))]
                        let p = ids[Int(rng.next() % UInt64(ids.count))]
                        _ = try await store.update(
                            id, TaskPatch(parent: roll % 2 == 0 ? .clear : .set(p)), expectedVersion: nil)
                    } else {
                        // Forced now and then: a claim of a blocked task is refused unless forced.
                        _ = try await store.claim(
                            ids[Int(rng.next() % UInt64(ids.count))], owner: "a\(roll % 3)", ttl: 30,
                            force: roll % 2 == 0)
                        clock.advance(seconds: 20)
                    }
                } catch let e as MinskyError
                    where [.cycle, .invalidInput, .alreadyClaimed, .notFound, .conflict].contains(e.code)
                {
                    // Refusals are part of the mix.
                }
                if step % 50 == 49 {
                    let all = try await store.listAll()
                    let edges = try await store.dependencyEdges(among: nil)
                    let expected = Self.reference(all, edges, now: clock.now())
                    let got = try await store.nextReady(limit: 1000).map(\.id)
                    #expect(got == expected, "step \(step)")
                }
            }
        }
    }
}

/// Deterministic random numbers for reproducible operation mixes.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
