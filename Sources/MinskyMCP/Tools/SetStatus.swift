import MinskyCore

extension Tool {
    static let setStatus = Tool(
        name: "set_status", title: "Set a task's status",
        description:
            "Set a task's status; DONE takes evidence (the project may require it).",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "status": ToolSchema.status, "expectedVersion": ToolSchema.expectedVersion,
                "force": ToolSchema.boolean("DONE unchecked"), "evidence": ToolSchema.evidence,
            ],
            required: ["id", "status"]),
        outputSchema: ToolSchema.task,
        // Replaces the status; the same status again changes nothing (no new version).
        annotations: .write(destructive: true, idempotent: true)
    ) { (input: SetStatusInput, ctx) in
        var patch = TaskPatch(status: input.status)
        patch.force = input.force ?? false
        patch.doneRequires = ctx.services.doneRequires()
        patch.evidence = try input.evidence.map { try Evidence.parse($0) }
        let t = try await ctx.store().update(input.id, patch, expectedVersion: input.expectedVersion)
        return TaskJSON.full(t, descriptionLimit: TaskJSON.mcpDescriptionLimit)
    }
}

struct SetStatusInput: Decodable {
    var id: TaskID
    var status: TaskStatus
    var expectedVersion: Int64?
    var force: Bool?
    var evidence: JSONValue?
}
