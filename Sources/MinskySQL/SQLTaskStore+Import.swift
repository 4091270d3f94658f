import MinskyCore

extension SQLTaskStore {
    /// Writes every record in one transaction: all of them or none. Records may name each other
    /// (parent, blockers) in any order; given ids must be new to the store. The source is read
    /// twice: once to check every record (`ImportPlan`), once to write them a chunk at a time
    /// with foreign keys checked at commit, so memory holds a chunk and the plan, never the file.
    public func importRecords(from source: any TaskRecordSource) async throws -> [TaskID] {
        let plan = try ImportPlan(source)
        let now = now()
        return try await write { [self] c in
            try c.execute(SQL(raw: d.deferForeignKeys))
            let cache = plan.count >= 1000 ? d.bulkLoadCache : nil
            if let cache { try c.execute(SQL(raw: cache.large)) }
            defer { if let cache { _ = try? c.execute(SQL(raw: cache.usual)) } }
            // Ids the store already holds, parents and blockers named outside the file.
            let taken = try existingIDs(c, Array(plan.given.keys))
            if let id = taken.min(by: { plan.given[$0] ?? 0 < plan.given[$1] ?? 0 }), let i = plan.given[id] {
                let origin = try ImportPlan.origins(of: [i], in: source)[i] ?? "?"
                throw MinskyError(
                    .conflict,
                    "\(origin): task \(id) already exists in this store; import into an empty store, or drop the id to create a new task",
                    field: "id")
            }
            let found = try existingIDs(c, Array(plan.outside))
            if let p = plan.outsideParents.first(where: { !found.contains($0) }) {
                let origin = try ImportPlan.origin(naming: p, asBlocker: false, in: source)
                throw MinskyError(
                    .notFound, "\(origin): parent \(p) is neither in the file nor in the store", field: "parentId")
            }
            if let dep = plan.outside.first(where: { !found.contains($0) }) {
                let origin = try ImportPlan.origin(naming: dep, asBlocker: true, in: source)
                throw MinskyError(
                    .notFound, "\(origin): dependsOn \(dep) is neither in the file nor in the store", field: "dependsOn"
                )
            }
            if plan.hasDependencies, let lock = d.lockDependencyGraph { try c.execute(SQL(raw: lock)) }
            // Rows, their history and their edges in multi-row statements, a chunk at a time.
            let tracks = try tracking(c) != nil
            var ids: [TaskID] = []
            ids.reserveCapacity(plan.count)
            var generated: Set<TaskID> = []
            var rows: [TaskItem] = []
            var events: [(TaskID, String, JSONValue)] = []
            var edges: [(TaskID, TaskID)] = []
            var notes: [(TaskID, String, TaskRecord.RecordNote, Int)] = []
            func flush() throws {
                try insertRows(c, rows)
                try insertEvents(c, events, at: now)
                try insertEdges(c, edges, at: now)
                // Sync tracking, only on a store that tracks (one statement said whether it does).
                if tracks {
                    for (id, kind, changes) in events { try trackEvent(c, id, kind, changes) }
                    for (task, dep) in edges {
                        try track(c, .dependency, task.rawValue + "|" + dep.rawValue, changed: [])
                    }
                }
                try insertNotes(c, notes, at: now)
                rows.removeAll(keepingCapacity: true)
                events.removeAll(keepingCapacity: true)
                edges.removeAll(keepingCapacity: true)
                notes.removeAll(keepingCapacity: true)
            }
            try source.forEach { raw in
                let r = try raw.validated()
                let i = ids.count
                let id: TaskID
                if let given = r.id {
                    id = given
                } else {
                    // A new id that neither the store nor the file holds.
                    var length = TaskID.defaultSuffixLength
                    var made = makeID(idPrefix, length)
                    while try plan.given[made] != nil || generated.contains(made) || exists(c, made) {
                        length += 1
                        made = makeID(idPrefix, length)
                    }
                    generated.insert(made)
                    id = made
                }
                ids.append(id)
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
                for dep in r.dependsOn { edges.append((id, dep)) }
                for (n, note) in r.notes.enumerated() { notes.append((id, r.origin, note, n)) }
                if rows.count == 400 { try flush() }
            }
            try flush()
            guard ids.count == plan.count else {
                throw MinskyError(.internal, "the import source changed while it was read; nothing was imported")
            }
            // Readiness and subtask counters: of every task when the import is most of the
            // store (one statement), else of the imported tasks and the parents they joined.
            if try (c.query("SELECT COUNT(*) FROM tasks").first?[0].int ?? 0) < 2 * ids.count {
                try c.execute(Self.recountCounters)
            } else {
                try refreshCounters(c, Set(ids).union(plan.outsideParents))
            }
            try flushTextIndexIfFull(c)
            // A bulk load changes the tables' shape: the planner's statistics are refreshed at
            // once (PostgreSQL would otherwise plan `next` over stale counts until autovacuum).
            if ids.count >= 1000, let analyze = d.analyzeAfterBulkLoad { try c.execute(SQL(raw: analyze)) }
            return ids
        }
    }

    /// Notes come with their task: id, author and time as exported (a team store's database
    /// still decides the author of a role that may not assert another's).
    func insertNotes(
        _ c: any SQLConnection, _ notes: [(task: TaskID, origin: String, note: TaskRecord.RecordNote, n: Int)],
        at now: Timestamp
    ) throws {
        for (task, origin, note, n) in notes {
            let noteID =
                note.id.isEmpty
                ? now.rowID("nt-")
                : note.id
            if try !c.query("SELECT 1 FROM task_notes WHERE id = \(text: noteID)").isEmpty {
                throw MinskyError(
                    .conflict,
                    "\(origin): note \(n + 1) (\(noteID)) already exists in this store; drop its id to add it as a new note",
                    field: "notes")
            }
            try c.execute(
                """
                INSERT INTO task_notes (id, task_id, author, body, created_at) \
                VALUES (\(text: noteID), \(task), \(text: note.author), \(text: note.body), \(note.createdAt))
                """)
            try track(c, .note, noteID, changed: [])
        }
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
