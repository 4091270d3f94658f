import Foundation
import MinskyApp
import MinskyCore
import MinskyTestSupport
import Testing

/// Paths, evidence, done.requires, stale tasks, changes and calibration from the command line,
/// in a real git repository.
@Suite("CLI: coordination")
struct CoordinationCLITests {
    func git(_ cwd: URL, _ args: String..., env: [String: String] = [:]) async throws -> String {
        let r = try await runProcess(
            URL(fileURLWithPath: "/usr/bin/env"), ["git"] + args, cwd: cwd,
            env: [
                "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
                "GIT_COMMITTER_EMAIL": "a@example.com",
            ].merging(env) { _, b in b })
        #expect(r.status == 0, "git \(args.joined(separator: " ")): \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func write(_ dir: URL, _ path: String, _ text: String) throws {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test(arguments: StoreKind.allCases)
    func leasesEvidenceDoneRequiresAndStaleInAGitRepository(kind: StoreKind) async throws {
        switch kind {
        case .sqlite: try await scenario(db: nil)
        case .postgres: try await TestEnvironment.withPostgresSchema { url, _ in try await scenario(db: url) }
        }
    }

    /// A project in a git repository whose store is SQLite or (with `db`) PostgreSQL.
    func scenario(db: String?) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-coord")
        defer { try? FileManager.default.removeItem(at: dir) }
        var cli = CLI(cwd: dir)
        _ = try await git(dir, "init", "-q", "-b", "main")
        if let db {
            let made = try await cli.run("init", "--db", db)
            #expect(made.status == 0, "\(made.stderr)")
        } else {
            #expect(try await cli.run("init").status == 0)
        }
        try write(dir, "Sources/App/main.swift", "print(1)\n")
        try write(dir, "README.md", "# app\n")
        _ = try await git(dir, "add", "-A")
        _ = try await git(dir, "commit", "-qm", "start")

        let rework = try #require(
            try await cli.json("tasks", "create", "Rework the app", "--path", "Sources/App/**")["id"]?.stringValue)
        let fix = try #require(
            try await cli.json("tasks", "create", "Fix main", "--path", "./Sources/App/main.swift")["id"]?.stringValue)
        let docs = try #require(
            try await cli.json("tasks", "create", "Docs", "--path", "README.md", "-p", "3")["id"]?.stringValue)
        #expect(try await cli.json("tasks", "get", fix)["task"]?["paths"] == ["Sources/App/main.swift"])
        #expect(try await cli.run("tasks", "create", "Bad", "--path", "../outside").status == 2)

        cli.env["MINSKY_OWNER"] = "ana"
        #expect(try await cli.run("tasks", "claim", rework).status == 0)
        cli.env["MINSKY_OWNER"] = "bob"
        // bob's next skips the task under ana's lease; his claim is refused, naming it.
        let next = try await cli.json("tasks", "next", "--limit", "5")
        #expect(next["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [docs])
        let refused = try await cli.run("tasks", "claim", fix)
        #expect(refused.status == 4)
        #expect(refused.stderr.contains(rework) && refused.stderr.contains("ana") && refused.stderr.contains("--force"))
        #expect(try await cli.run("tasks", "claim", docs).status == 0)
        let why = try await cli.run("tasks", "next")
        #expect(why.stdout.contains("touching paths others hold") && why.stdout.contains(rework), "\(why.stdout)")

        // done.requires = evidence: DONE without it fails, naming what to give.
        #expect(try await cli.run("config", "set", "done.requires", "evidence").status == 0)
        #expect(try await cli.run("config", "get", "done.requires").stdout.contains("evidence"))
        cli.env["MINSKY_OWNER"] = "ana"
        let bare = try await cli.run("tasks", "done", rework)
        #expect(bare.status == 2 && bare.stderr.contains("--commit"), "\(bare.stderr)")
        try write(dir, "Sources/App/main.swift", "print(2)\n")
        try write(dir, "Sources/App/Store.swift", "struct Store {}\n")
        _ = try await git(dir, "add", "-A")
        _ = try await git(dir, "commit", "-qm", "rework")
        let sha = try await git(dir, "rev-parse", "--short", "HEAD")
        let done = try await cli.json(
            "tasks", "done", rework, "--commit", sha, "--run", "swift test", "--exit", "0", "--tests", "12 passed",
            "--minutes", "25", "--tokens", "9000")
        #expect(done["status"] == "DONE")
        #expect(done["evidence"]?["commits"] == .array([.string(sha)]))
        // The files the commit changed are learned as the task's paths (not the project's settings).
        let paths = done["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(paths.contains("Sources/App/Store.swift") && !paths.contains { $0.hasPrefix(".minsky") }, "\(paths)")
        let shown = try await cli.run("tasks", "get", rework)
        #expect(
            shown.stdout.contains("evidence:  commit \(sha); `swift test` exited 0; tests: 12 passed"),
            "\(shown.stdout)")
        let history = try await cli.run("tasks", "history", rework)
        #expect(history.stdout.contains("evidence: commit \(sha)"), "\(history.stdout)")
        // Export carries paths and evidence; an import into another project reproduces them.
        let exported = try await cli.run("tasks", "export")
        #expect(exported.stdout.contains("\"evidence\"") && exported.stdout.contains("\"paths\""))
        let other = try TestEnvironment.tempDirectory("minsky-coord-import")
        defer { try? FileManager.default.removeItem(at: other) }
        let otherCLI = CLI(cwd: other)
        #expect(try await otherCLI.run("init").status == 0)
        #expect(try await otherCLI.run("tasks", "import", "-", stdin: exported.stdout).status == 0)
        #expect(
            try await otherCLI.json("tasks", "get", rework)["task"]
                == (try await cli.json("tasks", "get", rework))["task"])

        // Nothing has drifted yet; then a later commit touches its paths, and another commit
        // it names leaves HEAD's history.
        #expect(try await cli.json("tasks", "stale")["stale"] == [])
        try write(dir, "Sources/App/main.swift", "print(3)\n")
        _ = try await git(dir, "commit", "-qam", "later", env: ["GIT_COMMITTER_DATE": "2099-01-01T00:00:00Z"])
        let stale = try await cli.json("tasks", "stale")["stale"]?.arrayValue ?? []
        #expect(stale.map { $0["id"]?.stringValue } == [rework])
        #expect(stale.first?["changedAfter"]?.arrayValue?.count == 1)
        _ = try await git(dir, "checkout", "-qb", "side")
        try write(dir, "docs.md", "x\n")
        _ = try await git(dir, "add", "-A")
        _ = try await git(dir, "commit", "-qm", "side work")
        let side = try await git(dir, "rev-parse", "HEAD")
        _ = try await git(dir, "checkout", "-q", "main")
        cli.env["MINSKY_OWNER"] = "bob"
        _ = try await cli.json("tasks", "done", docs, "--commit", String(side.prefix(9)), "--commit", "abcdef1234")
        let text = try await cli.run("tasks", "stale")
        #expect(text.stdout.contains("commits not in HEAD's history: \(side.prefix(9))"), "\(text.stdout)")
        #expect(text.stdout.contains("commits not in the repository: abcdef1234"), "\(text.stdout)")
        // Outside a repository, stale says so.
        let outside = try await otherCLI.run("tasks", "stale")
        #expect(outside.status == 5 && outside.stderr.contains("not in a git repository"), "\(outside.stderr)")

        // Changes since a cursor, then calibration.
        let first = try await cli.json("tasks", "changes", "--since", "1h")
        let cursor = try #require(first["cursor"]?.stringValue)
        #expect(Set(first["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == [rework, fix, docs])
        #expect(try await cli.run("tasks", "note", fix, "looked at it").status == 0)
        let second = try await cli.json("tasks", "changes", "--since", cursor)
        #expect(second["tasks"]?.arrayValue?.map { $0["id"]?.stringValue } == [fix])
        #expect(second["tasks"]?.arrayValue?.first?["what"] == ["noted"])
        #expect(try await cli.run("tasks", "changes", "--since", "yesterday-ish").status == 2)
        let brief = try await cli.run("tasks", "brief", fix, "--budget", "400")
        #expect(brief.status == 0 && brief.stdout.contains("looked at it"))
        let cal = try await cli.json("tasks", "calibration")
        #expect(cal["closedTasks"] == 2)
        // The evidence's 25 minutes and 9,000 tokens count for the reworked task.
        #expect(
            cal["examples"]?.arrayValue?.compactMap(\.stringValue).contains {
                $0.contains("Rework the app") && $0.contains("took 0.4 h") && $0.contains("9000 tokens")
            } == true, "\(cal)")
    }
}
