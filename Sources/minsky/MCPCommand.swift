import ArgumentParser
import Foundation
import Logging
import MinskyAI
import MinskyApp
import MinskyCore
import MinskyMCP
import MinskyUpgrade

/// Forwards finished upgrade steps to an MCP progress notification.
struct StepReporter: TransferReporter {
    let onStep: @Sendable (String) -> Void
    func step(_ text: String) { onStep(text) }
    func progress(_ done: Int, of total: Int, _ what: String) {}
}

extension JSONValue {
    /// Any Encodable as a JSONValue (tool results from Codable reports).
    static func encoding<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(String(decoding: JSONEncoder().encode(value), as: UTF8.self))
    }
}

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "The MCP server for agents (JSON-RPC over stdio), and its tool declarations.",
        subcommands: [Serve.self, ToolsJSON.self, ToolsList.self],
        defaultSubcommand: Serve.self
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve MCP on stdin/stdout (what `minsky mcp` runs). Logs go to stderr.")
        @Option(
            name: .long,
            help: ArgumentHelp("Store location (overrides MINSKY_DB and .minsky/config.json).", valueName: "url"))
        var db: String?

        func run() async throws { await Self.serve(db: db) }

        static func serve(db: String?) async {
            let env = ProcessInfo.processInfo.environment
            // The project: the working directory, or the folder a client's settings name.
            let cwd = URL(
                fileURLWithPath: env[StoreSelection.projectVariable].flatMap { $0.isEmpty ? nil : $0 }
                    ?? FileManager.default.currentDirectoryPath)
            let logger = Logger(label: "minsky.mcp")
            // Open the store in the background: `initialize` is answered at once, tools wait for it.
            let opening = Task { () throws -> FollowingStore in
                // A folder chosen in a client's settings (MINSKY_PROJECT) that is not a project yet
                // becomes one, as `minsky init` there would make it: the person chose it for this.
                if db == nil, env[StoreSelection.environmentVariable] == nil,
                    let folder = env[StoreSelection.projectVariable], !folder.isEmpty,
                    try Project.find(from: URL(fileURLWithPath: folder)) == nil
                {
                    _ = try await InitCommand.initialize(
                        at: URL(fileURLWithPath: folder), dbURL: nil, prefix: TaskID.defaultPrefix, force: false)
                }
                return try await StoreSelection.resolve(flag: db, environment: env, cwd: cwd).open()
            }
            // A SQLite replica with sync enabled syncs in the background through the same store
            // (so its short transactions queue in-process with the tool calls', never behind a
            // lock another connection holds): tool calls answer from SQLite and never wait on
            // the network.
            let syncing = Task { () -> (SyncEngine, SyncScheduler)? in
                guard let store = try? await opening.value, (try? await store.syncReplica()) != nil,
                    (try? await store.syncSetting(SyncSetting.remote)) != nil
                else { return nil }
                let engine = SyncEngine(
                    local: store, batch: SyncEngine.backgroundBatch, openRemote: SyncEngine.openRemote)
                let scheduler = SyncScheduler(engine: engine)
                scheduler.start()
                return (engine, scheduler)
            }
            let services = ToolServices(
                upgrade: { url, dryRun, force, step in
                    guard let project = try Project.find(from: cwd) else {
                        throw MinskyError(
                            .notConfigured, "no .minsky/ project above \(cwd.path) to upgrade; run `minsky init` there")
                    }
                    let r = try await Upgrader.toPostgres(
                        project: project, options: UpgradeOptions(dbURL: url, dryRun: dryRun, force: force),
                        reporter: StepReporter(onStep: step))
                    return try JSONValue.encoding(r)
                },
                backup: {
                    let sel = try StoreSelection.resolve(flag: db, environment: env, cwd: cwd)
                    return try JSONValue.encoding(
                        try await Backups.create(
                            location: sel.location, out: nil, project: sel.project,
                            fallbackDirectory: Backups.userDirectory(environment: env), reporter: nil))
                },
                llm: {
                    try resolveProvider(project: try Project.find(from: cwd)).map(Providers.make)
                },
                embeddings: {
                    try resolveEmbeddings(project: try Project.find(from: cwd))
                },
                changes: { stop, onEvents in
                    let since = Timestamp.now()
                    try await ChangeFeed.follow(
                        try await opening.value,
                        selection: try StoreSelection.resolve(flag: db, environment: env, cwd: cwd),
                        since: since, stop: stop, onEvents: onEvents)
                },
                sync: { action in
                    guard let (engine, _) = await syncing.value else {
                        throw MinskyError(
                            .notConfigured,
                            "sync is not enabled for this store; run `minsky sync enable --remote-db URL` in the project first"
                        )
                    }
                    return try await engine.perform(action)
                },
                doneRequires: { ((try? Project.find(from: cwd)) ?? nil)?.config.doneRequires ?? .criteria })
            let server = MCPServer(
                store: { try await opening.value }, services: services,
                pageSize: Int(env["MINSKY_MCP_PAGE_SIZE"] ?? "") ?? 100, logger: logger)
            await server.run()
            if let (_, scheduler) = await syncing.value { await scheduler.stop() }
            if let store = try? await opening.value { await store.close() }
        }
    }

    /// For `minsky mcp`, `minsky mcp serve` and either with `--db URL` / `--db=URL`: the database
    /// flag ("" when absent). Nil for anything else, which goes through the argument parser.
    static func fastPathDatabase(_ argv: [String]) -> String? {
        var rest = Array(argv.dropFirst())
        guard rest.first == "mcp" else { return nil }
        rest.removeFirst()
        if rest.first == "serve" { rest.removeFirst() }
        switch rest.count {
        case 0: return ""
        case 1 where rest[0].hasPrefix("--db=") && rest[0].count > 5: return String(rest[0].dropFirst(5))
        case 2 where rest[0] == "--db" && !rest[1].hasPrefix("-"): return rest[1]
        default: return nil
        }
    }

    struct ToolsJSON: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tools-json",
            abstract: "Print the tool declarations exactly as tools/list serves them (the source of tools.json).")

        func run() async throws {
            // This subcommand writes a file's content to stdout; it is not the server.
            FileHandle.standardOutput.write(Data((MCPServer.toolsDocumentText() + "\n").utf8))
        }
    }

    struct ToolsList: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tools", abstract: "List the MCP tools with their descriptions.")
        @Flag(name: .long, help: "Print machine-readable JSON (name, title, description, annotations).") var json =
            false

        func run() async throws {
            if json {
                Output(json: true).emit([
                    "tools": .array(
                        Tool.all.map { t in
                            let d = t.declaration()
                            return [
                                "name": .string(t.name), "title": .string(t.title),
                                "description": .string(t.description), "annotations": d["annotations"] ?? .null,
                            ]
                        })
                ])
                return
            }
            let width = Tool.all.map(\.name.count).max() ?? 0
            for t in Tool.all {
                FileHandle.standardOutput.write(
                    Data(
                        (t.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + t.description + "\n")
                            .utf8))
            }
        }
    }
}
