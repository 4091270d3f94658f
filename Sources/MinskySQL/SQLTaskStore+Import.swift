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
            for sql in cache?.large ?? [] { try c.execute(SQL(raw: sql)) }
            defer { for sql in cache?.usual ?? [] { _ = try? c.execute(SQL(raw: sql)) } }
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
            // Records become rows on a thread of their own while this one writes the chunk before
            // (parsing and rendering cost as much as the database's work: on two cores they overlap).
            let tracks = try tracking(c) != nil
            let who = try d.databaseActor.map { try c.query(SQL(raw: "SELECT " + $0)).first?[0].text ?? actor } ?? actor
            let context = ImportChunk.Context(
                plan: plan, openOutside: openOutside, now: now, actor: who, tracks: tracks)
            var ids = [TaskID?](repeating: nil, count: plan.count)
            var generated: Set<TaskID> = []
            let pipe = ImportPipe(source: source, context: context)
            defer { pipe.stop() }
            while var chunk = try pipe.next() {
                // Records without an id get one here, where the store can be asked.
                for (position, r) in chunk.waiting {
                    var length = TaskID.defaultSuffixLength
                    var made = makeID(idPrefix, length)
                    while try plan.given[made] != nil || generated.contains(made) || exists(c, made) {
                        length += 1
                        made = makeID(idPrefix, length)
                    }
                    generated.insert(made)
                    chunk.add(r, id: made, position: position, context)
                }
                try c.insert(chunk.tasks)
                try c.insert(chunk.events)
                try c.insert(chunk.edges)
                // Sync tracking, only on a store that tracks (one statement said whether it does).
                for (id, kind, changes) in chunk.tracked { try trackEvent(c, id, kind, changes) }
                for (task, dep) in chunk.trackedEdges {
                    try track(c, .dependency, task.rawValue + "|" + dep.rawValue, changed: [])
                }
                try insertNotes(c, chunk.notes, at: now)
                for (position, id) in chunk.ids {
                    guard position < ids.count else { throw ImportPipe.sourceChanged }
                    ids[position] = id
                }
            }
            let written = ids.compactMap { $0 }
            guard written.count == plan.count else { throw ImportPipe.sourceChanged }
            // The parents outside the file gained subtasks.
            try refreshCounters(c, plan.outsideParents)
            try flushTextIndexIfFull(c)
            // A bulk load changes the tables' shape: the planner's statistics are refreshed at
            // once (PostgreSQL would otherwise plan `next` over stale counts until autovacuum).
            if written.count >= 1000, let analyze = d.analyzeAfterBulkLoad { try c.execute(SQL(raw: analyze)) }
            return written
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
}
