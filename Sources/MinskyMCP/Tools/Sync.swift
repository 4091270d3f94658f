import MinskyCore

extension Tool {
    static let sync = Tool(
        name: "sync", title: "Sync with the shared store",
        description:
            "SQLite replica ⇄ shared PostgreSQL: status, push, pull, now, conflicts, resolve (id, take or fields).",
        inputSchema: ToolSchema.object(
            [
                "action": [
                    "type": "string", "enum": ["status", "push", "pull", "now", "conflicts", "resolve"],
                ],
                "id": ToolSchema.string("task id (status, resolve)"),
                "take": ["type": "string", "enum": ["local", "remote"]],
                "fields": [
                    "type": "object", "description": "resolve: field → local|remote",
                    "additionalProperties": ["type": "string", "enum": ["local", "remote"]],
                ],
            ], required: ["action"]),
        outputSchema: ["type": "object"],
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: true, openWorld: true)
    ) { (action: SyncAction, ctx) in
        guard let sync = ctx.services.sync else {
            throw MinskyError(
                .notConfigured, "sync is not enabled for this store; run `minsky sync enable --remote-db URL` first")
        }
        return try await sync(action)
    }
}
