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
            // Each row is written with its readiness counters (so no pass rewrites every row);
            // blockers outside the file count while they are open.
            let openOutside = try existingIDs(c, Array(plan.outside), open: true)
            // Rows, their history and their edges in multi-row statements, a chunk at a time.
            let tracks = try tracking(c) != nil
            var ids: [TaskID] = []
            ids.reserveCapacity(plan.count)
            var generated: Set<TaskID> = []
            var rows: [TaskItem] = []
            var counters: [(blockers: Int64, subtasks: Int64)] = []
            var events: [(TaskID, String, JSONValue)] = []
            var edges: [(TaskID, TaskID)] = []
            var notes: [(TaskID, String, TaskRecord.RecordNote, Int)] = []
            func flush() throws {
                try insertRows(c, rows, counters: counters)
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
                counters.removeAll(keepingCapacity: true)
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
                counters.append(plan.counters(i, openOutside: openOutside))
                events.append((id, "imported", .object(changes)))
                for dep in r.dependsOn { edges.append((id, dep)) }
                for (n, note) in r.notes.enumerated() { notes.append((id, r.origin, note, n)) }
                if rows.count == 400 { try flush() }
            }
            try flush()
            guard ids.count == plan.count else {
                throw MinskyError(.internal, "the import source changed while it was read; nothing was imported")
            }
            // The parents outside the file gained subtasks.
            try refreshCounters(c, plan.outsideParents)
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

    /// Which of `ids` the store holds (with `open`, those not resolved), a few hundred per statement.
    func existingIDs(_ c: any SQLConnection, _ ids: [TaskID], open: Bool = false) throws -> Set<TaskID> {
        var out: Set<TaskID> = []
        let status: SQL = open ? " AND status IN \(raw: Self.unresolved)" : ""
        for start in stride(from: 0, to: ids.count, by: Self.idsPerStatement) {
            let part = Array(ids[start..<min(ids.count, start + Self.idsPerStatement)])
            for r in try c.query("SELECT id FROM tasks WHERE id IN (\(list: part))\(status)") {
                if let id = r[0].text { out.insert(TaskID(trusted: id)) }
            }
        }
        return out
    }

    /// Inserts task rows with their readiness counters.
    func insertRows(
        _ c: any SQLConnection, _ items: [TaskItem], counters: [(blockers: Int64, subtasks: Int64)]
    ) throws {
        var rows = SQLRows(
            "tasks",
            [
                ("id", .text), ("title", .text), ("description", .text), ("status", .text), ("priority", .integer),
                ("tags", .json), ("metadata", .json), ("parent_id", .text), ("assignee", .text),
                ("claim_expires_at", .timestamp), ("created_at", .timestamp), ("updated_at", .timestamp),
                ("version", .integer), ("acceptance", .json), ("open_blockers", .integer), ("open_subtasks", .integer),
            ])
        for (t, n) in zip(items, counters) {
            rows.append(
                .text(t.id.rawValue), .text(t.title), .text(t.description), .text(t.status.rawValue),
                .int(Int64(t.priority.value)), .text(Self.tagsJSON(t.tags).canonicalJSON()),
                .text(t.metadata.canonicalJSON()), t.parentId.map { .text($0.rawValue) } ?? .null,
                t.assignee.map(SQLValue.text) ?? .null, t.claimExpiresAt.map { .text($0.iso8601) } ?? .null,
                .text(t.createdAt.iso8601), .text(t.updatedAt.iso8601), .int(t.version),
                .text(AcceptanceCriterion.json(t.acceptance).canonicalJSON()), .int(n.blockers), .int(n.subtasks))
        }
        try c.insert(rows)
    }

    /// Inserts dependency edges.
    func insertEdges(_ c: any SQLConnection, _ edges: [(TaskID, TaskID)], at now: Timestamp) throws {
        var rows = SQLRows(
            "task_dependencies", [("task_id", .text), ("depends_on_id", .text), ("created_at", .timestamp)])
        for (task, dep) in edges { rows.append(.text(task.rawValue), .text(dep.rawValue), .text(now.iso8601)) }
        try c.insert(rows)
    }
}
