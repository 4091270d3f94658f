import Foundation
import MinskyCore

/// The shared store's side of sync: applying what replicas push, and serving its log to pulls
/// (verified against its own rows).
extension SQLTaskStore {
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
            for ch in try logEntries(c, rows: entries.map { ($0.entity, $0.key) }, after: last.seq) {
                tail[SyncBatch<Driver>.id(ch.entity, ch.key), default: []].append(ch)
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
            if let lock = d.lockSyncLog { try c.execute(SQL(raw: lock)) }
            try c.execute(SQL(raw: d.deferForeignKeys))
            var result = SyncPushResult()
            result.sent = changes.count
            var done: [String: [SyncConflict]] = [:]
            let ids = changes.map(\.id)
            for start in stride(from: 0, to: ids.count, by: 400) {
                let part = Array(ids[start..<min(ids.count, start + 400)])
                for r in try c.query("SELECT change_id, outcome FROM sync_applied WHERE change_id IN (\(list: part))") {
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
            var rows = SQLRows(
                "sync_applied", [("change_id", .text), ("replica", .text), ("outcome", .text), ("at", .timestamp)])
            for (id, conflicts) in applied {
                rows.append(
                    .text(id), .text(replica), .text(JSONValue.array(conflicts.map(\.json)).canonicalJSON()),
                    .text(now.iso8601))
            }
            if !rows.isEmpty { try c.insert(rows) }
            try c.execute(
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
        try await write { c in
            try c.execute(
                """
                INSERT INTO sync_replicas (replica, pulled_seq, seen_at) VALUES (\(text: replica), \(int: position), \(now)) \
                ON CONFLICT (replica) DO UPDATE SET pulled_seq = EXCLUDED.pulled_seq, seen_at = EXCLUDED.seen_at
                """)
            guard admin, let low = try c.query("SELECT min(pulled_seq) FROM sync_replicas").first?[0].int else {
                return
            }
            try c.execute(
                """
                DELETE FROM sync_log WHERE seq <= \(int: low) AND seq < (SELECT max(seq) FROM sync_log) AND EXISTS \
                (SELECT 1 FROM sync_rows r WHERE r.entity = sync_log.entity AND r.key = sync_log.key AND r.deleted = 1)
                """)
        }
    }
}
