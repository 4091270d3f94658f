import Foundation
import MinskyCore
import Synchronization

/// A store that follows an upgrade: when the store it uses answers `.storeMoved` (it was
/// upgraded to PostgreSQL while this process was running, perhaps while this very write was
/// waiting for the lock), it opens the new location and repeats the operation there. Agents keep
/// working through a migration without restarting.
public final class FollowingStore: SyncableStore {
    struct State {
        var store: any SyncableStore
        /// Bumped at each switch; an operation that saw `storeMoved` on an older generation
        /// just retries on the current store.
        var generation = 0
        /// The one open of the new location in progress, shared by every operation that saw
        /// the move at the same time (so only one store is opened, none leaked).
        var opening: Task<any SyncableStore, any Error>?
        /// Operations running on each generation's store; a replaced store is closed when its
        /// last one ends, never under it.
        var running: [Int: Int] = [:]
        var retired: [Int: any SyncableStore] = [:]
        var closed = false
    }

    let state: Mutex<State>
    let idPrefix: String
    let opener: @Sendable (String, String) async throws -> any SyncableStore

    /// `opener` opens a moved-to location (injectable so tests can count the opens).
    public init(
        _ store: any SyncableStore, idPrefix: String,
        opener: @escaping @Sendable (String, String) async throws -> any SyncableStore = {
            try await StoreFactory.open(try StoreLocation(parsing: $0), idPrefix: $1)
        }
    ) {
        state = Mutex(State(store: store))
        self.idPrefix = idPrefix
        self.opener = opener
    }

    public var location: String { state.withLock { $0.store.location } }

    /// The store operations go to now.
    public var current: any SyncableStore { state.withLock { $0.store } }

    func perform<T: Sendable>(_ op: @Sendable (any SyncableStore) async throws -> T) async throws -> T {
        var hops = 0
        while true {
            let (store, generation) = state.withLock { s -> (any SyncableStore, Int) in
                s.running[s.generation, default: 0] += 1
                return (s.store, s.generation)
            }
            do {
                let value = try await op(store)
                await finished(generation)
                return value
            } catch let e as MinskyError where e.code == .storeMoved && hops < 3 {
                await finished(generation)
                hops += 1
                guard let url = e.field else { throw e }
                try await follow(to: url, from: generation)
            } catch {
                await finished(generation)
                throw error
            }
        }
    }

    /// Switches to `url` once, however many operations saw the move from `generation`.
    func follow(to url: String, from generation: Int) async throws {
        let task = state.withLock { s -> Task<any SyncableStore, any Error>? in
            guard s.generation == generation else { return nil }  // someone already switched
            if let t = s.opening { return t }
            let t = Task { [opener, idPrefix] in try await opener(url, idPrefix) }
            s.opening = t
            return t
        }
        guard let task else { return }
        let next: any SyncableStore
        do { next = try await task.value } catch {
            state.withLock { if $0.generation == generation { $0.opening = nil } }
            throw error
        }
        let old = state.withLock { s -> (any SyncableStore)? in
            guard s.generation == generation else { return nil }
            let old = s.store
            s.store = next
            s.generation += 1
            s.opening = nil
            if s.running[generation, default: 0] > 0 {
                s.retired[generation] = old  // closed by its last operation
                return nil
            }
            return old
        }
        if let old { await old.close() }
    }

    /// Ends one operation on `generation`'s store; closes a replaced store after its last one.
    func finished(_ generation: Int) async {
        let retired = state.withLock { s -> (any SyncableStore)? in
            s.running[generation, default: 1] -= 1
            guard s.running[generation] == 0 else { return nil }
            s.running[generation] = nil
            return s.retired.removeValue(forKey: generation)
        }
        if let retired { await retired.close() }
    }

    public func create(_ draft: NewTask) async throws -> TaskItem { try await perform { try await $0.create(draft) } }
    public func createMany(
        _ drafts: [NewTask], progress: (@Sendable (Int) -> Void)?, isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [TaskItem] {
        try await perform { try await $0.createMany(drafts, progress: progress, isCancelled: isCancelled) }
    }
    public func importRecords(from source: any TaskRecordSource) async throws -> [TaskID] {
        try await perform { try await $0.importRecords(from: source) }
    }
    public func get(_ id: TaskID) async throws -> TaskItem { try await perform { try await $0.get(id) } }
    public func board(_ filter: BoardFilter) async throws -> BoardSnapshot {
        try await perform { try await $0.board(filter) }
    }
    public func list(_ query: TaskQuery) async throws -> TaskPage { try await perform { try await $0.list(query) } }
    public func update(_ id: TaskID, _ patch: TaskPatch, expectedVersion: Int64?) async throws -> TaskItem {
        try await perform { try await $0.update(id, patch, expectedVersion: expectedVersion) }
    }
    public func delete(_ id: TaskID, cascade: Bool) async throws -> [TaskID] {
        try await perform { try await $0.delete(id, cascade: cascade) }
    }
    public func addDependency(_ task: TaskID, dependsOn: TaskID) async throws -> Dependency {
        try await perform { try await $0.addDependency(task, dependsOn: dependsOn) }
    }
    public func removeDependency(_ task: TaskID, dependsOn: TaskID) async throws {
        try await perform { try await $0.removeDependency(task, dependsOn: dependsOn) }
    }
    public func dependencies(of id: TaskID) async throws -> DependencyList {
        try await perform { try await $0.dependencies(of: id) }
    }
    public func details(_ id: TaskID) async throws -> (task: TaskItem, dependencies: DependencyList) {
        let r = try await perform { s in
            let d = try await s.details(id)
            return DetailsBox(task: d.task, dependencies: d.dependencies)
        }
        return (r.task, r.dependencies)
    }
    public func dependencyEdges(among ids: [TaskID]?) async throws -> [Dependency] {
        try await perform { try await $0.dependencyEdges(among: ids) }
    }
    public func dependencyEdges(from ids: [TaskID]) async throws -> [Dependency] {
        try await perform { try await $0.dependencyEdges(from: ids) }
    }
    public func subtree(root: TaskID) async throws -> [TaskItem] {
        try await perform { try await $0.subtree(root: root) }
    }
    public func nextReady(limit: Int, filter: ReadyFilter) async throws -> [TaskItem] {
        try await perform { try await $0.nextReady(limit: limit, filter: filter) }
    }
    public func heartbeat(_ id: TaskID, owner: String, ttl: Double) async throws -> TaskItem {
        try await perform { try await $0.heartbeat(id, owner: owner, ttl: ttl) }
    }
    public func release(_ id: TaskID, owner: String) async throws -> TaskItem {
        try await perform { try await $0.release(id, owner: owner) }
    }
    public func pathLeases() async throws -> [PathLease] { try await perform { try await $0.pathLeases() } }
    public func recentlyDone(limit: Int) async throws -> [TaskItem] {
        try await perform { try await $0.recentlyDone(limit: limit) }
    }
    public func events(after position: EventPosition, limit: Int) async throws -> [TaskEvent] {
        try await perform { try await $0.events(after: position, limit: limit) }
    }
    public func claim(_ id: TaskID, owner: String, ttl: Double?, force: Bool) async throws -> TaskItem {
        try await perform { try await $0.claim(id, owner: owner, ttl: ttl, force: force) }
    }
    public func saveProposal(_ proposal: Proposal) async throws {
        try await perform { try await $0.saveProposal(proposal) }
    }
    public func attachProposal(_ id: String, to taskId: TaskID) async throws {
        try await perform { try await $0.attachProposal(id, to: taskId) }
    }
    public func deleteProposal(_ id: String) async throws { try await perform { try await $0.deleteProposal(id) } }
    public func proposals(for taskId: TaskID?) async throws -> [Proposal] {
        try await perform { try await $0.proposals(for: taskId) }
    }
    public func proposal(_ id: String) async throws -> Proposal { try await perform { try await $0.proposal(id) } }
    public func markProposalApplied(_ id: String) async throws {
        try await perform { try await $0.markProposalApplied(id) }
    }
    public func saveEmbeddings(_ items: [TaskEmbedding]) async throws {
        try await perform { try await $0.saveEmbeddings(items) }
    }
    public func embeddingHashes(model: String) async throws -> [TaskID: String] {
        try await perform { try await $0.embeddingHashes(model: model) }
    }
    public func similar(to query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)] {
        try await perform { try await $0.similar(to: query, model: model, k: k) }
    }
    public func recordAICall(_ call: AICall) async throws { try await perform { try await $0.recordAICall(call) } }
    public func aiCalls(limit: Int) async throws -> [AICall] {
        try await perform { try await $0.aiCalls(limit: limit) }
    }
    public func aiUsage() async throws -> [AIUsage] { try await perform { try await $0.aiUsage() } }
    public func vectorSearchMethod() async -> String {
        (try? await perform { await $0.vectorSearchMethod() }) ?? "unknown"
    }
    public func addNote(_ taskId: TaskID, body: String) async throws -> TaskNote {
        try await perform { try await $0.addNote(taskId, body: body) }
    }
    public func notes(of taskId: TaskID) async throws -> [TaskNote] {
        try await perform { try await $0.notes(of: taskId) }
    }
    public func allNotes() async throws -> [TaskNote] { try await perform { try await $0.allNotes() } }
    public func history(of id: TaskID, limit: Int, cursor: String?) async throws -> TaskEventPage {
        try await perform { try await $0.history(of: id, limit: limit, cursor: cursor) }
    }
    public func latestHistory(of id: TaskID, limit: Int) async throws -> [TaskEvent] {
        try await perform { try await $0.latestHistory(of: id, limit: limit) }
    }
    public func events(since: Timestamp, limit: Int) async throws -> [TaskEvent] {
        try await perform { try await $0.events(since: since, limit: limit) }
    }
    public func access() async throws -> StoreAccess { try await perform { try await $0.access() } }
    public func count() async throws -> Int { try await perform { try await $0.count() } }
    public func close() async {
        let store = state.withLock { s -> (any SyncableStore)? in
            guard !s.closed else { return nil }
            s.closed = true
            return s.store
        }
        await store?.close()
    }

    // MARK: Server tokens

    public func saveToken(_ token: ServerToken, secretHash: String) async throws {
        try await perform { try await $0.saveToken(token, secretHash: secretHash) }
    }
    public func token(id: String) async throws -> (token: ServerToken, secretHash: String)? {
        try await perform { try await $0.token(id: id) }
    }
    public func tokens() async throws -> [ServerToken] { try await perform { try await $0.tokens() } }
    public func serverSecret(_ name: String, make: @escaping @Sendable () -> String) async throws -> String {
        try await perform { try await $0.serverSecret(name, make: make) }
    }
    public func revokeToken(id: String, at: Timestamp) async throws -> Bool {
        try await perform { try await $0.revokeToken(id: id, at: at) }
    }

    // MARK: Jobs

    public func createJob(_ job: Job) async throws { try await perform { try await $0.createJob(job) } }
    public func job(_ id: String) async throws -> Job { try await perform { try await $0.job(id) } }
    public func jobs(limit: Int) async throws -> [Job] { try await perform { try await $0.jobs(limit: limit) } }
    public func saveJob(_ job: Job, expecting: Job.Status) async throws -> Bool {
        try await perform { try await $0.saveJob(job, expecting: expecting) }
    }
    public func touchJob(_ id: String, runner: String, message: String?) async throws -> Bool {
        try await perform { try await $0.touchJob(id, runner: runner, message: message) }
    }
    public func requestJobCancel(_ id: String) async throws { try await perform { try await $0.requestJobCancel(id) } }
    @discardableResult
    public func deleteExpiredJobs(now: Timestamp) async throws -> Int {
        try await perform { try await $0.deleteExpiredJobs(now: now) }
    }

    // MARK: Sync (a replica that was upgraded away follows too)

    public func syncReplica() async throws -> String? { try await perform { try await $0.syncReplica() } }
    public func syncStartTracking(remote: String?, strategy: SyncStrategy?) async throws -> String {
        try await perform { try await $0.syncStartTracking(remote: remote, strategy: strategy) }
    }
    public func syncStopTracking() async throws { try await perform { try await $0.syncStopTracking() } }
    public func syncSetting(_ name: String) async throws -> String? {
        try await perform { try await $0.syncSetting(name) }
    }
    public func syncSetSetting(_ name: String, _ value: String?) async throws {
        try await perform { try await $0.syncSetSetting(name, value) }
    }
    public func syncLocalChanges(after seq: Int64, limit: Int) async throws -> [SyncChange] {
        try await perform { try await $0.syncLocalChanges(after: seq, limit: limit) }
    }
    public func syncApplyPush(_ changes: [SyncChange], strategy: SyncStrategy, replica: String) async throws
        -> SyncPushResult
    {
        try await perform { try await $0.syncApplyPush(changes, strategy: strategy, replica: replica) }
    }
    public func syncRemoteLog(after seq: Int64, limit: Int) async throws -> SyncRemoteBatch {
        try await perform { try await $0.syncRemoteLog(after: seq, limit: limit) }
    }
    public func syncAcknowledge(upTo seq: Int64, conflicts: [SyncConflict]) async throws {
        try await perform { try await $0.syncAcknowledge(upTo: seq, conflicts: conflicts) }
    }
    public func syncApplyPulled(_ changes: [SyncChange], position: Int64) async throws -> Int {
        try await perform { try await $0.syncApplyPulled(changes, position: position) }
    }
    public func syncPendingCount() async throws -> Int { try await perform { try await $0.syncPendingCount() } }
    public func syncRowState(entity: SyncEntity, key: String) async throws -> SyncRowReport {
        try await perform { try await $0.syncRowState(entity: entity, key: key) }
    }
    public func syncConflicts() async throws -> [SyncConflict] { try await perform { try await $0.syncConflicts() } }
    public func syncNotePull(replica: String, position: Int64) async throws {
        try await perform { try await $0.syncNotePull(replica: replica, position: position) }
    }
    public func syncResolve(entity: SyncEntity, key: String, takeLocal: [String: Bool]) async throws -> Int {
        try await perform { try await $0.syncResolve(entity: entity, key: key, takeLocal: takeLocal) }
    }
    public func syncSnapshot() async throws -> [String: [String: JSONValue]] {
        try await perform { try await $0.syncSnapshot() }
    }

    struct DetailsBox: Sendable {
        var task: TaskItem
        var dependencies: DependencyList
    }
}
