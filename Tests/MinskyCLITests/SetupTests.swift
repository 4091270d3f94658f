import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// `minsky setup CLIENT`: merges into existing files, never clobbers, shows a diff with
/// --dry-run, is idempotent, and the server it configures really serves this project's store.
@Suite("Agent set-up")
struct SetupTests {
    func project() async throws -> (CLI, URL) {
        let dir = try TestEnvironment.tempDirectory("minsky-setup")
        let home = dir.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let cli = CLI(cwd: dir, env: ["HOME": home.path, "XDG_CONFIG_HOME": "", "CODEX_HOME": ""])
        #expect(try await cli.run("init").status == 0)
        return (cli, home)
    }

    func read(_ url: URL) -> String? { try? String(contentsOf: url, encoding: .utf8) }

    @Test func claudeCodeMergesDryRunsAndIsIdempotent() async throws {
        let (cli, _) = try await project()
        defer { try? FileManager.default.removeItem(at: cli.cwd) }
        let mcp = cli.cwd.appendingPathComponent(".mcp.json")
        let claude = cli.cwd.appendingPathComponent("CLAUDE.md")
        let mine = #"{"mcpServers": {"other": {"command": "other-server", "args": ["--x"]}}, "theme": "dark"}"#
        try mine.write(to: mcp, atomically: true, encoding: .utf8)
        try "# House rules\n\nAlways run the tests.\n".write(to: claude, atomically: true, encoding: .utf8)

        // --dry-run: a diff per file, nothing written.
        let dry = try await cli.run("setup", "claude-code", "--dry-run")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(
            dry.stdout.contains("would update: \(mcp.path)") && dry.stdout.contains("\"minsky\": {"), "\(dry.stdout)")
        #expect(dry.stdout.contains("+## Tasks: minsky") && dry.stdout.contains(" Always run the tests."))
        #expect(read(mcp) == mine)
        #expect(read(claude) == "# House rules\n\nAlways run the tests.\n")

        // The real run merges: the other server, the setting and the house rules stay.
        let r = try await cli.json("setup", "claude-code")
        let files = r["files"]?.arrayValue ?? []
        #expect(files.count >= 2 && files.allSatisfy { $0["changed"] == true }, "\(r)")
        let config = try JSONValue.parse(try #require(read(mcp)))
        #expect(config["theme"] == "dark")
        #expect(config["mcpServers"]?["other"]?["command"] == "other-server")
        let server = try #require(config["mcpServers"]?["minsky"])
        let args = server["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // A committed file: no path of this machine; the store is found from the project.
        #expect(server["command"] == "minsky" && args == ["mcp"], "\(server)")
        #expect(!(try #require(read(mcp))).contains(cli.cwd.path))
        let guide = try #require(read(claude))
        #expect(guide.hasPrefix("# House rules\n\nAlways run the tests.\n"))
        #expect(guide.contains("next_task") && guide.contains("claim_task") && guide.contains("<!-- minsky:end -->"))

        // Again: nothing changes, byte for byte.
        let before = (read(mcp), read(claude))
        let again = try await cli.run("setup", "claude-code")
        #expect(again.stdout.components(separatedBy: "unchanged:").count == 3, "\(again.stdout)")
        #expect(read(mcp) == before.0 && read(claude) == before.1)
        #expect(read(claude)?.components(separatedBy: "minsky:begin").count == 2)

        // The configured command really serves this project's tasks, started in the project as
        // Claude Code starts it (`minsky` being this build).
        _ = try await cli.json("tasks", "create", "Reached through the configured server")
        let p = try MCPProcess(args: args, cwd: cli.cwd)
        defer { p.terminate() }
        #expect(p.initialize() != nil)
        let listed = p.call("list_tasks")
        #expect(
            listed?["structuredContent"]?["tasks"]?.arrayValue?.first?["title"]
                == "Reached through the configured server", "\(String(describing: listed))")
    }

    @Test func aBrokenConfigIsRefusedAndLeftAlone() async throws {
        let (cli, _) = try await project()
        defer { try? FileManager.default.removeItem(at: cli.cwd) }
        let cursor = cli.cwd.appendingPathComponent(".cursor/mcp.json")
        try FileManager.default.createDirectory(
            at: cursor.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "{ \"mcpServers\": { oops".write(to: cursor, atomically: true, encoding: .utf8)
        let r = try await cli.run("setup", "cursor")
        #expect(r.status == 2 && r.stderr.contains(cursor.path) && r.stderr.contains("not valid JSON"), "\(r.stderr)")
        #expect(read(cursor) == "{ \"mcpServers\": { oops")
        #expect(read(cli.cwd.appendingPathComponent(".cursor/rules/minsky.mdc")) == nil)
        // Outside a project: an error naming the fix.
        let elsewhere = try TestEnvironment.tempDirectory("minsky-setup-none")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let none = try await CLI(cwd: elsewhere, env: cli.env).run("setup", "codex")
        #expect(none.status != 0 && none.stderr.contains("minsky init"), "\(none.stderr)")
    }

    @Test func cursorCodexAndClaudeDesktopWriteTheirOwnFiles() async throws {
        let (cli, home) = try await project()
        defer { try? FileManager.default.removeItem(at: cli.cwd) }
        let name = "minsky-" + cli.cwd.lastPathComponent.lowercased()

        _ = try await cli.json("setup", "cursor")
        let rule = try #require(read(cli.cwd.appendingPathComponent(".cursor/rules/minsky.mdc")))
        #expect(rule.hasPrefix("---\ndescription:") && rule.contains("alwaysApply: true\n---\n<!-- minsky:begin"))
        #expect(
            try JSONValue.parse(try #require(read(cli.cwd.appendingPathComponent(".cursor/mcp.json"))))["mcpServers"]?[
                "minsky"] != nil)

        // Codex: TOML in the user's config, another table and our extra keys kept.
        let toml = home.appendingPathComponent(".codex/config.toml")
        try FileManager.default.createDirectory(at: toml.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "model = \"o4\"\n\n[mcp_servers.other]\ncommand = \"x\"\n".write(
            to: toml, atomically: true, encoding: .utf8)
        _ = try await cli.json("setup", "codex")
        var text = try #require(read(toml))
        #expect(text.hasPrefix("model = \"o4\"\n\n[mcp_servers.other]\ncommand = \"x\"\n"))
        #expect(
            text.contains("[mcp_servers.\(name)]\ncommand = \"/")
                && text.contains("args = [\"mcp\", \"--db\", \"sqlite:"))
        try (text + "env = { MINSKY_LOG_LEVEL = \"debug\" }\n").write(to: toml, atomically: true, encoding: .utf8)
        _ = try await cli.json("setup", "codex")
        text = try #require(read(toml))
        #expect(
            text.contains("env = { MINSKY_LOG_LEVEL = \"debug\" }")
                && text.components(separatedBy: "[mcp_servers.\(name)]").count == 2)
        #expect(read(cli.cwd.appendingPathComponent("AGENTS.md"))?.contains("next_task") == true)

        // Claude Desktop: its config under ~/.config/Claude; the guide is printed to paste.
        let desktop = try await cli.run("setup", "claude-desktop")
        #expect(desktop.status == 0 && desktop.stdout.contains("paste this into a Claude Project"))
        let config = try JSONValue.parse(
            try #require(read(home.appendingPathComponent(".config/Claude/claude_desktop_config.json"))))
        #expect(config["mcpServers"]?[name]?["args"]?.arrayValue?.first == "mcp")
    }
    /// Codex's TOML through a real parser: a quoted header of ours is found and replaced (not a
    /// second table appended), an invalid file is refused with its line and column and left
    /// alone, and every result reads back in Python's `tomllib` with the user's values intact.
    @Test func codexTOMLIsParsedNeverAppendedBlindly() async throws {
        let (cli, home) = try await project()
        defer { try? FileManager.default.removeItem(at: cli.cwd) }
        let name = "minsky-" + cli.cwd.lastPathComponent.lowercased()
        let toml = home.appendingPathComponent(".codex/config.toml")
        try FileManager.default.createDirectory(at: toml.deletingLastPathComponent(), withIntermediateDirectories: true)
        let python = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["MINSKY_TEST_PYTHON"] ?? "/usr/bin/python3")
        func load() async throws -> JSONValue {
            let r = try await runProcess(
                python,
                [
                    "-c", "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))",
                    toml.path,
                ])
            #expect(r.status == 0, "tomllib refused the file: \(r.stderr)\n\(read(toml) ?? "")")
            return try JSONValue.parse(r.stdout)
        }
        let existing = """
            # my settings
            model = "o4"   # a comment
            notes = \"\"\"
            [not a table]
            \"\"\"

            [mcp_servers."\(name)"]
            command = "old"
            args = [
              "old-arg",  # spread over lines
            ]
            env = { KEEP = "yes" }

            [mcp_servers.other]
            command = "x"

            """
        try existing.write(to: toml, atomically: true, encoding: .utf8)
        _ = try await cli.json("setup", "codex")
        let text = try #require(read(toml))
        #expect(!text.contains("old-arg") && !text.contains("\"old\""), "\(text)")
        #expect(text.components(separatedBy: "[mcp_servers").count == 3, "a second table of ours: \(text)")
        let parsed = try await load()
        #expect(parsed["model"] == "o4" && parsed["notes"] == "[not a table]\n")
        #expect(parsed["mcp_servers"]?[name]?["env"]?["KEEP"] == "yes")
        #expect(parsed["mcp_servers"]?[name]?["args"]?.arrayValue?.first == "mcp")
        #expect(parsed["mcp_servers"]?["other"]?["command"] == "x")
        // A second run changes nothing.
        _ = try await cli.json("setup", "codex")
        #expect(read(toml) == text)

        // Invalid TOML: refused, named, untouched.
        for broken in ["model = o4\n", "[mcp_servers.a]\ncommand = \"x\"\n[mcp_servers.a]\n", "key = \"unclosed\n"] {
            try broken.write(to: toml, atomically: true, encoding: .utf8)
            let r = try await cli.run("setup", "codex")
            #expect(r.status == 2 && r.stderr.contains("not valid TOML") && r.stderr.contains("line "), "\(r.stderr)")
            #expect(read(toml) == broken)
        }
        // Our server as an inline table: minsky does not guess, and writes nothing.
        let inline = "[mcp_servers]\n\"\(name)\" = { command = \"x\" }\n"
        try inline.write(to: toml, atomically: true, encoding: .utf8)
        let r = try await cli.run("setup", "codex")
        #expect(r.status == 2 && r.stderr.contains("does not edit"), "\(r.stderr)")
        #expect(read(toml) == inline)
    }
    /// Merging into `.mcp.json` keeps the user's servers in their order and every byte of them;
    /// a broken file's error names the line and column.
    @Test func mcpJSONKeepsTheUsersOrderAndNamesWhereABrokenFileBreaks() async throws {
        let (cli, _) = try await project()
        defer { try? FileManager.default.removeItem(at: cli.cwd) }
        let mcp = cli.cwd.appendingPathComponent(".mcp.json")
        let mine = """
            {
                "mcpServers": {
                    "zeta": { "command": "z", "args": ["1"] },
                    "alpha": {
                        "command": "a"
                    }
                },
                "theme": "dark"
            }

            """
        try mine.write(to: mcp, atomically: true, encoding: .utf8)
        _ = try await cli.json("setup", "claude-code")
        let text = try #require(read(mcp))
        // The user's part is unchanged, byte for byte, and in its order.
        #expect(text.hasPrefix(String(mine.prefix(while: { $0 != "}" })) + "},"), "\(text)")
        let z = try #require(text.range(of: "\"zeta\""))
        let a = try #require(text.range(of: "\"alpha\""))
        let m = try #require(text.range(of: "\"minsky\""))
        #expect(z.lowerBound < a.lowerBound && a.lowerBound < m.lowerBound)
        #expect(text.contains("\"theme\": \"dark\""))
        let parsed = try JSONValue.parse(text)
        #expect(parsed["mcpServers"]?["minsky"]?["args"]?.arrayValue?.first == "mcp")
        // Idempotent.
        _ = try await cli.json("setup", "claude-code")
        #expect(read(mcp) == text)

        let broken = "{\n  \"mcpServers\": {\n    \"x\": { \"command\": \"a\" ,}\n  }\n}\n"
        try broken.write(to: mcp, atomically: true, encoding: .utf8)
        let r = try await cli.run("setup", "claude-code")
        #expect(r.status == 2 && r.stderr.contains("line 3, column"), "\(r.stderr)")
        #expect(read(mcp) == broken)
    }
}
