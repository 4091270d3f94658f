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
                "id": ToolSchema.string("task id: its sync state (status), or the one to resolve"),
                "take": ["type": "string", "enum": ["local", "remote"]],
                "fields": [
                    "type": "object", "description": "resolve: field → local|remote",
                    "additionalProperties": ["type": "string", "enum": ["local", "remote"]],
                ],
            ], required: ["action"]),
        outputSchema: ToolSchema.output([:], required: []),
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: true, openWorld: true)
    ) { args, ctx in
        guard let sync = ctx.services.sync else {
            throw MinskyError(
                .notConfigured, "sync is not enabled for this store; run `minsky sync enable --remote-db URL` first")
        }
        let action = args.string("action") ?? ""
        if action == "resolve" && args.string("id") == nil {
            throw MinskyError.invalid("id", "resolve needs the id of a conflicted task (action conflicts lists them)")
        }
        return try await sync(action, .object(args.values))
    }
}
