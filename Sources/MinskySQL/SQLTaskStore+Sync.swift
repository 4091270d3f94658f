import Foundation
import MinskyCore

/// How each synced kind of row maps onto its table: the key columns and the fields (every
/// catalog column but the key and what a store derives itself: version, readiness counters).
struct SyncTable: Sendable {
    let entity: SyncEntity
    let table: String
    let key: [String]
    let fields: [TableSpec.Column]

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

    func bind(_ v: JSONValue?, _ type: SQLDialect.ColumnType) -> SQL {
        guard let v, !v.isNull else { return "\(SQLValue.null, as: type)" }
        switch type {
        case .text: return "\(text: v.stringValue ?? "")"
        case .timestamp: return "\(v.stringValue.flatMap(Timestamp.init(iso8601:)))"
        case .integer: return "\(int: v.intValue ?? 0)"
        case .json: return "\(json: v)"
        case .blob: return "\(blob: [UInt8](Data(base64Encoded: v.stringValue ?? "") ?? Data()))"
        }
    }

    /// The row's synced fields, or nil when the table has no such row.
    func syncRow(_ c: any SQLConnection, _ t: SyncTable, _ key: String, only: Set<String>? = nil) throws
        -> [String: JSONValue]?
    {
        let wanted = only.map { o in t.fields.filter { o.contains($0.name) } } ?? t.fields
        let cols = (["1"] + wanted.map { d.read($0.name, as: $0.type) }).joined(separator: ", ")
        guard let r = try c.query(d, "SELECT \(raw: cols) FROM \(raw: t.table) WHERE \(t.keyWhere(key))").first else {
            return nil
        }
        var out: [String: JSONValue] = [:]
        for (i, col) in wanted.enumerated() { out[col.name] = try jsonValue(r[i + 1], col.type) }
        return out
    }

    /// The stamps a store holds for a row and whether it is a tombstone (nil: never tracked).
    func syncStamps(_ c: any SQLConnection, _ e: SyncEntity, _ key: String) throws -> (
        stamps: [String: SyncStamp], deleted: Bool
    )? {
        guard
            let r = try c.query(
                d, "SELECT stamps, deleted FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key)"
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
            d,
            """
            INSERT INTO sync_rows (entity, key, stamps, deleted) VALUES (\(text: e.rawValue), \(text: key), \(text: json), \(int: deleted ? 1 : 0)) \
            ON CONFLICT (entity, key) DO UPDATE SET stamps = EXCLUDED.stamps, deleted = EXCLUDED.deleted
            """)
    }

    // MARK: Settings

    func setting(_ c: any SQLConnection, _ name: String) throws -> String? {
        try c.query(d, "SELECT value FROM sync_state WHERE name = \(text: name)").first?[0].text
    }

    func setSetting(_ c: any SQLConnection, _ name: String, _ value: String?) throws {
        guard let value else {
            try c.execute(d, "DELETE FROM sync_state WHERE name = \(text: name)")
            return
        }
        try c.execute(
            d,
            "INSERT INTO sync_state (name, value) VALUES (\(text: name), \(text: value)) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
        )
    }

    // MARK: Tracking local writes

    /// The replica id and its clock floor when this store tracks changes.
    func tracking(_ c: any SQLConnection) throws -> (replica: String, floor: SyncStamp)? {
        var replica: String?
        var floor = SyncStamp.zero
        for r in try c.query(d, "SELECT name, value FROM sync_state WHERE name IN ('replica', 'clock')") {
            if r[0].text == SyncSetting.replica { replica = r[1].text }
            if r[0].text == SyncSetting.clock, let v = r[1].text { floor = SyncStamp(raw: v) }
        }
        return replica.map { ($0, floor) }
    }

    /// Appends a change to the log with the next sequence number. On PostgreSQL an advisory
    /// lock held to commit makes sequence order commit order, so a reader that has seen
    /// sequence N has seen everything before it.
    func appendLog(_ c: any SQLConnection, _ ch: SyncChange) throws {
        if d == .postgres { try c.execute(d, SQL(raw: AdvisoryLock.syncLog.transactionLock)) }
        try c.execute(
            d,
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
        // One statement answers "does this store track?" and reads the row's stamps: the whole
        // cost of tracking on a store that does not sync.
        guard
            let r = try c.query(
                d,
                """
                SELECT (SELECT value FROM sync_state WHERE name = 'replica'), (SELECT value FROM sync_state WHERE name = 'clock'), \
                (SELECT stamps FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key)), \
                (SELECT deleted FROM sync_rows WHERE entity = \(text: e.rawValue) AND key = \(text: key))
                """
            ).first, let replica = r[0].text
        else { return }
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
    "claimExpiresAt": "claim_expires_at", "acceptance": "acceptance",
]
let taskJSONNames = Dictionary(uniqueKeysWithValues: taskColumns.map { ($1, $0) })

extension SQLTaskStore {

    // MARK: Writing rows that came from elsewhere

    func hasVectorColumn(_ c: any SQLConnection) throws -> Bool {
        try !c.query(
            d,
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'task_embeddings' AND column_name = 'embedding'"
        ).isEmpty
    }

    /// Deletes a row that sync removes. A task takes its subtree with it; every task removed is
    /// returned so its tombstone can be recorded.
    func deleteSyncRow(_ c: any SQLConnection, _ t: SyncTable, _ key: String) throws -> [TaskID] {
        guard t.entity == .task else {
            try c.execute(d, "DELETE FROM \(raw: t.table) WHERE \(t.keyWhere(key))")
            return []
        }
        let rows = try c.query(
            d,
            """
            WITH RECURSIVE sub(id, depth) AS (SELECT id, 0 FROM tasks WHERE id = \(text: key) \
            UNION ALL SELECT t.id, sub.depth + 1 FROM tasks t JOIN sub ON t.parent_id = sub.id) SELECT id, depth FROM sub ORDER BY depth DESC
            """)
        let ids = rows.compactMap { $0[0].text.map(TaskID.init(trusted:)) }
        var affected = Set(try ids.flatMap { try dependents(c, $0) })
        if let p = try parentOf(c, TaskID(trusted: key)) { affected.insert(p) }
        affected.subtract(ids)
        for id in ids { try c.execute(d, "DELETE FROM tasks WHERE id = \(id)") }
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
                d, "INSERT INTO sync_state (name, value) VALUES (\(text: SyncSetting.replica), \(text: replica))")
            // What the store already holds becomes changes, so it reaches the other side.
            for e in SyncEntity.allCases {
                let t = SyncTable.of(e)
                let keyExpr = t.key.count == 1 ? t.key[0] : t.key.joined(separator: " || '|' || ")
                let order = e == .task ? "created_at, id" : t.key.joined(separator: ", ")
                for r in try c.query(d, "SELECT \(raw: keyExpr) FROM \(raw: t.table) ORDER BY \(raw: order)") {
                    if let k = r[0].text { try track(c, e, k, changed: []) }
                }
            }
            return replica
        }
    }

    public func syncStopTracking() async throws {
        try await write { [self] c in
            for t in Schema.syncTables {
                try c.execute(d, "DELETE FROM \(raw: t)")
            }
        }
    }

    static func decodeLog(_ r: [SQLValue]) throws -> SyncChange {
        try SyncChange(
            seq: r[0].int ?? 0, id: r[1].text ?? "", replica: r[2].text ?? "", entity: r[3].text ?? "",
            key: r[4].text ?? "", body: try JSONValue.parse(r[5].text ?? "{}"), all: SyncTable.stampKeys)
    }

    func logEntries(_ c: any SQLConnection, after seq: Int64, limit: Int) throws -> [SyncChange] {
        try c.query(
            d,
            "SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE seq > \(int: seq) ORDER BY seq LIMIT \(raw: String(limit))"
        ).map(Self.decodeLog)
    }

    public func syncLocalChanges(after seq: Int64, limit: Int) async throws -> [SyncChange] {
        try await read { [self] c in try logEntries(c, after: seq, limit: limit) }
    }

    /// The remote's log after `seq`, verified against the rows it describes. Anyone who may
    /// write the store may append to its log, so an entry is trusted only when the rows agree:
    /// for every row in the batch, replaying its entries to the end of the log must give the row
    /// the tables hold now (a deleted row gone, every field the entries wrote equal). A row that
    /// does not verify is sent as the tables hold it, and the entries that disagreed are named.
    /// One snapshot: writers log and write in one transaction, so a genuine log always verifies.
    public func syncRemoteLog(after seq: Int64, limit: Int) async throws -> SyncRemoteBatch {
        let now = now()
        return try await read { [self] c in
            let entries = try logEntries(c, after: seq, limit: limit)
            guard let last = entries.last else { return SyncRemoteBatch(changes: [], refused: [], position: seq) }
            let remoteReplica = try tracking(c)?.replica ?? ""
            var order: [String] = []
            var byRow: [String: [SyncChange]] = [:]
            for ch in entries {
                let id = SyncBatch<Driver>.id(ch.entity, ch.key)
                if byRow[id] == nil { order.append(id) }
                byRow[id, default: []].append(ch)
            }
            // Later entries of the same rows, past this batch, to the end of the log.
            var tail: [String: [SyncChange]] = [:]
            for (e, keys) in Dictionary(grouping: entries.map { ($0.entity, $0.key) }, by: { $0.0 }) {
                let all = Array(Set(keys.map(\.1)))
                for start in stride(from: 0, to: all.count, by: 400) {
                    let part = Array(all[start..<min(all.count, start + 400)])
                    for r in try c.query(
                        d,
                        """
                        SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE entity = \(text: e.rawValue) \
                        AND key IN (\(list: part)) AND seq > \(int: last.seq) ORDER BY seq
                        """)
                    {
                        let ch = try Self.decodeLog(r)
                        tail[SyncBatch<Driver>.id(ch.entity, ch.key), default: []].append(ch)
                    }
                }
            }
            let batch = SyncBatch(store: self, c: c, now: now)
            try batch.load(entries.map { ($0.entity, $0.key) })
            var out: [SyncChange] = []
            var refused: [SyncChange] = []
            var replaced: [String: SyncChange] = [:]
            for id in order {
                let mine = byRow[id] ?? []
                guard let first = mine.first else { continue }
                let current = try batch.state(first.entity, first.key)
                let culprits = Self.unverified(mine + (tail[id] ?? []), current: current)
                guard !culprits.isEmpty else { continue }
                refused += mine.filter { culprits.contains($0.id) }
                let live = current.map { !$0.deleted } ?? false
                replaced[id] = SyncChange(
                    seq: mine.last?.seq ?? first.seq, id: "verified-" + (mine.last?.id ?? first.id),
                    replica: remoteReplica, entity: first.entity, key: first.key, deleted: !live,
                    fields: live ? (current?.fields ?? [:]) : [:], stamps: current?.stamps ?? [:], changed: [:])
            }
            for ch in entries {
                let id = SyncBatch<Driver>.id(ch.entity, ch.key)
                if let r = replaced[id] {
                    if r.seq == ch.seq { out.append(r) }
                } else {
                    out.append(ch)
                }
            }
            return SyncRemoteBatch(changes: out, refused: refused, position: last.seq)
        }
    }

    /// The ids of the entries of one row (in log order, to the end of the log) that the row as
    /// the tables hold it contradicts; empty when replaying them gives `current`.
    static func unverified(_ entries: [SyncChange], current: SyncRowState?) -> Set<String> {
        var deletedBy: String?
        var written: [String: (value: JSONValue, id: String)] = [:]
        for ch in entries {
            if ch.deleted {
                deletedBy = ch.id
                written = [:]
            } else {
                deletedBy = nil
                for (f, v) in ch.fields { written[f] = (v, ch.id) }
            }
        }
        let live = current.map { !$0.deleted } ?? false
        var culprits: Set<String>
        if let deletedBy {
            culprits = live ? [deletedBy] : []
        } else if let current, live {
            culprits = Set(written.filter { current.fields[$0.key] != $0.value.value }.map(\.value.id))
        } else {
            culprits = entries.last.map { [$0.id] } ?? []
        }
        guard !culprits.isEmpty else { return [] }
        // Also name the row's other entries that claim what the row never had: a deletion of a
        // live row, or a field value under a stamp the row's own stamp does not match.
        for ch in entries {
            if ch.deleted {
                if live { culprits.insert(ch.id) }
                continue
            }
            for (f, v) in ch.fields {
                let mine = ch.stamps[f] ?? .zero
                let theirs = current?.stamp(f) ?? .zero
                if mine > theirs || (mine == theirs && live && current?.fields[f] != v) { culprits.insert(ch.id) }
            }
        }
        return culprits
    }

    public func syncPendingCount() async throws -> Int {
        try await read { [self] c in
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            return Int(try c.query(d, "SELECT count(*) FROM sync_log WHERE seq > \(int: pushed)").first?[0].int ?? 0)
        }
    }

    public func syncRowState(entity: SyncEntity, key: String) async throws -> SyncRowReport {
        try await read { [self] c in
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            let known = try syncStamps(c, entity, key)
            var pending: Set<String> = []
            for r in try c.query(
                d,
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

    // MARK: The remote's side of a push

    public func syncApplyPush(_ changes: [SyncChange], strategy: SyncStrategy, replica: String) async throws
        -> SyncPushResult
    {
        let now = now()
        let right = try await access()
        guard right.allows(.write) else {
            throw MinskyError(
                .permissionDenied,
                "the remote role \(right.identity) may read but not write (\(right.right.rawValue)): pull works, push is refused; the \(changes.count) local change(s) are kept and pushed once a member or admin role syncs",
                field: "remote")
        }
        let canDelete = right.allows(.admin)
        return try await write { [self] c in
            guard let (remoteReplica, _) = try tracking(c) else {
                throw MinskyError(
                    .notConfigured, "the remote store does not track changes; run `minsky sync enable` again")
            }
            if d == .postgres {
                try c.execute(d, SQL(raw: AdvisoryLock.syncLog.transactionLock))
                try c.execute(d, "SET CONSTRAINTS ALL DEFERRED")
            }
            var result = SyncPushResult()
            result.sent = changes.count
            var done: [String: [SyncConflict]] = [:]
            let ids = changes.map(\.id)
            for start in stride(from: 0, to: ids.count, by: 400) {
                let part = Array(ids[start..<min(ids.count, start + 400)])
                for r in try c.query(
                    d, "SELECT change_id, outcome FROM sync_applied WHERE change_id IN (\(list: part))")
                {
                    let stored = try JSONValue.parse(r[1].text ?? "[]").arrayValue ?? []
                    done[r[0].text ?? ""] = try stored.map(SyncConflict.init(json:))
                }
            }
            let batch = SyncBatch(store: self, c: c, now: now)
            try batch.load(changes.filter { done[$0.id] == nil }.map { ($0.entity, $0.key) })
            var applied: [(String, [SyncConflict])] = []
            for ch in changes {
                if let stored = done[ch.id] {
                    result.conflicts += stored
                    continue
                }
                let conflicts = try applyPushed(
                    batch, ch, strategy: strategy, remoteReplica: remoteReplica, canDelete: canDelete)
                result.applied += 1
                result.conflicts += conflicts
                applied.append((ch.id, conflicts))
                done[ch.id] = conflicts
            }
            try batch.finish(appendLog: true)
            for start in stride(from: 0, to: applied.count, by: 400) {
                var s: SQL = "INSERT INTO sync_applied (change_id, replica, outcome, at) VALUES "
                for (n, (id, conflicts)) in applied[start..<min(applied.count, start + 400)].enumerated() {
                    let outcome = JSONValue.array(conflicts.map(\.json)).canonicalJSON()
                    s += "\(raw: n == 0 ? "" : ", ")(\(text: id), \(text: replica), \(text: outcome), \(now))"
                }
                try c.execute(d, s)
            }
            try c.execute(
                d,
                """
                INSERT INTO sync_replicas (replica, pulled_seq, seen_at) VALUES (\(text: replica), 0, \(now)) \
                ON CONFLICT (replica) DO UPDATE SET seen_at = EXCLUDED.seen_at
                """)
            return result
        }
    }

    /// Settles one pushed change against the remote's row, writes the result and logs it.
    func applyPushed(
        _ batch: SyncBatch<Driver>, _ ch: SyncChange, strategy: SyncStrategy, remoteReplica: String, canDelete: Bool
    ) throws -> [SyncConflict] {
        let current = try batch.state(ch.entity, ch.key)
        let outcome = SyncResolver.resolve(ch, current: current, strategy: strategy)
        var conflicts: [SyncConflict] = []
        func conflict(_ field: String, _ kind: SyncConflict.Kind, _ message: String) {
            let local = ch.value(field) ?? .null
            let remote = current?.value(field) ?? (field == SyncChange.presence ? .bool(false) : .null)
            conflicts.append(
                SyncConflict(
                    entity: ch.entity, key: ch.key, field: field, kind: kind, local: local,
                    localStamp: ch.stamps[field] ?? .zero, remote: remote, remoteStamp: current?.stamp(field) ?? .zero,
                    message: message, detectedAt: batch.now))
        }
        for f in outcome.conflicts {
            if f == SyncChange.presence && current?.deleted == true {
                conflict(f, .deleted, "\(ch.entity) \(ch.key) was deleted on the remote; your edit was not applied")
            } else {
                conflict(f, .field, "\(f) was changed on the remote and here since the last sync")
            }
        }
        var stamps = current?.stamps ?? [:]
        let before = current.flatMap { $0.deleted ? nil : $0.fields }
        var removed: [TaskID] = []
        if outcome.delete {
            if before != nil {
                if ch.entity == .task && !canDelete {
                    conflict(
                        SyncChange.presence, .refused,
                        "deleting needs the admin role on the remote; the task was kept there")
                } else {
                    removed = try batch.delete(ch.entity, ch.key, before: before)
                }
            }
            if conflicts.isEmpty || ch.entity != .task {
                stamps[SyncChange.presence] = ch.stamps[SyncChange.presence] ?? stamps[SyncChange.presence]
            }
        } else if !outcome.take.isEmpty || !outcome.merged.isEmpty {
            var fields = before ?? [:]
            for f in outcome.take where f != SyncChange.presence { fields[f] = ch.fields[f] ?? .null }
            for (f, v) in outcome.merged { fields[f] = v }
            for f in SyncEntity.maxFields where ch.fields[f] != nil {
                if (ch.fields[f]?.stringValue ?? "") > (fields[f]?.stringValue ?? "") { fields[f] = ch.fields[f] }
            }
            if let refusal = try batch.refusal(ch.entity, ch.key, fields, before: before) {
                conflict(SyncChange.presence, .refused, refusal)
            } else {
                if fields != before { try batch.write(ch.entity, ch.key, fields, before: before) }
                // A field's stamp never goes back (an equal value pushed with an older stamp keeps the newer).
                for f in outcome.take { stamps[f] = max(stamps[f] ?? .zero, ch.stamps[f] ?? .zero) }
                for f in outcome.merged.keys { stamps[f] = max(stamps[f] ?? .zero, ch.stamps[f] ?? .zero) }
                for f in SyncEntity.maxFields where ch.stamps[f].map({ $0 > (stamps[f] ?? .zero) }) == true {
                    stamps[f] = ch.stamps[f]
                }
            }
        }
        let live = try batch.state(ch.entity, ch.key).map { !$0.deleted } ?? false
        batch.setStamps(ch.entity, ch.key, stamps, deleted: !live)
        // The result, whatever it is, is logged: the pushing replica takes it from its next pull.
        try batch.logResult(ch.entity, ch.key, stamps: stamps, replica: remoteReplica, origin: ch.id)
        for id in removed where id.rawValue != ch.key {
            let s = try batch.state(.task, id.rawValue)?.stamps ?? [:]
            batch.setStamps(.task, id.rawValue, s, deleted: true)
            try batch.logResult(.task, id.rawValue, stamps: s, replica: remoteReplica, origin: ch.id)
        }
        return conflicts
    }

    /// Remote: records how far `replica` has pulled, and drops the log of deleted rows once every
    /// known replica has pulled past it (the tombstone row itself stays, so a late edit cannot
    /// bring the row back). Live rows keep their whole log: a row's first entry must stay before
    /// the entries of rows that refer to it, for a replica that starts from nothing.
    public func syncNotePull(replica: String, position: Int64) async throws {
        let now = now()
        let admin = try await access().allows(.admin)
        try await write { [self] c in
            try c.execute(
                d,
                """
                INSERT INTO sync_replicas (replica, pulled_seq, seen_at) VALUES (\(text: replica), \(int: position), \(now)) \
                ON CONFLICT (replica) DO UPDATE SET pulled_seq = EXCLUDED.pulled_seq, seen_at = EXCLUDED.seen_at
                """)
            guard admin, let low = try c.query(d, "SELECT min(pulled_seq) FROM sync_replicas").first?[0].int else {
                return
            }
            try c.execute(
                d,
                """
                DELETE FROM sync_log WHERE seq <= \(int: low) AND seq < (SELECT max(seq) FROM sync_log) AND EXISTS \
                (SELECT 1 FROM sync_rows r WHERE r.entity = sync_log.entity AND r.key = sync_log.key AND r.deleted = 1)
                """)
        }
    }

    // MARK: The replica's side

    public func syncAcknowledge(upTo seq: Int64, conflicts: [SyncConflict]) async throws {
        try await backgroundWrite { [self] c in
            for k in conflicts { try saveConflict(c, k) }
            try setSetting(c, SyncSetting.pushedSeq, String(seq))
            try setSetting(c, SyncSetting.lastPush, now().iso8601)
            // Acknowledged changes have done their work: the log keeps only what is still to push.
            try c.execute(d, "DELETE FROM sync_log WHERE seq <= \(int: seq) AND seq < (SELECT max(seq) FROM sync_log)")
        }
    }

    func saveConflict(_ c: any SQLConnection, _ k: SyncConflict) throws {
        try c.execute(
            d,
            """
            INSERT INTO sync_conflicts (entity, key, field, body) VALUES (\(text: k.entity.rawValue), \(text: k.key), \(text: k.field), \
            \(text: k.json.canonicalJSON())) ON CONFLICT (entity, key, field) DO UPDATE SET body = EXCLUDED.body
            """)
    }

    func conflictsOf(_ c: any SQLConnection, _ e: SyncEntity?, _ key: String?) throws -> [SyncConflict] {
        var s: SQL = "SELECT body FROM sync_conflicts"
        if let e, let key { s += " WHERE entity = \(text: e.rawValue) AND key = \(text: key)" }
        s += " ORDER BY entity, key, field"
        return try c.query(d, s).map { try SyncConflict(json: try JSONValue.parse($0[0].text ?? "{}")) }
    }

    public func syncConflicts() async throws -> [SyncConflict] {
        try await read { [self] c in try conflictsOf(c, nil, nil) }
    }

    /// Fields of a row with local changes not yet pushed.
    func pendingFields(_ c: any SQLConnection, _ e: SyncEntity, _ key: String, pushed: Int64) throws -> Set<String> {
        var out: Set<String> = []
        for r in try c.query(
            d,
            "SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE entity = \(text: e.rawValue) AND key = \(text: key) AND seq > \(int: pushed)"
        ) {
            out.formUnion(try Self.decodeLog(r).changed.keys)
        }
        return out
    }

    public func syncApplyPulled(_ changes: [SyncChange], position: Int64) async throws -> Int {
        let now = now()
        return try await backgroundWrite { [self] c in
            if d == .sqlite {
                try c.execute(d, "PRAGMA defer_foreign_keys = ON")
            } else {
                try c.execute(d, "SET CONSTRAINTS ALL DEFERRED")
            }
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            // Fields with local changes not yet pushed, and open conflicts: both stay as they are.
            // Read for this batch's rows only (by the log's (entity, key, seq) index).
            var keep: [String: Set<String>] = [:]
            for (e, keys) in Dictionary(grouping: changes.map { ($0.entity, $0.key) }, by: { $0.0 }) {
                let all = Array(Set(keys.map(\.1)))
                for start in stride(from: 0, to: all.count, by: 400) {
                    let part = Array(all[start..<min(all.count, start + 400)])
                    for r in try c.query(
                        d,
                        """
                        SELECT seq, change_id, replica, entity, key, body FROM sync_log WHERE entity = \(text: e.rawValue) \
                        AND key IN (\(list: part)) AND seq > \(int: pushed)
                        """)
                    {
                        let ch = try Self.decodeLog(r)
                        keep[SyncBatch<Driver>.id(ch.entity, ch.key), default: []].formUnion(ch.changed.keys)
                    }
                }
            }
            var open: [String: [SyncConflict]] = [:]
            for k in try conflictsOf(c, nil, nil) { open[SyncBatch<Driver>.id(k.entity, k.key), default: []].append(k) }
            var floor = SyncStamp(raw: try setting(c, SyncSetting.clock) ?? SyncStamp.zero.raw)
            let batch = SyncBatch(store: self, c: c, now: now)
            try batch.load(changes.map { ($0.entity, $0.key) })
            var changed = 0
            for ch in changes {
                floor = max(floor, ch.stamps.values.max() ?? .zero)
                let id = SyncBatch<Driver>.id(ch.entity, ch.key)
                var kept = keep[id] ?? []
                for var k in open[id] ?? [] {
                    // The conflict now stands against the remote's latest value, when this change
                    // carries one: an edit of other fields (or of an older stamp) leaves it as it was.
                    let carries = k.field == SyncChange.presence ? true : ch.fields[k.field] != nil
                    if carries, let v = ch.value(k.field), (ch.stamps[k.field] ?? .zero) >= k.remoteStamp {
                        k.remote = v
                        k.remoteStamp = ch.stamps[k.field] ?? k.remoteStamp
                        try saveConflict(c, k)
                    }
                    // A change the remote refused (a cycle, a deletion without the right) cannot
                    // hold anywhere: the row takes the remote's state, and the listed conflict
                    // keeps what was refused for whoever settles it. A true conflict keeps the
                    // local value until it is settled.
                    if k.kind != .refused { kept.insert(k.field) }
                }
                if try applyPulled(batch, ch, keep: kept) { changed += 1 }
            }
            try batch.finish(appendLog: false)
            try setSetting(c, SyncSetting.clock, floor.raw)
            try setSetting(c, SyncSetting.pulledSeq, String(position))
            try setSetting(c, SyncSetting.lastPull, now.iso8601)
            return changed
        }
    }

    /// Applies one remote result; fields in `keep` (unpushed local changes, open conflicts) stay.
    func applyPulled(_ batch: SyncBatch<Driver>, _ ch: SyncChange, keep: Set<String>) throws -> Bool {
        let current = try batch.state(ch.entity, ch.key)
        let before = current.flatMap { $0.deleted ? nil : $0.fields }
        var stamps = current?.stamps ?? [:]
        if ch.deleted {
            // A removed edge re-added here and not yet pushed stays until the push settles it;
            // a deleted task is deleted (deletes win).
            if keep.contains(SyncChange.presence) && !ch.entity.deletesAreFinal { return false }
            if let s = ch.stamps[SyncChange.presence] { stamps[SyncChange.presence] = s }
            if before != nil { _ = try batch.delete(ch.entity, ch.key, before: before) }
            batch.setStamps(ch.entity, ch.key, stamps, deleted: true)
            return before != nil
        }
        if keep.contains(SyncChange.presence) && before == nil { return false }  // deleted here, not yet pushed
        var fields = before ?? [:]
        for (f, v) in ch.fields where !keep.contains(f) {
            fields[f] = v
            if let s = ch.stamps[f] { stamps[f] = s }
        }
        if let s = ch.stamps[SyncChange.presence], !keep.contains(SyncChange.presence) {
            stamps[SyncChange.presence] = s
        }
        // A row it needs (a parent, an end of an edge) deleted here and not yet pushed: the push
        // settles it, and the remote's answer comes back by a later pull.
        if before == nil, try batch.missingReference(ch.entity, ch.key, fields) != nil { return false }
        // An edit (some fields) of a row this replica does not have cannot make the row.
        if before == nil && SyncTable.of(ch.entity).fields.contains(where: { fields[$0.name] == nil }) { return false }
        let changed = fields != before
        if changed { try batch.write(ch.entity, ch.key, fields, before: before) }
        batch.setStamps(ch.entity, ch.key, stamps, deleted: false)
        return changed
    }

    public func syncResolve(entity: SyncEntity, key: String, takeLocal: [String: Bool]) async throws -> Int {
        try await write { [self] c in
            let open = try conflictsOf(c, entity, key)
            guard !open.isEmpty else {
                throw MinskyError(
                    .notFound, "\(entity) \(key) has no open sync conflict; `minsky sync conflicts` lists them",
                    field: "id")
            }
            for f in takeLocal.keys where !open.contains(where: { $0.field == f }) {
                throw MinskyError.invalid(
                    "field",
                    "\(f) of \(entity) \(key) is not in conflict; conflicted fields: \(open.map(\.field).joined(separator: ", "))"
                )
            }
            // An atomic row (an embedding, an edge) is settled whole, by the first side named.
            var takeLocal = takeLocal
            if entity.atomic, let side = takeLocal.values.first {
                for k in open { takeLocal[k.field] = side }
            }
            // Written the way sync writes every row (history, counters, stamps).
            let batch = SyncBatch(store: self, c: c, now: now())
            let current = try batch.state(entity, key)
            let before = current.flatMap { $0.deleted ? nil : $0.fields }
            var fields = before ?? [:]
            var stamps = current?.stamps ?? [:]
            var deleting = false
            var settled = 0
            var localFields: [String] = []
            for k in open {
                guard let local = takeLocal[k.field] else { continue }
                settled += 1
                try c.execute(
                    d,
                    "DELETE FROM sync_conflicts WHERE entity = \(text: entity.rawValue) AND key = \(text: key) AND field = \(text: k.field)"
                )
                if local {
                    // Kept here: pushed again as a change made after the remote's value.
                    stamps[k.field] = max(stamps[k.field] ?? .zero, k.remoteStamp)
                    localFields.append(k.field)
                } else {
                    if k.field == SyncChange.presence {
                        deleting = k.remote.boolValue == false && before != nil
                    } else {
                        fields[k.field] = k.remote
                    }
                    stamps[k.field] = k.remoteStamp
                }
            }
            if deleting {
                _ = try batch.delete(entity, key, before: before)
            } else if let before, fields != before {
                try batch.write(entity, key, fields, before: before)
            }
            batch.setStamps(entity, key, stamps, deleted: deleting || before == nil)
            try batch.finish(appendLog: false)
            if !localFields.isEmpty {
                if localFields.contains(SyncChange.presence), before == nil {
                    // A local delete kept: push it again.
                    try track(c, entity, key, changed: [], deleted: true)
                } else {
                    try track(c, entity, key, changed: localFields.filter { $0 != SyncChange.presence })
                }
            }
            return settled
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
                let cols = t.fields.map { d.read($0.name, as: $0.type) }.joined(separator: ", ")
                for r in try c.query(d, "SELECT \(raw: keyExpr), \(raw: cols) FROM \(raw: t.table)") {
                    var row: [String: JSONValue] = [:]
                    for (i, col) in t.fields.enumerated() { row[col.name] = try jsonValue(r[i + 1], col.type) }
                    out["\(e.rawValue)/\(r[0].text ?? "")"] = row
                }
            }
            return out
        }
    }
}
extension SQLTaskStore: SyncPeer {}
