import Foundation
import MinskyCore

/// The board's JSON API, apart from HTTP: a request's method, path, query and body in, a
/// status and a JSON body out. Every read and write goes through the store's contract, so the
/// board behaves the same on SQLite and PostgreSQL, and the database's roles still decide.
public struct BoardAPI: Sendable {
    /// The tasks closest in meaning to `text`, best first, with their similarity.
    public typealias Search =
        @Sendable (_ text: String, _ store: any MinskyStore) async throws -> [(
            id: TaskID, score: Float
        )]

    let store: any MinskyStore
    /// Search by meaning, when embeddings are configured (nil: the board hides the option).
    let meaning: Search?
    /// The project's `done.requires`, read at each move to DONE.
    let doneRequires: @Sendable () -> DoneRequirement

    /// How many cards a column shows: open ones most urgent first, DONE and CLOSED most recent first.
    public static let openShown = 500
    public static let resolvedShown = 200

    public init(
        store: any MinskyStore, meaning: Search?,
        doneRequires: @escaping @Sendable () -> DoneRequirement = { .criteria }
    ) {
        self.store = store
        self.meaning = meaning
        self.doneRequires = doneRequires
    }

    public struct Reply: Sendable {
        public var status: Int
        public var body: JSONValue
    }

    public func handle(method: String, path: String, query: [String: String], body: Data) async -> Reply {
        do {
            let parts = path.split(separator: "/").map(String.init)
            let id = parts.count >= 3 && parts[0] == "api" && parts[1] == "task" ? parts[2] : nil
            switch (method, parts.count, id) {
            case ("GET", 2, nil) where parts == ["api", "board"]:
                return Reply(status: 200, body: try await board(query))
            case ("GET", 3, let id?):
                return Reply(status: 200, body: try await detail(try parse(id)))
            case ("POST", 2, nil) where parts == ["api", "tasks"]:
                try await requireWrite("create tasks")
                return Reply(status: 201, body: try await create(try json(body)))
            case ("POST", 3, let id?):
                try await requireWrite("change tasks")
                return try await update(try parse(id), try json(body))
            case ("POST", 4, let id?) where parts[3] == "note":
                try await requireWrite("add notes")
                let b = try json(body)
                return Reply(
                    status: 201, body: try await store.addNote(try parse(id), body: b["body"]?.stringValue ?? "").json)
            default:
                return Reply(
                    status: 404, body: Self.error(MinskyError(.notFound, "no such endpoint: \(method) \(path)")))
            }
        } catch let e as MinskyError {
            return Reply(status: Self.status(e.code), body: Self.error(e))
        } catch {
            return Reply(status: 500, body: Self.error(MinskyError(.internal, "\(error)")))
        }
    }

    static func error(_ e: MinskyError) -> JSONValue {
        [
            "error": [
                "code": .string(e.code.rawValue), "message": .string(e.message),
                "field": e.field.map { .string($0) } ?? .null,
            ]
        ]
    }

    static func status(_ c: MinskyError.Code) -> Int {
        switch c {
        case .invalidInput, .cycle: 400
        case .notFound: 404
        case .conflict, .alreadyClaimed: 409
        case .permissionDenied: 403
        case .declined: 409
        case .storeUnavailable, .modelUnavailable, .notConfigured, .storeMoved, .storeIncompatible: 503
        case .internal: 500
        }
    }

    func parse(_ id: String) throws -> TaskID {
        let raw = id.removingPercentEncoding ?? id
        do { return try TaskID(validating: raw) } catch var e as MinskyError {
            e.field = "id"
            throw e
        }
    }

    func json(_ body: Data) throws -> JSONValue {
        let v = try JSONValue.parse(String(decoding: body, as: UTF8.self), field: "body")
        guard case .object = v else { throw MinskyError.invalid("body", "the request body must be a JSON object") }
        return v
    }

    /// Viewers get a read-only board; the database refuses their writes anyway.
    func requireWrite(_ what: String) async throws {
        let a = try await store.access()
        if !a.allows(.write) { throw a.refusal(what, needs: .write) }
    }

    // MARK: Reads

    /// The cards of every column, with what blocks them, filtered by tag, assignee, words or
    /// meaning. The store reads what the columns show (`TaskStore.board`), never every task.
    func board(_ q: [String: String]) async throws -> JSONValue {
        let tag = try q["tag"].flatMap { $0.isEmpty ? nil : try TaskRules.normalizeTags([$0]).first }
        let assignee = q["assignee"].flatMap { $0.isEmpty ? nil : $0 }
        var filter = BoardFilter(
            tag: tag, assignee: assignee, openLimit: Self.openShown, resolvedLimit: Self.resolvedShown)
        var order: [TaskID: Int]?
        if let text = q["q"], !text.trimmingCharacters(in: .whitespaces).isEmpty {
            if q["meaning"] == "1" {
                guard let meaning else {
                    throw MinskyError(
                        .notConfigured,
                        "search by meaning needs embeddings: configure them and run `minsky tasks embed`")
                }
                // The close ones: at least half as similar as the best match.
                let hits = try await meaning(text, store)
                let best = hits.first?.score ?? 0
                let close = hits.filter { $0.score > 0 && $0.score >= best / 2 }
                order = Dictionary(close.enumerated().map { ($1.id, $0) }, uniquingKeysWith: min)
                filter.ids = Array(close.prefix(TaskQuery.maxLimit).map(\.id))
            } else {
                // The first page of matches, oldest first.
                filter.ids = try await store.list(TaskQuery(text: text, limit: TaskQuery.maxLimit)).tasks.map(\.id)
            }
        }
        let b = try await store.board(filter)
        var tasks = TaskStatus.allCases.flatMap { b.columns[$0] ?? [] }
        // Live claims on paths: a card whose paths someone else holds says so.
        let leases = try await store.pathLeases()
        if let order { tasks.sort { order[$0.id] ?? .max < order[$1.id] ?? .max } }
        let cards: [JSONValue] = tasks.map { t in
            var o: [String: JSONValue] = [
                "id": .string(t.id.rawValue), "title": .string(t.title), "status": .string(t.status.rawValue),
                "priority": .int(Int64(t.priority.value)), "tags": .array(t.tags.map { .string($0) }),
                "version": .int(t.version),
            ]
            if let a = t.assignee { o["assignee"] = .string(a) }
            if let e = t.claimExpiresAt { o["claimExpiresAt"] = .string(e.iso8601) }
            if let p = t.parentId { o["parentId"] = .string(p.rawValue) }
            if let blockers = b.openBlockers[t.id] {
                o["blockedBy"] = .array(blockers.map { ["id": .string($0.id.rawValue), "title": .string($0.title)] })
            }
            if let n = b.openSubtasks[t.id] { o["openSubtasks"] = .int(Int64(n)) }
            if !t.paths.isEmpty {
                o["paths"] = .int(Int64(t.paths.count))
                if !t.status.isResolved {
                    let held = PathLease.conflicts(
                        of: t.paths, task: t.id, owner: t.status == .inProgress ? t.assignee : nil, among: leases)
                    if !held.isEmpty {
                        o["pathsHeld"] = .array(
                            held.map { ["id": .string($0.lease.taskId.rawValue), "owner": .string($0.lease.owner)] })
                    }
                }
            }
            if !t.evidence.isEmpty { o["evidence"] = true }
            if !t.acceptance.isEmpty {
                o["acceptance"] = [
                    "done": .int(Int64(t.acceptance.count - t.uncheckedCriteria.count)),
                    "total": .int(Int64(t.acceptance.count)),
                ]
            }
            return .object(o)
        }
        let counts = b.counts
        let access = try await store.access()
        return [
            "tasks": .array(cards),
            "statuses": .array(TaskStatus.allCases.map { .string($0.rawValue) }),
            "counts": .object(
                Dictionary(
                    uniqueKeysWithValues: TaskStatus.allCases.map { ($0.rawValue, .int(Int64(counts[$0] ?? 0))) })),
            // The filters offer what the cards shown carry (all of it until a column overflows).
            "tags": .array(Set(tasks.flatMap(\.tags) + [tag].compactMap { $0 }).sorted().map { .string($0) }),
            "assignees": .array(
                Set(tasks.compactMap(\.assignee) + [assignee].compactMap { $0 }).sorted().map { .string($0) }),
            "identity": .string(access.identity), "right": .string(access.right.rawValue),
            "readOnly": .bool(!access.allows(.write)), "meaning": .bool(meaning != nil),
            "store": .string(store.location),
        ]
    }

    /// One task for the panel: every field, edges, notes, history, and its subtree with blockers.
    func detail(_ id: TaskID) async throws -> JSONValue {
        let (t, deps) = try await store.details(id)
        var o = TaskJSON.detail(t, deps, notes: try await store.notes(of: id)).objectValue ?? [:]
        if o["notes"] == nil { o["notes"] = .array([]) }
        let events = try await store.latestHistory(of: id, limit: 200)
        o["history"] = .array(
            events.map { e in
                var j = e.json.objectValue ?? [:]
                j["words"] = .string(e.words)
                return .object(j)
            })
        o["tree"] = TaskJSON.tree(try await store.tree(root: id), full: false)
        return .object(o)
    }

    // MARK: Writes

    /// A new task from the page's form: decoded as the MCP tool and the core decode one (an
    /// empty parent field means none).
    func create(_ b: JSONValue) async throws -> JSONValue {
        guard case .object(var o) = b else { throw MinskyError.invalid("body", "send a JSON object with a title") }
        if o["parentId"] == "" { o["parentId"] = nil }
        return TaskJSON.full(try await store.create(try JSONValue.object(o).decoded(as: NewTask.self)))
    }

    /// A drag (status) or a check, with the version the page saw: a stale one is a 409 that
    /// carries the task as it is now, and nothing is written.
    func field(_ v: JSONValue, _ name: String) throws -> String {
        guard let s = v.stringValue else { throw MinskyError.invalid(name, "\(name) must be text") }
        return s
    }

    func update(_ id: TaskID, _ b: JSONValue) async throws -> Reply {
        var patch = TaskPatch()
        if let s = b["status"]?.stringValue { patch.status = try TaskStatus(parsing: s) }
        // Edits from the panel: the same rules as every other way in (TaskRules, in the store).
        if let v = b["title"] { patch.title = try field(v, "title") }
        if let v = b["description"] { patch.description = try field(v, "description") }
        if let v = b["priority"] {
            guard let n = v.intValue else { throw MinskyError.invalid("priority", "priority must be 0 to 4") }
            patch.priority = try Priority(Int(n))
        }
        if let v = b["tags"] {
            guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw MinskyError.invalid("tags", "tags must be a list of words")
            }
            patch.tags = a.compactMap(\.stringValue)
        }
        if let v = b["assignee"] { patch.assignee = try field(v, "assignee") }
        if let n = b["check"]?.intValue { patch.check[Int(n)] = b["done"]?.boolValue ?? true }
        patch.force = b["force"]?.boolValue ?? false
        patch.doneRequires = doneRequires()
        guard let expected = b["expectedVersion"]?.intValue else {
            throw MinskyError.invalid("expectedVersion", "the board sends the version it saw (expectedVersion)")
        }
        do {
            return Reply(status: 200, body: TaskJSON.full(try await store.update(id, patch, expectedVersion: expected)))
        } catch let e as MinskyError where e.code == .conflict {
            var body = Self.error(e).objectValue ?? [:]
            body["current"] = TaskJSON.full(try await store.get(id))
            return Reply(status: 409, body: .object(body))
        }
    }
}
