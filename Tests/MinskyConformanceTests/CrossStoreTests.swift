import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// The same sequence of operations on both stores must produce identical results, field by field.
@Suite("Cross-store identity")
struct CrossStoreTests {
    struct Snapshot: Equatable {
        var tasks: [TaskItem]
        var edges: [Dependency]
        var ready: [TaskItem]
        var tree: TaskTree
        var searches: [[TaskID]]
        var pages: [[TaskID]]
        var errors: [String]
    }

    static func script(_ store: any MinskyStore, clock: TestClock) async throws -> Snapshot {
        var errors: [String] = []
        func attempt(_ body: () async throws -> Void) async {
            do { try await body() } catch let e as MinskyError {
                errors.append("\(e.code.rawValue):\(e.field ?? "-"):\(e.message)")
            } catch { errors.append("\(error)") }
        }
        let epic = try await store.create(
            NewTask(
                title: "Ship v1 🚀", description: "Plan *everything*.\n'quotes' \"and\" \\", priority: try Priority(1),
                tags: ["release", "Q4"],
                metadata: ["owner": "team-a", "budget": 12.5, "n": 3, "deep": ["x": [true, nil]]]))
        var ids: [TaskID] = []
        for i in 0..<30 {
            let t = try await store.create(
                NewTask(
                    title: "Step \(i) — ünïcode", description: "details \(i)", priority: try Priority(i % 5),
                    tags: i % 2 == 0 ? ["even"] : ["odd", "x\(i)"], metadata: ["i": .int(Int64(i))],
                    parentId: i % 3 == 0 ? epic.id : nil, dependsOn: ids.suffix(i % 4 == 1 ? 1 : 0)))
            ids.append(t.id)
        }
        _ = try await store.addDependency(ids[10], dependsOn: ids[2])
        _ = try await store.addDependency(ids[11], dependsOn: ids[10])
        await attempt { _ = try await store.addDependency(ids[2], dependsOn: ids[11]) }
        await attempt { _ = try await store.create(NewTask(title: "")) }
        await attempt { _ = try await store.create(NewTask(title: "nul\u{0}")) }
        _ = try await store.update(
            ids[3], TaskPatch(title: "Step three, renamed", status: .inReview, metadata: ["i": nil, "note": "hi"]),
            expectedVersion: 1)
        await attempt { _ = try await store.update(ids[3], TaskPatch(title: "stale"), expectedVersion: 1) }
        _ = try await store.claim(ids[0], owner: "agent-a", ttl: 120)
        _ = try await store.claim(ids[5], owner: "agent-b", ttl: nil, force: true)
        await attempt { _ = try await store.claim(ids[5], owner: "agent-c", ttl: nil) }
        _ = try await store.update(ids[1], TaskPatch(status: .done), expectedVersion: nil)
        _ = try await store.update(ids[4], TaskPatch(status: .closed, tags: ["closed"]), expectedVersion: nil)
        try await store.removeDependency(ids[11], dependsOn: ids[10])
        _ = try await store.delete(ids[29], cascade: false)
        clock.advance(seconds: 200)
        let all = try await store.listAll()
        var pages: [[TaskID]] = []
        var q = TaskQuery(limit: 7)
        while true {
            let p = try await store.list(q)
            pages.append(p.tasks.map(\.id))
            guard let c = p.nextCursor else { break }
            q.cursor = c
        }
        var searches: [[TaskID]] = []
        for text in ["step", "ünïcode", "renamed three", "details 1", "ship", "nothing-here"] {
            searches.append(try await store.list(TaskQuery(text: text, limit: 100)).tasks.map(\.id))
        }
        searches.append(
            try await store.list(TaskQuery(statuses: [.done, .closed, .inReview], limit: 100)).tasks.map(\.id))
        searches.append(try await store.list(TaskQuery(tag: "odd", limit: 100)).tasks.map(\.id))
        searches.append(try await store.list(TaskQuery(parent: .task(epic.id), limit: 100)).tasks.map(\.id))
        return Snapshot(
            tasks: all, edges: try await store.dependencyEdges(among: nil), ready: try await store.nextReady(limit: 50),
            tree: try await store.tree(root: nil), searches: searches, pages: pages, errors: errors)
    }

    @Test func sqliteAndPostgresAgreeFieldByField() async throws {
        let sqliteClock = TestClock()
        let pgClock = TestClock()
        let a = try await withStore(.sqlite, clock: sqliteClock, ids: SequentialIDs()) {
            try await Self.script($0, clock: sqliteClock)
        }
        let b = try await withStore(.postgres, clock: pgClock, ids: SequentialIDs()) {
            try await Self.script($0, clock: pgClock)
        }
        #expect(a.tasks.count == 30)
        #expect(a.errors.count == 5)
        #expect(a.tasks == b.tasks)
        for (x, y) in zip(a.tasks, b.tasks) where x != y { Issue.record("differs:\n\(x)\n\(y)") }
        #expect(a.edges == b.edges)
        #expect(a.ready == b.ready)
        #expect(a.tree == b.tree)
        #expect(a.searches == b.searches)
        #expect(a.pages == b.pages)
        #expect(a.errors == b.errors)
        #expect(!a.ready.isEmpty && !a.searches[0].isEmpty)
    }
}
