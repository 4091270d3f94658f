import Foundation
import MinskyCore

/// Up to 400 records of an import as the rows they become: tasks (with their readiness
/// counters), history and edges, ready for `SQLConnection.insert`.
struct ImportChunk: Sendable {
    /// What every record of one import shares.
    struct Context: Sendable {
        let plan: ImportPlan
        let openOutside: Set<TaskID>
        let now: Timestamp
        let actor: String
        let tracks: Bool
    }

    static let size = 400

    var tasks = SQLRows(
        "tasks",
        [
            ("id", .text), ("title", .text), ("description", .text), ("status", .text), ("priority", .integer),
            ("tags", .json), ("metadata", .json), ("parent_id", .text), ("assignee", .text),
            ("claim_expires_at", .timestamp), ("created_at", .timestamp), ("updated_at", .timestamp),
            ("version", .integer), ("acceptance", .json), ("open_blockers", .integer), ("open_subtasks", .integer),
            ("paths", .json), ("evidence", .json),
        ])
    var events = SQLRows.events
    var edges = SQLRows(
        "task_dependencies", [("task_id", .text), ("depends_on_id", .text), ("created_at", .timestamp)])
    /// Each record's position in the source and its id.
    var ids: [(position: Int, id: TaskID)] = []
    /// Records without an id: the writer gives them one (it can ask the store which are free).
    var waiting: [(position: Int, record: TaskRecord)] = []
    /// For a store that tracks changes for sync.
    var tracked: [(TaskID, String, JSONValue)] = []
    var trackedEdges: [(TaskID, TaskID)] = []
    var notes: [(task: TaskID, origin: String, note: TaskRecord.RecordNote, n: Int)] = []

    var count: Int { ids.count + waiting.count }

    /// Adds a validated record as the rows it becomes.
    mutating func add(_ r: TaskRecord, id: TaskID, position: Int, _ context: Context) {
        let now = context.now
        let created = r.createdAt ?? Timestamp(microseconds: now.microseconds + Int64(position))
        let t = TaskItem(
            id: id, title: r.title, description: r.description, status: r.status, priority: r.priority, tags: r.tags,
            metadata: r.metadata, parentId: r.parentId, assignee: r.assignee, claimExpiresAt: r.claimExpiresAt,
            createdAt: created, updatedAt: r.updatedAt ?? created, version: r.version ?? 1, acceptance: r.acceptance,
            paths: r.paths, evidence: r.evidence)
        let n = context.plan.counters(position, openOutside: context.openOutside)
        tasks.append(
            .text(id.rawValue), .text(t.title), .text(t.description), .text(t.status.rawValue),
            .int(Int64(t.priority.value)), .text(JSONValue.array(t.tags.map { .string($0) }).canonicalJSON()),
            .text(t.metadata.canonicalJSON()), t.parentId.map { .text($0.rawValue) } ?? .null,
            t.assignee.map(SQLValue.text) ?? .null, t.claimExpiresAt.map { .text($0.iso8601) } ?? .null,
            .text(t.createdAt.iso8601), .text(t.updatedAt.iso8601), .int(t.version),
            .text(AcceptanceCriterion.json(t.acceptance).canonicalJSON()), .int(n.blockers), .int(n.subtasks),
            .text(JSONValue.array(t.paths.map { .string($0) }).canonicalJSON()), .text(t.evidence.json.canonicalJSON()))
        var changes = TaskEvent.changes(from: nil, to: t).objectValue ?? [:]
        if !r.dependsOn.isEmpty { changes["dependsOn"] = ["after": .array(r.dependsOn.map { .string($0.rawValue) })] }
        events.appendEvent(id, "imported", .object(changes), at: now, actor: context.actor)
        for dep in r.dependsOn { edges.append(.text(id.rawValue), .text(dep.rawValue), .text(now.iso8601)) }
        if context.tracks {
            tracked.append((id, "imported", .object(changes)))
            for dep in r.dependsOn { trackedEdges.append((id, dep)) }
        }
        for (k, note) in r.notes.enumerated() { notes.append((id, r.origin, note, k)) }
        ids.append((position, id))
    }
}

/// Reads an import's source on a thread of its own, turning records into chunks of rows, at
/// most a few chunks ahead of the writer that takes them with `next()`. An error on either side
/// stops both; `stop()` returns only once the reader has let go of the source.
final class ImportPipe: @unchecked Sendable {
    static let sourceChanged = MinskyError(
        .internal, "the import source changed while it was read; nothing was imported")

    private let lock = NSCondition()
    private var ready: [ImportChunk] = []
    private var finished = false
    private var failure: (any Error)?
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    private static let ahead = 4

    init(source: any TaskRecordSource, context: ImportChunk.Context) {
        let thread = Thread { [self] in
            defer { done.signal() }
            var chunk = ImportChunk()
            var position = 0
            do {
                try source.forEach { raw in
                    let r = try raw.validated()
                    if let id = r.id {
                        chunk.add(r, id: id, position: position, context)
                    } else {
                        chunk.waiting.append((position, r))
                    }
                    position += 1
                    if chunk.count == ImportChunk.size {
                        try put(chunk)
                        chunk = ImportChunk()
                    }
                }
                if chunk.count > 0 { try put(chunk) }
                lock.lock()
                finished = true
                lock.broadcast()
                lock.unlock()
            } catch {
                lock.lock()
                if failure == nil { failure = error }
                lock.broadcast()
                lock.unlock()
            }
        }
        thread.stackSize = 1 << 22
        thread.start()
    }

    private func put(_ chunk: ImportChunk) throws {
        lock.lock()
        defer { lock.unlock() }
        while ready.count >= Self.ahead && !stopped { lock.wait() }
        if stopped { throw CancellationError() }
        ready.append(chunk)
        lock.broadcast()
    }

    /// The next chunk, nil after the last; rethrows the reader's error.
    func next() throws -> ImportChunk? {
        lock.lock()
        defer { lock.unlock() }
        while ready.isEmpty && !finished && failure == nil { lock.wait() }
        if let failure { throw failure }
        if ready.isEmpty { return nil }
        let chunk = ready.removeFirst()
        lock.broadcast()
        return chunk
    }

    /// Stops the reader (if still reading) and waits until it has.
    func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
        done.wait()
        done.signal()
    }
}
