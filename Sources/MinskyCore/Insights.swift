/// Facts about a plan, computed from its tasks and dependencies (no model involved).
public struct Insights: Sendable, Codable, Equatable {
    public struct Item: Sendable, Codable, Equatable {
        public var id: TaskID
        public var title: String
        public var detail: String
    }

    public var total: Int
    public var byStatus: [String: Int]
    /// Open tasks waiting on at least one open blocker.
    public var blocked: [Item]
    /// The longest chain of open tasks where each waits for the previous: the critical path.
    public var longestPath: [TaskID]
    /// IN-PROGRESS tasks whose claim lapsed, or untouched for `staleDays`.
    public var staleClaims: [Item]
    /// Scored 7 or more and never split into subtasks.
    public var complexNotDecomposed: [Item]

    public static func compute(tasks: [TaskItem], edges: [Dependency], now: Timestamp, staleDays: Double = 7) -> Insights {
        let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
        var byStatus: [String: Int] = [:]
        for t in tasks { byStatus[t.status.rawValue, default: 0] += 1 }
        let open = { (id: TaskID) in byID[id].map { !$0.status.isResolved } ?? false }
        var blockersOf: [TaskID: [TaskID]] = [:]
        for e in edges where open(e.taskId) && open(e.dependsOn) { blockersOf[e.taskId, default: []].append(e.dependsOn) }
        let blocked = tasks.filter { blockersOf[$0.id] != nil }.map {
            Item(id: $0.id, title: $0.title, detail: "waits for " + (blockersOf[$0.id] ?? []).sorted().map(\.rawValue).joined(separator: ", "))
        }
        // Longest path in the DAG of open dependencies, by memoised depth-first search.
        var memo: [TaskID: [TaskID]] = [:]
        func chain(_ id: TaskID, _ depth: Int) -> [TaskID] {
            if let m = memo[id] { return m }
            guard depth < 10_000 else { return [id] }
            let best = (blockersOf[id] ?? []).map { chain($0, depth + 1) }.max { $0.count < $1.count } ?? []
            let r = best + [id]
            memo[id] = r
            return r
        }
        let longest = tasks.filter { !$0.status.isResolved }.map { chain($0.id, 0) }.max { $0.count < $1.count } ?? []
        let staleCut = now.adding(seconds: -staleDays * 86_400)
        let stale = tasks.filter { t in
            guard t.status == .inProgress else { return false }
            if let exp = t.claimExpiresAt, exp <= now { return true }
            return t.updatedAt < staleCut
        }.map { t in
            Item(id: t.id, title: t.title, detail: t.claimExpiresAt.map { $0 <= now ? "claim by \(t.assignee ?? "?") lapsed at \($0)" : "" } ?? "untouched since \(t.updatedAt)")
        }
        let parents = Set(tasks.compactMap(\.parentId))
        let complex = tasks.filter { t in
            !t.status.isResolved && !parents.contains(t.id) && (t.metadata["complexity"]?["score"]?.intValue ?? 0) >= 7
        }.map { Item(id: $0.id, title: $0.title, detail: "complexity \($0.metadata["complexity"]?["score"]?.intValue ?? 0)/10, no subtasks") }
        return Insights(total: tasks.count, byStatus: byStatus, blocked: blocked, longestPath: longest.count > 1 ? longest : [],
                        staleClaims: stale, complexNotDecomposed: complex)
    }
}
