import Foundation
import Synchronization

/// How a push settles a field that someone else changed on the remote since this replica last
/// saw it (a true conflict). Fields nobody else touched always take the pushed value.
public enum SyncStrategy: String, CaseIterable, Sendable, Codable {
    /// The side whose change carries the later stamp wins the whole row.
    case lastWriteWins = "last_write_wins"
    /// Field by field, the later stamp wins: edits to different fields of one task both survive.
    case mergeFields = "merge_fields"
    /// The remote keeps its value, the replica keeps its own, and the conflict is listed until
    /// `sync resolve` settles it.
    case manual
    case localWins = "local_wins"
    case remoteWins = "remote_wins"

    public static let names = allCases.map(\.rawValue).joined(separator: "|")

    public static func parse(_ s: String, field: String = "strategy") throws -> SyncStrategy {
        guard let v = SyncStrategy(rawValue: s) else {
            throw MinskyError.invalid(field, "unknown sync strategy '\(s)'; use one of \(names)")
        }
        return v
    }
}

/// A hybrid-logical-clock stamp: 16 hex digits of (milliseconds << 16 | counter), then the
/// replica that made the change. Stamps order as strings; the replica breaks exact ties.
public struct SyncStamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: String

    public init(raw: String) { self.raw = raw }

    public init(clock: UInt64, replica: String) {
        let hex = String(clock, radix: 16)
        raw = String(repeating: "0", count: max(0, 16 - hex.count)) + hex + "-" + replica
    }

    /// Stamps as JSON. When they cover every key of `all` (a new row: one stamp for all its
    /// fields), the most common stamp is written once under "*" and only the others by name.
    public static func encode(_ stamps: [String: SyncStamp], all: Set<String>?) -> JSONValue {
        var out: [String: JSONValue] = [:]
        var common: SyncStamp?
        if let all, stamps.count >= 3, all.isSubset(of: stamps.keys) {
            var counts: [SyncStamp: Int] = [:]
            for v in stamps.values { counts[v, default: 0] += 1 }
            common = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
        }
        if let common { out["*"] = .string(common.raw) }
        for (k, v) in stamps where v != common { out[k] = .string(v.raw) }
        return .object(out)
    }

    /// The inverse of `encode`: "*" stands for every key of `all` not named.
    public static func decode(_ v: JSONValue?, all: Set<String>?) -> [String: SyncStamp] {
        var out = (v?.objectValue ?? [:]).compactMapValues { $0.stringValue.map(SyncStamp.init(raw:)) }
        guard let common = out.removeValue(forKey: "*") else { return out }
        for k in all ?? [] where out[k] == nil { out[k] = common }
        return out
    }

    /// Older than every real stamp: what a row written before tracking began carries.
    public static let zero = SyncStamp(clock: 0, replica: "")

    public var clock: UInt64 { UInt64(raw.prefix(16), radix: 16) ?? 0 }
    public var replica: String { String(raw.dropFirst(17)) }
    public var description: String { raw }
    public static func < (a: SyncStamp, b: SyncStamp) -> Bool { a.raw < b.raw }
}

/// A hybrid logical clock: never behind the wall clock, always ahead of every stamp it has
/// seen, so a change made after seeing another orders after it even when this machine's wall
/// clock is behind (and a machine whose clock runs ahead cannot win changes made after its own).
public final class HybridClock: Sendable {
    private let last = Mutex<UInt64>(0)
    private let wall: @Sendable () -> UInt64

    /// `wall` gives milliseconds since 1970 (injectable for tests of skewed clocks).
    public init(wall: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }) {
        self.wall = wall
    }

    /// A stamp later than the wall clock, every earlier stamp of this clock and every `seen` stamp.
    public func next(replica: String, after seen: some Sequence<SyncStamp>) -> SyncStamp {
        let floor = seen.reduce(UInt64(0)) { max($0, $1.clock) }
        let physical = wall() << 16
        let value = last.withLock { l -> UInt64 in
            l = max(l + 1, physical, floor + 1)
            return l
        }
        return SyncStamp(clock: value, replica: replica)
    }
}

/// The kinds of rows that sync, each named as the change log names it.
public enum SyncEntity: String, CaseIterable, Sendable {
    case task, dependency, embedding, proposal, note

    /// Whether all fields change together (an embedding's model, dimensions and bytes).
    public var atomic: Bool { self == .embedding || self == .dependency }
    /// A deleted task stays deleted (its id is never reused): deletes win over edits.
    public var deletesAreFinal: Bool { self == .task }
    /// Fields merged by taking the later value, never in conflict.
    public static let maxFields: Set<String> = ["updated_at"]
    /// Fields fixed at creation.
    public static let fixedFields: Set<String> = ["created_at"]
    /// Fields holding a map (JSON object) merged key by key: two replicas that set different
    /// keys both keep theirs; only the same key set to different values is a conflict.
    public static let mapFields: Set<String> = ["metadata"]
}

/// One change to one row: what a replica's log records for every local write and what the
/// remote's log records for every accepted result. It carries the row's whole state after the
/// change with a stamp per field, and which fields the change wrote with the stamp each had
/// before (its base), so the remote can tell a true conflict from a plain edit.
public struct SyncChange: Sendable, Hashable {
    public var seq: Int64
    public var id: String
    public var replica: String
    public var entity: SyncEntity
    public var key: String
    public var deleted: Bool
    /// Column → value (JSON) of the whole row after the change; empty when deleted.
    public var fields: [String: JSONValue]
    public var stamps: [String: SyncStamp]
    /// The fields this change wrote, each with the stamp it had before (`SyncStamp.zero` if none).
    public var changed: [String: SyncStamp]
    /// The replica change this result answers (remote log entries written by a push).
    public var origin: String?
    /// The values the change replaced, for map fields (`metadata`): what lets the remote merge
    /// two replicas' edits of different keys instead of keeping one side's whole map.
    public var was: [String: JSONValue]

    public init(
        seq: Int64 = 0, id: String, replica: String, entity: SyncEntity, key: String, deleted: Bool,
        fields: [String: JSONValue], stamps: [String: SyncStamp], changed: [String: SyncStamp], origin: String? = nil,
        was: [String: JSONValue] = [:]
    ) {
        self.seq = seq
        self.id = id
        self.replica = replica
        self.entity = entity
        self.key = key
        self.deleted = deleted
        self.fields = fields
        self.stamps = stamps
        self.changed = changed
        self.origin = origin
        self.was = was
    }

    /// The presence pseudo-field: written by creates and deletes.
    public static let presence = "_present"

    public static func newID() -> String {
        "ch-" + String(UInt64(Date().timeIntervalSince1970 * 1_000_000), radix: 36) + "-"
            + String(UInt64.random(in: 0..<(1 << 60)), radix: 36)
    }

    /// The stored body: everything but seq, id, replica, entity and key (their own columns).
    /// `all` (the row's fields and presence) lets stamps that cover them all be written compactly.
    public func body(all: Set<String>? = nil) -> JSONValue {
        var o: [String: JSONValue] = [
            "deleted": .bool(deleted), "fields": .object(fields),
            "stamps": SyncStamp.encode(stamps, all: all), "changed": SyncStamp.encode(changed, all: all),
        ]
        if let origin { o["origin"] = .string(origin) }
        if !was.isEmpty { o["was"] = .object(was) }
        return .object(o)
    }

    public init(
        seq: Int64, id: String, replica: String, entity: String, key: String, body: JSONValue,
        all: (SyncEntity) -> Set<String>? = { _ in nil }
    ) throws {
        guard let e = SyncEntity(rawValue: entity) else {
            throw MinskyError(
                .storeIncompatible,
                "the sync log holds a change to '\(entity)', which this minsky does not know; upgrade minsky")
        }
        let keys = all(e)
        func stamps(_ v: JSONValue?) -> [String: SyncStamp] { SyncStamp.decode(v, all: keys) }
        self.init(
            seq: seq, id: id, replica: replica, entity: e, key: key, deleted: body["deleted"]?.boolValue ?? false,
            fields: body["fields"]?.objectValue ?? [:], stamps: stamps(body["stamps"]),
            changed: stamps(body["changed"]),
            origin: body["origin"]?.stringValue, was: body["was"]?.objectValue ?? [:])
    }

    /// A field's value after the change; the presence pseudo-field is whether the row lives.
    public func value(_ field: String) -> JSONValue? {
        field == Self.presence ? .bool(!deleted) : fields[field]
    }

    /// The latest stamp this change wrote.
    public var latestWrite: SyncStamp { changed.keys.compactMap { stamps[$0] }.max() ?? .zero }
}

/// A row as a store holds it: its fields and their stamps, or a tombstone.
public struct SyncRowState: Sendable, Hashable {
    public var fields: [String: JSONValue]
    public var stamps: [String: SyncStamp]
    public var deleted: Bool
    public init(fields: [String: JSONValue], stamps: [String: SyncStamp], deleted: Bool) {
        self.fields = fields
        self.stamps = stamps
        self.deleted = deleted
    }
    public func stamp(_ f: String) -> SyncStamp { stamps[f] ?? .zero }
    /// A field's value (nil on a tombstone); the presence pseudo-field is whether the row lives.
    public func value(_ field: String) -> JSONValue? {
        field == SyncChange.presence ? .bool(!deleted) : (deleted ? nil : fields[field])
    }
}

/// A change the remote did not take as it came: a true conflict under `manual`, or a change the
/// remote refused (a cycle, a deleted parent, a role without the right).
public struct SyncConflict: Sendable, Hashable {
    public enum Kind: String, Sendable { case field, deleted, refused }
    public var entity: SyncEntity
    public var key: String
    public var field: String
    public var kind: Kind
    public var local: JSONValue
    public var localStamp: SyncStamp
    public var remote: JSONValue
    public var remoteStamp: SyncStamp
    public var message: String
    public var detectedAt: Timestamp

    public init(
        entity: SyncEntity, key: String, field: String, kind: Kind, local: JSONValue, localStamp: SyncStamp,
        remote: JSONValue, remoteStamp: SyncStamp, message: String, detectedAt: Timestamp
    ) {
        self.entity = entity
        self.key = key
        self.field = field
        self.kind = kind
        self.local = local
        self.localStamp = localStamp
        self.remote = remote
        self.remoteStamp = remoteStamp
        self.message = message
        self.detectedAt = detectedAt
    }

    public var json: JSONValue {
        [
            "entity": .string(entity.rawValue), "key": .string(key), "field": .string(field),
            "kind": .string(kind.rawValue),
            "local": local, "localStamp": .string(localStamp.raw), "remote": remote,
            "remoteStamp": .string(remoteStamp.raw), "message": .string(message),
            "detectedAt": .string(detectedAt.iso8601),
        ]
    }

    public init(json j: JSONValue) throws {
        guard let e = j["entity"]?.stringValue.flatMap(SyncEntity.init(rawValue:)), let key = j["key"]?.stringValue,
            let field = j["field"]?.stringValue, let kind = j["kind"]?.stringValue.flatMap(Kind.init(rawValue:))
        else { throw MinskyError(.internal, "a stored sync conflict is malformed") }
        self.init(
            entity: e, key: key, field: field, kind: kind, local: j["local"] ?? .null,
            localStamp: SyncStamp(raw: j["localStamp"]?.stringValue ?? SyncStamp.zero.raw),
            remote: j["remote"] ?? .null,
            remoteStamp: SyncStamp(raw: j["remoteStamp"]?.stringValue ?? SyncStamp.zero.raw),
            message: j["message"]?.stringValue ?? "",
            detectedAt: j["detectedAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)) ?? .now())
    }
}

/// What the remote does with one pushed change: pure, so every strategy is tested without a store.
public enum SyncResolver {
    public struct Outcome: Sendable, Equatable {
        /// Fields taken from the change (values and stamps).
        public var take: Set<String>
        /// Fields in true conflict left at the remote's value (manual), or the whole row refused.
        public var conflicts: [String]
        /// The change deletes the row.
        public var delete: Bool
        /// Map fields whose result merges both sides key by key (written over `take`).
        public var merged: [String: JSONValue] = [:]

        public init(take: Set<String>, conflicts: [String], delete: Bool, merged: [String: JSONValue] = [:]) {
            self.take = take
            self.conflicts = conflicts
            self.delete = delete
            self.merged = merged
        }
    }

    /// Merges two edits of a map key by key against the base the change started from (or, with
    /// no base, treating every key the change holds as written). Keys both sides set to
    /// different values are settled by `pick` (true: the change's value), or, when `pick` is
    /// nil, make the merge fail (nil): a conflict to list.
    public static func mergeMaps(
        local: [String: JSONValue], remote: [String: JSONValue], base: [String: JSONValue]?,
        pick: ((String) -> Bool)?
    ) -> [String: JSONValue]? {
        var out = remote
        for key in Set(local.keys).union(base.map { Array($0.keys) } ?? []) {
            let l = local[key]
            let b = base.map { $0[key] } ?? nil
            if base != nil && l == b { continue }  // the change left this key alone
            let r = remote[key]
            if r == l { continue }
            let remoteTouched = base != nil ? r != b : r != nil
            if remoteTouched {
                guard let pick else { return nil }
                if !pick(key) { continue }
            }
            out[key] = l
        }
        return out
    }

    public static func resolve(_ change: SyncChange, current: SyncRowState?, strategy: SyncStrategy) -> Outcome {
        guard let current else {
            // A row the remote never had: created as it comes. An edit or delete of it (a row
            // whose tombstone every replica has seen) is a no-op.
            let creates = !change.deleted && change.changed[SyncChange.presence] != nil
            return Outcome(
                take: creates ? Set(change.fields.keys).union([SyncChange.presence]) : [], conflicts: [], delete: false)
        }
        if change.entity.deletesAreFinal {
            if current.deleted {
                // Deletes win; under manual the lost edit is listed, never dropped unseen.
                let listed = !change.deleted && strategy == .manual
                return Outcome(take: [], conflicts: listed ? [SyncChange.presence] : [], delete: false)
            }
            if change.deleted { return Outcome(take: [], conflicts: [], delete: true) }
        }
        // The units that conflict: atomic rows as one, otherwise field by field.
        var units: [[String]] = []
        let written = change.changed.keys.sorted()
        if change.entity.atomic || change.deleted || current.deleted {
            units = [written]
        } else {
            units = written.map { [$0] }
        }
        var clean: [[String]] = []
        var conflicted: [[String]] = []
        for u in units {
            let moved = u.contains { f in
                !SyncEntity.maxFields.contains(f) && current.stamp(f) > (change.changed[f] ?? .zero)
            }
            let same = u.allSatisfy { change.value($0) == current.value($0) }
            if moved && !same { conflicted.append(u) } else { clean.append(u) }
        }
        // Maps edited on both sides merge key by key; what is left is a conflict only when both
        // set one key to different values (and the strategy does not settle keys).
        var merged: [String: JSONValue] = [:]
        conflicted.removeAll { u in
            guard u.count == 1, let f = u.first, SyncEntity.mapFields.contains(f),
                case .object(let l)? = change.fields[f], case .object(let r)? = current.fields[f]
            else { return false }
            let laterHere = (change.stamps[f] ?? .zero) > current.stamp(f)
            let pick: ((String) -> Bool)? =
                switch strategy {
                case .manual: nil
                case .localWins: { _ in true }
                case .remoteWins: { _ in false }
                case .mergeFields, .lastWriteWins: { _ in laterHere }
                }
            guard let m = mergeMaps(local: l, remote: r, base: change.was[f]?.objectValue, pick: pick) else {
                return false
            }
            merged[f] = .object(m)
            return true
        }
        var take = Set(clean.flatMap { $0 })
        var conflicts: [String] = []
        switch strategy {
        case .mergeFields:
            for u in conflicted where u.contains(where: { (change.stamps[$0] ?? .zero) > current.stamp($0) }) {
                take.formUnion(u)
            }
        case .localWins:
            take.formUnion(conflicted.flatMap { $0 })
        case .remoteWins:
            break
        case .manual:
            conflicts = conflicted.flatMap { $0 }.sorted()
        case .lastWriteWins:
            if !conflicted.isEmpty {
                let mine = change.latestWrite
                let theirs = current.stamps.values.max() ?? .zero
                take = mine > theirs ? Set(written) : []
            }
        }
        let deleting = take.contains(SyncChange.presence) && change.deleted
        if deleting { return Outcome(take: [], conflicts: conflicts, delete: true) }
        if current.deleted && !take.contains(SyncChange.presence) {
            // Still deleted at the remote: nothing of the change can land.
            return Outcome(take: [], conflicts: conflicts, delete: false)
        }
        if current.deleted {
            // Re-created (a dependency added again after its removal): the whole row comes.
            take.formUnion(change.fields.keys)
        }
        for f in merged.keys { take.remove(f) }
        return Outcome(take: take, conflicts: conflicts, delete: false, merged: merged)
    }
}

/// Names of the settings a store keeps in `sync_state`.
public enum SyncSetting {
    public static let replica = "replica"
    public static let clock = "clock"
    public static let remote = "remote"
    public static let strategy = "strategy"
    public static let interval = "interval"
    public static let pushedSeq = "pushed_seq"
    public static let pulledSeq = "pulled_seq"
    public static let lastPush = "last_push"
    public static let lastPull = "last_pull"
}

/// What `sync status` reports.
public struct SyncStatus: Sendable {
    public var enabled: Bool
    public var replica: String?
    public var remote: String?
    public var strategy: SyncStrategy?
    public var pending: Int
    public var conflicts: Int
    public var lastPush: Timestamp?
    public var lastPull: Timestamp?
    public var pushedSeq: Int64
    public var pulledSeq: Int64
    public var reachable: Bool?
    public var remoteError: String?
    public var interval: Double

    public init(
        enabled: Bool, replica: String?, remote: String?, strategy: SyncStrategy?, pending: Int, conflicts: Int,
        lastPush: Timestamp?, lastPull: Timestamp?, pushedSeq: Int64, pulledSeq: Int64, interval: Double
    ) {
        self.enabled = enabled
        self.replica = replica
        self.remote = remote
        self.strategy = strategy
        self.pending = pending
        self.conflicts = conflicts
        self.lastPush = lastPush
        self.lastPull = lastPull
        self.pushedSeq = pushedSeq
        self.pulledSeq = pulledSeq
        self.interval = interval
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "enabled": .bool(enabled), "pending": .int(Int64(pending)), "conflicts": .int(Int64(conflicts)),
            "pushedSeq": .int(pushedSeq), "pulledSeq": .int(pulledSeq),
            "intervalSeconds": .double(interval),
        ]
        o["replica"] = replica.map { .string($0) } ?? .null
        o["remote"] = remote.map { .string($0) } ?? .null
        o["strategy"] = strategy.map { .string($0.rawValue) } ?? .null
        o["lastPush"] = lastPush.map { .string($0.iso8601) } ?? .null
        o["lastPull"] = lastPull.map { .string($0.iso8601) } ?? .null
        o["reachable"] = reachable.map { .bool($0) } ?? .null
        if let remoteError { o["remoteError"] = .string(remoteError) }
        return .object(o)
    }
}

/// One row's sync state on a replica: pending (changes not yet pushed), synced, or in
/// conflict, with the stamp of each field.
public struct SyncRowReport: Sendable {
    public enum State: String, Sendable { case pending, synced, conflict, untracked }
    public var state: State
    public var deleted: Bool
    public var stamps: [String: SyncStamp]
    public var pendingFields: Set<String>
    public var conflictFields: Set<String>

    public init(
        state: State, deleted: Bool, stamps: [String: SyncStamp], pendingFields: Set<String>,
        conflictFields: Set<String>
    ) {
        self.state = state
        self.deleted = deleted
        self.stamps = stamps
        self.pendingFields = pendingFields
        self.conflictFields = conflictFields
    }

    public var json: JSONValue {
        [
            "state": .string(state.rawValue), "deleted": .bool(deleted),
            "stamps": .object(stamps.mapValues { .string($0.raw) }),
            "pendingFields": .array(pendingFields.sorted().map { .string($0) }),
            "conflictFields": .array(conflictFields.sorted().map { .string($0) }),
        ]
    }
}

/// One page of the remote's log for a pull. Entries that the remote's rows contradict (a change
/// nobody made: a forged entry, or a row written around minsky) are left out and named in
/// `refused`; the row then comes as the remote holds it, so a replica never drifts from it.
public struct SyncRemoteBatch: Sendable {
    public var changes: [SyncChange]
    public var refused: [SyncChange]
    /// The log position this page reaches (its last entry, whether sent or refused).
    public var position: Int64
    public init(changes: [SyncChange], refused: [SyncChange], position: Int64) {
        self.changes = changes
        self.refused = refused
        self.position = position
    }
}

/// What a push achieved: changes sent and how the remote settled them.
public struct SyncPushResult: Sendable {
    public var sent: Int = 0
    public var applied: Int = 0
    public var conflicts: [SyncConflict] = []
    public init() {}
}

/// The sync seam of a store: its change log, the stamps of its rows and the application of
/// others' changes. A local replica and the shared remote implement the same calls.
public protocol SyncPeer: Sendable {
    /// The replica id when this store tracks changes, nil otherwise.
    func syncReplica() async throws -> String?
    /// Starts tracking (idempotent): makes a replica id and logs every existing row as a change,
    /// so what the store held before sync was enabled is pushed too. Returns the replica id.
    func syncStartTracking(remote: String?, strategy: SyncStrategy?) async throws -> String
    /// Stops tracking and forgets the sync state (the tasks stay).
    func syncStopTracking() async throws
    func syncSetting(_ name: String) async throws -> String?
    func syncSetSetting(_ name: String, _ value: String?) async throws
    /// Local changes after `seq` (the push queue), oldest first.
    func syncLocalChanges(after seq: Int64, limit: Int) async throws -> [SyncChange]
    /// Remote side of a push: applies `changes` (skipping ids already applied) in one transaction
    /// and logs each result. Returns the conflicts and refusals, also for re-sent changes.
    func syncApplyPush(_ changes: [SyncChange], strategy: SyncStrategy, replica: String) async throws
        -> SyncPushResult
    /// Remote side of a pull: the results logged after `seq`, oldest first, verified against
    /// the rows they describe (see `SyncRemoteBatch`).
    func syncRemoteLog(after seq: Int64, limit: Int) async throws -> SyncRemoteBatch
    /// Local side of a push: `upTo` is acknowledged; `conflicts` are recorded. One transaction.
    func syncAcknowledge(upTo seq: Int64, conflicts: [SyncConflict]) async throws
    /// Local side of a pull: applies the remote's results (keeping fields with unpushed local
    /// changes or open conflicts) and stores the new position, in one transaction. Returns how
    /// many rows changed.
    func syncApplyPulled(_ changes: [SyncChange], position: Int64) async throws -> Int
    /// Number of local changes not yet acknowledged.
    func syncPendingCount() async throws -> Int
    /// One row's state here: pending, synced or in conflict, and its stamps.
    func syncRowState(entity: SyncEntity, key: String) async throws -> SyncRowReport
    func syncConflicts() async throws -> [SyncConflict]
    /// Remote: notes how far `replica` has pulled and compacts what every replica has seen.
    func syncNotePull(replica: String, position: Int64) async throws
    /// Settles conflicts of `key`: for each field, `true` keeps the local value (pushed again as a
    /// new change), `false` takes the remote's. Fields not named stay open. Returns how many settled.
    func syncResolve(entity: SyncEntity, key: String, takeLocal: [String: Bool]) async throws -> Int
    /// Every live row of every synced kind, as `entity/key` → fields (what convergence is checked on).
    func syncSnapshot() async throws -> [String: [String: JSONValue]]
}

/// One sync operation a client asks for (the MCP `sync` tool), decoded once from its arguments.
public enum SyncAction: Sendable, Equatable, Decodable {
    public enum Side: String, Sendable, Decodable { case local, remote }
    /// The sync state of the store, or of one row (`id`: a task id or `entity/key`).
    case status(id: String?)
    case push, pull, now, conflicts
    /// Settles a row's conflicts: `take` for every field, and/or `fields` name → side.
    case resolve(id: String, take: Side?, fields: [String: Side])

    enum Keys: String, CodingKey { case action, id, take, fields }
    enum Name: String, Decodable { case status, push, pull, now, conflicts, resolve }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let id = try c.decodeIfPresent(String.self, forKey: .id)
        switch try c.decode(Name.self, forKey: .action) {
        case .status: self = .status(id: id)
        case .push: self = .push
        case .pull: self = .pull
        case .now: self = .now
        case .conflicts: self = .conflicts
        case .resolve:
            guard let id else {
                throw MinskyError.invalid(
                    "id", "resolve needs the id of a conflicted task (action conflicts lists them)")
            }
            self = .resolve(
                id: id, take: try c.decodeIfPresent(Side.self, forKey: .take),
                fields: try c.decodeIfPresent([String: Side].self, forKey: .fields) ?? [:])
        }
    }
}
