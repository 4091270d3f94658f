import MinskyCore
import Synchronization

extension Tool {
    static let upgradeStore = Tool(
        name: "upgrade_store", title: "Upgrade the store to PostgreSQL",
        description:
            "Move this project's SQLite store to PostgreSQL: backup, copy, validate, switch.",
        inputSchema: ToolSchema.object(
            [
                "dbUrl": ToolSchema.string("postgresql://user@host:5432/db"),
                "dryRun": ToolSchema.boolean("copy and validate, then roll back"),
                "force": ToolSchema.boolean("replace minsky data in the target"),
            ], required: ["dbUrl"]),
        outputSchema: ToolSchema.output(
            [
                "switched": ["type": "boolean"], "database": ["type": "string"],
                "tables": ToolSchema.array(["type": "object"]),
            ], required: ["switched", "database", "tables"]),
        // With force it replaces minsky data in the target; a rerun finishes or recognises the copy.
        annotations: ToolAnnotations(readOnly: false, destructive: true, idempotent: true, openWorld: true),
        adminOnly: true
    ) { (input: UpgradeInput, ctx) in
        guard let upgrade = ctx.services.upgrade else {
            throw MinskyError(.notConfigured, "upgrading is not available in this server")
        }
        let dryRun = input.dryRun ?? false
        if !dryRun {
            try await ctx.confirm(
                "Move this project's store to PostgreSQL (\(redactedURL(input.dbUrl)))? Every agent of the project switches to it.",
                action: "Upgrade the store")
        }
        let steps = Mutex(0)
        // The number of steps depends on the store (tables, embeddings), so no total is promised.
        ctx.progress(0, message: "starting")
        return try await upgrade(input.dbUrl, dryRun, input.force ?? false) { step in
            let n = steps.withLock {
                $0 += 1
                return $0
            }
            ctx.progress(Double(n), message: step)
        }
    }

    static let backupStore = Tool(
        name: "backup_store", title: "Back up the store",
        description:
            "Snapshot the store to .minsky/backups/ (portable SQLite + manifest).",
        inputSchema: ToolSchema.object([:]),
        outputSchema: ToolSchema.output(
            ["file": ["type": "string"], "sha256": ["type": "string"], "tables": ["type": "object"]],
            required: ["file", "sha256", "tables"]),
        annotations: ToolAnnotations(readOnly: false, destructive: false, idempotent: false, openWorld: false),
        adminOnly: true
    ) { (_: NoInput, ctx) in
        guard let backup = ctx.services.backup else {
            throw MinskyError(.notConfigured, "backups are not available in this server")
        }
        return try await backup()
    }
}

/// The URL without its password, for a question shown to a person.
func redactedURL(_ raw: String) -> String {
    (try? StoreLocation(parsing: raw).redacted) ?? "the given database"
}

struct UpgradeInput: Decodable {
    var dbUrl: String
    var dryRun: Bool?
    var force: Bool?
}

/// A tool without arguments.
struct NoInput: Decodable {}
