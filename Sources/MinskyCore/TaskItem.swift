/// A unit of work shared by agents and people. Named `TaskItem` to stay clear of Swift's `Task`.
public struct TaskItem: Hashable, Sendable, Codable, Identifiable {
    public var id: TaskID
    public var title: String
    /// Markdown.
    public var description: String
    public var status: TaskStatus
    public var priority: Priority
    public var tags: [String]
    /// Always a JSON object.
    public var metadata: JSONValue
    public var parentId: TaskID?
    /// Who claimed the task (agent or person), if anyone.
    public var assignee: String?
    /// What must hold for the task to be done, in order; `tasks check ID N` ticks one.
    public var acceptance: [AcceptanceCriterion] = []
    /// The paths the task touches (`TaskPaths` patterns); a claim leases them.
    public var paths: [String] = []
    /// What shows the work was done (`{}` until some is recorded).
    public var evidence = Evidence()
    /// When the claim lapses; nil means the claim does not expire.
    public var claimExpiresAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// Starts at 1 and grows by one with every update: the handle for optimistic concurrency.
    public var version: Int64

    public init(
        id: TaskID, title: String, description: String = "", status: TaskStatus = .todo, priority: Priority = .default,
        tags: [String] = [], metadata: JSONValue = .object([:]), parentId: TaskID? = nil, assignee: String? = nil,
        claimExpiresAt: Timestamp? = nil, createdAt: Timestamp, updatedAt: Timestamp, version: Int64 = 1,
        acceptance: [AcceptanceCriterion] = [], paths: [String] = [], evidence: Evidence = Evidence()
    ) {
        self.id = id
        self.acceptance = acceptance
        self.paths = paths
        self.evidence = evidence
        self.title = title
        self.description = description
        self.status = status
        self.priority = priority
        self.tags = tags
        self.metadata = metadata
        self.parentId = parentId
        self.assignee = assignee
        self.claimExpiresAt = claimExpiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
    }

    /// True when any field but the bookkeeping (`version`, `updatedAt`) differs.
    public func differsInContent(from other: TaskItem) -> Bool {
        var a = self
        a.version = other.version
        a.updatedAt = other.updatedAt
        return a != other
    }

    /// The acceptance criteria not yet checked, with their 1-based numbers.
    public var uncheckedCriteria: [(number: Int, text: String)] {
        acceptance.enumerated().filter { !$0.element.done }.map { ($0.offset + 1, $0.element.text) }
    }

    /// True when someone other than `owner` holds an unexpired claim at `now`.
    public func isClaimed(byOtherThan owner: String, at now: Timestamp) -> Bool {
        guard let a = assignee, a != owner else { return false }
        if let exp = claimExpiresAt { return exp > now }
        return true
    }
}

/// One acceptance criterion: a statement that must hold, and whether someone checked it.
public struct AcceptanceCriterion: Hashable, Sendable, Codable {
    public var text: String
    public var done: Bool
    public init(_ text: String, done: Bool = false) {
        self.text = text
        self.done = done
    }

    public var json: JSONValue { ["text": .string(text), "done": .bool(done)] }

    /// Reads `[{"text": …, "done": …}]` (or plain strings, unchecked); nil when malformed.
    public static func list(_ v: JSONValue) -> [AcceptanceCriterion]? {
        guard let a = v.arrayValue else { return nil }
        var out: [AcceptanceCriterion] = []
        for item in a {
            if let s = item.stringValue {
                out.append(AcceptanceCriterion(s))
            } else if let t = item["text"]?.stringValue {
                out.append(AcceptanceCriterion(t, done: item["done"]?.boolValue ?? false))
            } else {
                return nil
            }
        }
        return out
    }

    public static func json(_ list: [AcceptanceCriterion]) -> JSONValue { .array(list.map(\.json)) }
}

/// What a caller supplies to create a task; the store assigns id, timestamps and version.
public struct NewTask: Sendable, Hashable, Codable {
    public var title: String
    public var description: String
    public var status: TaskStatus
    public var priority: Priority
    public var tags: [String]
    public var metadata: JSONValue
    public var parentId: TaskID?
    /// Tasks that must be done before this one; added in the same transaction.
    public var dependsOn: [TaskID]
    /// Acceptance criteria, unchecked.
    public var acceptance: [String] = []
    /// Paths the task touches (`TaskPaths` patterns).
    public var paths: [String] = []
    /// In `createMany`: indices of earlier drafts of the same batch this one waits for.
    public var batchDependsOn: [Int] = []
    /// In `createMany`: index of an earlier draft of the same batch that is this one's parent.
    public var batchParent: Int?

    public init(
        title: String, description: String = "", status: TaskStatus = .todo, priority: Priority = .default,
        tags: [String] = [], metadata: JSONValue = .object([:]), parentId: TaskID? = nil, dependsOn: [TaskID] = []
    ) {
        self.title = title
        self.description = description
        self.status = status
        self.priority = priority
        self.tags = tags
        self.metadata = metadata
        self.parentId = parentId
        self.dependsOn = dependsOn
    }
}

extension NewTask {
    enum CodingKeys: String, CodingKey {
        case title, description, status, priority, tags, metadata, parentId, dependsOn, acceptance, paths
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(title, forKey: .title)
        try c.encode(description, forKey: .description)
        try c.encode(status, forKey: .status)
        try c.encode(priority, forKey: .priority)
        try c.encode(tags, forKey: .tags)
        try c.encode(metadata, forKey: .metadata)
        try c.encodeIfPresent(parentId, forKey: .parentId)
        try c.encode(dependsOn, forKey: .dependsOn)
        if !acceptance.isEmpty { try c.encode(acceptance, forKey: .acceptance) }
        if !paths.isEmpty { try c.encode(paths, forKey: .paths) }
    }

    /// Only `title` is required; everything else has the same defaults as the initializer.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(title: try c.decode(String.self, forKey: .title))
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        status = try c.decodeIfPresent(TaskStatus.self, forKey: .status) ?? .todo
        priority = try c.decodeIfPresent(Priority.self, forKey: .priority) ?? .default
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata) ?? .object([:])
        parentId = try c.decodeIfPresent(TaskID.self, forKey: .parentId)
        dependsOn = try c.decodeIfPresent([TaskID].self, forKey: .dependsOn) ?? []
        acceptance = try c.decodeIfPresent([String].self, forKey: .acceptance) ?? []
        paths = try c.decodeIfPresent([String].self, forKey: .paths) ?? []
    }
}

/// A partial update. Nil fields are left alone; `metadata` is an RFC 7386 merge patch.
public struct TaskPatch: Sendable, Hashable, Codable {
    public enum ParentChange: Sendable, Hashable, Codable {
        case set(TaskID)
        case clear
    }

    public var title: String?
    public var description: String?
    public var status: TaskStatus?
    public var priority: Priority?
    /// Replaces all tags.
    public var tags: [String]?
    public var addTags: [String]
    public var removeTags: [String]
    public var metadata: JSONValue?
    public var parent: ParentChange?
    /// Set or clear (empty string) the assignee without a claim.
    public var assignee: String?
    /// Replaces every acceptance criterion.
    public var acceptance: [AcceptanceCriterion]?
    /// Appends unchecked criteria.
    public var addAcceptance: [String] = []
    /// Checks (true) or unchecks (false) criteria by their 1-based number.
    public var check: [Int: Bool] = [:]
    /// Replaces the task's paths.
    public var paths: [String]?
    /// Adds paths.
    public var addPaths: [String] = []
    /// Evidence to add (lists grow, single values are replaced; its changed paths join `paths`).
    public var evidence: Evidence?
    /// Lets `status: DONE` through with acceptance criteria still unchecked (refused otherwise).
    public var force = false
    /// What DONE needs (the project's `done.requires`); checked unless `force`.
    public var doneRequires: DoneRequirement = .criteria

    public init(
        title: String? = nil, description: String? = nil, status: TaskStatus? = nil, priority: Priority? = nil,
        tags: [String]? = nil, addTags: [String] = [], removeTags: [String] = [], metadata: JSONValue? = nil,
        parent: ParentChange? = nil, assignee: String? = nil
    ) {
        self.title = title
        self.description = description
        self.status = status
        self.priority = priority
        self.tags = tags
        self.addTags = addTags
        self.removeTags = removeTags
        self.metadata = metadata
        self.parent = parent
        self.assignee = assignee
    }

    public var isEmpty: Bool {
        title == nil && description == nil && status == nil && priority == nil && tags == nil && addTags.isEmpty
            && removeTags.isEmpty && metadata == nil && parent == nil && assignee == nil && acceptance == nil
            && addAcceptance.isEmpty && check.isEmpty && paths == nil && addPaths.isEmpty && evidence == nil
    }
}

/// "`taskId` is blocked by `dependsOn`."
public struct Dependency: Hashable, Sendable, Codable {
    public var taskId: TaskID
    public var dependsOn: TaskID
    public var createdAt: Timestamp

    public init(taskId: TaskID, dependsOn: TaskID, createdAt: Timestamp) {
        self.taskId = taskId
        self.dependsOn = dependsOn
        self.createdAt = createdAt
    }
}

/// Both directions of a task's dependency edges, with the other end's status.
public struct DependencyList: Hashable, Sendable, Codable {
    public struct Edge: Hashable, Sendable, Codable {
        public var id: TaskID
        public var title: String
        public var status: TaskStatus
        public var priority: Priority
        public init(id: TaskID, title: String, status: TaskStatus, priority: Priority) {
            self.id = id
            self.title = title
            self.status = status
            self.priority = priority
        }
    }
    /// Tasks this one waits for.
    public var blockedBy: [Edge]
    /// Tasks waiting for this one.
    public var blocks: [Edge]
    public init(blockedBy: [Edge], blocks: [Edge]) {
        self.blockedBy = blockedBy
        self.blocks = blocks
    }
}

/// A note on a task: who wrote what, when. Notes are never edited; they sync as their own rows,
/// so notes written on two machines at once both survive.
public struct TaskNote: Hashable, Sendable {
    public var id: String
    public var taskId: TaskID
    public var author: String
    public var body: String
    public var createdAt: Timestamp

    public init(id: String, taskId: TaskID, author: String, body: String, createdAt: Timestamp) {
        self.id = id
        self.taskId = taskId
        self.author = author
        self.body = body
        self.createdAt = createdAt
    }

    public var json: JSONValue {
        [
            "id": .string(id), "taskId": .string(taskId.rawValue), "author": .string(author), "body": .string(body),
            "createdAt": .string(createdAt.iso8601),
        ]
    }
}
