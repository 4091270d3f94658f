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

    public static func compute(tasks: [TaskItem], edges: [Dependency], now: Timestamp, staleDays: Double = 7)
        -> Insights
    {
        let byID = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
        var byStatus: [String: Int] = [:]
        for t in tasks { byStatus[t.status.rawValue, default: 0] += 1 }
        let open = { (id: TaskID) in byID[id].map { !$0.status.isResolved } ?? false }
        var blockersOf: [TaskID: [TaskID]] = [:]
        for e in edges where open(e.taskId) && open(e.dependsOn) {
            blockersOf[e.taskId, default: []].append(e.dependsOn)
        }
        let blocked = tasks.filter { blockersOf[$0.id] != nil }.map {
            Item(
                id: $0.id, title: $0.title,
                detail: "waits for " + (blockersOf[$0.id] ?? []).sorted().map(\.rawValue).joined(separator: ", "))
        }
        let longest = Self.longestChain(tasks.filter { !$0.status.isResolved }.map(\.id), blockersOf: blockersOf)
        let staleCut = now.adding(seconds: -staleDays * 86_400)
        let stale = tasks.filter { t in
            guard t.status == .inProgress else { return false }
            if let exp = t.claimExpiresAt, exp <= now { return true }
            return t.updatedAt < staleCut
        }.map { t in
            Item(
                id: t.id, title: t.title,
                detail: t.claimExpiresAt.map { $0 <= now ? "claim by \(t.assignee ?? "?") lapsed at \($0)" : "" }
                    ?? "untouched since \(t.updatedAt)")
        }
        let parents = Set(tasks.compactMap(\.parentId))
        let complex = tasks.filter { t in
            !t.status.isResolved && !parents.contains(t.id) && (t.metadata["complexity"]?["score"]?.intValue ?? 0) >= 7
        }.map {
            Item(
                id: $0.id, title: $0.title,
                detail: "complexity \($0.metadata["complexity"]?["score"]?.intValue ?? 0)/10, no subtasks")
        }
        return Insights(
            total: tasks.count, byStatus: byStatus, blocked: blocked, longestPath: longest.count > 1 ? longest : [],
            staleClaims: stale, complexNotDecomposed: complex)
    }

    /// The longest chain of open tasks, each waiting for the one before it (the critical path),
    /// in linear time: blockers are settled before the tasks waiting for them (Kahn's order),
    /// each task keeps only its chain's length and predecessor, and one chain is walked back at
    /// the end. Ties go to the earlier task, as listed. Tasks on a cycle (which the stores refuse)
    /// are left out rather than looping.
    static func longestChain(_ ids: [TaskID], blockersOf: [TaskID: [TaskID]]) -> [TaskID] {
        var waiting: [TaskID: Int] = [:]
        var dependents: [TaskID: [TaskID]] = [:]
        for id in ids {
            let blockers = blockersOf[id] ?? []
            waiting[id] = blockers.count
            for b in blockers { dependents[b, default: []].append(id) }
        }
        var length: [TaskID: Int] = [:]
        var queue = ids.filter { waiting[$0] == 0 }
        var head = 0
        while head < queue.count {
            let u = queue[head]
            head += 1
            length[u] = 1 + ((blockersOf[u] ?? []).compactMap { length[$0] }.max() ?? 0)
            for v in dependents[u] ?? [] {
                waiting[v, default: 0] -= 1
                if waiting[v] == 0 { queue.append(v) }
            }
        }
        // filtered to known lengths
        guard var cur = ids.filter({ length[$0] != nil }).max(by: { length[$0]! < length[$1]! }) else { return [] }
        var path = [cur]
        while let prev = (blockersOf[cur] ?? []).filter({ length[$0] != nil }).max(by: { length[$0]! < length[$1]! })
        {  // filtered likewise
            path.append(prev)
            cur = prev
        }
        return path.reversed()
    }
}
