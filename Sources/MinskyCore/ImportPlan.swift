/// Records an import reads in order, as often as it needs: once to check every one of them, once
/// to write them. A file is read again rather than kept, so an import of a million tasks holds a
/// chunk of records at a time, not the file.
public protocol TaskRecordSource: Sendable {
    /// Calls `body` with each record, in order.
    func forEach(_ body: (TaskRecord) throws -> Void) throws
}

/// Records already in memory.
public struct RecordList: TaskRecordSource {
    public let records: [TaskRecord]
    public init(_ records: [TaskRecord]) { self.records = records }
    public func forEach(_ body: (TaskRecord) throws -> Void) throws { for r in records { try body(r) } }
}

/// What an import learns from one read of every record, before it writes anything: each record
/// is valid, no id is given twice, parent links form no loop and dependencies no cycle among the
/// records, and which ids named as a parent or blocker must already be in the store. Held
/// compactly (an id and a few integers per record), so a million records fit in tens of MB.
public struct ImportPlan: Sendable {
    /// How many records the source holds.
    public private(set) var count = 0
    /// The ids records give, and the record (by position) that gives each.
    public private(set) var given: [TaskID: Int32] = [:]
    /// Ids named as a parent or a blocker that no record gives: the store must hold them.
    public private(set) var outside: Set<TaskID> = []
    /// The parents outside the file: their subtask counters change.
    public private(set) var outsideParents: Set<TaskID> = []
    /// Whether any record has blockers.
    public private(set) var hasDependencies = false
    /// Per record: its open blockers among the records, its open subtasks (all among the records:
    /// its id is new), and the blockers it names outside the file (sparse).
    var openBlockers: [Int32] = []
    var openSubtasks: [Int32] = []
    var blockersOutside: [Int32: [TaskID]] = [:]

    public init(_ source: any TaskRecordSource) throws {
        var ids: [TaskID?] = []
        var parents: [TaskID?] = []
        var depEnd: [Int32] = []
        var deps: [TaskID] = []
        var duplicate: (first: Int32, again: Int32, id: TaskID)?
        var resolved: [Bool] = []
        try source.forEach { raw in
            let r = try raw.validated()
            let i = Int32(count)
            if let id = r.id {
                if let other = given[id] {
                    if duplicate == nil { duplicate = (other, i, id) }
                } else {
                    given[id] = i
                }
            }
            ids.append(r.id)
            resolved.append(r.status.isResolved)
            parents.append(r.parentId)
            deps.append(contentsOf: r.dependsOn)
            depEnd.append(Int32(deps.count))
            count += 1
        }
        if let (first, again, id) = duplicate {
            let origins = try Self.origins(of: [first, again], in: source)
            throw MinskyError(
                .conflict,
                "\(origins[again] ?? "?"): id \(id) is also used by \(origins[first] ?? "?"); ids must be unique",
                field: "id")
        }
        hasDependencies = !deps.isEmpty
        // The parent of each record by position (-1: none or outside the file).
        var parentIndex = [Int32](repeating: -1, count: count)
        for (i, p) in parents.enumerated() {
            guard let p else { continue }
            if let j = given[p] {
                parentIndex[i] = j
            } else {
                outside.insert(p)
                outsideParents.insert(p)
            }
        }
        parents = []
        for d in deps where given[d] == nil { outside.insert(d) }
        if let loop = Self.parentLoop(parentIndex) {
            let origin = try Self.origins(of: [loop], in: source)[loop] ?? "?"
            throw MinskyError(
                .cycle,
                "\(origin): the parent links of the imported tasks form a loop through \(ids[Int(loop)]?.rawValue ?? "?")",
                field: "parentId")
        }
        // Dependencies among the records, by position. A cycle can only run through records
        // that give their id: no one can name the others, and the store's own graph is acyclic
        // and cannot point back at ids new to it.
        var targets = [Int32](repeating: -1, count: deps.count)
        openBlockers = [Int32](repeating: 0, count: count)
        var i = 0
        for (k, d) in deps.enumerated() {
            while k >= depEnd[i] { i += 1 }
            if let j = given[d] {
                targets[k] = j
                if !resolved[Int(j)] { openBlockers[i] += 1 }
            } else {
                blockersOutside[Int32(i), default: []].append(d)
            }
        }
        deps = []
        openSubtasks = [Int32](repeating: 0, count: count)
        for (i, p) in parentIndex.enumerated() where p >= 0 && !resolved[i] { openSubtasks[Int(p)] += 1 }
        try Self.checkAcyclic(ends: depEnd, targets: targets) { ids[Int($0)] ?? TaskID(trusted: "?") }
    }

    /// The readiness counters of record `i` as stored: its open blockers (those outside the file
    /// counted when in `openOutside`) and its open subtasks.
    public func counters(_ i: Int, openOutside: Set<TaskID>) -> (blockers: Int64, subtasks: Int64) {
        let outside = blockersOutside[Int32(i)]?.filter(openOutside.contains).count ?? 0
        return (Int64(openBlockers[i]) + Int64(outside), Int64(openSubtasks[i]))
    }

    /// A record in a parent loop, if any (iterative: chains may be deeper than the stack).
    static func parentLoop(_ parent: [Int32]) -> Int32? {
        var state = [UInt8](repeating: 0, count: parent.count)  // 0 new, 1 on the path, 2 placed
        for start in parent.indices where state[start] == 0 {
            var path: [Int] = []
            var cur = start
            while cur >= 0, state[cur] == 0 {
                state[cur] = 1
                path.append(cur)
                cur = Int(parent[cur])
                if cur >= 0, state[cur] == 1 { return Int32(cur) }
            }
            for i in path { state[i] = 2 }
        }
        return nil
    }

    /// Refuses a cycle in the graph where record `i`'s blockers are `targets[ends[i-1]..<ends[i]]`
    /// (-1: outside the records), naming it as adding its closing edge would.
    static func checkAcyclic(ends: [Int32], targets: [Int32], name: (Int32) -> TaskID) throws {
        var state = [UInt8](repeating: 0, count: ends.count)  // 1 on the path, 2 done
        func range(_ i: Int32) -> Range<Int> { (i == 0 ? 0 : Int(ends[Int(i) - 1]))..<Int(ends[Int(i)]) }
        for start in ends.indices where state[start] == 0 {
            var stack: [(node: Int32, next: Int)] = [(Int32(start), range(Int32(start)).lowerBound)]
            state[start] = 1
            while let (node, next) = stack.last {
                if next < range(node).upperBound {
                    stack[stack.count - 1].next += 1
                    let to = targets[next]
                    guard to >= 0 else { continue }
                    switch state[Int(to)] {
                    case 1:
                        // node → to closes the cycle to → … → node (the path on the stack).
                        let path = stack.drop(while: { $0.node != to }).map { name($0.node).rawValue }
                        let cycle = ([name(node).rawValue] + path).joined(separator: " → ")
                        throw MinskyError(
                            .cycle,
                            "\(name(node)) cannot depend on \(name(to)): that would close the cycle \(cycle); remove one of those dependencies first",
                            field: "dependsOn")
                    case 0:
                        state[Int(to)] = 1
                        stack.append((to, range(to).lowerBound))
                    default: break
                    }
                } else {
                    state[Int(node)] = 2
                    stack.removeLast()
                }
            }
        }
    }

    /// The origins ("line 12") of the records at `positions`: read again, only for an error.
    public static func origins(of positions: [Int32], in source: any TaskRecordSource) throws -> [Int32: String] {
        var out: [Int32: String] = [:]
        var i: Int32 = 0
        try source.forEach { r in
            if positions.contains(i) { out[i] = r.origin }
            i += 1
        }
        return out
    }

    /// The origin of the first record that names `id` as its parent (or, with `blocker`, a blocker).
    public static func origin(naming id: TaskID, asBlocker blocker: Bool, in source: any TaskRecordSource) throws
        -> String
    {
        var found: String?
        try source.forEach { r in
            if found == nil, blocker ? r.dependsOn.contains(id) : r.parentId == id { found = r.origin }
        }
        return found ?? "?"
    }
}
