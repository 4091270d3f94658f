import ArgumentParser
import Foundation
import MinskyCore

/// Everything the CLI prints goes through here: tables for people, JSON with --json.
struct Output {
    var json: Bool

    func line(_ s: String = "") { print(s) }

    /// A warning on stderr (stdout stays the command's result).
    func warn(_ s: String) { FileHandle.standardError.write(Data("warning: \(s)\n".utf8)) }

    /// The shapes of `TaskJSON`, indented; written by our own encoder, so any depth prints.
    func emit(_ value: JSONValue) {
        FileHandle.standardOutput.write(Data((value.prettyJSON() + "\n").utf8))
    }

    func emit<T: Encodable>(_ value: T) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(value)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// Core errors name fields as the stores and MCP do; on the command line they are options.
    static let optionNames = [
        "expectedVersion": "expect-version", "dependsOn": "depends-on", "parentId": "parent", "ttl": "ttl",
        "owner": "owner", "acceptance": "ac", "paths": "path", "evidence.commits": "commit", "evidence.command": "run",
        "evidence.exitStatus": "exit", "evidence.tests": "tests", "evidence.links": "link",
        "evidence.changed": "changed",
    ]

    func error(_ e: MinskyError) {
        if json {
            let field = e.field.map { Self.optionNames[$0] ?? $0 }
            let obj: JSONValue = [
                "error": .object([
                    "code": .string(e.code.rawValue), "message": .string(e.message),
                    "field": field.map { .string($0) } ?? .null,
                ])
            ]
            FileHandle.standardError.write(Data((obj.canonicalJSON() + "\n").utf8))
        } else {
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
        }
        // `--verbose` (a global option) adds the detail: the database's message and statement.
        if let detail = e.detail, CommandLine.arguments.contains("--verbose") {
            FileHandle.standardError.write(Data("detail: \(detail)\n".utf8))
        }
    }

    func reportingErrors(_ body: () async throws -> Void) async throws {
        do { try await body() } catch let e as MinskyError {
            error(e)
            throw ExitCode(e.code.exitCode)
        }
    }

    // MARK: Human formatting

    static func clip(_ s: String, _ n: Int) -> String {
        let oneLine = s.map { $0.isNewline || $0 == "\t" ? " " : $0 }
        return oneLine.count <= n ? String(oneLine) : String(oneLine.prefix(n - 1)) + "…"
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }

    func table(_ tasks: [TaskItem]) {
        guard !tasks.isEmpty else {
            line("No tasks.")
            return
        }
        let idW = max(2, tasks.map(\.id.rawValue.count).max() ?? 2)
        line("\(Self.pad("ID", idW))  \(Self.pad("STATUS", 11))  PRI  TITLE")
        for t in tasks {
            var title = Self.clip(t.title, 60)
            if !t.tags.isEmpty { title += "  [" + t.tags.joined(separator: ",") + "]" }
            line("\(Self.pad(t.id.rawValue, idW))  \(Self.pad(t.status.rawValue, 11))  \(t.priority)   \(title)")
        }
    }

    func detail(_ t: TaskItem, deps: DependencyList?, notes: [TaskNote] = []) {
        line("\(t.id)  \(t.title)")
        line(
            "  status:    \(t.status)\(t.assignee.map { "  (claimed by \($0)\(t.claimExpiresAt.map { " until \($0)" } ?? ""))" } ?? "")"
        )
        line("  priority:  \(t.priority) (\(t.priority.name))")
        if !t.tags.isEmpty { line("  tags:      \(t.tags.joined(separator: ", "))") }
        if let p = t.parentId { line("  parent:    \(p)") }
        if !t.paths.isEmpty { line("  paths:     \(t.paths.joined(separator: ", "))") }
        if !t.evidence.isEmpty {
            line("  evidence:  \(t.evidence.summary)\(t.evidence.recordedAt.map { " (\($0))" } ?? "")")
        }
        if case .object(let o) = t.metadata, !o.isEmpty { line("  metadata:  \(t.metadata.canonicalJSON())") }
        line("  version:   \(t.version)   created \(t.createdAt)   updated \(t.updatedAt)")
        if let deps {
            for e in deps.blockedBy { line("  blocked by \(e.id) [\(e.status)] \(Self.clip(e.title, 50))") }
            for e in deps.blocks { line("  blocks     \(e.id) [\(e.status)] \(Self.clip(e.title, 50))") }
        }
        if !t.acceptance.isEmpty {
            line(
                "  acceptance criteria (\(t.acceptance.count - t.uncheckedCriteria.count)/\(t.acceptance.count) checked):"
            )
            for (i, c) in t.acceptance.enumerated() { line("    \(i + 1). [\(c.done ? "x" : " ")] \(c.text)") }
        }
        if !t.description.isEmpty {
            line()
            for l in t.description.split(separator: "\n", omittingEmptySubsequences: false) { line("  " + l) }
        }
        if !notes.isEmpty {
            line()
            line("  notes:")
            for n in notes {
                line("  — \(n.author), \(n.createdAt):")
                for l in n.body.split(separator: "\n", omittingEmptySubsequences: false) { line("    " + l) }
            }
        }
    }

    func tree(_ tree: TaskTree) {
        guard !tree.roots.isEmpty else {
            line("No tasks.")
            return
        }
        func walk(_ n: TaskTree.Node, _ prefix: String, _ last: Bool, _ top: Bool) {
            let mark = n.task.status.isResolved ? "✓" : (n.task.status == .inProgress ? "▶" : "○")
            let blocked =
                n.blockedBy.isEmpty ? "" : "  ⟵ blocked by " + n.blockedBy.map(\.rawValue).joined(separator: ", ")
            let branch = top ? "" : (last ? "└─ " : "├─ ")
            line(
                "\(prefix)\(branch)\(mark) \(n.task.id) \(Self.clip(n.task.title, 60)) [\(n.task.status) \(n.task.priority)]\(blocked)"
            )
            let childPrefix = top ? prefix : prefix + (last ? "   " : "│  ")
            for (i, c) in n.children.enumerated() { walk(c, childPrefix, i == n.children.count - 1, false) }
            if n.omittedDescendants > 0 {
                line(
                    "\(childPrefix)   … \(n.omittedDescendants) deeper subtask(s) not shown (more than \(TaskTree.maxDepth) levels); run `minsky tasks tree \(n.task.id)`"
                )
            }
        }
        for r in tree.roots { walk(r, "", true, true) }
    }
}
