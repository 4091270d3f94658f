import Foundation
import MinskyCore

/// One transaction's worth of sync work: rows are read for the whole batch at once, kept in
/// memory as they change, and written back with multi-row statements, so a change costs a few
/// bound rows rather than a dozen round trips. Order is kept where it matters: a buffered write
/// is flushed before a delete, a cycle check or a second write of the same row.
final class SyncBatch<Driver: SQLDriver> {
    let store: SQLTaskStore<Driver>
    let c: any SQLConnection
    var d: SQLDialect { store.driver.dialect }
    /// entity/key → the row as this transaction has it (nil: neither a row nor a record of one).
    var states: [String: SyncRowState?] = [:]
    var buffered: [(table: SyncTable, key: String, fields: [String: JSONValue], exists: Bool)] = []
    var bufferedKeys: Set<String> = []
    var stamps: [String: (entity: SyncEntity, key: String, stamps: [String: SyncStamp], deleted: Bool)] = [:]
    var stampOrder: [String] = []
    var events: [(TaskID, String, JSONValue)] = []
    var log: [SyncChange] = []
    var affected: Set<TaskID> = []
    var resolvedChanged: Set<TaskID> = []
    let now: Timestamp
    /// Rows per multi-row statement.
    static var chunk: Int { 400 }

    init(store: SQLTaskStore<Driver>, c: any SQLConnection, now: Timestamp) {
        self.store = store
        self.c = c
        self.now = now
    }

    static func id(_ e: SyncEntity, _ key: String) -> String { "\(e.rawValue)/\(key)" }

    // MARK: Reading

    /// Reads the rows and stamps of `keys` not read yet, a few statements per entity.
    func load(_ keys: [(SyncEntity, String)]) throws {
        var wanted: [SyncEntity: Set<String>] = [:]
        for (e, k) in keys where states[Self.id(e, k)] == nil { wanted[e, default: []].insert(k) }
        for (e, ks) in wanted {
            let t = SyncTable.of(e)
            let all = Array(ks)
            var rows: [String: [String: JSONValue]] = [:]
            var known: [String: ([String: SyncStamp], Bool)] = [:]
            for start in stride(from: 0, to: all.count, by: Self.chunk) {
                let part = Array(all[start..<min(all.count, start + Self.chunk)])
                let firsts = Array(Set(part.map { t.keyParts($0)[0] }))
                let keys = t.key.enumerated().map { "\($0.element) AS key_\($0.offset)" }.joined(separator: ", ")
                for r in try c.query(
                    "SELECT \(raw: keys), \(raw: t.selectList(d)) FROM \(raw: t.table) WHERE \(raw: t.key[0]) IN (\(list: firsts))"
                ) {
                    let key = try t.key.indices.map { try r.text("key_\($0)") }.joined(separator: "|")
                    guard ks.contains(key) else { continue }
                    rows[key] = try store.syncFields(r, t.fields)
                }
                for r in try c.query(
                    "SELECT key, stamps, deleted FROM sync_rows WHERE entity = \(text: e.rawValue) AND key IN (\(list: part))"
                ) {
                    let s = SyncStamp.decode(try JSONValue.parse(r[1].text ?? "{}"), all: t.stampKeys)
                    known[r[0].text ?? ""] = (s, (r[2].int ?? 0) != 0)
                }
            }
            for k in ks {
                let fields = rows[k]
                let stamps = known[k]
                states[Self.id(e, k)] =
                    fields == nil && stamps == nil
                    ? .some(nil) : SyncRowState(fields: fields ?? [:], stamps: stamps?.0 ?? [:], deleted: fields == nil)
            }
        }
    }

    func state(_ e: SyncEntity, _ key: String) throws -> SyncRowState? {
        if let s = states[Self.id(e, key)] { return s }
        try load([(e, key)])
        return states[Self.id(e, key)] ?? nil
    }

    func taskExists(_ id: TaskID) throws -> Bool {
        guard let s = try state(.task, id.rawValue) else { return false }
        return !s.deleted
    }

    /// A task the row refers to that this store does not have, named, or nil.
    func missingReference(_ e: SyncEntity, _ key: String, _ fields: [String: JSONValue]) throws -> String? {
        let t = SyncTable.of(e)
        var refs: [TaskID] = []
        switch e {
        case .task: refs = [fields["parent_id"]?.stringValue.map(TaskID.init(trusted:))].compactMap { $0 }
        case .dependency: refs = t.keyParts(key).map(TaskID.init(trusted:))
        case .proposal:
            // A plan stored before its root exists refers to no task.
            refs = [fields["task_id"]?.stringValue.map(TaskID.init(trusted:))].compactMap { $0 }
        case .embedding, .note:
            refs = [fields["task_id"]?.stringValue.map(TaskID.init(trusted:)) ?? t.taskID(key)]
        }
        for id in refs where !(try taskExists(id)) { return "task \(id) was deleted on the remote" }
        return nil
    }

    /// Why the remote cannot hold the row as `fields` (a missing task, a cycle), or nil.
    func refusal(_ e: SyncEntity, _ key: String, _ fields: [String: JSONValue], before: [String: JSONValue]?) throws
        -> String?
    {
        if let missing = try missingReference(e, key, fields) { return missing }
        switch e {
        case .task:
            guard let p = fields["parent_id"]?.stringValue.map(TaskID.init(trusted:)),
                before?["parent_id"] != fields["parent_id"], before != nil
            else { return nil }
            try flush()
            do {
                try DependencyGraph.checkNewParent(task: TaskID(trusted: key), parent: p) { try store.parentOf(c, $0) }
            } catch let err as MinskyError { return err.message }
            return nil
        case .dependency:
            guard before == nil else { return nil }
            let parts = SyncTable.of(e).keyParts(key).map(TaskID.init(trusted:))
            guard parts.count == 2 else { return "malformed dependency key \(key)" }
            try flush()
            if let lock = d.lockDependencyGraph { try c.execute(SQL(raw: lock)) }
            do {
                try DependencyGraph.checkNewEdge(task: parts[0], dependsOn: parts[1]) { try store.blockers(c, $0) }
            } catch let err as MinskyError { return err.message }
            if try store.parentOf(c, parts[0]) == parts[1] {
                return "\(parts[0]) is a subtask of \(parts[1]) and cannot wait for it"
            }
            return nil
        case .embedding, .proposal, .note:
            return nil
        }
    }

    // MARK: Writing

    /// Writes the row as `fields` (buffered); records what the history and counters need.
    func write(_ e: SyncEntity, _ key: String, _ fields: [String: JSONValue], before: [String: JSONValue]?) throws {
        let id = Self.id(e, key)
        if bufferedKeys.contains(id) { try flush() }
        buffered.append((SyncTable.of(e), key, fields, before != nil))
        bufferedKeys.insert(id)
        var s = try state(e, key) ?? SyncRowState(fields: [:], stamps: [:], deleted: false)
        s.fields = fields
        s.deleted = false
        states[id] = s
        if let ev = store.syncEvent(e, key, before: before, after: fields) { events.append(ev) }
        let task = SyncTable.of(e).taskID(key)
        switch e {
        case .task:
            // A task's own counters count its blockers and subtasks, which this write does not
            // change; its parents' count it, and its dependents' count it while it is unresolved.
            let was = before?["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:))?.isResolved
            let isNow = fields["status"]?.stringValue.flatMap(TaskStatus.init(rawValue:))?.isResolved
            let moved = before?["parent_id"] != fields["parent_id"]
            if was != isNow || moved {
                for p in [before?["parent_id"]?.stringValue, fields["parent_id"]?.stringValue].compactMap({ $0 }) {
                    affected.insert(TaskID(trusted: p))
                }
            }
            if before != nil && was != isNow { resolvedChanged.insert(task) }
        case .dependency:
            affected.insert(task)
        case .embedding, .proposal, .note:
            break
        }
    }

    /// Deletes the row now (a task takes its subtree); returns the tasks removed.
    func delete(_ e: SyncEntity, _ key: String, before: [String: JSONValue]?) throws -> [TaskID] {
        try flush()
        let removed = try store.deleteSyncRow(c, SyncTable.of(e), key)
        if e == .task {
            for id in removed {
                if var s = states[Self.id(.task, id.rawValue)] ?? nil {
                    s.deleted = true
                    states[Self.id(.task, id.rawValue)] = s
                } else {
                    states[Self.id(.task, id.rawValue)] = SyncRowState(fields: [:], stamps: [:], deleted: true)
                }
                events.append((id, "synced_deleted", [:]))
            }
            // Edges, embeddings and proposals of removed tasks went with them (foreign keys):
            // read them again if they are needed.
            states = states.filter { $0.key.hasPrefix("task/") }
        } else {
            var s = try state(e, key) ?? SyncRowState(fields: [:], stamps: [:], deleted: true)
            s.deleted = true
            states[Self.id(e, key)] = s
            if let ev = store.syncEvent(e, key, before: before, after: nil) { events.append(ev) }
            if e == .dependency { affected.insert(SyncTable.of(e).taskID(key)) }
        }
        return removed
    }

    func setStamps(_ e: SyncEntity, _ key: String, _ s: [String: SyncStamp], deleted: Bool) {
        let id = Self.id(e, key)
        if stamps[id] == nil { stampOrder.append(id) }
        stamps[id] = (e, key, s, deleted)
        if var st = states[id] ?? nil {
            st.stamps = s
            states[id] = st
        }
    }

    /// Logs the row's state as this transaction leaves it (the remote's results).
    func logResult(_ e: SyncEntity, _ key: String, stamps s: [String: SyncStamp], replica: String, origin: String?)
        throws
    {
        let st = try state(e, key)
        let live = st.map { !$0.deleted } ?? false
        log.append(
            SyncChange(
                id: SyncChange.newID(), replica: replica, entity: e, key: key, deleted: !live,
                fields: live ? (st?.fields ?? [:]) : [:], stamps: s, changed: [:], origin: origin))
    }

    /// Writes every buffered row, grouped by table in multi-row upserts.
    func flush() throws {
        guard !buffered.isEmpty else { return }
        var i = 0
        while i < buffered.count {
            let t = buffered[i].table
            var j = i
            while j < buffered.count && buffered[j].table.table == t.table { j += 1 }
            try upsert(t, Array(buffered[i..<j]))
            i = j
        }
        buffered.removeAll()
        bufferedKeys.removeAll()
    }

    func upsert(_ t: SyncTable, _ rows: [(table: SyncTable, key: String, fields: [String: JSONValue], exists: Bool)])
        throws
    {
        var table = SQLRows(t.table, t.key.map { ($0, .text) } + t.fields.map { ($0.name, $0.type) })
        for r in rows {
            table.append(
                row: t.keyParts(r.key).map(SQLValue.text) + t.fields.map { store.value(r.fields[$0.name], $0.type) })
        }
        var sets = t.fields.map { "\($0.name) = EXCLUDED.\($0.name)" }
        if t.entity == .task { sets.append("version = \(t.table).version + 1") }
        if t.entity == .embedding && d.mayHaveVectorColumn, try store.hasVectorColumn(c) {
            sets.append("embedding = NULL")
        }
        let conflict = "ON CONFLICT (\(t.key.joined(separator: ", ")))"
        // On the shared store notes are append-only (a team's members may insert them, never
        // update them): a note already there stays as it is. A replica takes the note as the
        // remote stored it (its author and time are the database's).
        try c.upsert(
            table,
            onConflict: t.entity == .note && d.stampsNotes
                ? "\(conflict) DO NOTHING" : "\(conflict) DO UPDATE SET \(sets.joined(separator: ", "))")
    }

    /// Writes everything left: rows, readiness counters, history, stamps and (remote) the log.
    /// What needs the database's answers is asked before the rows go, so the rows PostgreSQL
    /// takes without a wait (`executeSoon`) are written while the rest is prepared.
    func finish(appendLog: Bool) throws {
        let logging = appendLog && !log.isEmpty
        let who = try store.bulkActor(c, count: events.count)
        var seq = logging ? try c.query("SELECT coalesce(max(seq), 0) FROM sync_log").first?[0].int ?? 0 : 0
        try flush()
        let history = who.map { store.eventRows(events, at: now, actor: $0) }
        var rowStamps = SQLRows(
            "sync_rows", [("entity", .text), ("key", .text), ("stamps", .text), ("deleted", .integer)])
        for r in stampOrder.compactMap({ stamps[$0] }) {
            let json = SyncStamp.encode(r.stamps, all: SyncTable.stampKeys(r.entity)).canonicalJSON()
            rowStamps.append(.text(r.entity.rawValue), .text(r.key), .text(json), .int(r.deleted ? 1 : 0))
        }
        // A team store's database decides a note's author and time (a trigger): the log says
        // what it stored, read back, so every replica ends with the same note.
        if logging && d.stampsNotes {
            for i in log.indices where log[i].entity == .note && !log[i].deleted {
                if let row = try store.syncRow(c, SyncTable.of(.note), log[i].key) { log[i].fields = row }
            }
        }
        var entries = SQLRows(
            "sync_log",
            [
                ("seq", .integer), ("change_id", .text), ("replica", .text), ("entity", .text), ("key", .text),
                ("body", .text), ("at", .timestamp),
            ])
        if logging {
            for ch in log {
                seq += 1
                entries.append(
                    .int(seq), .text(ch.id), .text(ch.replica), .text(ch.entity.rawValue), .text(ch.key),
                    .text(ch.body(all: SyncTable.stampKeys(ch.entity)).canonicalJSON()), .text(now.iso8601))
            }
        }

        var ids = affected
        let changed = Array(resolvedChanged)
        for start in stride(from: 0, to: changed.count, by: Self.chunk) {
            let part = Array(changed[start..<min(changed.count, start + Self.chunk)])
            for r in try c.query("SELECT task_id FROM task_dependencies WHERE depends_on_id IN (\(list: part))") {
                if let t = r[0].text { ids.insert(TaskID(trusted: t)) }
            }
        }
        let all = ids.sorted()
        for start in stride(from: 0, to: all.count, by: Self.chunk) {
            try store.refreshCounters(c, Set(all[start..<min(all.count, start + Self.chunk)]))
        }
        if let history { try c.insert(history) } else { try store.insertEvents(c, events, at: now) }
        if !rowStamps.isEmpty {
            try c.upsert(
                rowStamps,
                onConflict:
                    "ON CONFLICT (entity, key) DO UPDATE SET stamps = EXCLUDED.stamps, deleted = EXCLUDED.deleted")
        }
        // Appended in bulk (COPY on PostgreSQL).
        if logging { try c.insert(entries) }
    }
}
