import Foundation
import MinskyCore
import MinskyMCP
import MinskyPostgres
import MinskyTestSupport
import Testing

/// `minsky serve`: MCP over Streamable HTTP, through the official Python client (both eras, every
/// tool), raw HTTP for every refusal, and on a PostgreSQL team, tokens acting as their members'
/// database roles.
@Suite("minsky serve: MCP over HTTP", .serialized)
struct ServeTests {
    /// `minsky serve --json` in `dir`, and the port it listens on.
    static func serve(_ dir: URL, env: [String: String] = [:], _ extra: [String] = []) throws -> (MCPProcess, Int) {
        let p = try MCPProcess(args: ["serve", "--json", "--listen", "127.0.0.1:0"] + extra, cwd: dir, env: env)
        guard let line = p.nextRawLine(timeout: 20), let port = try JSONValue.parse(line)["port"]?.intValue else {
            p.terminate()
            throw MinskyError(.internal, "minsky serve printed no port")
        }
        return (p, Int(port))
    }

    static func token(_ dir: URL, env: [String: String] = [:], _ args: [String]) async throws -> (
        text: String, id: String
    ) {
        let r = try await runProcess(Binaries.minsky, ["team", "token", "create", "--json"] + args, cwd: dir, env: env)
        let j = try JSONValue.parse(r.stdout)
        guard let text = j["token"]?.stringValue, let id = j["id"]?.stringValue else {
            throw MinskyError(.internal, "token create: \(r.stdout) \(r.stderr)")
        }
        return (text, id)
    }

    static func script(_ args: [String]) async throws -> ProcessResult {
        try await runProcess(
            InteropTests.python, [repositoryRoot().appendingPathComponent("Tests/interop/mcp_http.py").path] + args)
    }

    @Test(arguments: ["2026-07-28", "legacy"])
    func everyToolThroughTheOfficialClientOverHTTP(mode: String) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-serve")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let owner = try await Self.token(dir, ["owner"])
        let (server, port) = try Self.serve(dir)
        defer { server.terminate() }
        let url = "http://127.0.0.1:\(port)/mcp"
        let r = try await Self.script([url, "owner:\(mode)", owner.text])
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        #expect(r.stdout.contains("ok: \(Tool.all.count) of \(Tool.all.count) tools called and validated"))
        if mode == "2026-07-28" {
            // Revoked while a client holds it: its next request is refused.
            let revoked = try await Self.script([url, "revoked", owner.text, Binaries.minsky.path, dir.path, owner.id])
            #expect(revoked.status == 0, "stdout:\n\(revoked.stdout)\nstderr:\n\(revoked.stderr)")
        }
        // The store keeps the token's hash, never the token.
        let db = try Data(contentsOf: dir.appendingPathComponent(".minsky/tasks.db"))
        #expect(db.range(of: Data(owner.text.split(separator: "_").last!.utf8)) == nil)
    }

    @Test func refusalsComeBeforeAnythingIsReadAndTheServerKeepsAnswering() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-serve")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let good = try await Self.token(dir, ["agent"])
        let brief = try await Self.token(dir, ["brief", "--expires", "1s"])
        let (server, port) = try Self.serve(dir, ["--allow-origin", "https://tasks.example.com"])
        defer { server.terminate() }
        let url = "http://127.0.0.1:\(port)/mcp"
        let curl = URL(fileURLWithPath: "/usr/bin/curl")
        func request(_ args: [String], body: String? = nil, path: String = "/mcp") async throws -> (
            status: String, headers: String, body: String
        ) {
            let headers = dir.appendingPathComponent("headers-\(UUID().uuidString)")
            var a = ["-s", "-D", headers.path, "-o", "-", "-w", "\n%{http_code}"] + args
            if let body { a += ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body] }
            let r = try await runProcess(curl, a + ["http://127.0.0.1:\(port)\(path)"])
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (
                String(lines.last ?? ""), (try? String(contentsOf: headers, encoding: .utf8)) ?? "",
                lines.dropLast().joined(separator: "\n")
            )
        }
        let meta =
            #"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#
        let call =
            #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_tasks","arguments":{},"_meta":\#(meta)}}"#
        let modern = [
            "-H", "MCP-Protocol-Version: 2026-07-28", "-H", "Mcp-Method: tools/call", "-H", "Mcp-Name: list_tasks",
        ]
        let auth = ["-H", "Authorization: Bearer \(good.text)"]

        let ok = try await request(auth + modern, body: call)
        #expect(ok.status == "200" && ok.body.contains("\"isError\":false"), "\(ok)")
        // No token, a malformed one, a forged one, an expired one: 401 with the challenge.
        try await Task.sleep(nanoseconds: 1_200_000_000)
        // The good token with its last character changed (to one it does not already end with).
        let altered = good.text.dropLast() + (good.text.hasSuffix("b") ? "c" : "b")
        for (args, error) in [
            ([], false), (["-H", "Authorization: Bearer nope"], true),
            (["-H", "Authorization: Bearer mks_aaaaaaaaaaaa_" + String(repeating: "a", count: 43)], true),
            (["-H", "Authorization: Bearer \(altered)"], true),
            (["-H", "Authorization: Bearer \(brief.text)"], true),
        ] {
            let r = try await request(args + modern, body: call)
            #expect(r.status == "401", "\(args): \(r)")
            #expect(r.headers.contains("WWW-Authenticate: Bearer realm=\"minsky\""), "\(r.headers)")
            #expect(r.headers.contains("error=\"invalid_token\"") == error, "\(r.headers)")
            #expect(!r.body.contains("tasks"), "nothing read: \(r.body)")
        }
        let expired = try await request(["-H", "Authorization: Bearer \(brief.text)"] + modern, body: call)
        #expect(expired.body.contains("expired"), "\(expired.body)")
        // A foreign Host (DNS rebinding) or Origin: 403, even with a good token.
        let rebinding = try await request(auth + modern + ["-H", "Host: attacker.example:\(port)"], body: call)
        #expect(rebinding.status == "403" && rebinding.body.contains("Host"), "\(rebinding)")
        let foreign = try await request(auth + modern + ["-H", "Origin: https://evil.example"], body: call)
        #expect(foreign.status == "403" && foreign.body.contains("Origin"), "\(foreign)")
        let allowed = try await request(auth + modern + ["-H", "Origin: https://tasks.example.com"], body: call)
        #expect(allowed.status == "200", "\(allowed)")
        // Headers that disagree with the body, or are missing: 400 HeaderMismatch.
        let renamed = try await request(
            auth + [
                "-H", "MCP-Protocol-Version: 2026-07-28", "-H", "Mcp-Method: tools/call", "-H", "Mcp-Name: get_task",
            ],
            body: call)
        #expect(renamed.status == "400" && renamed.body.contains("-32020"), "\(renamed)")
        let bare = try await request(auth, body: call)
        #expect(bare.status == "400" && bare.body.contains("-32020"), "\(bare)")
        let encoded = try await request(
            auth + [
                "-H", "MCP-Protocol-Version: 2026-07-28", "-H", "Mcp-Method: tools/call",
                "-H", "Mcp-Name: =?base64?\(Data("list_tasks".utf8).base64EncodedString())?=",
            ], body: call)
        #expect(encoded.status == "200", "a base64 Mcp-Name is decoded: \(encoded)")
        // An unknown method of 2026-07-28: 404 with -32601.
        let unknown = try await request(
            auth + ["-H", "MCP-Protocol-Version: 2026-07-28", "-H", "Mcp-Method: nothing/here"],
            body: #"{"jsonrpc":"2.0","id":8,"method":"nothing/here","params":{"_meta":\#(meta)}}"#)
        #expect(unknown.status == "404" && unknown.body.contains("-32601"), "\(unknown)")
        // The handshake era without a session, or with a forged one.
        let listTools = #"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}"#
        let noSession = try await request(auth, body: listTools)
        #expect(noSession.status == "400" && noSession.body.contains("Mcp-Session-Id"), "\(noSession)")
        let forged = try await request(auth + ["-H", "Mcp-Session-Id: eyJ2IjoxfQ.AAAA"], body: listTools)
        #expect(forged.status == "404", "\(forged)")
        // Another token's session is not this token's.
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}"#
        let opened = try await request(auth, body: initialize)
        let sid = try #require(
            opened.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("mcp-session-id:") }.map {
                String($0.dropFirst("mcp-session-id:".count)).trimmingCharacters(in: .whitespaces)
            })
        #expect(try await request(auth + ["-H", "Mcp-Session-Id: \(sid)"], body: listTools).status == "200")
        let other = try await Self.token(dir, ["other"])
        let stolen = try await request(
            ["-H", "Authorization: Bearer \(other.text)", "-H", "Mcp-Session-Id: \(sid)"], body: listTools)
        #expect(stolen.status == "404", "\(stolen)")
        // A body over the limit (declared, or chunked): 413, unread.
        let big = dir.appendingPathComponent("big.json")
        try Data(("{\"x\":\"" + String(repeating: "x", count: 5 << 20) + "\"}").utf8).write(to: big)
        #expect(try await request(auth + modern, body: "@\(big.path)").status == "413")
        #expect(
            try await request(auth + modern + ["-H", "Transfer-Encoding: chunked"], body: "@\(big.path)").status
                == "413")
        // Only POST; the health check needs no token.
        let get = try await request(auth)
        #expect(get.status == "405" && get.headers.contains("Allow: POST"), "\(get)")
        let health = try await request([], path: "/health")
        #expect(health.status == "200" && health.body.contains("\"ok\""), "\(health)")
        // Through all of that, the server kept answering.
        #expect(try await request(auth + modern, body: call).status == "200")
        // A port in use is refused at once, naming the fix.
        let busy = try await runProcess(Binaries.minsky, ["serve", "--listen", "127.0.0.1:\(port)"], cwd: dir)
        #expect(busy.status == 2 && busy.stderr.contains("127.0.0.1:\(port)") && busy.stderr.contains("--listen"))
        // Listing tokens shows no secret.
        let list = try await runProcess(Binaries.minsky, ["team", "token", "list", "--json"], cwd: dir)
        #expect(list.status == 0 && !list.stdout.contains(good.text) && list.stdout.contains(good.id), "\(list.stdout)")
        let listed = try JSONValue.parse(list.stdout)["tokens"]?.arrayValue ?? []
        #expect(listed.first { $0["id"]?.stringValue == good.id }?["revokedAt"] == .null, "\(list.stdout)")
        _ = url
    }

    /// 1,000 connections that send their headers a line a second and never finish do not hold
    /// the server: real requests meanwhile are all answered (their latency is printed; BENCHMARKS).
    @Test func slowClientsCannotHoldTheServer() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-serve-slow")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let token = try await Self.token(dir, ["agent"])
        let (server, port) = try Self.serve(dir)
        defer { server.terminate() }
        let r = try await runProcess(
            InteropTests.python,
            [
                repositoryRoot().appendingPathComponent("Tests/interop/slowloris.py").path, String(port), token.text,
                "1000",
            ])
        #expect(r.status == 0 && r.stdout.contains("held 1000 slow connections"), "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("failed 0"), "\(r.stdout)")
        print(r.stdout)
    }

    /// The ready queue as an MCP App in Chromium: a host page (Tests/browser/mcp_app.py) renders
    /// `next_task`'s `ui://` view in an iframe sandboxed to scripts only, under a CSP without
    /// network, and relays its JSON-RPC; a claim made in the view reaches the store. Then the
    /// whole board on the server's `/`, opened with the token, following changes live.
    @Test func theReadyQueueIsAnMCPAppInABrowser() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-app")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        let r = try await runProcess(
            InteropTests.python,
            [repositoryRoot().appendingPathComponent("Tests/browser/mcp_app.py").path, Binaries.minsky.path, dir.path])
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        for step in [
            "ok: the host renders next_task's view with the call's result (titles as text)",
            "ok: inside the sandbox there are no cookies and no network",
            "ok: a claim made in the view goes through the host to the server and the queue updates",
            "ok: the board on the server's / shows the store as the token's role and follows changes live",
        ] {
            #expect(r.stdout.contains(step), "\(r.stdout)")
        }
    }

    /// On PostgreSQL each token acts as its member's database role: a member works but may not
    /// delete, a viewer reads only, exactly as the database decides for psql.
    @Test func teamTokensActAsTheirMembersRoles() async throws {
        let pg = try ScratchPostgres()
        let dir = try TestEnvironment.tempDirectory("minsky-serve-team")
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["MINSKY_DB": pg.url]
        func cli(_ args: String...) async throws -> ProcessResult {
            try await runProcess(Binaries.minsky, args, cwd: dir, env: env)
        }
        #expect(try await cli("tasks", "create", "seeded by the owner").status == 0)
        #expect(try await cli("team", "init").status == 0)
        #expect(try await cli("team", "add", "mel", "--role", "member").status == 0)
        #expect(try await cli("team", "add", "vic", "--role", "viewer").status == 0)
        let mel = try await Self.token(dir, env: env, ["mel"])
        let vic = try await Self.token(dir, env: env, ["vic"])
        let nobody = try await runProcess(
            Binaries.minsky, ["team", "token", "create", "ghost"], cwd: dir, env: env)
        #expect(nobody.status == 2 && nobody.stderr.contains("no database role ghost"), "\(nobody.stderr)")
        let (server, port) = try Self.serve(dir, env: env)
        defer { server.terminate() }
        let url = "http://127.0.0.1:\(port)/mcp"
        let member = try await Self.script([url, "member", mel.text])
        #expect(member.status == 0, "stdout:\n\(member.stdout)\nstderr:\n\(member.stderr)")
        let viewer = try await Self.script([url, "viewer", vic.text])
        #expect(viewer.status == 0, "stdout:\n\(viewer.stdout)\nstderr:\n\(viewer.stderr)")
        // The history names the member's role as the author: the database knew who wrote.
        let history = try await cli("tasks", "list", "--json")
        let made = try JSONValue.parse(history.stdout)["tasks"]?.arrayValue?.first {
            $0["title"]?.stringValue == "Made over HTTP"
        }
        let id = try #require(made?["id"]?.stringValue)
        let events = try JSONValue.parse(try await cli("tasks", "history", id, "--json").stdout)
        #expect(
            (events["events"]?.arrayValue ?? []).allSatisfy { $0["actor"]?.stringValue == "mel" }, "\(events)")
    }

    /// Stateless for real: two `minsky serve` on one PostgreSQL. A subscription (SSE) on one sees
    /// the writes made through the other; then, behind a round-robin proxy, 16 clients × 200 mixed
    /// calls alternate between them and one instance is killed half way: every acknowledged create
    /// is in the store once, and the clients' retries went to the survivor.
    @Test func twoInstancesAnswerAnyRequestAndLosingOneLosesNothingAcknowledged() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let dir = try TestEnvironment.tempDirectory("minsky-serve-two")
            defer { try? FileManager.default.removeItem(at: dir) }
            let env = ["MINSKY_DB": url]
            let login = try PGTarget(conninfo: url).user
            let token = try await Self.token(dir, env: env, ["agents", "--role", login])
            let proxy = try Self.freePort()
            let allow = ["--allow-host", "127.0.0.1:\(proxy)"]
            let (first, p1) = try Self.serve(dir, env: env, allow)
            defer { first.terminate() }
            let (second, p2) = try Self.serve(dir, env: env, allow)
            defer { second.terminate() }
            // A subscription on one instance sees writes made through the other.
            let listen = try await Self.script(
                ["http://127.0.0.1:\(p1)/mcp", "listen", token.text, "http://127.0.0.1:\(p2)/mcp"])
            #expect(listen.status == 0, "stdout:\n\(listen.stdout)\nstderr:\n\(listen.stderr)")
            let r = try await runProcess(
                InteropTests.python,
                [
                    repositoryRoot().appendingPathComponent("Tests/interop/serve_two.py").path, String(proxy),
                    String(p1), String(p2), token.text, String(first.pid), "16", "200",
                ])
            #expect(
                r.status == 0 && r.stdout.contains("ok: 16x200 calls"), "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)")
        }
    }

    /// A durable MCP task (the Tasks extension) started through one instance is followed to its
    /// end through the other: the job lives in the store, not in the server that runs it.
    @Test func aTaskStartedOnOneInstanceIsReadOnTheOther() async throws {
        let model = try FakeLLMServer([
            FakeLLMServer.Reply(body: FakeLLMServer.Reply.openAI(TasksExtensionTests.plan).body, delay: 1.5)
        ])
        try await TasksExtensionTests.project(.postgres, model: model) { dir, env in
            let login = try PGTarget(conninfo: try #require(env["MINSKY_DB"])).user
            let token = try await Self.token(dir, env: env, ["agents", "--role", login])
            let (first, p1) = try Self.serve(dir, env: env)
            defer { first.terminate() }
            let (second, p2) = try Self.serve(dir, env: env)
            defer { second.terminate() }
            func post(_ port: Int, _ method: String, _ params: [String: JSONValue], caps: JSONValue = [:]) async throws
                -> JSONValue
            {
                var p = params
                p["_meta"] = [
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": ["name": "curl", "version": "1"],
                    "io.modelcontextprotocol/clientCapabilities": caps,
                ]
                var headers = [
                    "-H", "Authorization: Bearer \(token.text)", "-H", "MCP-Protocol-Version: 2026-07-28",
                    "-H", "Mcp-Method: \(method)", "-H", "Content-Type: application/json",
                ]
                if let name = params["name"]?.stringValue { headers += ["-H", "Mcp-Name: \(name)"] }
                let body = JSONValue.object([
                    "jsonrpc": "2.0", "id": 1, "method": .string(method), "params": .object(p),
                ])
                let r = try await runProcess(
                    URL(fileURLWithPath: "/usr/bin/curl"),
                    ["-s", "-X", "POST"] + headers + [
                        "--data-binary", body.canonicalJSON(), "http://127.0.0.1:\(port)/mcp",
                    ])
                return try JSONValue.parse(r.stdout)
            }
            let made = try await post(
                p1, "tools/call", ["name": "create_task", "arguments": ["title": "Ship the parser"]])
            let parent = try #require(made["result"]?["structuredContent"]?["id"]?.stringValue, "\(made)")
            let handle = try await post(
                p1, "tools/call", ["name": "decompose_task", "arguments": ["id": .string(parent)]],
                caps: TasksExtensionTests.caps)
            #expect(handle["result"]?["resultType"] == "task", "\(handle)")
            let taskId = try #require(handle["result"]?["taskId"]?.stringValue)
            var status: JSONValue?
            for _ in 0..<120 {
                let r = try await post(p2, "tasks/get", ["taskId": .string(taskId)])
                status = r["result"]
                if status?["status"] != "working" { break }
                try await Task.sleep(nanoseconds: 250_000_000)
            }
            #expect(status?["status"] == "completed", "\(String(describing: status))")
            #expect(status?["result"]?["structuredContent"]?["subtasks"]?.arrayValue?.count == 2)
        }
    }

    /// A call whose answer takes longer than FlyingFox's default 15 s (a slow model) is answered,
    /// not cut off with a 500.
    @Test func aSlowModelCallIsAnsweredOverHTTP() async throws {
        let model = try FakeLLMServer([
            FakeLLMServer.Reply(body: FakeLLMServer.Reply.openAI(TasksExtensionTests.plan).body, delay: 17)
        ])
        try await TasksExtensionTests.project(.sqlite, model: model) { dir, env in
            let token = try await Self.token(dir, env: env, ["agent"])
            let made = try await runProcess(
                Binaries.minsky, ["tasks", "create", "Ship the parser", "--json"], cwd: dir, env: env)
            let id = try #require(try JSONValue.parse(made.stdout)["id"]?.stringValue)
            let (server, port) = try Self.serve(dir, env: env)
            defer { server.terminate() }
            let body =
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"decompose_task","arguments":{"id":"\#(id)"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#
            let r = try await runProcess(
                URL(fileURLWithPath: "/usr/bin/curl"),
                [
                    "-s", "-w", "\n%{http_code}", "-X", "POST", "-H", "Authorization: Bearer \(token.text)",
                    "-H", "MCP-Protocol-Version: 2026-07-28", "-H", "Mcp-Method: tools/call", "-H",
                    "Mcp-Name: decompose_task", "--data-binary", body, "http://127.0.0.1:\(port)/mcp",
                ])
            #expect(r.stdout.hasSuffix("\n200") && r.stdout.contains("\"Lex\""), "\(r.stdout)")
        }
    }

    /// A port nothing listens on now (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard bound else { throw MinskyError(.internal, "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
