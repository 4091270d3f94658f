import Foundation
import MinskyCore
import Synchronization

/// Two-way sync between a local store (the replica every operation goes to first) and a shared
/// remote: push sends the local log the remote has not acknowledged, pull applies the remote's
/// results since the last position. Both run in batches, each batch one transaction on each
/// side, so an interruption at any point loses nothing and a retry applies nothing twice.
public final class SyncEngine: Sendable {
    public let local: any SyncPeer
    let openRemote: @Sendable (String) async throws -> any SyncPeer & TaskStore
    let remote = Mutex<(any SyncPeer & TaskStore)?>(nil)
    /// Changes per transaction: small enough that a pull never holds SQLite's write lock long.
    public let batch: Int

    public static let defaultStrategy = SyncStrategy.mergeFields
    public static let defaultInterval = 30.0
    /// Changes per transaction for background sync: each holds the local write lock about a
    /// millisecond, so a tool call's write never waits longer (BENCHMARKS.md).
    public static let backgroundBatch = 2
    /// Changes per transaction for `minsky sync`: a batch of 2,000 holds the remote's sync-log
    /// lock ~0.2 s and SQLite's write lock less; 10,000 changes go in 0.9-1 s (500 took 1.2 s:
    /// round trips and per-statement work).
    public static let defaultBatch = 2000

    public init(
        local: any SyncPeer, batch: Int = SyncEngine.defaultBatch,
        openRemote: @escaping @Sendable (String) async throws -> any SyncPeer & TaskStore
    ) {
        self.local = local
        self.batch = batch
        self.openRemote = openRemote
    }

    /// Opens the remote sync is configured for (kept open; dropped after a failure).
    func remoteStore() async throws -> any SyncPeer & TaskStore {
        if let r = remote.withLock({ $0 }) { return r }
        guard let url = try await local.syncSetting(SyncSetting.remote) else {
            throw MinskyError(.notConfigured, "sync is not enabled here; run `minsky sync enable --remote-db URL`")
        }
        let r = try await openRemote(url)
        remote.withLock { $0 = r }
        return r
    }

    /// Runs `body` with the remote. A kept connection the server dropped (a restart) is
    /// reopened once: every step is idempotent, so running it again is safe.
    func withRemote<T>(_ body: (any SyncPeer & TaskStore) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let kept = remote.withLock { $0 } != nil
            do { return try await body(try await remoteStore()) } catch {
                let e = error as? MinskyError
                if e?.code == .permissionDenied || e?.code == .invalidInput { throw error }
                await close()  // the next attempt connects again
                if kept && attempt == 1 && e?.code == .storeUnavailable { continue }
                if var e, e.code == .storeUnavailable {
                    // Nothing is lost offline: say so, with what waits.
                    let pending = (try? await local.syncPendingCount()) ?? 0
                    e.message +=
                        "; working offline: \(pending) local change(s) are kept and sync when the remote is back"
                    throw e
                }
                throw error
            }
        }
    }

    public func close() async {
        let r = remote.withLock { r -> (any SyncPeer & TaskStore)? in
            defer { r = nil }
            return r
        }
        await r?.close()
    }

    /// Turns sync on: the remote starts tracking its own writes, this store gets a replica id
    /// and logs what it holds, so the first push carries it.
    /// `connectURL` (the URL as given, password included) is used for this first connection;
    /// `remoteURL` is what the replica keeps. `accepted` runs once the remote took the
    /// connection and the role started tracking there (e.g. to save the password), and only then.
    public func enable(
        remoteURL: String, connectURL: String? = nil, strategy: SyncStrategy, interval: Double?,
        accepted: () throws -> Void = {}
    ) async throws -> String {
        let remote = try await openRemote(connectURL ?? remoteURL)
        do {
            _ = try await remote.syncStartTracking(remote: nil, strategy: nil)
            await remote.close()
        } catch {
            await remote.close()
            throw error
        }
        try accepted()
        let replica = try await local.syncStartTracking(remote: remoteURL, strategy: strategy)
        if let interval { try await local.syncSetSetting(SyncSetting.interval, String(interval)) }
        return replica
    }

    public func disable() async throws {
        await close()
        try await local.syncStopTracking()
    }

    func replica() async throws -> String {
        guard let r = try await local.syncReplica() else {
            throw MinskyError(.notConfigured, "sync is not enabled here; run `minsky sync enable --remote-db URL`")
        }
        return r
    }

    public func strategy() async throws -> SyncStrategy {
        try SyncStrategy.parse(try await local.syncSetting(SyncSetting.strategy) ?? Self.defaultStrategy.rawValue)
    }

    /// Sends every local change the remote has not acknowledged.
    public func push(progress: (@Sendable (Int) -> Void)? = nil) async throws -> SyncPushResult {
        let replica = try await replica()
        let strategy = try await strategy()
        return try await withRemote { remote in
            let pushed = Int64(try await local.syncSetting(SyncSetting.pushedSeq) ?? "0") ?? 0
            var total = SyncPushResult()
            let (local, batch) = (local, batch)
            // The next batch is read from SQLite while the remote applies this one.
            var next = Task { try await local.syncLocalChanges(after: pushed, limit: batch) }
            var acknowledging: Task<Void, any Error>?
            defer { next.cancel() }
            while true {
                let changes = try await next.value
                guard let last = changes.last else { break }
                next = Task { try await local.syncLocalChanges(after: last.seq, limit: batch) }
                let r = try await remote.syncApplyPush(changes, strategy: strategy, replica: replica)
                // This batch is acknowledged here while the remote applies the next one; the
                // acknowledgements stay in order (a lost one only means a harmless re-send).
                try await acknowledging?.value
                acknowledging = Task { try await local.syncAcknowledge(upTo: last.seq, conflicts: r.conflicts) }
                total.sent += r.sent
                total.applied += r.applied
                total.conflicts += r.conflicts
                progress?(total.sent)
            }
            try await acknowledging?.value
            return total
        }
    }

    /// What a pull did: entries received, rows changed here, and remote log entries refused
    /// because the remote's rows contradict them (the rows came as the remote holds them).
    public struct PullResult: Sendable {
        public var received = 0
        public var changed = 0
        public var refused: [SyncChange] = []
        public var refusedJSON: JSONValue {
            .array(
                refused.map {
                    [
                        "changeId": .string($0.id), "entity": .string($0.entity.rawValue), "key": .string($0.key),
                        "deleted": .bool($0.deleted),
                    ]
                })
        }
    }

    /// Applies every result the remote logged since the last pull. Returns rows changed here.
    public func pull(progress: (@Sendable (Int) -> Void)? = nil) async throws -> PullResult {
        let replica = try await replica()
        return try await withRemote { remote in
            var pulled = Int64(try await local.syncSetting(SyncSetting.pulledSeq) ?? "0") ?? 0
            var result = PullResult()
            let batch = batch
            // The next page is read from the remote while this one is applied here.
            var next = Task { [pulled] in try await remote.syncRemoteLog(after: pulled, limit: batch) }
            defer { next.cancel() }
            while true {
                let page = try await next.value
                guard page.position > pulled else { break }
                next = Task { try await remote.syncRemoteLog(after: page.position, limit: batch) }
                result.changed += try await local.syncApplyPulled(page.changes, position: page.position)
                pulled = page.position
                result.received += page.changes.count
                result.refused += page.refused
                progress?(result.received)
            }
            // Where this replica stands lets the remote drop what every replica has seen; a
            // role that may only read cannot record it, which costs nothing but compaction.
            try? await remote.syncNotePull(replica: replica, position: pulled)
            return result
        }
    }

    public struct RoundResult: Sendable {
        public var push: SyncPushResult
        public var pull: PullResult
        public var received: Int { pull.received }
        public var changed: Int { pull.changed }
        public var json: JSONValue {
            [
                "pushed": .int(Int64(push.sent)), "applied": .int(Int64(push.applied)),
                "conflicts": .array(push.conflicts.map(\.json)), "pulled": .int(Int64(received)),
                "changedHere": .int(Int64(changed)), "refused": pull.refusedJSON,
            ]
        }
    }

    /// Push, then pull: afterwards this replica holds the remote's state plus whatever it kept.
    public func syncNow() async throws -> RoundResult {
        let p = try await push()
        return RoundResult(push: p, pull: try await pull())
    }

    public func status(checkRemote: Bool) async throws -> SyncStatus {
        let replica = try await local.syncReplica()
        var s = SyncStatus(
            enabled: replica != nil, replica: replica, remote: try await local.syncSetting(SyncSetting.remote),
            strategy: replica == nil ? nil : try await strategy(), pending: try await local.syncPendingCount(),
            conflicts: try await local.syncConflicts().count,
            lastPush: try await local.syncSetting(SyncSetting.lastPush).flatMap(Timestamp.init(iso8601:)),
            lastPull: try await local.syncSetting(SyncSetting.lastPull).flatMap(Timestamp.init(iso8601:)),
            pushedSeq: Int64(try await local.syncSetting(SyncSetting.pushedSeq) ?? "0") ?? 0,
            pulledSeq: Int64(try await local.syncSetting(SyncSetting.pulledSeq) ?? "0") ?? 0,
            interval: try await interval())
        if checkRemote && replica != nil {
            do {
                _ = try await withRemote { try await $0.count() }
                s.reachable = true
            } catch {
                s.reachable = false
                s.remoteError = (error as? MinskyError)?.message ?? "\(error)"
            }
        }
        return s
    }

    public func interval() async throws -> Double {
        Double(try await local.syncSetting(SyncSetting.interval) ?? "") ?? Self.defaultInterval
    }
}

/// Background sync for a long-running process (the MCP server): a round every `interval`
/// seconds and within a quarter second of local writes, through the engine's local store (the
/// server's own, whose writes go ahead of sync's), never in a tool call's path. Failures (the
/// remote down) back off and are retried; they never reach an agent.
public final class SyncScheduler: Sendable {
    let engine: SyncEngine
    let task = Mutex<Task<Void, Never>?>(nil)

    public init(engine: SyncEngine) { self.engine = engine }

    public func start() {
        let t = Task.detached { [self] in await loop() }
        task.withLock { $0 = t }
    }

    public func stop() async {
        let t = task.withLock { $0 }
        t?.cancel()
        await t?.value
        await engine.close()
    }

    func loop() async {
        var lastAttempt = Date.distantPast
        var backoff = 1.0
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 250_000_000)
            if Task.isCancelled { return }
            let interval = (try? await engine.interval()) ?? SyncEngine.defaultInterval
            let pending = ((try? await engine.local.syncPendingCount()) ?? 0) > 0
            // Local writes go out at once, or after the back-off while the remote fails.
            let wait = pending ? (failing ? backoff : 0) : interval
            guard Date().timeIntervalSince(lastAttempt) >= wait else { continue }
            lastAttempt = Date()
            do {
                _ = try await engine.syncNow()
                backoff = 1
                failing = false
            } catch {
                backoff = min(interval, backoff * 2)
                failing = true
            }
        }
    }
}

extension SyncEngine {
    /// The engine for a local SQLite store (opened here, closed by `close`) and its PostgreSQL remote.
    public static func open(local location: StoreLocation, idPrefix: String = TaskID.defaultPrefix) async throws
        -> SyncEngine
    {
        guard location.sqlitePath != nil else {
            throw MinskyError(
                .storeIncompatible,
                "sync keeps a SQLite replica of a shared PostgreSQL store, and this store (\(location)) is not SQLite; agents on PostgreSQL need no sync"
            )
        }
        let store = try await StoreFactory.open(location, idPrefix: idPrefix)
        let batch =
            Int(ProcessInfo.processInfo.environment["MINSKY_SYNC_BATCH"] ?? "").flatMap {
                (1...5000).contains($0) ? $0 : nil
            } ?? defaultBatch
        return SyncEngine(local: store, batch: batch, openRemote: openRemote)
    }

    /// Opens a PostgreSQL remote (migrating it like any store).
    @Sendable public static func openRemote(_ url: String) async throws -> any SyncPeer & TaskStore {
        let remote = try StoreLocation(parsing: url)
        guard remote.isPostgres else {
            throw MinskyError.invalid(
                "remote-db", "the sync remote must be a PostgreSQL URL (postgresql://user@host:5432/db), not \(remote)")
        }
        return try await StoreFactory.open(remote)
    }

    /// Closes the remote and the local store.
    public func closeAll() async {
        await close()
        await (local as? any TaskStore)?.close()
    }
}

extension SyncEngine {
    /// One `sync` tool call.
    public func perform(_ action: SyncAction) async throws -> JSONValue {
        switch action {
        case .status(let id?): return try await local.syncRowState(entity: .task, key: id).json
        case .status(nil): return try await status(checkRemote: true).json
        case .push:
            let r = try await push()
            return [
                "pushed": .int(Int64(r.sent)), "applied": .int(Int64(r.applied)),
                "conflicts": .array(r.conflicts.map(\.json)),
            ]
        case .pull:
            let r = try await pull()
            return [
                "pulled": .int(Int64(r.received)), "changedHere": .int(Int64(r.changed)), "refused": r.refusedJSON,
            ]
        case .now:
            return try await syncNow().json
        case .conflicts:
            return ["conflicts": .array(try await local.syncConflicts().map(\.json))]
        case .resolve(let id, let take, let fields):
            let n = try await resolve(id: id, take: take?.rawValue, fields: fields.mapValues(\.rawValue))
            return ["resolved": .int(Int64(n)), "id": .string(id)]
        }
    }

    /// Settles the conflicts of `id` (a task id, or `entity/key` as `sync conflicts` shows):
    /// `take` local|remote for every conflicted field, and/or `fields` name → local|remote (task
    /// JSON names such as `parentId` or column names).
    public func resolve(id: String, take: String?, fields: [String: String]) async throws -> Int {
        var entity = SyncEntity.task
        var key = id
        if let slash = id.firstIndex(of: "/"), let e = SyncEntity(rawValue: String(id[..<slash])) {
            entity = e
            key = String(id[id.index(after: slash)...])
        }
        func keepsLocal(_ side: String, _ field: String) throws -> Bool {
            switch side {
            case "local": return true
            case "remote": return false
            default: throw MinskyError.invalid(field, "'\(side)' is neither local nor remote")
            }
        }
        guard take != nil || !fields.isEmpty else {
            throw MinskyError.invalid(
                "take", "say which version to keep: take local|remote, or field NAME=local|remote")
        }
        var choice: [String: Bool] = [:]
        if let take {
            let local = try keepsLocal(take, "take")
            for k in try await self.local.syncConflicts() where k.entity == entity && k.key == key {
                choice[k.field] = local
            }
        }
        let columns = [
            "parentId": "parent_id", "claimExpiresAt": "claim_expires_at", "updatedAt": "updated_at",
            "createdAt": "created_at", "deleted": SyncChange.presence, "present": SyncChange.presence,
        ]
        for (name, side) in fields { choice[columns[name] ?? name] = try keepsLocal(side, "field") }
        return try await self.local.syncResolve(entity: entity, key: key, takeLocal: choice)
    }
}
