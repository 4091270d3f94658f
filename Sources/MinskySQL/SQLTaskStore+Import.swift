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
            // Checks first, a few statements for the whole batch: ids the store already holds,
            // parents and blockers named outside the file.
            let taken = try existingIDs(c, ids)
            if let i = order.first(where: { taken.contains(ids[$0]) }) {
                throw MinskyError(
                    .conflict,
                    "\(records[i].origin): task \(ids[i]) already exists in this store; import into an empty store, or drop the id to create a new task",
                    field: "id")
            }
            let outside = Set(records.compactMap(\.parentId) + records.flatMap(\.dependsOn)).subtracting(batch)
            let found = try existingIDs(c, Array(outside))
            if let i = order.first(where: {
                records[$0].parentId.map { outside.contains($0) && !found.contains($0) } ?? false
            }),
                let p = records[i].parentId
            {
                throw MinskyError(
                    .notFound, "\(records[i].origin): parent \(p) is neither in the file nor in the store",
                    field: "parentId")
            }
            for (i, r) in records.enumerated() {
                if let dep = r.dependsOn.first(where: { outside.contains($0) && !found.contains($0) }) {
                    throw MinskyError(
                        .notFound, "\(r.origin): dependsOn \(dep) is neither in the file nor in the store",
                        field: "dependsOn")
                }
            }
            // Rows and their history in multi-row statements, a chunk at a time (parents before
            // their subtasks), so only a chunk's rows and events are held beside the records.
            let tracks = try tracking(c) != nil
            var items: [TaskItem?] = Array(repeating: nil, count: records.count)
            var rows: [TaskItem] = []
            var events: [(TaskID, String, JSONValue)] = []
            func flush() throws {
                try insertRows(c, rows)
                try insertEvents(c, events, at: now)
                // Sync tracking, only on a store that tracks (one statement said whether it does).
                if tracks { for (id, kind, changes) in events { try trackEvent(c, id, kind, changes) } }
                rows.removeAll(keepingCapacity: true)
                events.removeAll(keepingCapacity: true)
            }
            for i in order {
                let r = records[i]
                let id = ids[i]
                let created = r.createdAt ?? Timestamp(microseconds: now.microseconds + Int64(i))
                let t = TaskItem(
                    id: id, title: r.title, description: r.description, status: r.status, priority: r.priority,
                    tags: r.tags,
                    metadata: r.metadata, parentId: r.parentId, assignee: r.assignee, claimExpiresAt: r.claimExpiresAt,
                    createdAt: created, updatedAt: r.updatedAt ?? created, version: r.version ?? 1,
                    acceptance: r.acceptance)
                var changes = TaskEvent.changes(from: nil, to: t).objectValue ?? [:]
                if !r.dependsOn.isEmpty {
                    changes["dependsOn"] = ["after": .array(r.dependsOn.map { .string($0.rawValue) })]
                }
                rows.append(t)
                events.append((id, "imported", .object(changes)))
                items[i] = t
                if rows.count == 400 { try flush() }
            }
            try flush()
            if records.contains(where: { !$0.dependsOn.isEmpty }), let lock = d.lockDependencyGraph {
                try c.execute(SQL(raw: lock))
            }
            var edges: [(TaskID, TaskID)] = []
            for (i, r) in records.enumerated() { for dep in r.dependsOn { edges.append((ids[i], dep)) } }
            try insertEdges(c, edges, at: now)
            if tracks {
                for (task, dep) in edges { try track(c, .dependency, task.rawValue + "|" + dep.rawValue, changed: []) }
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
            // A bulk load changes the tables' shape: the planner's statistics are refreshed at
            // once (PostgreSQL would otherwise plan `next` over stale counts until autovacuum).
            if records.count >= 1000, let analyze = d.analyzeAfterBulkLoad { try c.execute(SQL(raw: analyze)) }
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

    /// Which of `ids` the store holds, a few hundred per statement.
    func existingIDs(_ c: any SQLConnection, _ ids: [TaskID]) throws -> Set<TaskID> {
        var out: Set<TaskID> = []
        for start in stride(from: 0, to: ids.count, by: Self.idsPerStatement) {
            let part = Array(ids[start..<min(ids.count, start + Self.idsPerStatement)])
            for r in try c.query("SELECT id FROM tasks WHERE id IN (\(list: part))") {
                if let id = r[0].text { out.insert(TaskID(trusted: id)) }
            }
        }
        return out
    }

    /// Inserts task rows in multi-row statements (in order: a parent before its subtasks).
    func insertRows(_ c: any SQLConnection, _ rows: [TaskItem]) throws {
        for start in stride(from: 0, to: rows.count, by: 200) {
            var s: SQL = """
                INSERT INTO tasks (id, title, description, status, priority, tags, metadata, parent_id, assignee, \
                claim_expires_at, created_at, updated_at, version, acceptance) VALUES 
                """
            for (n, t) in rows[start..<min(rows.count, start + 200)].enumerated() {
                s += """
                    \(raw: n == 0 ? "" : ", ")(\(t.id), \(text: t.title), \(text: t.description), \(text: t.status.rawValue), \
                    \(int: t.priority.value), \(json: Self.tagsJSON(t.tags)), \(json: t.metadata), \(t.parentId), \(text: t.assignee), \
                    \(t.claimExpiresAt), \(t.createdAt), \(t.updatedAt), \(int: t.version), \(json: AcceptanceCriterion.json(t.acceptance)))
                    """
            }
            try c.execute(s)
        }
    }

    /// Inserts dependency edges in multi-row statements.
    func insertEdges(_ c: any SQLConnection, _ edges: [(TaskID, TaskID)], at now: Timestamp) throws {
        for start in stride(from: 0, to: edges.count, by: 500) {
            var s: SQL = "INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES "
            for (n, (task, dep)) in edges[start..<min(edges.count, start + 500)].enumerated() {
                s += "\(raw: n == 0 ? "" : ", ")(\(task), \(dep), \(now))"
            }
            try c.execute(s)
        }
    }
}
