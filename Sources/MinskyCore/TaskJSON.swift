/// The one JSON shape of each thing, wherever it is printed: `--json` in the CLI and
/// `structuredContent` in MCP. The schemas below describe them once; tools declare them as
/// output schemas and a test validates every `--json` command against them.
///
/// - task: the task object itself (`compact` for listings meant for a model, `full` otherwise)
/// - page of tasks: `{tasks, nextCursor?}` (lists, searches, ready work, similar tasks with `score`)
/// - task with its edges: `{task, blockedBy, blocks}`
/// - tree: `{roots: [node]}`, a node being a task plus `blockedBy` ids and `children` nodes
public enum TaskJSON {
    /// Descriptions longer than this many characters are cut in MCP results by default
    /// (`descriptionTruncated`, `descriptionLength`, and `get_task` with `offset` reads on).
    public static let mcpDescriptionLimit = 2_000
    /// How big one MCP page may be (characters of JSON): ~1k tokens, ~2k with its text copy.
    public static let mcpPageBudget = 4_000

    public static func compact(_ t: TaskItem) -> JSONValue {
        [
            "id": .string(t.id.rawValue), "title": .string(t.title), "status": .string(t.status.rawValue),
            "priority": .int(Int64(t.priority.value)),
        ]
    }

    public static func edge(_ e: DependencyList.Edge) -> JSONValue {
        [
            "id": .string(e.id.rawValue), "title": .string(e.title), "status": .string(e.status.rawValue),
            "priority": .int(Int64(e.priority.value)),
        ]
    }

    /// Every field. With `descriptionLimit`, a longer description is cut to that many characters
    /// from `offset` and flagged, so a result stays small whatever was stored.
    public static func full(_ t: TaskItem, descriptionLimit: Int? = nil, offset: Int = 0) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(t.id.rawValue), "title": .string(t.title), "description": .string(t.description),
            "status": .string(t.status.rawValue), "priority": .int(Int64(t.priority.value)),
            "tags": .array(t.tags.map { .string($0) }), "metadata": t.metadata, "version": .int(t.version),
            "createdAt": .string(t.createdAt.iso8601), "updatedAt": .string(t.updatedAt.iso8601),
        ]
        if let limit = descriptionLimit, offset > 0 || t.description.count > limit {
            let chars = t.description.unicodeScalars.count
            let start = t.description.unicodeScalars.index(
                t.description.unicodeScalars.startIndex, offsetBy: min(offset, chars))
            let rest = t.description.unicodeScalars[start...]
            let cut = rest.prefix(limit)
            o["description"] = .string(String(String.UnicodeScalarView(cut)))
            o["descriptionLength"] = .int(Int64(chars))
            if offset > 0 { o["descriptionOffset"] = .int(Int64(min(offset, chars))) }
            if cut.count < rest.count { o["descriptionTruncated"] = true }
        }
        if let p = t.parentId { o["parentId"] = .string(p.rawValue) }
        if let a = t.assignee { o["assignee"] = .string(a) }
        if let e = t.claimExpiresAt { o["claimExpiresAt"] = .string(e.iso8601) }
        if !t.acceptance.isEmpty { o["acceptance"] = AcceptanceCriterion.json(t.acceptance) }
        if !t.paths.isEmpty { o["paths"] = .array(t.paths.map { .string($0) }) }
        if !t.evidence.isEmpty { o["evidence"] = t.evidence.json }
        return .object(o)
    }

    /// A task and both directions of its dependencies, and its notes when it has any.
    public static func detail(
        _ t: TaskItem, _ deps: DependencyList, notes: [TaskNote] = [], descriptionLimit: Int? = nil, offset: Int = 0
    ) -> JSONValue {
        var o: [String: JSONValue] = [
            "task": full(t, descriptionLimit: descriptionLimit, offset: offset),
            "blockedBy": .array(deps.blockedBy.map(edge)),
            "blocks": .array(deps.blocks.map(edge)),
        ]
        if !notes.isEmpty { o["notes"] = .array(notes.map(\.json)) }
        return .object(o)
    }

    /// A page of tasks. With a `budgetCharacters`, the page ends early once its JSON would pass
    /// that size (the cursor then continues from the last task shown), and full tasks have their
    /// descriptions cut, so one page is bounded whatever the tasks hold.
    public static func page(
        _ page: TaskPage, full isFull: Bool, budgetCharacters: Int? = nil, scores: [TaskID: Float] = [:]
    ) -> JSONValue {
        var items: [JSONValue] = []
        var used = 0
        var next = page.nextCursor
        let limit = budgetCharacters.map { _ in mcpDescriptionLimit / 4 }
        for (i, t) in page.tasks.enumerated() {
            var j = isFull ? full(t, descriptionLimit: limit) : compact(t)
            if let s = scores[t.id], var o = j.objectValue {
                o["score"] = .double((Double(s) * 1000).rounded() / 1000)
                j = .object(o)
            }
            if let budget = budgetCharacters {
                used += j.canonicalJSON().utf8.count
                if used > budget && !items.isEmpty {
                    let last = page.tasks[i - 1]
                    next = PageCursor(createdAt: last.createdAt, id: last.id)
                    break
                }
            }
            items.append(j)
        }
        var o: [String: JSONValue] = ["tasks": .array(items)]
        if let next { o["nextCursor"] = .string(next.token) }
        return .object(o)
    }

    /// Tasks in a given order (ready work, similar tasks) as a page without a cursor.
    public static func page(
        _ tasks: [TaskItem], full isFull: Bool, budgetCharacters: Int? = nil, scores: [TaskID: Float] = [:]
    ) -> JSONValue {
        page(TaskPage(tasks: tasks, nextCursor: nil), full: isFull, budgetCharacters: budgetCharacters, scores: scores)
    }

    /// What a batch create (import, `create_tasks`) answers: the new ids, in input order.
    public static func created(_ tasks: [TaskItem]) -> JSONValue { created(ids: tasks.map(\.id)) }
    public static func created(ids: [TaskID]) -> JSONValue { ["created": .array(ids.map { .string($0.rawValue) })] }

    /// The subtask tree. Nodes below `TaskTree.maxDepth` are left out and their parent says how
    /// many (`omittedDescendants`), so the cut is visible. With `budgetCharacters` the tree is
    /// filled level by level until it would pass that size; every node whose subtasks were left
    /// out says how many, and `omitted` counts them all (ask again for a subtree by its id).
    public static func tree(
        _ tree: TaskTree, full isFull: Bool, descriptionLimit: Int? = nil, budgetCharacters: Int? = nil
    ) -> JSONValue {
        // Level order without recursion: a chain may be thousands of tasks deep.
        var order: [(node: TaskTree.Node, parent: Int?)] = tree.roots.map { ($0, nil) }
        var head = 0
        while head < order.count {
            for c in order[head].node.children { order.append((c, head)) }
            head += 1
        }
        var shown = order.count
        if let budget = budgetCharacters {
            var used = 0
            for (i, entry) in order.enumerated() {
                used += compact(entry.node.task).canonicalJSON().utf8.count + 30
                if used > budget && i > 0 {
                    shown = i
                    break
                }
            }
        }
        // Everything below a node, and how much of it is shown, counted bottom-up (the level
        // order lists children after their parents).
        var below = [Int](repeating: 0, count: order.count)
        for i in order.indices.reversed() { if let p = order[i].parent { below[p] += 1 + below[i] } }
        var shownBelow = [Int](repeating: 0, count: shown)
        var built: [[JSONValue]] = Array(repeating: [], count: shown)
        var roots: [JSONValue] = []
        var omitted = order.count - shown
        for i in (0..<shown).reversed() {
            let n = order[i].node
            var o = (isFull ? full(n.task, descriptionLimit: descriptionLimit) : compact(n.task)).objectValue ?? [:]
            if !n.blockedBy.isEmpty { o["blockedBy"] = .array(n.blockedBy.map { .string($0.rawValue) }) }
            if !built[i].isEmpty { o["children"] = .array(built[i].reversed()) }
            let hidden = n.omittedDescendants + below[i] - shownBelow[i]
            if hidden > 0 { o["omittedDescendants"] = .int(Int64(hidden)) }
            if let p = order[i].parent {
                built[p].append(.object(o))
                shownBelow[p] += 1 + shownBelow[i]
            } else {
                roots.append(.object(o))
            }
        }
        omitted += order.reduce(0) { $0 + $1.node.omittedDescendants }
        var out: [String: JSONValue] = ["roots": .array(roots.reversed())]
        if tree.cut { out["cutAtDepth"] = .int(Int64(TaskTree.maxDepth)) }
        if omitted > 0 { out["omitted"] = .int(Int64(omitted)) }
        return .object(out)
    }
}

/// JSON Schemas (2020-12) of the shapes above: the MCP tools' output schemas, and what the
/// CLI's `--json` output is checked against.
public enum TaskSchemas {
    static func object(_ props: [String: JSONValue], required: [String]) -> JSONValue {
        ["type": "object", "properties": .object(props), "required": .array(required.map { .string($0) })]
    }

    static let string: JSONValue = ["type": "string"]
    static let integer: JSONValue = ["type": "integer"]
    static let strings: JSONValue = ["type": "array", "items": string]
    static let timestamp: JSONValue = ["type": "string", "minLength": 20]

    /// A task as tools declare it: the four fields every result has (full results add the rest,
    /// which `fullTask` describes). Kept small because every tool declaration repeats it.
    public static let task: JSONValue = ["type": "object", "required": ["id", "title", "status", "priority"]]

    /// A task with every field, as the CLI prints it.
    public static let fullTask = object(
        [
            "id": string, "title": string,
            "status": ["type": "string", "enum": .array(TaskStatus.allCases.map { .string($0.rawValue) })],
            "priority": ["type": "integer", "minimum": 0, "maximum": 4], "description": string,
            "descriptionTruncated": ["type": "boolean"],
            "descriptionLength": integer, "descriptionOffset": integer, "tags": strings, "metadata": ["type": "object"],
            "version": ["type": "integer", "minimum": 1], "createdAt": timestamp, "updatedAt": timestamp,
            "parentId": string,
            "assignee": string, "claimExpiresAt": timestamp, "score": ["type": "number"],
            "acceptance": [
                "type": "array",
                "items": object(["text": string, "done": ["type": "boolean"]], required: ["text", "done"]),
            ],
            "paths": strings, "evidence": ["type": "object"],
        ],
        required: [
            "id", "title", "status", "priority", "description", "tags", "metadata", "version", "createdAt", "updatedAt",
        ])

    public static let page = object(
        ["tasks": ["type": "array", "items": task], "nextCursor": string], required: ["tasks"])
    /// `next_task`: a page, and when it is empty, why (`NotReadyReport.json`).
    public static let readyPage = object(
        ["tasks": ["type": "array", "items": task], "why": ["type": "object"]], required: ["tasks"])
    public static let fullPage = object(
        ["tasks": ["type": "array", "items": fullTask], "nextCursor": string], required: ["tasks"])
    public static let detail = object(
        ["task": task, "blockedBy": ["type": "array"], "blocks": ["type": "array"]],
        required: ["task", "blockedBy", "blocks"])
    public static let note = object(
        ["id": string, "taskId": string, "author": string, "body": string, "createdAt": timestamp],
        required: ["id", "taskId", "author", "body", "createdAt"])
    public static let fullDetail = object(
        [
            "task": fullTask, "blockedBy": ["type": "array", "items": task],
            "blocks": ["type": "array", "items": task], "notes": ["type": "array", "items": note],
        ],
        required: ["task", "blockedBy", "blocks"])
    public static let created = object(["created": strings], required: ["created"])
    /// Nodes are tasks with `blockedBy`, `children` (nodes) and `omittedDescendants`.
    public static let tree = object(
        ["roots": ["type": "array", "items": task], "cutAtDepth": integer, "omitted": integer], required: ["roots"])
}
