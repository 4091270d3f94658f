import Foundation
import MinskyCore
import Synchronization

/// A store that follows an upgrade: when the store it uses answers `.storeMoved` (it was
/// upgraded to PostgreSQL while this process was running, perhaps while this very write was
/// waiting for the lock), it opens the new location and repeats the operation there. Agents keep
/// working through a migration without restarting.
public final class FollowingStore: TaskStore {
    let current: Mutex<any TaskStore>
    let idPrefix: String

    public init(_ store: any TaskStore, idPrefix: String) {
        current = Mutex(store)
        self.idPrefix = idPrefix
    }

    public var location: String { current.withLock { $0.location } }

    func perform<T: Sendable>(_ op: @Sendable (any TaskStore) async throws -> T) async throws -> T {
        var hops = 0
        while true {
            let store = current.withLock { $0 }
            do {
                return try await op(store)
            } catch let e as MinskyError where e.code == .storeMoved && hops < 3 {
                hops += 1
                guard let url = e.field else { throw e }
                let next = try await StoreFactory.open(url, idPrefix: idPrefix)
                current.withLock { $0 = next }
                await store.close()
            }
        }
    }

    public func create(_ draft: NewTask) async throws -> TaskItem { try await perform { try await $0.create(draft) } }
    public func createMany(
        _ drafts: [NewTask], progress: (@Sendable (Int) -> Void)?, isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [TaskItem] {
        try await perform { try await $0.createMany(drafts, progress: progress, isCancelled: isCancelled) }
    }
    public func importRecords(_ records: [TaskRecord]) async throws -> [TaskItem] {
        try await perform { try await $0.importRecords(records) }
    }
    public func get(_ id: TaskID) async throws -> TaskItem { try await perform { try await $0.get(id) } }
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
    public func nextReady(limit: Int) async throws -> [TaskItem] {
        try await perform { try await $0.nextReady(limit: limit) }
    }
    public func claim(_ id: TaskID, owner: String, ttl: Double?) async throws -> TaskItem {
        try await perform { try await $0.claim(id, owner: owner, ttl: ttl) }
    }
    public func saveProposal(_ proposal: Proposal) async throws {
        try await perform { try await $0.saveProposal(proposal) }
    }
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
    public func count() async throws -> Int { try await perform { try await $0.count() } }
    public func close() async { await current.withLock { $0 }.close() }

    struct DetailsBox: Sendable {
        var task: TaskItem
        var dependencies: DependencyList
    }
}
