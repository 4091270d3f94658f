import MinskyCore

extension Tool {
    static let updateTask = Tool(
        name: "update_task", title: "Update a task",
        description:
            "Change fields (metadata merges; parentId null detaches); note appends; check/uncheck criteria by number (from 1).",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "expectedVersion": ToolSchema.expectedVersion,
                "title": ToolSchema.string(), "description": ToolSchema.string(),
                "priority": ToolSchema.integer(min: 0, max: 4), "status": ToolSchema.status, "tags": ToolSchema.tags,
                "addTags": ToolSchema.tags, "removeTags": ToolSchema.tags, "metadata": ["type": "object"],
                "parentId": ["type": ["string", "null"]], "assignee": ToolSchema.string("\"\" clears"),
                "note": ToolSchema.string(), "acceptance": ToolSchema.criteria, "check": ToolSchema.numbers,
                "uncheck": ToolSchema.numbers, "force": ToolSchema.boolean("DONE unchecked"),
                "paths": ToolSchema.paths, "evidence": ["type": "object"],
            ], required: ["id"]),
        outputSchema: ToolSchema.task,
        // Replaces fields; the same change again changes nothing (no new version).
        annotations: .write(destructive: true, idempotent: true)
    ) { (input: UpdateTaskInput, ctx) in
        var (id, p, note) = (input.id, input.patch, input.note)
        p.doneRequires = ctx.services.doneRequires()
        if let note { try TaskRules.checkNote(note) }
        // A note alone is not an edit: the task comes back as it is (same version).
        if p.isEmpty, let note {
            let store = try await ctx.store()
            _ = try await store.addNote(id, body: note)
            return TaskJSON.full(try await store.get(id), descriptionLimit: TaskJSON.mcpDescriptionLimit)
        }
        let t = try await ctx.store().update(id, p, expectedVersion: input.expectedVersion)
        // The note goes after the change it may explain.
        if let note { _ = try await ctx.store().addNote(id, body: note) }
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}

/// update_task: the patch (parentId absent, null or an id), the optional note and version.
struct UpdateTaskInput: Decodable {
    var id: TaskID
    var expectedVersion: Int64?
    var note: String?
    var patch = TaskPatch()

    enum Keys: String, CodingKey {
        case id, expectedVersion, note, title, description, priority, status, tags, addTags, removeTags, metadata
        case parentId, assignee, acceptance, check, uncheck, force, paths, evidence
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        id = try c.decode(TaskID.self, forKey: .id)
        expectedVersion = try c.decodeIfPresent(Int64.self, forKey: .expectedVersion)
        note = try c.decodeIfPresent(String.self, forKey: .note)
        patch.title = try c.decodeIfPresent(String.self, forKey: .title)
        patch.description = try c.decodeIfPresent(String.self, forKey: .description)
        patch.priority = try c.decodeIfPresent(Priority.self, forKey: .priority)
        patch.status = try c.decodeIfPresent(TaskStatus.self, forKey: .status)
        patch.tags = try c.decodeIfPresent([String].self, forKey: .tags)
        patch.addTags = try c.decodeIfPresent([String].self, forKey: .addTags) ?? []
        patch.removeTags = try c.decodeIfPresent([String].self, forKey: .removeTags) ?? []
        patch.metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata)
        if c.contains(.parentId) {
            patch.parent =
                try c.decodeNil(forKey: .parentId) ? .clear : .set(try c.decode(TaskID.self, forKey: .parentId))
        }
        patch.assignee = try c.decodeIfPresent(String.self, forKey: .assignee)
        patch.acceptance = try c.decodeIfPresent([String].self, forKey: .acceptance)?.map { AcceptanceCriterion($0) }
        for n in try c.decodeIfPresent([Int].self, forKey: .check) ?? [] { patch.check[n] = true }
        for n in try c.decodeIfPresent([Int].self, forKey: .uncheck) ?? [] { patch.check[n] = false }
        patch.force = try c.decodeIfPresent(Bool.self, forKey: .force) ?? false
        patch.paths = try c.decodeIfPresent([String].self, forKey: .paths)
        patch.evidence = try c.decodeIfPresent(JSONValue.self, forKey: .evidence).map { try Evidence.parse($0) }
    }
}
