import MinskyCore

extension Tool {
    static let deleteTask = Tool(
        name: "delete_task", title: "Delete a task",
        description: "Delete a task and its links; cascade=true deletes its subtasks too.",
        inputSchema: ToolSchema.object(["id": ToolSchema.id, "cascade": ToolSchema.boolean()], required: ["id"]),
        outputSchema: ToolSchema.output(["deleted": ToolSchema.array(ToolSchema.string())], required: ["deleted"]),
        // Deleting again finds nothing to delete: no further effect.
        annotations: .write(destructive: true, idempotent: true),
        adminOnly: true
    ) { (input: DeleteInput, ctx) in
        let id = input.id
        let cascade = input.cascade ?? false
        let store = try await ctx.store()
        if cascade {
            // Many tasks at once is a step the person confirms, when the client can ask them.
            let subtree = try await store.subtree(root: id)
            if subtree.count >= confirmCascadeAt {
                let root = subtree.first { $0.id == id }?.title ?? id.rawValue
                try await ctx.confirm(
                    "Delete \(id) \"\(root.prefix(80))\" and its \(subtree.count - 1) subtasks? This cannot be undone.",
                    action: "Delete \(subtree.count) tasks")
            }
        }
        let ids = try await store.delete(id, cascade: cascade)
        return ["deleted": .array(ids.map { .string($0.rawValue) })]
    }

    /// A cascade that deletes this many tasks or more asks for confirmation.
    static let confirmCascadeAt = 5
}

struct DeleteInput: Decodable {
    var id: TaskID
    var cascade: Bool?
}
