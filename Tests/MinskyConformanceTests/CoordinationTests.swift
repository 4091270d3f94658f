import Foundation
import MinskyCore
import MinskyPostgres
import MinskyTestSupport
import Testing

/// Path leases, evidence and DONE requirements: the same contract on both stores.
@Suite("Coordination: path leases and evidence")
struct CoordinationTests {
    func task(_ store: any MinskyStore, _ title: String, paths: [String], priority: Int = 2) async throws -> TaskItem {
        var d = NewTask(title: title, priority: try Priority(priority))
        d.paths = paths
        return try await store.create(d)
    }

    @Test(arguments: StoreKind.allCases)
    func claimsLeaseTheirPathsAndNextSkipsOverlaps(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let sql = try await task(store, "Rework the SQL layer", paths: ["Sources/MinskySQL/**"], priority: 1)
            let query = try await task(store, "Fix a query", paths: ["./Sources/MinskySQL//SQL.swift"], priority: 1)
            let docs = try await task(store, "Document it", paths: ["README.md"], priority: 2)
            let free = try await task(store, "Unrelated", paths: [], priority: 3)
            #expect(query.paths == ["Sources/MinskySQL/SQL.swift"])
            #expect(try await store.get(sql.id).paths == ["Sources/MinskySQL/**"])

            _ = try await store.claim(sql.id, owner: "agent-a", ttl: 600, force: false)
            #expect(try await store.pathLeases().map(\.taskId) == [sql.id])
            // Another agent is refused the overlapping task, with the claim and paths named.
            let e = await expectError(.alreadyClaimed, field: "paths") {
                _ = try await store.claim(query.id, owner: "agent-b", ttl: 600, force: false)
            }
            #expect(e?.message.contains(sql.id.rawValue) == true)
            #expect(e?.message.contains("agent-a") == true)
            #expect(e?.message.contains("Sources/MinskySQL/**") == true)
            #expect(try await store.get(query.id).status == .todo)
            // next skips it for agent-b (and for an anonymous caller), not for the holder.
            let forB = try await store.nextReady(limit: 10, filter: ReadyFilter(owner: "agent-b")).map(\.id)
            #expect(forB == [docs.id, free.id])
            #expect(try await store.nextReady(limit: 10, filter: ReadyFilter()).map(\.id) == [docs.id, free.id])
            #expect(try await store.nextReady(limit: 1, filter: ReadyFilter(owner: "agent-b")).map(\.id) == [docs.id])
            let forA = try await store.nextReady(limit: 10, filter: ReadyFilter(owner: "agent-a")).map(\.id)
            #expect(forA == [query.id, docs.id, free.id])
            // claimNext for agent-b takes the first task clear of others' paths.
            #expect(try await store.claimNext(owner: "agent-b", ttl: 600)?.id == docs.id)
            // Why nothing is ready names the claim and the overlapping paths.
            let why = try await store.notReadyReport(filter: ReadyFilter(tag: nil, owner: "agent-c"))
            #expect(why.leased.map(\.task.id) == [query.id])
            #expect(
                why.summary.contains(
                    "\(sql.id) (claimed by agent-a: Sources/MinskySQL/SQL.swift overlaps Sources/MinskySQL/**)"))
            #expect(why.json["pathConflicts"]?.arrayValue?.count == 1)
            // Forcing is possible, and recorded.
            let forced = try await store.claim(query.id, owner: "agent-b", ttl: 600, force: true)
            #expect(forced.assignee == "agent-b")
            _ = try await store.release(query.id, owner: "agent-b")
            // An update that hands the task to someone is a claim too.
            await expectError(.alreadyClaimed, field: "paths") {
                _ = try await store.update(
                    query.id, TaskPatch(status: .inProgress, assignee: "agent-c"), expectedVersion: nil)
            }
            // A lapsed claim leases nothing.
            clock.advance(seconds: 601)
            #expect(try await store.pathLeases().isEmpty)
            #expect(try await store.claim(query.id, owner: "agent-b", ttl: 600, force: false).assignee == "agent-b")
            // Paths are checked like every field.
            await expectError(.invalidInput, field: "paths") {
                var p = TaskPatch()
                p.addPaths = ["../outside"]
                _ = try await store.update(free.id, p, expectedVersion: nil)
            }
        }
    }

    /// Many ready tasks under a held path: next walks past all of them, batch after batch, to
    /// the first one clear of it.
    @Test(arguments: StoreKind.allCases)
    func nextWalksPastManyHeldTasksToAClearOne(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let holder = try await task(store, "Holds all of Sources", paths: ["Sources/**"], priority: 0)
            _ = try await store.claim(holder.id, owner: "agent-a", ttl: 600, force: false)
            var drafts: [NewTask] = []
            for i in 0..<300 {
                var d = NewTask(title: "under Sources \(i)", priority: try Priority(1))
                d.paths = ["Sources/M\(i % 7)/f\(i).swift"]
                drafts.append(d)
            }
            _ = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            let clear = try await task(store, "Docs only", paths: ["docs/**"], priority: 4)
            let next = try await store.nextReady(limit: 1, filter: ReadyFilter(owner: "agent-b"))
            #expect(next.map(\.id) == [clear.id])
            // The holder itself sees its own area as ready.
            #expect(
                try await store.nextReady(limit: 1, filter: ReadyFilter(owner: "agent-a")).first?.title
                    == "under Sources 0")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func evidenceIsStoredAddedToAndRequiredWhenConfigured(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var d = NewTask(title: "Ship the importer")
            d.acceptance = ["imports 1M rows"]
            let t = try await store.create(d)
            var check = TaskPatch()
            check.check = [1: true]
            _ = try await store.update(t.id, check, expectedVersion: nil)
            // done.requires = evidence: DONE without evidence is refused, naming what is missing.
            var done = TaskPatch(status: .done)
            done.doneRequires = .evidence
            let e = await expectError(.invalidInput, field: "evidence") {
                _ = try await store.update(t.id, done, expectedVersion: nil)
            }
            #expect(e?.message.contains("--commit") == true)
            // A failed command is not proof.
            done.evidence = Evidence(command: "swift test", exitStatus: 1)
            await expectError(.invalidInput, field: "evidence.exitStatus") {
                _ = try await store.update(t.id, done, expectedVersion: nil)
            }
            #expect(try await store.get(t.id).status == .todo)
            #expect(try await store.get(t.id).evidence.isEmpty)
            done.evidence = Evidence(
                commits: ["3F2A9C1"], command: "swift test", exitStatus: 0, tests: "239 passed",
                changed: ["Sources/MinskySQL/ImportPipe.swift"], tokens: 1200, minutes: 14)
            let closed = try await store.update(t.id, done, expectedVersion: nil)
            #expect(closed.status == .done)
            #expect(closed.evidence.commits == ["3f2a9c1"])
            #expect(closed.evidence.recordedAt != nil)
            // What the work changed is what the task touches.
            #expect(closed.paths == ["Sources/MinskySQL/ImportPipe.swift"])
            let stored = try await store.get(t.id)
            #expect(stored == closed)
            // More evidence adds to it.
            var more = TaskPatch()
            more.evidence = Evidence(commits: ["a1b2c3d"], links: ["https://ci.example/run/7"], tokens: 300)
            let after = try await store.update(t.id, more, expectedVersion: nil)
            #expect(after.evidence.commits == ["3f2a9c1", "a1b2c3d"])
            #expect(after.evidence.tokens == 1500)
            #expect(after.evidence.command == "swift test")
            // In the history, in words.
            let events = try await store.history(of: t.id, limit: 50, cursor: nil).events
            let words = events.map(\.words).joined(separator: "\n")
            #expect(words.contains("evidence: commit 3f2a9c1; `swift test` exited 0; tests: 239 passed"))
            #expect(words.contains("paths: +Sources/MinskySQL/ImportPipe.swift"))
            // done.requires = none lets DONE through with criteria unchecked; criteria (the default) does not.
            var d2 = NewTask(title: "Small")
            d2.acceptance = ["x"]
            let s = try await store.create(d2)
            await expectError(.invalidInput, field: "force") {
                _ = try await store.update(s.id, TaskPatch(status: .done), expectedVersion: nil)
            }
            var none = TaskPatch(status: .done)
            none.doneRequires = .none
            #expect(try await store.update(s.id, none, expectedVersion: nil).status == .done)
            // Evidence added over many calls stays within its bounds: the call that would pass
            // them is refused, the task stays readable; learned paths stop at the task's limit.
            var many = TaskPatch()
            many.evidence = Evidence(commits: (0..<30).map { String(format: "%07x", 0xabc000 + $0) })
            _ = try await store.update(t.id, many, expectedVersion: nil)
            many.evidence = Evidence(commits: ["fedcba9"])
            await expectError(.invalidInput, field: "evidence.commits") {
                _ = try await store.update(t.id, many, expectedVersion: nil)
            }
            #expect(try await store.get(t.id).evidence.commits.count == 32)
            var wide = TaskPatch()
            wide.evidence = Evidence(changed: (0..<32).map { "src/a\($0).swift" })
            _ = try await store.update(t.id, wide, expectedVersion: nil)
            wide.evidence = Evidence(changed: (0..<32).map { "src/b\($0).swift" })
            let capped = try await store.update(t.id, wide, expectedVersion: nil)
            #expect(capped.paths.count == TaskPaths.maxPaths)
            // Bad evidence names the field.
            await expectError(.invalidInput, field: "evidence.commits") {
                _ = try Evidence.parse(["commits": ["not a sha"]])
            }
            await expectError(.invalidInput, field: "evidence.color") { _ = try Evidence.parse(["color": "red"]) }
        }
    }

    /// 16 agents take work from a pool of 200 tasks whose paths overlap, claiming with
    /// claimNext and closing with evidence; the history then shows no two overlapping claims
    /// held at once by different agents.
    @Test(arguments: StoreKind.allCases)
    func sixteenAgentsNeverHoldOverlappingPaths(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let areas = ["Sources/A", "Sources/B", "Sources/C", "Tests", "docs"]
            var r = SplitMix64(seed: 24)
            var drafts: [NewTask] = []
            for i in 0..<200 {
                var d = NewTask(title: "Task \(i)")
                let area = areas[Int(r.next() % UInt64(areas.count))]
                switch r.next() % 4 {
                case 0: d.paths = ["\(area)/**"]
                case 1: d.paths = ["\(area)/f\(r.next() % 6).swift"]
                case 2: d.paths = ["\(area)/*.swift", "README.md"]
                default:
                    d.paths = ["\(area)/f\(r.next() % 6).swift", "\(areas[Int(r.next() % 5)])/f\(r.next() % 6).swift"]
                }
                drafts.append(d)
            }
            _ = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            let started = Date()
            let closed = try await withThrowingTaskGroup(of: Int.self) { group in
                for a in 0..<16 {
                    group.addTask {
                        var n = 0
                        while true {
                            guard let t = try await store.claimNext(owner: "agent-\(a)", ttl: 300) else {
                                // Nothing clear for me: done when nothing is left open.
                                let open = try await store.list(TaskQuery(statuses: [.todo], limit: 1)).tasks
                                if open.isEmpty { break }
                                try await Task.sleep(nanoseconds: 2_000_000)
                                continue
                            }
                            // The agent works on it a moment (a store whose writes never
                            // suspend — SQLite's inline one-task writes — would otherwise let an
                            // agent claim and close without another agent running in between).
                            try await Task.sleep(nanoseconds: 500_000)
                            var p = TaskPatch(status: .done)
                            p.evidence = Evidence(command: "make test", exitStatus: 0)
                            _ = try await store.update(t.id, p, expectedVersion: nil)
                            n += 1
                        }
                        return n
                    }
                }
                return try await group.reduce(0, +)
            }
            let seconds = Date().timeIntervalSince(started)
            #expect(closed == 200)
            let all = try await store.listAll()
            #expect(all.allSatisfy { $0.status == .done })
            // Each task's claim interval, from the history.
            var held: [(id: TaskID, owner: String, from: Timestamp, to: Timestamp, paths: [String])] = []
            for t in all {
                let events = try await store.history(of: t.id, limit: 100, cursor: nil).events
                let claims = events.filter { $0.kind == "claimed" }
                #expect(claims.count == 1)
                guard let c = claims.first,
                    let end = events.last(where: { $0.changes["status"] != nil && $0.kind == "updated" })
                else { continue }
                held.append((t.id, c.changes["assignee"]?["after"]?.stringValue ?? "?", c.at, end.at, t.paths))
            }
            var pairs = 0
            for (i, x) in held.enumerated() {
                for y in held[(i + 1)...] where x.owner != y.owner && x.from < y.to && y.from < x.to {
                    pairs += 1
                    #expect(
                        TaskPaths.overlaps(x.paths, y.paths).isEmpty,
                        "\(x.id) (\(x.owner)) and \(y.id) (\(y.owner)) were held at once with overlapping paths")
                }
            }
            #expect(pairs > 0, "the agents worked in parallel")
            print(
                "[stress] \(kind): 16 agents closed 200 tasks in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", 200 / seconds)) tasks/s), \(pairs) concurrent claim pairs checked"
            )
        }
    }
}

/// What changed since a cursor, briefs and calibration: the same on both stores.
@Suite("Coordination: changes, briefs, calibration")
struct ChangesAndBriefTests {
    /// Reads every change after `cursor` page by page; returns the task ids reported, how many
    /// events each page reported, and the last cursor.
    func drain(
        _ store: any MinskyStore, from cursor: ChangeCursor, budget: Int, clock: TestClock,
        filter: ChangeFilter = ChangeFilter()
    ) async throws -> (ids: [TaskID: Int], cursor: ChangeCursor, pages: Int) {
        var ids: [TaskID: Int] = [:]
        var c = cursor
        var pages = 0
        while true {
            let d = try await store.changes(since: c, filter: filter, budgetTokens: budget, now: clock.now())
            pages += 1
            let size = d.json.canonicalJSON().count
            #expect(size <= budget * 4, "a page of \(size) characters passes the budget of \(budget) tokens")
            for e in d.tasks { ids[e.id, default: 0] += e.events }
            #expect(d.cursor.position >= c.position)
            c = d.cursor
            if !d.more { break }
            #expect(pages < 200)
        }
        return (ids, c, pages)
    }

    @Test(arguments: StoreKind.allCases)
    func aCursorMissesNoChangeAndRepeatsNone(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            var tasks: [TaskItem] = []
            for i in 0..<100 {
                var d = NewTask(
                    title: "Task \(i) with a title long enough to take room in a digest",
                    tags: i % 10 == 0 ? ["ui"] : [])
                if i >= 50 { d.parentId = tasks[0].id }
                tasks.append(try await store.create(d))
            }
            clock.advance(seconds: 60)
            let start = try await store.changes(since: nil, budgetTokens: 50_000, now: clock.now())
            #expect(start.tasks.count == 100)
            #expect(!start.more)
            // 500 changes of every kind over 100 tasks.
            var changed: [TaskID: Int] = [:]
            var r = SplitMix64(seed: 500)
            for n in 0..<500 {
                let t = tasks[Int(r.next() % 100)]
                switch n % 5 {
                case 0:
                    let cur = try await store.get(t.id)
                    _ = try await store.update(
                        t.id, TaskPatch(priority: try Priority((cur.priority.value + 1) % 5)), expectedVersion: nil)
                case 1: _ = try await store.addNote(t.id, body: "note \(n)")
                case 2: _ = try await store.update(t.id, TaskPatch(description: "edit \(n)"), expectedVersion: nil)
                case 3: _ = try await store.update(t.id, TaskPatch(title: "Renamed \(n)"), expectedVersion: nil)
                default:
                    let cur = try await store.get(t.id)
                    _ = try await store.update(
                        t.id, TaskPatch(status: cur.status == .done ? .todo : .done), expectedVersion: nil)
                }
                changed[t.id, default: 0] += 1
            }
            clock.advance(seconds: 10)
            let (ids, end, pages) = try await drain(store, from: start.cursor, budget: 1500, clock: clock)
            #expect(pages > 1, "500 changes do not fit one page of 1,500 tokens")
            #expect(Set(ids.keys) == Set(changed.keys), "every changed task is reported, no other")
            for (id, n) in changed { #expect(ids[id] == n, "\(id): \(n) changes, reported \(ids[id] ?? 0)") }
            // Nothing new: nothing reported.
            let again = try await store.changes(since: end, now: clock.now())
            #expect(again.tasks.isEmpty && !again.more)

            // Filters: a tag, a subtree; the cursor still moves past what they leave out.
            for i in [10, 11, 61] {
                let cur = try await store.get(tasks[i].id)
                _ = try await store.update(
                    tasks[i].id, TaskPatch(priority: try Priority((cur.priority.value + 1) % 5)), expectedVersion: nil)
            }
            clock.advance(seconds: 10)
            let ui = try await store.changes(since: end, filter: ChangeFilter(tag: "ui"), now: clock.now())
            #expect(ui.tasks.map(\.id) == [tasks[10].id])
            #expect(ui.filteredOut == 2)
            let sub = try await store.changes(since: end, filter: ChangeFilter(parent: tasks[0].id), now: clock.now())
            #expect(sub.tasks.map(\.id) == [tasks[61].id])
            #expect(try await store.changes(since: ui.cursor, now: clock.now()).tasks.isEmpty)
            // Grouped by task with what happened, in words.
            let all = try await store.changes(since: end, now: clock.now())
            #expect(all.tasks.first?.what == ["reprioritised"])

            // Young events (younger than the settle time) are reported once, and remembered.
            let fresh = try await store.create(NewTask(title: "Fresh"))
            clock.advance(seconds: 10)
            let seen = try await store.changes(since: all.cursor, now: clock.now())
            #expect(seen.tasks.map(\.id) == [fresh.id])
            _ = try await store.claim(fresh.id, owner: "agent-1", ttl: 600, force: false)
            let young = try await store.changes(since: seen.cursor, now: clock.now())
            #expect(young.tasks.map(\.id) == [fresh.id])
            #expect(young.tasks.first?.what == ["claimed"])
            #expect(young.cursor.fresh.count == 1)
            clock.advance(seconds: 10)
            #expect(try await store.changes(since: young.cursor, now: clock.now()).tasks.isEmpty)
            // Heartbeats are not news.
            _ = try await store.heartbeat(fresh.id, owner: "agent-1", ttl: 600)
            clock.advance(seconds: 10)
            #expect(try await store.changes(since: young.cursor, now: clock.now()).tasks.isEmpty)
            // Too many young events to remember: held back until they settle, then all reported.
            for i in 30..<70 { _ = try await store.addNote(tasks[i].id, body: "burst") }
            let burst = try await store.changes(since: young.cursor, now: clock.now())
            #expect(burst.tasks.isEmpty && burst.heldBack == 40)
            #expect(burst.json["note"]?.stringValue?.contains("40 change(s)") == true)
            clock.advance(seconds: 10)
            let (later, _, _) = try await drain(store, from: burst.cursor, budget: 50_000, clock: clock)
            #expect(later.count == 40)
            // A cursor from elsewhere is refused with the field named.
            await expectError(.invalidInput, field: "since") { _ = try ChangeCursor.parse("c1.!!!", now: clock.now()) }
            #expect(
                try ChangeCursor.parse("2h", now: clock.now()).position.at
                    == clock.now().adding(seconds: -7200).adding(seconds: -0.001))
        }
    }

    /// A filter that admits nothing over a long history: each call reads a bounded number of
    /// events and says there is more; the cursor walks to the end.
    @Test(arguments: StoreKind.allCases)
    func aNarrowFilterOverALongHistoryReadsInBoundedSteps(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            let cursor = ChangeCursor(position: EventPosition(at: clock.now(), id: ""))
            let drafts = (0..<(ChangeDigest.maxRead + 1500)).map { NewTask(title: "bulk \($0)") }
            _ = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            clock.advance(seconds: 60)
            var tagged = NewTask(title: "the one", tags: ["rare"])
            tagged.description = "x"
            let one = try await store.create(tagged)
            clock.advance(seconds: 10)
            let first = try await store.changes(since: cursor, filter: ChangeFilter(tag: "rare"), now: clock.now())
            #expect(
                first.more && first.read == ChangeDigest.maxRead && first.tasks.isEmpty,
                "\(first.tasks.map { ($0.id, $0.title, $0.lines) })")
            let second = try await store.changes(
                since: first.cursor, filter: ChangeFilter(tag: "rare"), now: clock.now())
            #expect(!second.more && second.tasks.map(\.id) == [one.id])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aBriefHasWhatMattersWithinItsBudget(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let epic = try await store.create(NewTask(title: "Billing epic"))
            let blocker = try await store.create(NewTask(title: "Schema migration"))
            var d = NewTask(title: "Invoice export", description: String(repeating: "Long design text. ", count: 2000))
            d.parentId = epic.id
            d.dependsOn = [blocker.id]
            d.acceptance = ["CSV matches the ledger", "totals in cents"]
            d.paths = ["Sources/Billing/**"]
            let t = try await store.create(d)
            var held = NewTask(title: "Refactor billing")
            held.paths = ["Sources/Billing/Ledger.swift"]
            let other = try await store.create(held)
            _ = try await store.claim(other.id, owner: "agent-7", ttl: 600, force: false)
            for i in 0..<40 {
                _ = try await store.addNote(t.id, body: "finding \(i): " + String(repeating: "x", count: 200))
            }
            _ = try await store.update(blocker.id, TaskPatch(priority: .init(0)), expectedVersion: nil)
            for budget in [300, 1500, 6000] {
                let b = try await store.brief(t.id, budgetTokens: budget)
                let size = b.canonicalJSON().count
                #expect(size <= budget * 4, "brief of \(size) characters for \(budget) tokens")
                #expect(b["task"]?["acceptance"]?.arrayValue?.count == 2)
                #expect(b["task"]?["parent"]?["title"] == "Billing epic")
                #expect(b["omitted"]?["descriptionCharacters"]?.intValue ?? 0 > 0)
                #expect(b["omitted"]?["read"]?.stringValue?.contains("get_task \(t.id)") == true)
                if budget >= 1500 {
                    #expect(b["blockers"]?.arrayValue?.first?["id"]?.stringValue == blocker.id.rawValue)
                    #expect(b["pathsHeldByOthers"]?.arrayValue?.first?["owner"] == "agent-7")
                    // The newest notes first.
                    #expect(b["notes"]?.arrayValue?.first?["body"]?.stringValue?.hasPrefix("finding 39") == true)
                    #expect(b["omitted"]?["notes"]?.intValue ?? 0 > 0)
                    #expect(b["recentChanges"]?.arrayValue?.isEmpty == false)
                }
            }
            await expectError(.invalidInput, field: "budgetTokens") {
                _ = try await store.brief(t.id, budgetTokens: 10)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func calibrationComparesScoresWithWhatHappened(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            // Scores 2, 5, 8 that took 1, 3 and 10 hours in progress; one reopened; one with subtasks.
            for (score, hours) in [(2, 1.0), (5, 3.0), (8, 10.0), (8, 12.0)] {
                let t = try await store.create(
                    NewTask(title: "Scored \(score)", metadata: ["complexity": ["score": .int(Int64(score))]]))
                _ = try await store.claim(t.id, owner: "a", ttl: nil, force: false)
                clock.advance(seconds: hours * 3600)
                _ = try await store.update(t.id, TaskPatch(status: .done), expectedVersion: nil)
                if score == 5 {
                    _ = try await store.update(t.id, TaskPatch(status: .todo), expectedVersion: nil)
                    _ = try await store.update(t.id, TaskPatch(status: .done), expectedVersion: nil)
                }
                if score == 2 {
                    var sub = NewTask(title: "part")
                    sub.parentId = t.id
                    _ = try await store.create(sub)
                }
            }
            // The evidence's minutes count where given.
            let quick = try await store.create(NewTask(title: "Recorded cost"))
            var p = TaskPatch(status: .done)
            p.evidence = Evidence(tokens: 9000, minutes: 30)
            _ = try await store.update(quick.id, p, expectedVersion: nil)
            let c = try await store.calibration()
            #expect(c.outcomes.count == 5)
            let rows = Dictionary(uniqueKeysWithValues: c.rows.map { ($0.score, $0) })
            #expect(rows[2]?.medianHours.map { abs($0 - 1) < 0.01 } == true)
            #expect(rows[8]?.medianHours.map { abs($0 - 11) < 0.01 } == true)
            #expect(rows[5]?.reopened == 1)
            #expect(rows[2]?.medianSubtasks == 1)
            #expect(c.rankCorrelation.map { $0 > 0.9 } == true)
            #expect(c.outcomes.first { $0.id == quick.id }?.hours == 0.5)
            #expect(c.examples().count == 4)
            #expect(c.examples().contains { $0.contains("scored 8") && $0.contains("took") })
        }
    }
}

/// Two claims with overlapping paths racing on PostgreSQL: the second waits for the first's
/// transaction and then sees its lease (without the lock, it would read before the first
/// committed and both would hold the same paths).
@Suite("Coordination: racing claims on PostgreSQL")
struct RacingClaimsTests {
    @Test func aClaimWaitsForAnOverlappingClaimInFlightAndIsRefused() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let store = try await PostgresTaskStore.connect(url: url)
            try await cleaningUp({ await store.close() }) {
                var a = NewTask(title: "Holds the store")
                a.paths = ["Sources/Store/**"]
                let held = try await store.create(a)
                var b = NewTask(title: "Wants a file of it")
                b.paths = ["Sources/Store/Query.swift"]
                let wanted = try await store.create(b)
                // Another client's claim of the first task, in flight: it holds the leases' lock
                // and has written its claim, and commits three seconds later. (Advisory locks
                // belong to the database, which parallel tests share: nothing here may wait on the
                // test, only on the clock.)
                let psql = URL(fileURLWithPath: ScratchPostgres.binDir + "/psql")
                let script = """
                    BEGIN;
                    SELECT pg_advisory_xact_lock(\(4_242_005));
                    UPDATE tasks SET status = 'IN-PROGRESS', assignee = 'agent-a' WHERE id = '\(held.id)';
                    SELECT pg_sleep(3);
                    COMMIT;
                    """
                let other = Task {
                    try await runProcess(psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", url], stdin: Data(script.utf8))
                }
                // Wait until its claim is written (visible to nobody yet, as it has not committed:
                // seen through the row lock it holds).
                for _ in 0..<200 {
                    let r = try await runProcess(
                        psql,
                        [
                            "-X", "-tA", url, "-c",
                            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objid = 4242005 AND l.granted AND a.query LIKE '%pg_sleep(3)%'",
                        ])
                    if r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { break }
                    try await Task.sleep(nanoseconds: 25_000_000)
                }
                let result = await asyncResult {
                    try await store.claim(wanted.id, owner: "agent-b", ttl: 600, force: false)
                }
                let r = try await other.value
                #expect(r.status == 0, "\(r.stderr)")
                // Without the lock the claim reads the leases before the other commits, and goes through.
                guard case .failure(let e as MinskyError) = result else {
                    Issue.record("the overlapping claim went through while another was in flight: \(result)")
                    return
                }
                #expect(e.code == .alreadyClaimed && e.message.contains(held.id.rawValue), "\(e.message)")
                #expect(try await store.get(wanted.id).status == .todo)
            }
        }
    }
}

/// Tag filters find exactly the tasks with the tag, whatever its characters: a plain tag is
/// looked for as text first (SQLite), which must never add or lose a task.
@Suite("Tag filters are exact")
struct TagFilterTests {
    @Test(arguments: StoreKind.allCases)
    func everyKindOfTagFindsExactlyItsTasks(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let tags = ["queue", "que", "a\"b", "back\\slash", "ü-tag", "x"]
            var byTag: [String: Set<TaskID>] = [:]
            for (i, tag) in tags.enumerated() {
                // Each tag on its own task, and the title mentions another tag's text.
                let t = try await store.create(NewTask(title: "has \(tags[(i + 1) % tags.count])", tags: [tag]))
                byTag[tag, default: []].insert(t.id)
            }
            let both = try await store.create(NewTask(title: "both", tags: ["queue", "ü-tag"]))
            byTag["queue"]!.insert(both.id)
            byTag["ü-tag"]!.insert(both.id)
            _ = try await store.create(NewTask(title: "description says queue", description: "queue \"queue\""))
            for tag in tags {
                let listed = Set(try await store.list(TaskQuery(tag: tag, limit: 100)).tasks.map(\.id))
                #expect(listed == byTag[tag] ?? [], "tag \(tag)")
                let ready = Set(try await store.nextReady(limit: 100, filter: ReadyFilter(tag: tag)).map(\.id))
                #expect(ready == byTag[tag] ?? [], "ready, tag \(tag)")
                let board = try await store.board(BoardFilter(tag: tag, openLimit: 50, resolvedLimit: 20))
                #expect(Set(board.columns.values.flatMap { $0.map(\.id) }) == byTag[tag] ?? [], "board, tag \(tag)")
                #expect(board.counts[.todo] == (byTag[tag] ?? []).count)
            }
        }
    }
}

/// Rows written by hand (psql as anyone who may update tasks, or a forged sync entry) can hold
/// evidence no minsky call would accept: the task stays readable, and what can be read is shown.
@Suite("Coordination: hand-written rows")
struct HandWrittenRowsTests {
    @Test func rowsWrittenByHandNeverMakeATaskUnreadableNorHideALease() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let store = try await PostgresTaskStore.connect(url: url)
            try await cleaningUp({ await store.close() }) {
                let t = try await store.create(NewTask(title: "Tampered"))
                let many = (0..<100).map { "\"c\($0)\"" }.joined(separator: ",")
                let psql = URL(fileURLWithPath: ScratchPostgres.binDir + "/psql")
                let r = try await runProcess(
                    psql,
                    [
                        "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                        """
                        UPDATE tasks SET evidence = '{"commits": [\(many)], "command": 7, "exitStatus": "x", "tests": "ok", "color": "red"}', \
                        paths = '["ok/**", 5]' WHERE id = '\(t.id)'
                        """,
                    ])
                #expect(r.status == 0, "\(r.stderr)")
                let read = try await store.get(t.id)
                #expect(read.evidence.commits.count == 100 && read.evidence.tests == "ok")
                #expect(read.evidence.command == nil && read.evidence.exitStatus == nil)
                #expect(read.paths == ["ok/**"])
                #expect(try await store.list(TaskQuery(limit: 10)).tasks.count == 1)
                #expect(try await store.brief(t.id)["task"]?["id"]?.stringValue == t.id.rawValue)
                // Paths written by hand are compared in normal form (kept as written where they
                // cannot be normalised): a claim on `./src//a.swift` leases src/a.swift.
                let held = try await store.create(NewTask(title: "Held"))
                _ = try await store.claim(held.id, owner: "agent-a", ttl: 600, force: false)
                let byHand = try await runProcess(
                    psql,
                    [
                        "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                        """
                        UPDATE tasks SET paths = '["./src//a.swift", "/abs/x", "src/./a.swift"]' WHERE id = '\(held.id)'
                        """,
                    ])
                #expect(byHand.status == 0, "\(byHand.stderr)")
                #expect(try await store.get(held.id).paths == ["src/a.swift", "/abs/x"])
                var wants = NewTask(title: "Wants a.swift")
                wants.paths = ["src/a.swift"]
                let wanted = try await store.create(wants)
                await expectError(.alreadyClaimed) {
                    _ = try await store.claim(wanted.id, owner: "agent-b", ttl: 600, force: false)
                }
                // Adding to it through minsky is checked whole: refused, naming the field.
                var more = TaskPatch()
                more.evidence = Evidence(links: ["https://ci/1"])
                await expectError(.invalidInput, field: "evidence.commits") {
                    _ = try await store.update(t.id, more, expectedVersion: nil)
                }
            }
        }
    }
}
