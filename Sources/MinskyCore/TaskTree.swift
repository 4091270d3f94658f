/// Subtasks arranged under their parents, with dependency edges, ready to render.
public struct TaskTree: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var task: TaskItem
        public var blockedBy: [TaskID]
        public var children: [Node]
        /// Descendants left out because they lie deeper than `maxDepth`.
        public var omittedDescendants: Int = 0
    }

    /// Levels shown below a root. Deeper subtasks are counted, not shown: `tasks tree ID` on the
    /// last shown task continues from there.
    public static let maxDepth = 1_000

    public var roots: [Node]
    /// True when some subtasks lay deeper than `maxDepth`.
    public var cut = false

    /// `resolved`: blockers known to be DONE or CLOSED (besides those among `tasks`); a node's
    /// `blockedBy` lists only open blockers, as `tasks next` counts them.
    public init(tasks: [TaskItem], edges: [Dependency], root: TaskID?, resolved: Set<TaskID> = []) {
        let ids = Set(tasks.map(\.id))
        var childrenOf: [TaskID: [TaskItem]] = [:]
        var blockers: [TaskID: [TaskID]] = [:]
        let closed = resolved.union(tasks.filter(\.status.isResolved).map(\.id))
        for e in edges where !closed.contains(e.dependsOn) { blockers[e.taskId, default: []].append(e.dependsOn) }
        var tops: [TaskItem] = []
        for t in tasks {
            if let p = t.parentId, ids.contains(p), t.id != root {
                childrenOf[p, default: []].append(t)
            } else if root == nil || t.id == root {
                tops.append(t)
            }
        }
        for k in childrenOf.keys { childrenOf[k]?.sort(by: TaskTree.order) }
        // Counts every descendant of a task, iteratively (chains may be very deep).
        func descendants(_ id: TaskID) -> Int {
            var n = 0
            var stack = childrenOf[id] ?? []
            while let t = stack.popLast() {
                n += 1
                stack += childrenOf[t.id] ?? []
            }
            return n
        }
        // Depth-first without recursion: visit, then assemble each node after its children.
        var cut = false
        func build(_ top: TaskItem) -> Node {
            var pending: [(task: TaskItem, depth: Int, children: [Node])] = [(top, 0, [])]
            var next: [[TaskItem]] = [childrenOf[top.id] ?? []]
            while true {
                if var queue = next.last, !queue.isEmpty {
                    let child = queue.removeFirst()
                    next[next.count - 1] = queue
                    pending.append((child, pending.count, []))
                    next.append(pending.count > Self.maxDepth ? [] : childrenOf[child.id] ?? [])
                    continue
                }
                let done = pending.removeLast()
                next.removeLast()
                var node = Node(
                    task: done.task, blockedBy: (blockers[done.task.id] ?? []).sorted(), children: done.children)
                if done.depth >= Self.maxDepth, let kids = childrenOf[done.task.id], !kids.isEmpty {
                    node.omittedDescendants = descendants(done.task.id)
                    cut = true
                }
                if pending.isEmpty { return node }
                pending[pending.count - 1].children.append(node)
            }
        }
        roots = tops.sorted(by: TaskTree.order).map(build)
        self.cut = cut
    }

    static func order(_ a: TaskItem, _ b: TaskItem) -> Bool {
        (a.createdAt, a.id.rawValue) < (b.createdAt, b.id.rawValue)
    }
}
