/// A task as `tasks export` writes it and `tasks import` reads it: every stored field and the
/// ids it waits for. Only `title` is required on import; a record without `id` gets a new one,
/// and one without timestamps is stamped now. Export writes every field, so export → import into
/// an empty store reproduces each task exactly.
public struct TaskRecord: Sendable, Hashable {
    public var id: TaskID?
    public var title: String
    public var description: String = ""
    public var status: TaskStatus = .todo
    public var priority: Priority = .default
    public var tags: [String] = []
    public var metadata: JSONValue = .object([:])
    public var parentId: TaskID?
    public var dependsOn: [TaskID] = []
    public var assignee: String?
    public var claimExpiresAt: Timestamp?
    public var createdAt: Timestamp?
    public var updatedAt: Timestamp?
    public var version: Int64?
    public var acceptance: [AcceptanceCriterion] = []
    public var paths: [String] = []
    public var evidence = Evidence()
    /// The task's notes, oldest first: each keeps its id, author, body and time.
    public var notes: [RecordNote] = []
    /// Where the record came from ("line 3"), prefixed to every error about it.
    public var origin: String

    public init(title: String, origin: String) {
        self.title = title
        self.origin = origin
    }

    /// A note as a record carries it (the task is the record's).
    public struct RecordNote: Sendable, Hashable {
        public var id: String
        public var author: String
        public var body: String
        public var createdAt: Timestamp
        public init(id: String, author: String, body: String, createdAt: Timestamp) {
            self.id = id
            self.author = author
            self.body = body
            self.createdAt = createdAt
        }
        public init(_ n: TaskNote) { self.init(id: n.id, author: n.author, body: n.body, createdAt: n.createdAt) }
        public var json: JSONValue {
            [
                "id": .string(id), "author": .string(author), "body": .string(body),
                "createdAt": .string(createdAt.iso8601),
            ]
        }
    }

    /// The record of a stored task, its blockers and its notes.
    public init(_ t: TaskItem, dependsOn: [TaskID], notes: [TaskNote] = []) {
        self.notes = notes.map(RecordNote.init)
        id = t.id
        title = t.title
        description = t.description
        status = t.status
        priority = t.priority
        tags = t.tags
        metadata = t.metadata
        parentId = t.parentId
        self.dependsOn = dependsOn
        assignee = t.assignee
        claimExpiresAt = t.claimExpiresAt
        createdAt = t.createdAt
        updatedAt = t.updatedAt
        version = t.version
        acceptance = t.acceptance
        paths = t.paths
        evidence = t.evidence
        origin = t.id.rawValue
    }

    /// Every key a record may hold, in the order `fields` lists them in messages.
    public static let keys = [
        "id", "title", "description", "status", "priority", "tags", "metadata", "parentId", "dependsOn", "assignee",
        "claimExpiresAt", "createdAt", "updatedAt", "version", "acceptance", "paths", "evidence", "notes",
    ]

    /// The JSON object export writes: the full task shape plus `dependsOn`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "title": .string(title), "description": .string(description), "status": .string(status.rawValue),
            "priority": .int(Int64(priority.value)), "tags": .array(tags.map { .string($0) }), "metadata": metadata,
            "dependsOn": .array(dependsOn.map { .string($0.rawValue) }),
        ]
        if let id { o["id"] = .string(id.rawValue) }
        if let parentId { o["parentId"] = .string(parentId.rawValue) }
        if let assignee { o["assignee"] = .string(assignee) }
        if let claimExpiresAt { o["claimExpiresAt"] = .string(claimExpiresAt.iso8601) }
        if let createdAt { o["createdAt"] = .string(createdAt.iso8601) }
        if let updatedAt { o["updatedAt"] = .string(updatedAt.iso8601) }
        if let version { o["version"] = .int(version) }
        if !acceptance.isEmpty { o["acceptance"] = AcceptanceCriterion.json(acceptance) }
        if !paths.isEmpty { o["paths"] = .array(paths.map { .string($0) }) }
        if !evidence.isEmpty { o["evidence"] = evidence.json }
        if !notes.isEmpty { o["notes"] = .array(notes.map(\.json)) }
        return .object(o)
    }

    /// Reads one record strictly: an unknown key or a value of the wrong type is an error that
    /// names the key, never silently dropped.
    public init(json value: JSONValue, origin: String) throws {
        func fail(_ field: String, _ message: String) -> MinskyError {
            MinskyError.invalid(field, "\(origin): \(message)")
        }
        guard case .object(let o) = value else {
            throw fail("task", "expected a JSON object like {\"title\": \"Write docs\"}, got \(value.typeName)")
        }
        let allowed = Set(Self.keys)
        let unknown = o.keys.sorted().filter { !allowed.contains($0) }
        if let first = unknown.first {
            let names = unknown.map { "\"\($0)\"" }.joined(separator: ", ")
            throw fail(
                first,
                "unknown key\(unknown.count > 1 ? "s" : "") \(names); allowed keys: \(Self.keys.joined(separator: ", "))"
            )
        }
        func string(_ k: String) throws -> String? {
            guard let v = o[k], !v.isNull else { return nil }
            guard let s = v.stringValue else { throw fail(k, "\(k) must be a string, got \(v.typeName)") }
            return s
        }
        func taskID(_ k: String, _ raw: String) throws -> TaskID {
            do { return try TaskID(validating: raw) } catch let e as MinskyError { throw fail(k, e.message) }
        }
        func timestamp(_ k: String) throws -> Timestamp? {
            guard let s = try string(k) else { return nil }
            guard let t = Timestamp(iso8601: s) else {
                throw fail(k, "\(k) '\(s.prefix(40))' is not an ISO 8601 time like 2026-12-02T17:00:00.000000Z")
            }
            return t
        }
        func checked<T>(_ k: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as MinskyError { throw fail(e.field ?? k, e.message) }
        }
        guard let title = try string("title") else {
            throw fail("title", "title is required, e.g. {\"title\": \"Write docs\"}")
        }
        self.init(title: title, origin: origin)
        id = try string("id").map { try taskID("id", $0) }
        description = try string("description") ?? ""
        if let s = try string("status") { status = try checked("status") { try TaskStatus(parsing: s) } }
        if let v = o["priority"], !v.isNull {
            guard let n = v.intValue else {
                throw fail("priority", "priority must be an integer 0-4, got \(v.typeName)")
            }
            priority = try checked("priority") { try Priority(Int(n)) }
        }
        if let v = o["tags"], !v.isNull {
            guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw fail("tags", "tags must be an array of strings like [\"backend\"]")
            }
            tags = a.compactMap(\.stringValue)
        }
        if let v = o["metadata"], !v.isNull { metadata = v }
        parentId = try string("parentId").map { try taskID("parentId", $0) }
        if let v = o["dependsOn"], !v.isNull {
            guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw fail("dependsOn", "dependsOn must be an array of task ids like [\"mk-4f9za\"]")
            }
            dependsOn = try a.compactMap(\.stringValue).map { try taskID("dependsOn", $0) }
        }
        assignee = try string("assignee")
        claimExpiresAt = try timestamp("claimExpiresAt")
        createdAt = try timestamp("createdAt")
        updatedAt = try timestamp("updatedAt")
        if let v = o["acceptance"], !v.isNull {
            guard let list = AcceptanceCriterion.list(v) else {
                throw fail(
                    "acceptance", "acceptance must be an array like [{\"text\": \"tests pass\", \"done\": false}]")
            }
            acceptance = list
        }
        if let v = o["paths"], !v.isNull {
            guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw fail("paths", "paths must be an array of path patterns like [\"Sources/App/**\", \"README.md\"]")
            }
            paths = try checked("paths") { try TaskPaths.normalize(a.compactMap(\.stringValue)) }
        }
        if let v = o["evidence"], !v.isNull { evidence = try checked("evidence") { try Evidence.parse(v) } }
        if let v = o["notes"], !v.isNull {
            guard let a = v.arrayValue else {
                throw fail("notes", "notes must be an array like [{\"author\": \"ana\", \"body\": \"…\"}]")
            }
            notes = try a.enumerated().map { i, n in
                guard let body = n["body"]?.stringValue, let author = n["author"]?.stringValue else {
                    throw fail("notes", "note \(i + 1) needs a body and an author (strings)")
                }
                let at: Timestamp
                if let text = n["createdAt"]?.stringValue {
                    guard let t = Timestamp(iso8601: text) else {
                        throw fail("notes", "note \(i + 1): createdAt '\(text.prefix(40))' is not an ISO 8601 time")
                    }
                    at = t
                } else {
                    at = .now()
                }
                let unknown = Set((n.objectValue ?? [:]).keys).subtracting(["id", "author", "body", "createdAt"])
                if let k = unknown.sorted().first {
                    throw fail(
                        "notes", "note \(i + 1) has an unknown key '\(k)'; notes hold id, author, body, createdAt")
                }
                return RecordNote(id: n["id"]?.stringValue ?? "", author: author, body: body, createdAt: at)
            }
        }
        if let v = o["version"], !v.isNull {
            guard let n = v.intValue, n >= 1 else { throw fail("version", "version must be an integer ≥ 1") }
            version = n
        }
    }

    /// The record checked by the same rules as a new task, plus the fields only records carry.
    public func validated() throws -> TaskRecord {
        var r = self
        do {
            var draft = NewTask(
                title: title, description: description, status: status, priority: priority, tags: tags,
                metadata: metadata, parentId: parentId, dependsOn: dependsOn)
            draft = try TaskRules.validate(draft)
            r.tags = draft.tags
            r.dependsOn = draft.dependsOn
            try TaskRules.checkAcceptance(acceptance.map(\.text))
            for n in notes {
                try TaskRules.checkNote(n.body)
                guard !n.author.isEmpty, n.author.count <= 200 else {
                    throw MinskyError.invalid("notes", "a note's author must be 1-200 characters")
                }
            }
            if let a = assignee { try TaskRules.checkAssignee(a) }
            if claimExpiresAt != nil && assignee == nil {
                throw MinskyError.invalid("claimExpiresAt", "claimExpiresAt needs an assignee who holds the claim")
            }
            if let id, parentId == id || dependsOn.contains(id) {
                throw MinskyError.invalid("parentId", "task \(id) cannot be its own parent or blocker")
            }
            if let c = createdAt, let u = updatedAt, u < c {
                throw MinskyError.invalid("updatedAt", "updatedAt is before createdAt")
            }
        } catch var e as MinskyError {
            e.message = "\(origin): \(e.message)"
            throw e
        }
        return r
    }
}
