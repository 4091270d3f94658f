import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore

extension AgentSetup.Client: ExpressibleByArgument {}

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Connect an agent client to this project's tasks: its MCP configuration and an agent guide.",
        discussion: """
            claude-code: .mcp.json and CLAUDE.md in the project. cursor: .cursor/mcp.json and
            .cursor/rules/minsky.mdc. codex: ~/.codex/config.toml (CODEX_HOME) and AGENTS.md. claude-desktop:
            its claude_desktop_config.json (the guide is printed: paste it into a Claude Project's instructions).
            Existing files are merged, never replaced: other servers and settings stay, and the guide is one
            marked block that a second run replaces. Running it again changes nothing. The server runs
            `minsky mcp --db <this project's store>`; after `upgrade to-postgres`, run setup again.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The client: \(AgentSetup.Client.allCases.map(\.rawValue).joined(separator: ", ")).")
    var client: AgentSetup.Client
    @Flag(name: .long, help: "Show what would change (a diff per file) and write nothing.") var dryRun = false

    func run() async throws {
        let out = Output(json: global.json)
        try await out.reportingErrors {
            let env = ProcessInfo.processInfo.environment
            let sel = try global.selection()
            guard let project = sel.project else {
                throw MinskyError(
                    .notConfigured,
                    "no minsky project here: run `minsky init` in the project first, then `minsky setup`")
            }
            let home = URL(fileURLWithPath: env["HOME"] ?? NSHomeDirectory())
            let changes = try AgentSetup.plan(
                client, project: project.root, store: sel.location, executable: Self.executable(), home: home,
                environment: env)
            if !dryRun { try AgentSetup.apply(changes) }
            if out.json {
                out.emit([
                    "client": .string(client.rawValue), "dryRun": .bool(dryRun),
                    "files": .array(
                        changes.map {
                            [
                                "path": .string($0.path.path), "purpose": .string($0.purpose),
                                "changed": .bool($0.changed), "created": .bool($0.old == nil),
                                "diff": $0.changed
                                    ? .string(AgentSetup.diff($0.old, $0.new, path: $0.path.path)) : .null,
                            ]
                        }),
                ])
                return
            }
            for c in changes {
                let verb =
                    !c.changed
                    ? "unchanged"
                    : dryRun ? "would \(c.old == nil ? "create" : "update")" : (c.old == nil ? "created" : "updated")
                out.line("\(verb): \(c.path.path) (\(c.purpose))")
                if dryRun && c.changed { out.line(AgentSetup.diff(c.old, c.new, path: c.path.path)) }
            }
            if client == .claudeDesktop {
                out.line("")
                out.line("Claude Desktop reads no project files; paste this into a Claude Project's instructions:")
                out.line(AgentSetup.guide)
            }
            if !dryRun && changes.contains(where: \.changed) {
                out.line("Restart \(client.rawValue) (or reload its MCP servers) to pick up minsky.")
            }
        }
    }

    /// This minsky's absolute path (the client starts it without this shell's PATH).
    static func executable() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        let arg0 = CommandLine.arguments[0]
        if arg0.hasPrefix("/") { return arg0 }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(arg0).standardized
            .path
    }
}
