import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Every `--json` command prints the one shape of what it returns, as `TaskSchemas` describes
/// it (the same schemas the MCP tools declare), checked through the built binary.
@Suite("JSON shapes of the CLI")
struct JSONShapeTests {
    static func object(_ required: [String], _ props: [String: JSONValue] = [:]) -> JSONValue {
        var p = props
        for r in required where p[r] == nil { p[r] = .object([:]) }
        return ["type": "object", "required": .array(required.map { .string($0) }), "properties": .object(p)]
    }

    static func array(of items: JSONValue) -> JSONValue { ["type": "array", "items": items] }

    /// Every node of a tree, at any depth, is a full task.
    static func checkTree(_ v: JSONValue) -> String? {
        var stack = v["roots"]?.arrayValue ?? []
        while let n = stack.popLast() {
            if let e = JSONSchema.firstError(n, TaskSchemas.fullTask) { return e }
            stack += n["children"]?.arrayValue ?? []
        }
        return nil
    }

    @Test func everyJSONCommandMatchesItsSchema() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cli = CLI(cwd: dir, env: ["MINSKY_CREDENTIALS_FILE": dir.appendingPathComponent("creds.json").path])
        var checked = 0
        func check(
            _ args: [String], _ schema: JSONValue, extra: ((JSONValue) -> String?)? = nil,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> JSONValue {
            let r = try await runProcess(Binaries.minsky, args + ["--json"], cwd: dir, env: cli.env)
            #expect(r.status == 0, "minsky \(args.joined(separator: " ")): \(r.stderr)", sourceLocation: sourceLocation)
            let v = try JSONValue.parse(r.stdout)
            if let problem = JSONSchema.firstError(v, schema) ?? extra?(v) {
                Issue.record(
                    "minsky \(args.joined(separator: " ")) --json: \(problem)\n\(r.stdout.prefix(400))",
                    sourceLocation: sourceLocation)
            }
            checked += 1
            return v
        }
        let task = TaskSchemas.fullTask
        _ = try await check(["init"], Self.object(["directory", "store", "created"]))
        let a = try await check(["tasks", "create", "alpha", "-p", "1", "-t", "x"], task)["id"]?.stringValue ?? ""
        let b = try await check(["tasks", "create", "beta", "--depends-on", a], task)["id"]?.stringValue ?? ""
        let c = try await check(["tasks", "create", "gamma", "--parent", a], task)["id"]?.stringValue ?? ""
        let file = dir.appendingPathComponent("in.jsonl")
        try Data("{\"title\":\"imported\"}\n".utf8).write(to: file)
        _ = try await check(["tasks", "import", file.path], TaskSchemas.created)
        _ = try await check(["tasks", "update", b, "--title", "beta 2"], task)
        _ = try await check(["tasks", "status", b, "in-review"], task)
        _ = try await check(["tasks", "list"], TaskSchemas.fullPage)
        _ = try await check(
            ["tasks", "list", "--limit", "1"], Self.object(["tasks", "nextCursor"], ["tasks": Self.array(of: task)]))
        _ = try await check(["tasks", "search", "alpha"], TaskSchemas.fullPage)
        _ = try await check(["tasks", "next", "--limit", "5"], TaskSchemas.fullPage)
        _ = try await check(["tasks", "get", b], TaskSchemas.fullDetail)
        _ = try await check(["tasks", "tree"], TaskSchemas.tree, extra: Self.checkTree)
        _ = try await check(["tasks", "tree", a], TaskSchemas.tree, extra: Self.checkTree)
        _ = try await check(["tasks", "claim", c, "--owner", "me", "--ttl", "1h"], task)
        _ = try await check(["tasks", "next", "--claim", "--owner", "me"], TaskSchemas.fullPage)
        let edge = Self.object(["id", "title", "status", "priority"])
        _ = try await check(["deps", "add", c, b], Self.object(["taskId", "dependsOn", "createdAt"]))
        _ = try await check(
            ["deps", "list", c],
            Self.object(["blockedBy", "blocks"], ["blockedBy": Self.array(of: edge), "blocks": Self.array(of: edge)]))
        _ = try await check(["deps", "rm", c, b], Self.object(["removed"]))
        _ = try await check(["tasks", "insights"], Self.object(["facts"]))
        _ = try await check(["tasks", "proposals"], Self.array(of: Self.object(["id", "taskId", "model"])))
        _ = try await check(["usage"], Self.object(["usage"]))
        _ = try await check(["config", "set", "ai.model", "m1"], Self.object(["key", "value"]))
        _ = try await check(["config", "get", "ai.model"], Self.object(["key", "value"]))
        _ = try await check(["config", "list"], Self.object(["settings"]))
        _ = try await check(["doctor"], Self.array(of: Self.object(["name", "ok", "detail"])))
        let manifest = Self.object(["file", "sha256", "tables", "checksums"])
        let backup = try await check(["backup", "create"], manifest)
        _ = try await check(["backup", "list"], Self.array(of: manifest))
        _ = try await check(
            [
                "backup", "verify",
                dir.appendingPathComponent(".minsky/backups/" + (backup["file"]?.stringValue ?? "")).path,
            ], manifest)
        _ = try await check(
            ["mcp", "tools"],
            Self.object(
                ["tools"], ["tools": Self.array(of: Self.object(["name", "title", "description", "annotations"]))]))
        _ = try await check(
            ["tasks", "delete", a, "--cascade"],
            Self.object(["deleted"], ["deleted": Self.array(of: ["type": "string"])]))
        _ = try await check(
            ["quickstart", "--dir", dir.appendingPathComponent("demo").path],
            Self.object(["tasks", "directory", "store"], ["tasks": Self.array(of: task)]))
        #expect(checked == 32)
    }
}

@Suite("Command-line help")
struct HelpTests {
    /// Every command has an abstract and every option and argument a help text; values with a
    /// fixed set of choices list them (what `--help` shows and shell completion offers).
    @Test func everyOptionAndArgumentIsDocumented() async throws {
        let r = try await runProcess(Binaries.minsky, ["--experimental-dump-help"])
        #expect(r.status == 0)
        var missing: [String] = []
        var choices: [String: [String]] = [:]
        var stack: [(JSONValue, String)] = [(try JSONValue.parse(r.stdout)["command"] ?? .null, "minsky")]
        while let (command, path) = stack.popLast() {
            if (command["abstract"]?.stringValue ?? "").isEmpty && path != "minsky help" { missing.append(path) }
            for a in command["arguments"]?.arrayValue ?? [] {
                let names = a["names"]?.arrayValue ?? []
                let long = names.first { $0["kind"] == "long" } ?? names.first
                let name = long?["name"]?.stringValue ?? a["valueName"]?.stringValue ?? "?"
                if ["help", "version", "experimental-dump-help"].contains(name) || path == "minsky help" { continue }
                if (a["abstract"]?.stringValue ?? "").isEmpty { missing.append("\(path) \(name)") }
                if let values = a["allValues"]?.arrayValue?.compactMap(\.stringValue), !values.isEmpty {
                    choices["\(path) \(name)"] = values
                }
            }
            for sub in command["subcommands"]?.arrayValue ?? [] {
                stack.append((sub, path + " " + (sub["commandName"]?.stringValue ?? "?")))
            }
        }
        #expect(missing.isEmpty, "without help: \(missing)")
        #expect(choices["minsky tasks status status"]?.contains("IN-PROGRESS") == true, "\(choices.keys.sorted())")
        #expect(choices["minsky tasks create priority"]?.contains("critical") == true)
        #expect(choices["minsky upgrade team provider"] == ["supabase", "neon", "postgres"])
        #expect(choices["minsky config set key"]?.contains("ai.model") == true)
        let bash = try await runProcess(Binaries.minsky, ["--generate-completion-script", "bash"])
        #expect(bash.status == 0 && bash.stdout.contains("IN-PROGRESS"))
    }
}
