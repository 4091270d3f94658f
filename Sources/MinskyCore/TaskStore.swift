/// Tasks, their dependencies and claims: the core of the contract every backend implements
/// (with `ProposalStore`, `EmbeddingStore` and `AICallLog`, together `MinskyStore`). The
/// conformance suite runs the same tests against each implementation so the stores cannot drift.
///
/// Implementations are safe to call from many tasks at once and must make each operation
/// atomic: a thrown error means nothing was written.
public protocol TaskStore: Sendable {
    /// A description for humans: `sqlite:/path/tasks.db`, `postgresql://host:port/db` (no password).
    var location: String { get }

    func create(_ draft: NewTask) async throws -> TaskItem
    /// Creates every draft in one transaction: all of them or none. Drafts may refer to earlier
    /// drafts of the batch (`batchParent`, `batchDependsOn`). `progress` gets the count created so
    /// far; when `isCancelled` turns true the transaction is rolled back and `CancellationError` thrown.
    func createMany(
        _ drafts: [NewTask], progress: (@Sendable (Int) -> Void)?, isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [TaskItem]
    /// Writes records as they are (ids, timestamps, versions, claims) in one transaction: all or
    /// none. Records may refer to each other in any order; ids already in the store are refused.
    /// The source is read more than once and never held whole. Returns the ids in record order.
    func importRecords(from source: any TaskRecordSource) async throws -> [TaskID]
    func get(_ id: TaskID) async throws -> TaskItem
    func list(_ query: TaskQuery) async throws -> TaskPage
    /// Applies `patch`. With `expectedVersion`, a different current version is a `.conflict`
    /// error and nothing is written.
    func update(_ id: TaskID, _ patch: TaskPatch, expectedVersion: Int64?) async throws -> TaskItem
    /// Deletes the task and its dependency edges. A task with subtasks is refused unless
    /// `cascade`, which deletes the whole subtree. Returns every deleted id.
    func delete(_ id: TaskID, cascade: Bool) async throws -> [TaskID]

    /// `task` is blocked by `dependsOn`. Adding an existing edge is a no-op that returns it.
    func addDependency(_ task: TaskID, dependsOn: TaskID) async throws -> Dependency
    func removeDependency(_ task: TaskID, dependsOn: TaskID) async throws
    func dependencies(of id: TaskID) async throws -> DependencyList
    /// A task and both directions of its dependencies, read in one consistent snapshot.
    func details(_ id: TaskID) async throws -> (task: TaskItem, dependencies: DependencyList)
    /// Every dependency edge whose two ends are both in `ids` (all edges when `ids` is nil).
    func dependencyEdges(among ids: [TaskID]?) async throws -> [Dependency]
    /// The edges whose waiting task is in `ids` (its blocker anywhere), ordered by task and blocker.
    func dependencyEdges(from ids: [TaskID]) async throws -> [Dependency]
    /// What a board shows (see `BoardSnapshot`), in one consistent snapshot.
    func board(_ filter: BoardFilter) async throws -> BoardSnapshot
    /// A task and every task under it, the root first, then level by level.
    func subtree(root: TaskID) async throws -> [TaskItem]

    /// Tasks ready to start: TODO (or IN-PROGRESS with a lapsed claim), every blocker DONE or
    /// CLOSED, and no open subtasks; most urgent priority first, then oldest, then id.
    /// Only tasks `filter` admits (tag, subtree, owner).
    func nextReady(limit: Int, filter: ReadyFilter) async throws -> [TaskItem]
    /// Atomically marks the task IN-PROGRESS for `owner`. Refused with `.alreadyClaimed` when
    /// another owner holds an unexpired claim, and for DONE or CLOSED tasks. `ttl` nil: no expiry.
    /// A task with open blockers is refused, naming them, unless `force`.
    func claim(_ id: TaskID, owner: String, ttl: Double?, force: Bool) async throws -> TaskItem
    /// Extends the claim `owner` holds by `ttl` seconds from now. A `.conflict` naming the holder
    /// when the claim lapsed and another owner took it, or the task is not claimed.
    func heartbeat(_ id: TaskID, owner: String, ttl: Double) async throws -> TaskItem
    /// Gives the claim back: the task is TODO again, unassigned. A `.conflict` unless `owner` holds it.
    func release(_ id: TaskID, owner: String) async throws -> TaskItem
    /// The live claims of tasks that name paths (IN-PROGRESS, assigned, not lapsed).
    func pathLeases() async throws -> [PathLease]
    /// The DONE tasks most recently changed first, at most `limit` (what calibration and
    /// `tasks stale` read: never every closed task).
    func recentlyDone(limit: Int) async throws -> [TaskItem]

    func count() async throws -> Int
    func close() async
}

/// AI proposals awaiting review (decompositions stored by `--dry-run`).
public protocol ProposalStore: Sendable {
    /// Stores a proposal for its task (which must exist), or for no task yet.
    func saveProposal(_ proposal: Proposal) async throws
    /// Proposals, newest first; only those for `taskId` when given.
    func proposals(for taskId: TaskID?) async throws -> [Proposal]
    func proposal(_ id: String) async throws -> Proposal
    /// Marks a proposal applied; `.conflict` if it already was.
    func markProposalApplied(_ id: String) async throws
    /// Ties a proposal stored without a task to the root task made when it is first applied.
    func attachProposal(_ id: String, to taskId: TaskID) async throws
    /// Removes a proposal (what was already applied of it stays).
    func deleteProposal(_ id: String) async throws
}

/// Embeddings of tasks and search by meaning.
public protocol EmbeddingStore: Sendable {
    /// Stores (replaces) embeddings, one per task.
    func saveEmbeddings(_ items: [TaskEmbedding]) async throws
    /// Content hashes of the stored embeddings of `model`, by task: what `embed` compares.
    func embeddingHashes(model: String) async throws -> [TaskID: String]
    /// The `k` stored embeddings of `model` most similar (cosine) to `query`, best first.
    /// SQLite scans a contiguous in-memory matrix; PostgreSQL uses pgvector's HNSW index when
    /// the extension is there, the same scan otherwise.
    func similar(to query: [Float], model: String, k: Int) async throws -> [(id: TaskID, score: Float)]
    /// How `similar` runs on this store (for `doctor`).
    func vectorSearchMethod() async -> String
}

/// The record of every model call: tokens, time, outcome.
public protocol AICallLog: Sendable {
    /// Records one model call (tokens used, time, outcome).
    func recordAICall(_ call: AICall) async throws
    /// Recorded calls, newest first.
    func aiCalls(limit: Int) async throws -> [AICall]
    /// Calls and tokens summed per provider, model and purpose, most tokens first.
    func aiUsage() async throws -> [AIUsage]
}

/// Notes on a task: append-only comments with author and time.
public protocol NoteStore: Sendable {
    /// Appends a note to `taskId` as the store's actor (the database role on PostgreSQL).
    func addNote(_ taskId: TaskID, body: String) async throws -> TaskNote
    /// The notes of `taskId`, oldest first.
    func notes(of taskId: TaskID) async throws -> [TaskNote]
    /// Every note of the store, by task then oldest first (what export writes).
    func allNotes() async throws -> [TaskNote]
}

/// The history of every change, append-only.
public protocol HistoryStore: Sendable {
    /// The events of `id` (the task may be deleted), oldest first, `limit` at a time; `cursor`
    /// is the previous page's `nextCursor`.
    func history(of id: TaskID, limit: Int, cursor: String?) async throws -> TaskEventPage
    /// The newest `limit` events of `id`, oldest of them first (the board's panel).
    func latestHistory(of id: TaskID, limit: Int) async throws -> [TaskEvent]
    /// Events of every task at or after `since`, oldest first, at most `limit` (the change feed).
    func events(since: Timestamp, limit: Int) async throws -> [TaskEvent]
    /// Events strictly after a position in the history's order (time, then id), oldest first.
    func events(after position: EventPosition, limit: Int) async throws -> [TaskEvent]
}

/// Everything a minsky store keeps: what the stores implement and the adapters hold. Code that
/// needs only part of it takes only that part (`any MinskyStore`, `any AICallLog`, …).
public typealias MinskyStore = TaskStore & ProposalStore & EmbeddingStore & AICallLog & HistoryStore & NoteStore
    & AccessReporting & JobStore & TokenStore

/// A store that also takes part in sync (both SQL stores): what `StoreFactory` opens, so
/// callers reach the sync calls without casting.
public typealias SyncableStore = MinskyStore & SyncPeer

extension TaskStore {
    /// Imports records held in memory; see `importRecords(from:)`.
    public func importRecords(_ records: [TaskRecord]) async throws -> [TaskID] {
        try await importRecords(from: RecordList(records))
    }
    public func nextReady(limit: Int) async throws -> [TaskItem] {
        try await nextReady(limit: limit, filter: ReadyFilter())
    }

    /// Why `nextReady` finds nothing for `filter`: what the open tasks it admits wait for.
    /// Reads the tasks the filter admits (only called when nothing is ready).
    public func notReadyReport(filter: ReadyFilter, now: Timestamp = .now()) async throws -> NotReadyReport {
        let f = try filter.validated()
        var tasks: [TaskItem]
        if let p = f.parent {
            tasks = Array(try await subtree(root: p).dropFirst())
        } else {
            tasks = try await listAll(TaskQuery(tag: f.tag, assignee: f.assignee, limit: TaskQuery.maxLimit))
        }
        tasks = tasks.filter { f.admits($0, now: now) }
        var r = NotReadyReport()
        var waiting: [TaskItem] = []
        for t in tasks {
            if t.status.isResolved {
                r.resolved += 1
                continue
            }
            r.open += 1
            if t.status == .inProgress, t.assignee != nil, t.claimExpiresAt.map({ $0 > now }) ?? true {
                r.claimed.append(t)
            } else if t.status == .blocked || t.status == .inReview {
                r.held.append(t)
            } else {
                waiting.append(t)
            }
        }
        guard !waiting.isEmpty else { return r }
        let leases = try await pathLeases()
        // The rest wait for unfinished blockers or for open subtasks: one read of the edges tells
        // which (blockers outside the filter are read too, to know whether they are finished).
        let ids = Set(waiting.map(\.id))
        let edges = try await dependencyEdges(from: Array(ids))
        var known = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // Blockers outside the filtered tasks: read one by one (never the whole store).
        for id in Set(edges.map(\.dependsOn)) where known[id] == nil {
            if let t = try? await get(id) { known[id] = t }
        }
        var blockers: [TaskID: [DependencyList.Edge]] = [:]
        for e in edges {
            guard let b = known[e.dependsOn], !b.status.isResolved else { continue }
            blockers[e.taskId, default: []].append(
                .init(id: b.id, title: b.title, status: b.status, priority: b.priority))
        }
        for t in waiting {
            if let open = blockers[t.id] {
                r.blocked.append(.init(task: t, blockers: open))
            } else if case let c = PathLease.conflicts(of: t.paths, task: t.id, owner: f.owner, among: leases),
                !c.isEmpty
            {
                r.leased.append(.init(task: t, conflicts: c))
            } else {
                r.waitingForSubtasks.append(t)
            }
        }
        return r
    }

    /// A claim that refuses a blocked task.
    public func claim(_ id: TaskID, owner: String, ttl: Double?) async throws -> TaskItem {
        try await claim(id, owner: owner, ttl: ttl, force: false)
    }

    /// Claims the first ready task nobody else holds, clear of the paths others hold; retries
    /// past tasks another agent won (or closed, or whose paths another claim took meanwhile).
    public func claimNext(owner: String, ttl: Double?, filter: ReadyFilter = ReadyFilter()) async throws -> TaskItem? {
        var filter = filter
        filter.owner = owner
        for _ in 0..<5 {
            let ready = try await nextReady(limit: 20, filter: filter)
            if ready.isEmpty { return nil }
            for candidate in ready {
                do { return try await claim(candidate.id, owner: owner, ttl: ttl) } catch let e as MinskyError
                    where e.code == .alreadyClaimed || e.code == .notFound
                    || (e.code == .invalidInput && e.field == "status")
                {
                    continue
                }
            }
        }
        return nil
    }

    /// All tasks matching `query`, following cursors to the end.
    public func listAll(_ query: TaskQuery = TaskQuery(limit: TaskQuery.maxLimit)) async throws -> [TaskItem] {
        var q = query
        var out: [TaskItem] = []
        while true {
            let page = try await list(q)
            out += page.tasks
            guard let c = page.nextCursor else { return out }
            q.cursor = c
        }
    }

    /// The subtask tree under `root` (the whole store when nil) with the dependency edges among it.
    /// `root` and every task below it, level by level.
    public func tree(root: TaskID?) async throws -> TaskTree {
        let tasks: [TaskItem]
        if let root { tasks = try await subtree(root: root) } else { tasks = try await listAll() }
        // Every blocker of a task in the tree, inside it or not.
        let inTree = Set(tasks.map(\.id))
        let edges = try await root == nil ? dependencyEdges(among: nil) : dependencyEdges(from: Array(inTree))
        // Blockers outside the tree: read, so a finished one is not shown as blocking.
        var resolved: Set<TaskID> = []
        for id in Set(edges.map(\.dependsOn)).subtracting(inTree) {
            if let b = try? await get(id), b.status.isResolved { resolved.insert(id) }
        }
        return TaskTree(tasks: tasks, edges: edges, root: root, resolved: resolved)
    }
}
