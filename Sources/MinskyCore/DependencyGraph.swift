/// Cycle rules for dependency and parent links, independent of how a store fetches edges.
public enum DependencyGraph {
    /// Refuses `task` depends on `dependsOn` when `dependsOn` already (transitively) depends on
    /// `task`. `blockers(x)` returns the tasks x depends on; the error names the whole cycle.
    public static func checkNewEdge(task: TaskID, dependsOn: TaskID, blockers: (TaskID) throws -> [TaskID]) throws {
        if task == dependsOn {
            throw MinskyError(.cycle, "task \(task) cannot depend on itself", field: "dependsOn")
        }
        // Breadth-first search from `dependsOn` along "depends on" edges looking for `task`.
        var cameFrom: [TaskID: TaskID] = [dependsOn: dependsOn]
        var queue = [dependsOn]
        var i = 0
        while i < queue.count {
            let cur = queue[i]
            i += 1
            for next in try blockers(cur) where cameFrom[next] == nil {
                cameFrom[next] = cur
                if next == task {
                    var path = [task]
                    var p = cur
                    while p != dependsOn {
                        path.append(p)
                        p = cameFrom[p] ?? dependsOn
                    }
                    path.append(dependsOn)
                    let cycle = ([task] + path.reversed()).map(\.rawValue).joined(separator: " → ")
                    throw MinskyError(
                        .cycle,
                        "\(task) cannot depend on \(dependsOn): that would close the cycle \(cycle); remove one of those dependencies first",
                        field: "dependsOn")
                }
                queue.append(next)
            }
        }
    }

    /// Refuses making `parent` the parent of `task` when `task` is `parent` or one of its ancestors.
    public static func checkNewParent(task: TaskID, parent: TaskID, parentOf: (TaskID) throws -> TaskID?) throws {
        var cur: TaskID? = parent
        var steps = 0
        while let c = cur {
            if c == task {
                throw MinskyError(
                    .cycle,
                    "\(parent) cannot become the parent of \(task): \(task) is \(parent == task ? "the same task" : "an ancestor of \(parent)")",
                    field: "parent")
            }
            steps += 1
            if steps > 10_000 { break }
            cur = try parentOf(c)
        }
    }

    /// Finds an edge that closes a cycle among the graph reachable from `starts`, and throws the
    /// same error `checkNewEdge` gives for it. Iterative, so chains of any depth are fine.
    public static func checkAcyclic(_ edges: [TaskID: [TaskID]], from starts: [TaskID]) throws {
        var state: [TaskID: UInt8] = [:]  // 1 on the path, 2 done
        for start in starts where state[start] == nil {
            var stack: [(TaskID, Int)] = [(start, 0)]
            state[start] = 1
            while let (node, next) = stack.last {
                let out = edges[node] ?? []
                if next < out.count {
                    stack[stack.count - 1].1 += 1
                    let to = out[next]
                    switch state[to] {
                    case 1:
                        // node → to closes a cycle: report it as adding that edge would.
                        var rest = edges
                        rest[node] = out.filter { $0 != to }
                        try checkNewEdge(task: node, dependsOn: to) { rest[$0] ?? [] }
                        throw MinskyError(
                            .cycle, "\(node) cannot depend on \(to): that would close a cycle", field: "dependsOn")
                    case nil:
                        state[to] = 1
                        stack.append((to, 0))
                    default: break
                    }
                } else {
                    state[node] = 2
                    stack.removeLast()
                }
            }
        }
    }
}
