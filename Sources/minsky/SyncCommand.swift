import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore
import MinskyUpgrade

extension SyncStrategy: ExpressibleByArgument {
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Keep this SQLite store as an offline replica of a shared PostgreSQL store.",
        discussion: """
            Every operation goes to the local SQLite first (fast, works offline); `sync push` sends local \
            changes to PostgreSQL, `sync pull` applies everyone else's, `sync now` does both. A field changed \
            both here and on the remote since the last sync is a conflict, settled by the strategy: \
            last_write_wins (the later change wins the row), merge_fields (field by field, the later write \
            wins: default), manual (both kept, listed by `sync conflicts`, settled by `sync resolve`), \
            local_wins, remote_wins. Deleted tasks stay deleted. `minsky mcp` syncs in the background while \
            sync is enabled.
            """,
        subcommands: [
            Enable.self, Push.self, Pull.self, Now.self, Status.self, Conflicts.self, Resolve.self, Disable.self,
        ])

    /// Runs `body` with the sync engine of the selected (SQLite) store, closing it after.
    static func withEngine(_ global: GlobalOptions, _ body: (SyncEngine) async throws -> Void) async throws {
        let sel = try global.selection()
        let engine = try await SyncEngine.open(local: sel.location, idPrefix: sel.idPrefix)
        do {
            try await body(engine)
            await engine.closeAll()
        } catch {
            await engine.closeAll()
            throw error
        }
    }

    static func describe(_ r: SyncPushResult, _ out: Output) {
        out.line("↑ pushed \(r.sent) change(s), \(r.applied) newly applied")
        for k in r.conflicts { out.line("  ! \(k.entity.rawValue) \(k.key) \(k.field): \(k.message)") }
    }

    /// Remote log entries the remote's own rows contradict: not applied; the rows came as the remote holds them.
    static func describeRefused(_ r: SyncEngine.PullResult, _ out: Output) {
        for ch in r.refused {
            out.line(
                "  ! refused remote change \(ch.id) (\(ch.entity.rawValue) \(ch.key)\(ch.deleted ? " deleted" : "")): the remote's rows do not match it; took the row as the remote holds it"
            )
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable",
            abstract: "Turn sync on against a PostgreSQL store (its password, if in the URL, goes to ~/.pgpass).")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("remote-db"), help: "postgresql://user@host:5432/db") var remoteDB: String
        @Option(help: "How conflicts are settled: \(SyncStrategy.names).") var strategy: SyncStrategy = SyncEngine
            .defaultStrategy
        @Option(help: "Seconds between background syncs in `minsky mcp` (default 30).") var interval: Double?
        @Flag(help: "Do not sync right away.") var noSync = false

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                if let i = interval, !(i >= 1 && i <= 86_400) {
                    throw MinskyError.invalid("interval", "interval must be 1 to 86400 seconds, not \(i)")
                }
                let remote = try StoreLocation(parsing: remoteDB)
                guard remote.isPostgres else {
                    throw MinskyError.invalid(
                        "remote-db", "the sync remote must be a PostgreSQL URL (postgresql://user@host:5432/db)")
                }
                // The password reaches ~/.pgpass only once the remote accepted it (and the role
                // could start sync there): a refused try never touches a working entry.
                let url = remote.withoutPassword.connectionString
                try await SyncCommand.withEngine(global) { engine in
                    let replica = try await engine.enable(
                        remoteURL: url, connectURL: remoteDB, strategy: strategy, interval: interval
                    ) { try Credentials.store(url: remoteDB) }
                    var round: SyncEngine.RoundResult?
                    if !noSync { round = try await engine.syncNow() }
                    if out.json {
                        var o: [String: JSONValue] = [
                            "replica": .string(replica), "remote": .string(url),
                            "strategy": .string(strategy.rawValue),
                        ]
                        if let round { o["sync"] = round.json }
                        return out.emit(.object(o))
                    }
                    out.line(
                        "✓ sync enabled: replica \(replica) ⇄ \(url) (\(strategy.rawValue))")
                    if let round {
                        SyncCommand.describe(round.push, out)
                        out.line("↓ pulled \(round.received) change(s), \(round.changed) row(s) changed here")
                        SyncCommand.describeRefused(round.pull, out)
                    }
                }
            }
        }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "push", abstract: "Send local changes the remote has not acknowledged.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    let r = try await engine.push()
                    if out.json {
                        return out.emit([
                            "pushed": .int(Int64(r.sent)), "applied": .int(Int64(r.applied)),
                            "conflicts": .array(r.conflicts.map(\.json)),
                        ])
                    }
                    SyncCommand.describe(r, out)
                }
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pull", abstract: "Apply the remote's changes since the last pull.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    let r = try await engine.pull()
                    if out.json {
                        return try out.emit([
                            "pulled": .int(Int64(r.received)), "changedHere": .int(Int64(r.changed)),
                            "refused": r.refusedJSON,
                        ])
                    }
                    out.line("↓ pulled \(r.received) change(s), \(r.changed) row(s) changed here")
                    SyncCommand.describeRefused(r, out)
                }
            }
        }
    }

    struct Now: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "now", abstract: "Push, then pull.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    let r = try await engine.syncNow()
                    if out.json { return out.emit(r.json) }
                    SyncCommand.describe(r.push, out)
                    out.line("↓ pulled \(r.received) change(s), \(r.changed) row(s) changed here")
                    let open = try await engine.local.syncConflicts().count
                    if open > 0 { out.line("\(open) open conflict(s): `minsky sync conflicts`") }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract:
                "Pending changes, last sync each way, open conflicts, whether the remote answers; with an id, that task's sync state and field stamps."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A task id: its state (pending, synced, conflict) and the stamp of each field.") var id: String?
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    if let id {
                        let r = try await engine.local.syncRowState(entity: .task, key: id)
                        if out.json { return out.emit(r.json) }
                        out.line("\(id): \(r.state.rawValue)\(r.deleted ? " (deleted)" : "")")
                        for (field, stamp) in r.stamps.sorted(by: { $0.key < $1.key }) {
                            let mark =
                                r.conflictFields.contains(field)
                                ? "  conflict" : (r.pendingFields.contains(field) ? "  pending" : "")
                            out.line(
                                "  \(field.padding(toLength: 18, withPad: " ", startingAt: 0)) \(stamp.raw)\(mark)")
                        }
                        return
                    }
                    let s = try await engine.status(checkRemote: true)
                    if out.json { return out.emit(s.json) }
                    guard s.enabled else {
                        return out.line("sync is off; turn it on with `minsky sync enable --remote-db URL`")
                    }
                    out.line("replica   \(s.replica ?? "")")
                    out.line(
                        "remote    \(s.remote ?? "") — \(s.reachable == true ? "reachable" : "unreachable: \(s.remoteError ?? "?")")"
                    )
                    out.line("strategy  \(s.strategy?.rawValue ?? "")")
                    out.line("pending   \(s.pending) local change(s) to push")
                    out.line("conflicts \(s.conflicts)\(s.conflicts > 0 ? " (`minsky sync conflicts`)" : "")")
                    out.line("last push \(s.lastPush?.iso8601 ?? "never")")
                    out.line("last pull \(s.lastPull?.iso8601 ?? "never")")
                }
            }
        }
    }

    struct Conflicts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "conflicts", abstract: "List open conflicts: both versions of each field.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    let list = try await engine.local.syncConflicts()
                    if out.json { return out.emit(["conflicts": .array(list.map(\.json))]) }
                    if list.isEmpty { return out.line("no open conflicts") }
                    for k in list {
                        out.line("\(k.entity.rawValue) \(k.key)  \(k.field)  [\(k.kind.rawValue)]")
                        out.line("    local:  \(k.local.canonicalJSON())")
                        out.line("    remote: \(k.remote.canonicalJSON())")
                    }
                    out.line("Settle with `minsky sync resolve ID --take local|remote` (or --field NAME=local|remote).")
                }
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve",
            abstract: "Settle a conflict: keep the local or the remote version, whole or field by field.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id (or entity/key as `sync conflicts --json` shows it).") var id: String
        @Option(help: "local or remote, for every conflicted field.") var take: String?
        @Option(name: .customLong("field"), help: "NAME=local|remote (repeatable).") var fields: [String] = []

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                var sides: [String: String] = [:]
                for f in fields {
                    let parts = f.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw MinskyError.invalid("field", "--field takes NAME=local|remote, not '\(f)'")
                    }
                    sides[parts[0]] = parts[1]
                }
                try await SyncCommand.withEngine(global) { engine in
                    let n = try await engine.resolve(id: id, take: take, fields: sides)
                    if out.json { return out.emit(["resolved": .int(Int64(n)), "id": .string(id)]) }
                    out.line("✓ \(n) conflict(s) of \(id) settled; `minsky sync now` sends kept local values")
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable",
            abstract: "Turn sync off here: forgets the replica's sync state (tasks stay; unpushed changes are dropped)."
        )
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                try await SyncCommand.withEngine(global) { engine in
                    let pending = try await engine.local.syncPendingCount()
                    try await engine.disable()
                    if out.json { return out.emit(["disabled": true, "droppedPending": .int(Int64(pending))]) }
                    out.line(
                        "✓ sync disabled\(pending > 0 ? " (\(pending) unpushed change(s) dropped from the queue; the tasks keep them)" : "")"
                    )
                }
            }
        }
    }
}
