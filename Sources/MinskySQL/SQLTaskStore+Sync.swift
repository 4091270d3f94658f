import Foundation
import MinskyCore

/// How each synced kind of row maps onto its table: the key columns and the fields (every
/// catalog column but the key and what a store derives itself: version, readiness counters).
struct SyncTable: Sendable {
    let entity: SyncEntity
    let table: String
    let key: [String]
    let fields: [TableSpec.Column]
    /// Every field read back in each dialect's portable form (`SQLDialect.selectList`), built
    /// once: a tracked write reads its whole row with it.
    private let selectLists: [SQLDialect: String]
    func selectList(_ d: SQLDialect) -> String { selectLists[d]! }  // built for every dialect

    init(entity: SyncEntity, table: String, key: [String], fields: [TableSpec.Column]) {
        self.entity = entity
        self.table = table
        self.key = key
        self.fields = fields
        selectLists = Dictionary(uniqueKeysWithValues: SQLDialect.allCases.map { ($0, $0.selectList(fields)) })
    }

    static let derived: Set<String> = ["version", "open_blockers", "open_subtasks"]

    static let all: [SyncEntity: SyncTable] = {
        func make(_ e: SyncEntity, _ name: String) -> SyncTable {
            guard let spec = Schema.catalog.first(where: { $0.name == name }) else {
                preconditionFailure("the schema catalog has no table \(name)")
            }
            return SyncTable(
                entity: e, table: name, key: spec.key,
                fields: spec.columns.filter { !spec.key.contains($0.name) && !derived.contains($0.name) })
        }
        return [
            .task: make(.task, "tasks"), .dependency: make(.dependency, "task_dependencies"),
            .embedding: make(.embedding, "task_embeddings"), .proposal: make(.proposal, "proposals"),
            .note: make(.note, "task_notes"),
        ]
    }()

    static func of(_ e: SyncEntity) -> SyncTable { all[e]! }  // every entity has a table (built above)

    /// Every stamped key of a row: its fields and its presence.
    var stampKeys: Set<String> { Set(fields.map(\.name)).union([SyncChange.presence]) }
    static let keys: [SyncEntity: Set<String>] = all.mapValues(\.stampKeys)
    static func stampKeys(_ e: SyncEntity) -> Set<String>? { keys[e] }

    /// Sync keys join the key columns with "|" (task ids never contain it).
    func keyParts(_ key: String) -> [String] {
        key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
    }

    func keyWhere(_ key: String) -> SQL {
        var s: SQL = ""
        for (i, (column, value)) in zip(self.key, keyParts(key)).enumerated() {
            s += "\(raw: i == 0 ? "" : " AND ")\(raw: column) = \(text: value)"
        }
        return s
    }

    /// The task a row belongs to (for history and counters).
    func taskID(_ key: String) -> TaskID { TaskID(trusted: keyParts(key)[0]) }
}

extension SQLTaskStore {
    // MARK: Values

    func jsonValue(_ v: SQLValue, _ type: SQLDialect.ColumnType) throws -> JSONValue {
        if v.isNull { return .null }
        switch type {
        case .text, .timestamp: return .string(v.text ?? "")
        case .integer: return .int(v.int ?? 0)
        case .json: return try JSONValue.parse(v.text ?? "null")
        case .blob: return .string(Data(d.blobBytes(v)).base64EncodedString())
        }
    }

    /// The synced `fields` of a row selected with `SQLDialect.selectList`, read by name.
    func syncFields(_ r: SQLRow, _ fields: [TableSpec.Column]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for col in fields { out[col.name] = try jsonValue(try r.value(col.name), col.type) }
        return out
    }

    func bind(_ v: JSONValue?, _ type: SQLDialect.ColumnType) -> SQL { "\(value(v, type), as: type)" }

    /// A synced field's value as the column of `type` holds it.
    func value(_ v: JSONValue?, _ type: SQLDialect.ColumnType) -> SQLValue {
        guard let v, !v.isNull else { return .null }
        switch type {
        case .text: return .text(v.stringValue ?? "")
        case .timestamp: return v.stringValue.flatMap(Timestamp.init(iso8601:)).map { .text($0.iso8601) } ?? .null
        case .integer: return .int(v.intValue ?? 0)
        case .json: return .text(v.canonicalJSON())
        case .blob: return .blob([UInt8](Data(base64Encoded: v.stringValue ?? "") ?? Data()))
        }
    }

    /// The row's synced fields, or nil when the table has no such row.
    func syncRow(_ c: any SQLConnection, _ t: SyncTable, _ key: String, only: Set<String>? = nil) throws
        -> [String: JSONValue]?
    {
        let wanted = only.map { o in t.fields.filter { o.contains($0.name) } } ?? t.fields
        let list = only == nil ? t.selectList(d) : d.selectList(wanted)
        guard
            let r = try c.query(
                "SELECT 1 AS present\(raw: wanted.isEmpty ? "" : ", " + list) FROM \(raw: t.table) WHERE \(t.keyWhere(key))"
            ).first
        else { return nil }
        return try syncFields(r, wanted)
    }

    /// The stamps a store holds for a row and whether it is a tombstone (nil: never tracked).
    func syncStamps(_ c: any SQLConnection, _ e: SyncEntity, _ key: String) throws -> (
        stamps: [String: SyncStamp], deleted: Bool
    )? {
        guard
            let r = try c.query(
                "SELECT stamps, deleted FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key)"
            ).first
        else { return nil }
        let stamps = SyncStamp.decode(try JSONValue.parse(r[0].text ?? "{}"), all: SyncTable.stampKeys(e))
        return (stamps, (r[1].int ?? 0) != 0)
    }

    func saveStamps(
        _ c: any SQLConnection, _ e: SyncEntity, _ key: String, _ stamps: [String: SyncStamp], deleted: Bool
    )
        throws
    {
        let json = SyncStamp.encode(stamps, all: SyncTable.stampKeys(e)).canonicalJSON()
        try c.execute(
            """
            INSERT INTO sync_rows (entity, key, stamps, deleted) VALUES (\(text: e.rawValue), \(text: key), \(text: json), \(int: deleted ? 1 : 0)) \
            ON CONFLICT (entity, key) DO UPDATE SET stamps = EXCLUDED.stamps, deleted = EXCLUDED.deleted
            """)
    }

    // MARK: Settings

    func setting(_ c: any SQLConnection, _ name: String) throws -> String? {
        try c.query("SELECT value FROM sync_state WHERE name = \(text: name)").first?[0].text
    }

    func setSetting(_ c: any SQLConnection, _ name: String, _ value: String?) throws {
        guard let value else {
            try c.execute("DELETE FROM sync_state WHERE name = \(text: name)")
            return
        }
        try c.execute(
            "INSERT INTO sync_state (name, value) VALUES (\(text: name), \(text: value)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
        )
    }

    // MARK: Tracking local writes

    /// The replica id and its clock floor when this store tracks changes.
    func tracking(_ c: any SQLConnection) throws -> (replica: String, floor: SyncStamp)? {
        var replica: String?
        var floor = SyncStamp.zero
        for r in try c.query("SELECT name, value FROM sync_state WHERE name IN ('replica', 'clock')") {
            if r[0].text == SyncSetting.replica { replica = r[1].text }
            if r[0].text == SyncSetting.clock, let v = r[1].text { floor = SyncStamp(raw: v) }
        }
        return replica.map { ($0, floor) }
    }

    /// Appends a change to the log with the next sequence number. On PostgreSQL an advisory
    /// lock held to commit makes sequence order commit order, so a reader that has seen
    /// sequence N has seen everything before it.
    func appendLog(_ c: any SQLConnection, _ ch: SyncChange) throws {
        if let lock = d.lockSyncLog { try c.execute(SQL(raw: lock)) }
        try c.execute(
            """
            INSERT INTO sync_log (seq, change_id, replica, entity, key, body, at) \
            SELECT coalesce(max(seq), 0) + 1, \(text: ch.id), \(text: ch.replica), \(text: ch.entity.rawValue), \(text: ch.key), \
            \(text: ch.body(all: SyncTable.stampKeys(ch.entity)).canonicalJSON()), \(now()) FROM sync_log
            """)
    }

    /// Records a local write of `changed` fields (column names) of one row, when tracking: new
    /// stamps for those fields, the row's whole state after the write, and a log entry.
    func track(
        _ c: any SQLConnection, _ e: SyncEntity, _ key: String, changed: [String], deleted: Bool = false,
        was: [String: JSONValue] = [:]
    ) throws {
        // A connection that found the store untracked before does not ask again: the COMMIT
        // checks it in the same round trip (and the transaction is retried if it began to).
        if c.knownUntracked { return try c.requireUntracked() }
        // One statement answers "does this store track?" and reads the row's stamps: the whole
        // cost of tracking on a store that does not sync.
        guard
            let r = try c.query(
                """
                SELECT (SELECT value FROM sync_state WHERE name = 'replica'), (SELECT value FROM sync_state WHERE name = 'clock'), \
                (SELECT stamps FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key)), \
                (SELECT deleted FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key))
                """
            ).first, let replica = r[0].text
        else {
            c.knownUntracked = true
            return
        }
        let floor = r[1].text.map(SyncStamp.init(raw:)) ?? .zero
        let prior: (stamps: [String: SyncStamp], deleted: Bool)? = try r[2].text.map { text in
            return (SyncStamp.decode(try JSONValue.parse(text), all: SyncTable.stampKeys(e)), (r[3].int ?? 0) != 0)
        }
        var stamps = prior?.stamps ?? [:]
        let stamp = syncClock.next(replica: replica, after: Array(stamps.values) + [floor])
        // An edit of a row the other side already has carries only the fields it wrote (and the
        // merged ones): a smaller entry, and a narrower read.
        let full = deleted || prior == nil || prior?.deleted == true || e.atomic
        let fields =
            deleted
            ? [:]
            : (try syncRow(c, SyncTable.of(e), key, only: full ? nil : Set(changed).union(SyncEntity.maxFields)) ?? [:])
        let written: Set<String>
        if deleted {
            written = [SyncChange.presence]
        } else if prior == nil || prior?.deleted == true {
            written = Set(fields.keys).union([SyncChange.presence])
        } else if e.atomic {
            written = Set(fields.keys)
        } else {
            written = Set(changed)
        }
        var bases: [String: SyncStamp] = [:]
        for f in written {
            bases[f] = stamps[f] ?? .zero
            stamps[f] = stamp
        }
        if !deleted && stamps["updated_at"] == nil && fields["updated_at"] != nil { stamps["updated_at"] = stamp }
        try saveStamps(c, e, key, stamps, deleted: deleted)
        try appendLog(
            c,
            SyncChange(
                id: SyncChange.newID(), replica: replica, entity: e, key: key, deleted: deleted, fields: fields,
                stamps: stamps, changed: bases, was: was.filter { written.contains($0.key) }))
    }

    /// Tracks a task change the history has just recorded (`kind` and `changes` as the event has them).
    func trackEvent(_ c: any SQLConnection, _ id: TaskID, _ kind: String, _ changes: JSONValue) throws {
        switch kind {
        case "created", "imported":
            try track(c, .task, id.rawValue, changed: [])
            for dep in changes["dependsOn"]?["after"]?.arrayValue ?? [] {
                if let dep = dep.stringValue, try syncRow(c, SyncTable.of(.dependency), id.rawValue + "|" + dep) != nil
                {
                    try track(c, .dependency, id.rawValue + "|" + dep, changed: [])
                }
            }
        case "deleted":
            try track(c, .task, id.rawValue, changed: [], deleted: true)
        case "dependency_added":
            if let dep = changes["dependsOn"]?["after"]?.stringValue {
                try track(c, .dependency, id.rawValue + "|" + dep, changed: [])
            }
        case "dependency_removed":
            if let dep = changes["dependsOn"]?["before"]?.stringValue {
                try track(c, .dependency, id.rawValue + "|" + dep, changed: [], deleted: true)
            }
        default:
            let columns = (changes.objectValue ?? [:]).keys.compactMap { taskColumns[$0] }
            // A map's value before the edit travels with it, so the remote can merge by key.
            var was: [String: JSONValue] = [:]
            if let m = changes["metadata"] { was["metadata"] = m["before"] ?? .object([:]) }
            try track(c, .task, id.rawValue, changed: columns + ["updated_at"], was: was)
        }
    }
}

/// Task JSON names → columns, and back (built once).
let taskColumns: [String: String] = [
    "title": "title", "description": "description", "status": "status", "priority": "priority", "tags": "tags",
    "metadata": "metadata", "parentId": "parent_id", "assignee": "assignee",
    "claimExpiresAt": "claim_expires_at", "acceptance": "acceptance", "paths": "paths", "evidence": "evidence",
]
let taskJSONNames = Dictionary(uniqueKeysWithValues: taskColumns.map { ($1, $0) })

extension SQLTaskStore {

    // MARK: Writing rows that came from elsewhere

    func hasVectorColumn(_ c: any SQLConnection) throws -> Bool {
        try !c.query(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'task_embeddings' AND column_name = 'embedding'"
        ).isEmpty
    }

    /// Deletes a row that sync removes. A task takes its subtree with it; every task removed is
    /// returned so its tombstone can be recorded.
    func deleteSyncRow(_ c: any SQLConnection, _ t: SyncTable, _ key: String) throws -> [TaskID] {
        guard t.entity == .task else {
            try c.execute("DELETE FROM \(raw: t.table) WHERE \(t.keyWhere(key))")
            return []
        }
        let rows = try c.query(
            """
            WITH RECURSIVE sub(id, depth) AS (SELECT id, 0 FROM tasks WHERE id = \(text: key) \
            UNION ALL SELECT t.id, sub.depth + 1 FROM tasks t JOIN sub ON t.parent_id = sub.id) SELECT id, depth FROM sub ORDER BY depth DESC
            """)
        let ids = rows.compactMap { $0[0].text.map(TaskID.init(trusted:)) }
        var affected = Set(try ids.flatMap { try dependents(c, $0) })
        if let p = try parentOf(c, TaskID(trusted: key)) { affected.insert(p) }
        affected.subtract(ids)
        for id in ids { try c.execute("DELETE FROM tasks WHERE id = \(id)") }
        try refreshCounters(c, affected)
        return ids
    }

    /// The history event for a sync-applied change (tasks and their edges), so watchers see it.
    func syncEvent(_ e: SyncEntity, _ key: String, before: [String: JSONValue]?, after: [String: JSONValue]?)
        -> (TaskID, String, JSONValue)?
    {
        let t = SyncTable.of(e)
        switch e {
        case .task:
            var changes: [String: JSONValue] = [:]
            let names = taskJSONNames
            for col in t.fields.map(\.name)
            where !SyncEntity.maxFields.contains(col) && !SyncEntity.fixedFields.contains(col) {
                let a = before?[col] ?? .null
                let b = after?[col] ?? .null
                if a != b || (before == nil) != (after == nil) {
                    var ch: [String: JSONValue] = [:]
                    if before != nil, !a.isNull { ch["before"] = a }
                    if after != nil, !b.isNull { ch["after"] = b }
                    changes[names[col] ?? col] = .object(ch)
                }
            }
            let kind = after == nil ? "deleted" : (before == nil ? "created" : "updated")
            if kind == "updated" && changes.isEmpty { return nil }
            return (t.taskID(key), "synced_" + kind, .object(changes))
        case .dependency:
            let parts = t.keyParts(key)
            guard parts.count == 2, (before == nil) != (after == nil) else { return nil }
            let side = after == nil ? "before" : "after"
            return (
                TaskID(trusted: parts[0]), after == nil ? "synced_dependency_removed" : "synced_dependency_added",
                ["dependsOn": .object([side: .string(parts[1])])]
            )
        case .note:
            guard before == nil, let after, let task = after["task_id"]?.stringValue else { return nil }
            return (TaskID(trusted: task), "synced_note_added", ["notes": ["after": after["body"] ?? .null]])
        case .embedding, .proposal:
            return nil
        }
    }

    // MARK: SyncPeer

    public func syncReplica() async throws -> String? {
        try await read { [self] c in try tracking(c)?.replica }
    }

    public func syncSetting(_ name: String) async throws -> String? {
        try await read { [self] c in try setting(c, name) }
    }

    public func syncSetSetting(_ name: String, _ value: String?) async throws {
        try await write { [self] c in try setSetting(c, name, value) }
    }

    public func syncStartTracking(remote: String?, strategy: SyncStrategy?) async throws -> String {
        try await write { [self] c in
            if let remote { try setSetting(c, SyncSetting.remote, remote) }
            if let strategy { try setSetting(c, SyncSetting.strategy, strategy.rawValue) }
            if let r = try tracking(c)?.replica { return r }
            let replica = "r" + String(UInt64.random(in: 0..<(1 << 50)), radix: 36)
            // A plain insert (no upsert): a team member may start tracking, never change the id.
            try c.execute(
                "INSERT INTO sync_state (name, value) VALUES (\(text: SyncSetting.replica), \(text: replica))")
            c.knownUntracked = false
            // What the store already holds becomes changes, so it reaches the other side.
            for e in SyncEntity.allCases {
                let t = SyncTable.of(e)
                let keyExpr = t.key.count == 1 ? t.key[0] : t.key.joined(separator: " || '|' || ")
                let order = e == .task ? "created_at, id" : t.key.joined(separator: ", ")
                for r in try c.query("SELECT \(raw: keyExpr) FROM \(raw: t.table) ORDER BY \(raw: order)") {
                    if let k = r[0].text { try track(c, e, k, changed: []) }
                }
            }
            return replica
        }
    }

    public func syncStopTracking() async throws {
        try await write { c in
            for t in Schema.syncTables {
                try c.execute("DELETE FROM \(raw: t)")
            }
        }
    }

    static func decodeLog(_ r: SQLRow) throws -> SyncChange {
        try SyncChange(
            seq: try r.int("seq"), id: try r.text("change_id"), replica: try r.text("replica"),
            entity: try r.text("entity"), key: try r.text("key"), body: try r.json("body"), all: SyncTable.stampKeys)
    }

    func logEntries(_ c: any SQLConnection, after seq: Int64, limit: Int) throws -> [SyncChange] {
        try c.query(
            "SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE seq > \(int: seq) ORDER BY seq LIMIT \(raw: String(limit))"
        ).map(Self.decodeLog)
    }

    /// The log entries of `rows` after `seq`, in log order, a few statements per kind of row
    /// (by the log's (entity, key, seq) index).
    func logEntries(_ c: any SQLConnection, rows: [(SyncEntity, String)], after seq: Int64) throws -> [SyncChange] {
        var out: [SyncChange] = []
        for (e, keys) in Dictionary(grouping: rows, by: { $0.0 }) {
            let all = Array(Set(keys.map(\.1)))
            for start in stride(from: 0, to: all.count, by: 400) {
                let part = Array(all[start..<min(all.count, start + 400)])
                out += try c.query(
                    """
                    SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE entity = \(text: e.rawValue) \
                    AND key IN (\(list: part)) AND seq > \(int: seq)
                    """
                ).map(Self.decodeLog)
            }
        }
        return out.sorted { $0.seq < $1.seq }
    }

    public func syncLocalChanges(after seq: Int64, limit: Int) async throws -> [SyncChange] {
        try await read { [self] c in try logEntries(c, after: seq, limit: limit) }
    }

    public func syncPendingCount() async throws -> Int {
        try await read { [self] c in
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            return Int(try c.query("SELECT count(*) FROM sync_log WHERE seq > \(int: pushed)").first?[0].int ?? 0)
        }
    }

    public func syncRowState(entity: SyncEntity, key: String) async throws -> SyncRowReport {
        try await read { [self] c in
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            let known = try syncStamps(c, entity, key)
            var pending: Set<String> = []
            for r in try c.query(
                """
                SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE entity = \(text: entity.rawValue) \
                AND key = \(text: key) AND seq > \(int: pushed)
                """)
            {
                pending.formUnion(try Self.decodeLog(r).changed.keys)
            }
            let conflicts = try conflictsOf(c, entity, key)
            let state: SyncRowReport.State =
                !conflicts.isEmpty ? .conflict : (!pending.isEmpty ? .pending : (known == nil ? .untracked : .synced))
            return SyncRowReport(
                state: state, deleted: known?.deleted ?? false, stamps: known?.stamps ?? [:], pendingFields: pending,
                conflictFields: Set(conflicts.map(\.field)))
        }
    }

    /// The stamps this store holds for a row (empty when it never tracked it).
    public func syncStampsOf(_ e: SyncEntity, _ key: String) async throws -> [String: SyncStamp] {
        try await read { [self] c in try syncStamps(c, e, key)?.stamps ?? [:] }
    }

    public func syncSnapshot() async throws -> [String: [String: JSONValue]] {
        try await read { [self] c in
            var out: [String: [String: JSONValue]] = [:]
            for e in SyncEntity.allCases {
                let t = SyncTable.of(e)
                let keyExpr = t.key.count == 1 ? t.key[0] : t.key.joined(separator: " || '|' || ")
                for r in try c.query(
                    "SELECT \(raw: keyExpr) AS row_key, \(raw: t.selectList(d)) FROM \(raw: t.table)")
                {
                    out["\(e.rawValue)/\(try r.text("row_key"))"] = try syncFields(r, t.fields)
                }
            }
            return out
        }
    }
}
extension SQLTaskStore: SyncPeer {}
