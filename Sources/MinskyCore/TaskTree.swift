/// Subtasks arranged under their parents, with dependency edges, ready to render.
public struct TaskTree: Sendable, Hashable, Codable {
    public struct Node: Sendable, Hashable, Codable {
        public var task: TaskItem
        public var blockedBy: [TaskID]
        public var children: [Node]
    }

    public var roots: [Node]

    public init(tasks: [TaskItem], edges: [Dependency], root: TaskID?) {
        let ids = Set(tasks.map(\.id))
        var childrenOf: [TaskID: [TaskItem]] = [:]
        var blockers: [TaskID: [TaskID]] = [:]
        for e in edges { blockers[e.taskId, default: []].append(e.dependsOn) }
        var tops: [TaskItem] = []
        for t in tasks {
            if let p = t.parentId, ids.contains(p), t.id != root { childrenOf[p, default: []].append(t) } else if root == nil || t.id == root { tops.append(t) }
        }
        func build(_ t: TaskItem, depth: Int) -> Node {
            let kids = depth > 256 ? [] : (childrenOf[t.id] ?? []).sorted(by: TaskTree.order).map { build($0, depth: depth + 1) }
            return Node(task: t, blockedBy: (blockers[t.id] ?? []).sorted(), children: kids)
        }
        roots = tops.sorted(by: TaskTree.order).map { build($0, depth: 0) }
    }

    static func order(_ a: TaskItem, _ b: TaskItem) -> Bool {
        (a.createdAt, a.id.rawValue) < (b.createdAt, b.id.rawValue)
    }
}
