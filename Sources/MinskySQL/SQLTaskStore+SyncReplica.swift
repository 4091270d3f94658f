import Foundation
import MinskyCore

/// A replica's side of sync: acknowledging pushes, applying pulls, settling conflicts.
extension SQLTaskStore {
    // MARK: The replica's side

    public func syncAcknowledge(upTo seq: Int64, conflicts: [SyncConflict]) async throws {
        try await backgroundWrite { [self] c in
            for k in conflicts { try saveConflict(c, k) }
            try setSetting(c, SyncSetting.pushedSeq, String(seq))
            try setSetting(c, SyncSetting.lastPush, now().iso8601)
            // Acknowledged changes have done their work: the log keeps only what is still to push.
            try c.execute("DELETE FROM sync_log WHERE seq <= \(int: seq) AND seq < (SELECT max(seq) FROM sync_log)")
        }
    }

    func saveConflict(_ c: any SQLConnection, _ k: SyncConflict) throws {
        try c.execute(
            """
            INSERT INTO sync_conflicts (entity, key, field, body) VALUES (\(text: k.entity.rawValue), \(text: k.key), \(text: k.field), \
            \(text: k.json.canonicalJSON())) ON CONFLICT (entity, key, field) DO UPDATE SET body = EXCLUDED.body
            """)
    }

    func conflictsOf(_ c: any SQLConnection, _ e: SyncEntity?, _ key: String?) throws -> [SyncConflict] {
        var s: SQL = "SELECT body FROM sync_conflicts"
        if let e, let key { s += " WHERE entity = \(text: e.rawValue) AND key = \(text: key)" }
        s += " ORDER BY entity, key, field"
        return try c.query(s).map { try SyncConflict(json: try JSONValue.parse($0[0].text ?? "{}")) }
    }

    public func syncConflicts() async throws -> [SyncConflict] {
        try await read { [self] c in try conflictsOf(c, nil, nil) }
    }

    public func syncApplyPulled(_ changes: [SyncChange], position: Int64) async throws -> Int {
        let now = now()
        return try await backgroundWrite { [self] c in
            try c.execute(SQL(raw: d.deferForeignKeys))
            let pushed = Int64(try setting(c, SyncSetting.pushedSeq) ?? "0") ?? 0
            // Fields with local changes not yet pushed, and open conflicts: both stay as they are.
            // Read for this batch's rows only (by the log's (entity, key, seq) index).
            var keep: [String: Set<String>] = [:]
            for ch in try logEntries(c, rows: changes.map { ($0.entity, $0.key) }, after: pushed) {
                keep[SyncBatch<Driver>.id(ch.entity, ch.key), default: []].formUnion(ch.changed.keys)
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
}
