import Foundation
import MinskyCore

/// `minsky setup CLIENT`: the MCP configuration an agent client reads, merged into its file
/// (other servers and settings kept), and a short guide to minsky's tools in the file the
/// client reads for instructions, between markers so a second run replaces only its own block.
/// Planning is pure (what each file would become); `apply` writes the files that change.
public enum AgentSetup {
    public enum Client: String, CaseIterable, Sendable {
        case claudeCode = "claude-code"
        case claudeDesktop = "claude-desktop"
        case cursor
        case codex
    }

    /// One file and what it would become.
    public struct Change: Sendable, Equatable {
        public var path: URL
        public var old: String?
        public var new: String
        /// What the file is for, in a few words.
        public var purpose: String
        public var changed: Bool { old != new }
    }

    public static let begin = "<!-- minsky:begin (written by `minsky setup`; edit outside this block) -->"
    public static let end = "<!-- minsky:end -->"

    /// How agents use minsky for the common jobs: short, because clients load it into every session.
    public static let guide = """
        ## Tasks: minsky (MCP tools)

        This project keeps its task list in minsky. Use its MCP tools, not a TODO file:
        - **What to do next**: `next_task` with your `owner` name (filters: `tag`, `parentId`, `assignee`,
          `unassigned`; it skips tasks touching paths another agent holds; when nothing is ready it says why), then
          `claim_task` (no id: the next ready task) before you start; heartbeat a long job, `release` what you drop.
        - **Catch up**: `task_history` with `since` (your last cursor, or `2h`) tells what changed, by task; keep the
          cursor it returns. `get_task` with `brief: true` gives what you need to start on a task.
        - **Read**: `get_task` (with blockers, notes and acceptance criteria), `list_tasks`, `search_tasks`,
          `similar` (by meaning), `task_tree`, `task_history`.
        - **Plan**: `create_task`/`create_tasks` (subtasks, `dependsOn`, `acceptance` criteria, the `paths` a task
          will touch), `add_dependency`; split a task with `decompose_task`, or a requirements document with
          `decompose_task` and `document`.
        - **Report**: `update_task` with `note` for what you found or decided; `check` acceptance criteria as you
          meet them; `set_status` DONE with `evidence` (commits, the command run and its `exitStatus`, tests,
          tokens, minutes) when every criterion holds (pass `expectedVersion` from what you read).
        - Humans watch the same tasks live with `minsky board`; the CLI is `minsky tasks …`.
        """

    /// Where each client keeps its MCP configuration and its instructions.
    public static func files(_ client: Client, project: URL, home: URL, environment: [String: String]) -> (
        config: URL, guide: URL?
    ) {
        switch client {
        case .claudeCode:
            return (project.appendingPathComponent(".mcp.json"), project.appendingPathComponent("CLAUDE.md"))
        case .claudeDesktop:
            #if os(macOS)
                let dir = home.appendingPathComponent("Library/Application Support/Claude")
            #else
                let dir =
                    environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }.map { URL(fileURLWithPath: $0) }?
                    .appendingPathComponent("Claude")
                    ?? home.appendingPathComponent(".config/Claude")
            #endif
            // Claude Desktop reads no project files: the guide goes into a Project's instructions by hand.
            return (dir.appendingPathComponent("claude_desktop_config.json"), nil)
        case .cursor:
            return (
                project.appendingPathComponent(".cursor/mcp.json"),
                project.appendingPathComponent(".cursor/rules/minsky.mdc")
            )
        case .codex:
            let dir =
                environment["CODEX_HOME"].flatMap { $0.isEmpty ? nil : $0 }.map { URL(fileURLWithPath: $0) }
                ?? home.appendingPathComponent(".codex")
            return (dir.appendingPathComponent("config.toml"), project.appendingPathComponent("AGENTS.md"))
        }
    }

    /// The server entry's name: `minsky` in a project's own file; in a client's global file,
    /// `minsky-<project folder>`, so two projects never share (and overwrite) one entry.
    public static func serverName(_ client: Client, project: URL) -> String {
        switch client {
        case .claudeCode, .cursor: return "minsky"
        case .claudeDesktop, .codex:
            let base = project.lastPathComponent.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
            return "minsky-" + String(base)
        }
    }

    /// Whether the client's MCP file is the project's own (committed with it).
    public static func isProjectFile(_ client: Client) -> Bool { client == .claudeCode || client == .cursor }

    public static func plan(
        _ client: Client, project: URL, store: StoreLocation, executable: String, home: URL,
        environment: [String: String]
    ) throws -> [Change] {
        let (configURL, guideURL) = files(client, project: project, home: home, environment: environment)
        let name = serverName(client, project: project)
        // A project's own file is committed and used by everyone who clones it: `minsky mcp`
        // from PATH, started in the project, finds the store from `.minsky/` (no path of this
        // machine). A client's user-level file names this machine's binary and store.
        let shared = isProjectFile(client)
        let command = shared ? "minsky" : executable
        // Never a password: the files are written in plain text (libpq finds it in ~/.pgpass).
        let args = shared ? ["mcp"] : ["mcp", "--db", store.withoutPassword.connectionString]
        let oldConfig = try read(configURL)
        let newConfig: String
        switch client {
        case .codex:
            newConfig = try codexTOML(oldConfig ?? "", at: configURL, name: name, command: command, args: args)
        default: newConfig = try mcpJSON(oldConfig, at: configURL, name: name, command: command, args: args)
        }
        let purpose =
            shared
            ? "MCP server \(name) (project file: `minsky` from PATH, the store found from .minsky/)"
            : "MCP server \(name) (user-level file: this machine's paths to the binary and the store)"
        var out = [Change(path: configURL, old: oldConfig, new: newConfig, purpose: purpose)]
        if let guideURL {
            let oldGuide = try read(guideURL)
            var new = withBlock(oldGuide ?? "", guide)
            if client == .cursor {
                // A Cursor rule starts with its front matter; the rest of the file is the block.
                let front =
                    "---\ndescription: Use minsky's MCP tools for this project's tasks\nalwaysApply: true\n---\n"
                var rest = oldGuide ?? ""
                if rest.hasPrefix("---\n"),
                    let close = rest.range(
                        of: "\n---\n", range: rest.index(rest.startIndex, offsetBy: 3)..<rest.endIndex)
                {
                    rest = String(rest[close.upperBound...])
                }
                new = front + withBlock(rest, guide)
            }
            out.append(Change(path: guideURL, old: oldGuide, new: new, purpose: "agent guide"))
        }
        return out
    }

    /// Writes every change (atomically, keeping an existing file's permissions).
    public static func apply(_ changes: [Change]) throws {
        for c in changes where c.changed {
            try FileManager.default.createDirectory(
                at: c.path.deletingLastPathComponent(), withIntermediateDirectories: true)
            let mode = (try? FileManager.default.attributesOfItem(atPath: c.path.path))?[.posixPermissions] as? Int
            try AtomicFile.write(Data(c.new.utf8), to: c.path, permissions: mode ?? 0o644)
        }
    }

    static func read(_ url: URL) throws -> String? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let data = FileManager.default.contents(atPath: url.path), let s = String(data: data, encoding: .utf8)
        else {
            throw MinskyError.invalid("file", "\(url.path) is not readable UTF-8 text; fix or move it, then run again")
        }
        return s
    }

    /// The `mcpServers` file of Claude Code, Claude Desktop and Cursor, with our entry set and
    /// every other byte kept (the user's servers stay in their order, with their spacing). A file
    /// that is not a JSON object is refused, never overwritten, naming the line and column.
    static func mcpJSON(_ old: String?, at url: URL, name: String, command: String, args: [String]) throws -> String {
        guard let old, !old.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            let entry: JSONValue = ["command": .string(command), "args": .array(args.map { .string($0) })]
            return JSONValue.object(["mcpServers": .object([name: entry])]).prettyJSON() + "\n"
        }
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(Array(old.utf8)) } catch let e as JSONParser.Failure {
            let (line, column) = JSONSplice.position(old, offset: e.offset)
            throw MinskyError.invalid(
                "file",
                "\(url.path) is not valid JSON (line \(line), column \(column): \(e.message)); fix it by hand, then run again — it was not changed"
            )
        }
        guard let root = parsed.objectValue else {
            throw MinskyError.invalid(
                "file", "\(url.path) holds \(parsed.typeName), not a JSON object; it was not changed")
        }
        if let existing = root["mcpServers"], existing.objectValue == nil {
            throw MinskyError.invalid(
                "file", "\(url.path): mcpServers is \(existing.typeName), not an object; it was not changed")
        }
        var entry = root["mcpServers"]?[name]?.objectValue ?? [:]
        entry["command"] = .string(command)
        entry["args"] = .array(args.map { .string($0) })
        var splice = JSONSplice(old)
        let open = splice.skipWS(0)
        let (members, _) = splice.members(open)
        // The file's own indentation step (two spaces when it has none to show).
        let unit =
            members.first.map { splice.indentation(at: $0.keyStart) }.flatMap { $0.isEmpty ? nil : $0 } ?? "  "
        if let servers = members.first(where: { $0.key == "mcpServers" }) {
            splice.set(name, to: .object(entry), inObjectAt: servers.valueStart, unit: unit)
        } else {
            splice.set("mcpServers", to: .object([name: .object(entry)]), inObjectAt: open, unit: unit)
        }
        var text = splice.text
        if !text.hasSuffix("\n") { text += "\n" }
        return text
    }

    /// Codex's TOML: our `[mcp_servers.NAME]` table's `command` and `args` replaced (or the table
    /// appended), every other byte kept. The file is read with a TOML parser first: one it cannot
    /// parse is refused (line and column named), and so is a result that would not parse (the
    /// server defined another way, e.g. as an inline table).
    static func codexTOML(_ old: String, at url: URL, name: String, command: String, args: [String]) throws -> String {
        func quote(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func key(_ k: String) -> String {
            k.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") } ? k : quote(k)
        }
        let doc: TOMLDocument
        do { doc = try TOMLDocument(old) } catch let e as TOMLDocument.Failure {
            throw MinskyError.invalid(
                "file",
                "\(url.path) is not valid TOML (line \(e.line), column \(e.column): \(e.message)); fix it by hand, then run again — it was not changed"
            )
        }
        let ours = [
            "command = \(quote(command))", "args = [\(args.map(quote).joined(separator: ", "))]",
        ]
        var lines = old.isEmpty ? [] : old.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let path = ["mcp_servers", name]
        if let header = doc.headers.first(where: { $0.path == path && !$0.isArray }) {
            // Our keys go; the user's (env, timeouts) stay where they are.
            let drop = doc.entries.filter { $0.table == path && ($0.key == ["command"] || $0.key == ["args"]) }
            for e in drop.sorted(by: { $0.firstLine > $1.firstLine }) {
                lines.removeSubrange(e.firstLine...min(e.lastLine, lines.count - 1))
            }
            lines.insert(contentsOf: ours, at: header.line + 1)
        } else {
            if let last = lines.last, !last.isEmpty { lines.append("") }
            lines += ["[mcp_servers.\(key(name))]"] + ours
        }
        let new = lines.joined(separator: "\n") + "\n"
        do { _ = try TOMLDocument(new) } catch let e as TOMLDocument.Failure {
            throw MinskyError.invalid(
                "file",
                "\(url.path) defines the server \(name) in a form minsky does not edit (\(e.message)); write its command and args by hand, or move it to a [mcp_servers.\(key(name))] table — the file was not changed"
            )
        }
        return new
    }

    /// `text` with our block replaced, or appended when it has none.
    static func withBlock(_ text: String, _ body: String) -> String {
        let block = begin + "\n" + body.trimmingCharacters(in: .newlines) + "\n" + end
        if let a = text.range(of: begin), let b = text.range(of: end, range: a.upperBound..<text.endIndex) {
            return text.replacingCharacters(in: a.lowerBound..<b.upperBound, with: block)
        }
        if text.isEmpty { return block + "\n" }
        return text + (text.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n"
    }

    /// A unified diff of two texts (whole-file hunks are enough for small configuration files).
    public static func diff(_ old: String?, _ new: String, path: String) -> String {
        let a = old.map { $0.components(separatedBy: "\n") } ?? []
        let b = new.components(separatedBy: "\n")
        // Longest common subsequence, then the edit script.
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        // The edit script: (" ", "-", "+"), with each line's number in the old and new text.
        var ops: [(kind: Character, line: String, ai: Int, bj: Int)] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                ops.append((" ", a[i], i, j))
                i += 1
                j += 1
            } else if i < a.count, j == b.count || lcs[i + 1][j] >= lcs[i][j + 1] {
                ops.append(("-", a[i], i, j))
                i += 1
            } else {
                ops.append(("+", b[j], i, j))
                j += 1
            }
        }
        // Hunks: every change with three lines of context around it.
        let context = 3
        var keep = [Bool](repeating: false, count: ops.count)
        for (k, op) in ops.enumerated() where op.kind != " " {
            for m in max(0, k - context)...min(ops.count - 1, k + context) { keep[m] = true }
        }
        var out = ["--- \(old == nil ? "/dev/null" : path)", "+++ \(path)"]
        var k = 0
        while k < ops.count {
            guard keep[k] else {
                k += 1
                continue
            }
            var end = k
            while end < ops.count, keep[end] { end += 1 }
            let hunk = ops[k..<end]
            let oldCount = hunk.filter { $0.kind != "+" }.count
            let newCount = hunk.filter { $0.kind != "-" }.count
            out.append(
                "@@ -\(hunk.first!.ai + (oldCount > 0 ? 1 : 0)),\(oldCount) +\(hunk.first!.bj + 1),\(newCount) @@")
            out += hunk.map { String($0.kind) + $0.line }
            k = end
        }
        return out.joined(separator: "\n")
    }
}
