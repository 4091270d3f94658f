import MinskyCore

extension SQLTaskStore {
    /// Writes every record in one transaction: all of them or none. Records may name each other
    /// (parent, blockers) in any order; given ids must be new to the store.
    public func importRecords(_ records: [TaskRecord]) async throws -> [TaskItem] {
        let records = try records.map { try $0.validated() }
        var seen: [TaskID: String] = [:]
        for r in records {
            guard let id = r.id else { continue }
            if let other = seen[id] {
                throw MinskyError(
                    .conflict, "\(r.origin): id \(id) is also used by \(other); ids must be unique", field: "id")
            }
            seen[id] = r.origin
        }
        let order = try Self.parentsFirst(records)
        let now = now()
        let given = seen
        return try await write { [self] c in
            var seen = given
            // Each record's id: its own, or a new one that neither the store nor the file holds.
            let ids: [TaskID] = try records.map { r in
                if let id = r.id { return id }
                var length = TaskID.defaultSuffixLength
                var id = makeID(idPrefix, length)
                while try seen[id] != nil || exists(c, id) {
                    length += 1
                    id = makeID(idPrefix, length)
                }
                seen[id] = r.origin
                return id
            }
            let batch = Set(ids)
            var items: [TaskItem?] = Array(repeating: nil, count: records.count)
            for i in order {
                let r = records[i]
                let id = ids[i]
                if try exists(c, id) {
                    throw MinskyError(
                        .conflict,
                        "\(r.origin): task \(id) already exists in this store; import into an empty store, or drop the id to create a new task",
                        field: "id")
                }
                if let p = r.parentId, !batch.contains(p) {
                    do { try requireExists(c, p, field: "parentId") } catch var e as MinskyError {
                        e.message = "\(r.origin): parent \(p) is neither in the file nor in the store"
                        throw e
                    }
                }
                let created = r.createdAt ?? Timestamp(microseconds: now.microseconds + Int64(i))
                let t = TaskItem(
                    id: id, title: r.title, description: r.description, status: r.status, priority: r.priority,
                    tags: r.tags,
                    metadata: r.metadata, parentId: r.parentId, assignee: r.assignee, claimExpiresAt: r.claimExpiresAt,
                    createdAt: created, updatedAt: r.updatedAt ?? created, version: r.version ?? 1,
                    acceptance: r.acceptance)
                try insertRow(c, t)
                var changes = TaskEvent.changes(from: nil, to: t).objectValue ?? [:]
                if !r.dependsOn.isEmpty {
                    changes["dependsOn"] = ["after": .array(r.dependsOn.map { .string($0.rawValue) })]
                }
                try recordEvent(c, id, "imported", .object(changes), at: now)
                items[i] = t
            }
            if records.contains(where: { !$0.dependsOn.isEmpty }), let lock = d.lockDependencyGraph {
                try c.execute(SQL(raw: lock))
            }
            for (i, r) in records.enumerated() {
                for dep in r.dependsOn {
                    if !batch.contains(dep) {
                        do { try requireExists(c, dep, field: "dependsOn") } catch var e as MinskyError {
                            e.message = "\(r.origin): dependsOn \(dep) is neither in the file nor in the store"
                            throw e
                        }
                    }
                    try insertEdge(c, ids[i], dep, now)
                    try track(c, .dependency, ids[i].rawValue + "|" + dep.rawValue, changed: [])
                }
            }
            // One walk over the graph: the imported edges must not close a cycle.
            if records.contains(where: { !$0.dependsOn.isEmpty }) {
                var graph: [TaskID: [TaskID]] = [:]
                for row in try c.query("SELECT task_id, depends_on_id FROM task_dependencies") {
                    guard let a = row[0].text, let b = row[1].text else { continue }
                    graph[TaskID(trusted: a), default: []].append(TaskID(trusted: b))
                }
                try DependencyGraph.checkAcyclic(
                    graph, from: records.indices.filter { !records[$0].dependsOn.isEmpty }.map { ids[$0] })
            }
            // Notes come with their task: id, author and time as exported (a team store's database
            // still decides the author of a role that may not assert another's).
            for (i, r) in records.enumerated() {
                for (n, note) in r.notes.enumerated() {
                    let noteID =
                        note.id.isEmpty
                        ? "nt-" + String(now.microseconds, radix: 36)
                            + String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
                        : note.id
                    if try !c.query("SELECT 1 FROM task_notes WHERE id = \(text: noteID)").isEmpty {
                        throw MinskyError(
                            .conflict,
                            "\(r.origin): note \(n + 1) (\(noteID)) already exists in this store; drop its id to add it as a new note",
                            field: "notes")
                    }
                    try c.execute(
                        """
                        INSERT INTO task_notes (id, task_id, author, body, created_at) \
                        VALUES (\(text: noteID), \(ids[i]), \(text: note.author), \(text: note.body), \(note.createdAt))
                        """)
                    try track(c, .note, noteID, changed: [])
                }
            }
            let parents = records.compactMap(\.parentId)
            try refreshCounters(c, Set(ids + parents))
            try flushTextIndexIfFull(c)
            return items.compactMap { $0 }
        }
    }

    /// Indices of `records` ordered so that a parent named in the batch comes before its subtasks.
    static func parentsFirst(_ records: [TaskRecord]) throws -> [Int] {
        var index: [TaskID: Int] = [:]
        for (i, r) in records.enumerated() { if let id = r.id { index[id] = i } }
        var state = [UInt8](repeating: 0, count: records.count)  // 0 new, 1 on the path, 2 placed
        var order: [Int] = []
        order.reserveCapacity(records.count)
        for start in records.indices where state[start] == 0 {
            // Walk up the parent chain iteratively (chains may be deeper than the stack allows).
            var path: [Int] = []
            var cur: Int? = start
            while let i = cur, state[i] == 0 {
                state[i] = 1
                path.append(i)
                cur = records[i].parentId.flatMap { index[$0] }
                if let p = cur, state[p] == 1 {
                    throw MinskyError(
                        .cycle,
                        "\(records[p].origin): the parent links of the imported tasks form a loop through \(records[p].id?.rawValue ?? "?")",
                        field: "parentId")
                }
            }
            for i in path.reversed() {
                state[i] = 2
                order.append(i)
            }
        }
        return order
    }
}
