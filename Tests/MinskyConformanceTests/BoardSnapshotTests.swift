import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// The board reads only what its columns show; what it reads must be what a board of every task
/// would show: the first cards of each column in its order, the counts, the open blockers and the
/// open subtasks of each card, under every filter.
@Suite("TaskStore conformance: board snapshot")
struct BoardSnapshotTests {
    @Test(arguments: StoreKind.allCases)
    func columnsCountsAndBlockersMatchEveryTaskRead(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            var rng = SplitMix(seed: 11)
            var ids: [TaskID] = []
            let statuses = TaskStatus.allCases
            for i in 0..<120 {
                clock.advance(seconds: 1)
                let parent = ids.isEmpty || rng.next() % 3 != 0 ? nil : ids[Int(rng.next() % UInt64(ids.count))]
                let deps = ids.isEmpty || rng.next() % 2 == 0 ? [] : [ids[Int(rng.next() % UInt64(ids.count))]]
                let t = try await store.create(
                    NewTask(
                        title: "t\(i)", priority: try Priority(Int(rng.next() % 5)),
                        tags: rng.next() % 2 == 0 ? ["red"] : ["blue"], parentId: parent, dependsOn: deps))
                ids.append(t.id)
                if rng.next() % 2 == 0 {
                    clock.advance(seconds: 1)
                    var patch = TaskPatch(status: statuses[Int(rng.next() % UInt64(statuses.count))])
                    if rng.next() % 3 == 0 { patch.assignee = "ana" }
                    _ = try await store.update(t.id, patch, expectedVersion: nil)
                }
            }
            let all = try await store.listAll()
            let edges = try await store.dependencyEdges(among: nil)
            let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
            let filters = [
                BoardFilter(openLimit: 7, resolvedLimit: 5), BoardFilter(tag: "red", openLimit: 500, resolvedLimit: 3),
                BoardFilter(assignee: "ana", openLimit: 2, resolvedLimit: 2),
                BoardFilter(ids: Array(ids.prefix(40)), openLimit: 4, resolvedLimit: 4),
            ]
            for f in filters {
                let admitted = all.filter { t in
                    (f.tag.map { t.tags.contains($0) } ?? true) && (f.assignee.map { t.assignee == $0 } ?? true)
                        && (f.ids.map { $0.contains(t.id) } ?? true)
                }
                let b = try await store.board(f)
                for s in statuses {
                    let column = admitted.filter { $0.status == s }
                    #expect(b.counts[s] ?? 0 == column.count, "\(s) \(f)")
                    let expected = column.sorted { BoardSnapshot.precedes($0, $1, in: s) }
                        .prefix(s.isResolved ? f.resolvedLimit : f.openLimit).map(\.id)
                    #expect((b.columns[s] ?? []).map(\.id) == Array(expected), "\(s) \(f)")
                    for t in b.columns[s] ?? [] {
                        let open = edges.filter {
                            $0.taskId == t.id && !(byID[$0.dependsOn]?.status.isResolved ?? true)
                        }
                        .map(\.dependsOn).sorted()
                        #expect((b.openBlockers[t.id] ?? []).map(\.id) == open, "\(t.id)")
                        #expect(
                            (b.openBlockers[t.id] ?? []).map(\.title) == open.map { byID[$0]?.title ?? "" })
                        let subtasks = all.filter { $0.parentId == t.id && !$0.status.isResolved }.count
                        #expect(b.openSubtasks[t.id] ?? 0 == subtasks, "\(t.id)")
                    }
                }
            }
        }
    }
}
