import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// `minsky board` in a real browser: Debian's chromium, headless, driven through chromedriver by
/// selenium (Tests/browser/board_browser.py), against the real binary on both stores.
@Suite("Board in a real browser", .serialized)
struct BoardTests {
    static var python: URL {
        if let p = ProcessInfo.processInfo.environment["MINSKY_TEST_PYTHON"] { return URL(fileURLWithPath: p) }
        return repositoryRoot().appendingPathComponent(".venv/bin/python")
    }
    static let script = repositoryRoot().appendingPathComponent("Tests/browser/board_browser.py").path

    @Test(arguments: StoreKind.allCases)
    func openCreateDragAndSeeAnotherProcessesChangeLive(kind: StoreKind) async throws {
        try await withProject(kind) { cli in
            let r = try await runProcess(Self.python, [Self.script, Binaries.minsky.path, cli.cwd.path], env: cli.env)
            #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
            for step in [
                "ok: requests without the token or with a foreign Origin or Host are refused",
                "ok: dragging a card to DONE changes its status in the store",
                "ok: changes from another process appear live, without a reload",
                "ok: a stale drag shows the conflict and overwrites nothing",
                "ok: the Content Security Policy allows no inline script or style",
                "ok: cards are reached and opened with the keyboard, Esc closes the panel",
                "ok: the panel edits title, description, priority, tags, assignee and status",
                "ok: the panel names the parent", "ok: a change made elsewhere is highlighted",
                "ok: cards show paths others hold; the panel shows paths and evidence",
                "ok: a dark theme from prefers-color-scheme, and a layout that works 420 px wide", "ok: board",
            ] {
                #expect(r.stdout.contains(step), "missing '\(step)':\n\(r.stdout)\n\(r.stderr)")
            }
        }
    }

    @Test func aViewerGetsAReadOnlyBoardOnPostgreSQL() async throws {
        let pg = try ScratchPostgres(passwords: true)
        let dir = try TestEnvironment.tempDirectory("minsky-board-team")
        defer { try? FileManager.default.removeItem(at: dir) }
        let su = CLI(cwd: dir, env: ["MINSKY_DB": pg.url])
        _ = try await su.json("tasks", "create", "Seeded by the owner")
        _ = try await su.json("team", "init")
        let added = try await su.json("team", "add", "vic", "--role", "viewer")
        let pw = try #require(added["password"]?.stringValue)
        let viewer = "postgresql://vic:\(pw)@127.0.0.1:\(pg.port)/postgres"
        let r = try await runProcess(
            Self.python, [Self.script, Binaries.minsky.path, dir.path, "viewer"], env: ["MINSKY_DB": viewer])
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        #expect(r.stdout.contains("ok: a viewer gets a read-only board"))
        #expect(!r.stdout.contains(pw) && !r.stderr.contains(pw))
    }

    @Test func aPortInUseIsRefusedAtOnceNamingTheFix() async throws {
        try await withProject(.sqlite) { cli in
            let first = try MCPProcess(args: ["board", "--json"], cwd: cli.cwd)
            defer { first.terminate() }
            let info = try JSONValue.parse(try #require(first.nextRawLine(timeout: 20)))
            let port = try #require(info["port"]?.intValue)
            #expect(info["url"]?.stringValue?.hasPrefix("http://127.0.0.1:\(port)/?token=") == true)
            let second = try await cli.run("board", "--port", String(port))
            #expect(
                second.status == 2 && second.stderr.contains("127.0.0.1:\(port)") && second.stderr.contains("--port"),
                "\(second.stderr)")
        }
    }
    @Test func aBodyLargerThanTheAPINeedsIsRefusedUnread() async throws {
        try await withProject(.sqlite) { cli in
            let board = try MCPProcess(args: ["board", "--json"], cwd: cli.cwd)
            defer { board.terminate() }
            let info = try JSONValue.parse(try #require(board.nextRawLine(timeout: 20)))
            let port = try #require(info["port"]?.intValue)
            let url = try #require(info["url"]?.stringValue)
            let token = try #require(url.split(separator: "=").last.map(String.init))
            let big = cli.cwd.appendingPathComponent("big.json")
            try Data(("{\"title\":\"" + String(repeating: "x", count: 3 << 20) + "\"}").utf8).write(to: big)
            let curl = URL(fileURLWithPath: "/usr/bin/curl")
            func post(_ extra: [String]) async throws -> String {
                try await runProcess(
                    curl,
                    [
                        "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "X-Minsky-Token: \(token)",
                        "-H", "Content-Type: application/json", "--data-binary", "@\(big.path)",
                    ] + extra
                        + ["http://127.0.0.1:\(port)/api/tasks"]
                ).stdout
            }
            #expect(try await post([]) == "413")
            #expect(try await post(["-H", "Transfer-Encoding: chunked"]) == "413")
            // Nothing was created, and the board still answers.
            #expect(try await cli.json("tasks", "list")["tasks"]?.arrayValue?.count == 0)
            let ok = try await runProcess(
                curl,
                [
                    "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Minsky-Token: \(token)",
                    "http://127.0.0.1:\(port)/api/board",
                ])
            #expect(ok.stdout == "200", "\(ok.stderr)")
        }
    }
}
