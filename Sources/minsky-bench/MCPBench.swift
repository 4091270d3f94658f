import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Drives a stdio MCP server over raw pipes with a client that reads in chunks, as the issue asks:
/// cold start to the initialize answer, ping round trip, tools/call get and create, idle CPU.
/// A tiny C server answering pings the same way measures the harness floor.
enum MCPBench {
    final class Child {
        let pid: pid_t
        let toChild: Int32
        let fromChild: Int32
        var buffer: [UInt8] = []

        init(_ argv: [String], cwd _: String) throws {
            var inPipe: [Int32] = [0, 0]
            var outPipe: [Int32] = [0, 0]
            pipe(&inPipe)
            pipe(&outPipe)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_addclose(&actions, inPipe[1])
            posix_spawn_file_actions_addclose(&actions, outPipe[0])
            var p: pid_t = 0
            let cargs = argv.map { strdup($0) } + [nil]
            let rc = posix_spawn(&p, argv[0], &actions, nil, cargs, environ)
            for a in cargs { free(a) }
            guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
            close(inPipe[0])
            close(outPipe[1])
            pid = p
            toChild = inPipe[1]
            fromChild = outPipe[0]
        }

        func send(_ s: String) {
            var bytes = Array((s + "\n").utf8)
            var off = 0
            while off < bytes.count {
                off += bytes.withUnsafeMutableBytes { write(toChild, $0.baseAddress! + off, $0.count - off) }
            }
        }

        /// One line, reading in 64 KiB chunks.
        func readLine() -> String {
            while true {
                if let nl = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<nl], as: UTF8.self)
                    buffer.removeSubrange(...nl)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = chunk.withUnsafeMutableBytes { read(fromChild, $0.baseAddress!, 65536) }
                if n <= 0 { return "" }
                buffer += chunk[..<n]
            }
        }

        func roundTrip(_ s: String) -> String {
            send(s)
            return readLine()
        }

        func cpuTicks() -> Int {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return -1 }
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)  // utime + stime
        }

        func stop() {
            close(toChild)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            close(fromChild)
        }
    }

    static let initialize =
        #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#

    static let modernMeta =
        #"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#

    static func p50(_ n: Int, _ body: (Int) -> Void) -> Double {
        var s: [Double] = []
        for i in 0..<n {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body(i)
            s.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        s.sort()
        return s[s.count / 2]
    }

    static let cServer = #"""
        #include <stdio.h>
        #include <string.h>
        #include <stdlib.h>
        #include <unistd.h>
        int main(void) {
            static char in[1 << 20]; static char out[256]; size_t len = 0;
            for (;;) {
                ssize_t n = read(0, in + len, sizeof in - len);
                if (n <= 0) return 0;
                len += (size_t)n;
                char *start = in, *nl;
                while ((nl = memchr(start, '\n', len - (size_t)(start - in)))) {
                    char *id = strstr(start, "\"id\":");
                    long v = id ? strtol(id + 5, 0, 10) : 0;
                    int m = snprintf(out, sizeof out, "{\"id\":%ld,\"jsonrpc\":\"2.0\",\"result\":{}}\n", v);
                    write(1, out, (size_t)m);
                    start = nl + 1;
                }
                len -= (size_t)(start - in);
                memmove(in, start, len);
            }
        }
        """#

    static func run(minsky: String) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-mcp-bench-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Children inherit the working directory: the project `minsky init` creates there.
        _ = FileManager.default.changeCurrentDirectoryPath(dir)
        let initProc = try Child([minsky, "init"], cwd: dir)
        initProc.stop()
        var rows = ["| measurement | p50 |", "|---|---|"]

        // Harness floor: a C server answering pings.
        let cPath = dir + "/floor.c"
        let binPath = dir + "/floor"
        try cServer.write(toFile: cPath, atomically: true, encoding: .utf8)
        let cc = try Child(["/usr/bin/cc", "-O2", "-o", binPath, cPath], cwd: dir)
        cc.stop()
        if FileManager.default.isExecutableFile(atPath: binPath) {
            let start = p50(20) { _ in
                let c = try! Child([binPath], cwd: dir)
                _ = c.roundTrip(initialize)
                c.stop()
            }  // spawn succeeded above
            let c = try Child([binPath], cwd: dir)
            let ping = p50(5000) { i in _ = c.roundTrip(#"{"jsonrpc":"2.0","id":\#(i),"method":"ping"}"#) }
            c.stop()
            rows.append("| harness floor (C server): start to first answer | \(String(format: "%.3f", start)) ms |")
            rows.append("| harness floor (C server): ping round trip | \(String(format: "%.4f", ping)) ms |")
        }

        let cold = p50(20) { _ in
            let c = try! Child([minsky, "mcp"], cwd: dir)  // the same spawn worked for `init`
            _ = c.roundTrip(initialize)
            c.stop()
        }
        rows.append("| minsky mcp: cold start to initialize response | \(String(format: "%.2f", cold)) ms |")

        let s = try Child([minsky, "mcp"], cwd: dir)
        _ = s.roundTrip(initialize)
        s.send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        let ping = p50(5000) { i in _ = s.roundTrip(#"{"jsonrpc":"2.0","id":\#(i),"method":"ping"}"#) }
        rows.append("| ping round trip | \(String(format: "%.4f", ping)) ms |")
        let create = p50(2000) { i in
            _ = s.roundTrip(
                #"{"jsonrpc":"2.0","id":\#(i),"method":"tools/call","params":{"name":"create_task","arguments":{"title":"bench task \#(i)","tags":["bench"]}}}"#
            )
        }
        rows.append("| tools/call create_task (SQLite) | \(String(format: "%.3f", create)) ms |")
        let created = s.roundTrip(
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_task","arguments":{"title":"target"}}}"#
        )
        let id =
            created.range(of: #"\"id\":\"(mk-[0-9a-z]+)"#, options: .regularExpression).map {
                String(created[$0].dropFirst(6).dropLast())
            } ?? ""
        let get = p50(5000) { i in
            _ = s.roundTrip(
                #"{"jsonrpc":"2.0","id":\#(i),"method":"tools/call","params":{"name":"get_task","arguments":{"id":"\#(id)"}}}"#
            )
        }
        rows.append("| tools/call get_task (SQLite) | \(String(format: "%.3f", get)) ms |")
        let before = s.cpuTicks()
        sleep(3)
        let idle = s.cpuTicks() - before
        rows.append("| idle CPU over 3 s (clock ticks) | \(idle) |")
        s.stop()

        // The 2026-07-28 era: no handshake; each request carries its version in _meta.
        let coldLegacy = p50(20) { _ in
            let c = try! Child([minsky, "mcp"], cwd: dir)
            _ = c.roundTrip(initialize)
            c.send(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            _ = c.roundTrip(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            c.stop()
        }
        rows.append(
            "| handshake era: cold start to first tools/list answer | \(String(format: "%.2f", coldLegacy)) ms |")
        let coldModern = p50(20) { _ in
            let c = try! Child([minsky, "mcp"], cwd: dir)
            _ = c.roundTrip(#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":\#(modernMeta)}}"#)
            c.stop()
        }
        rows.append("| 2026-07-28: cold start to first tools/list answer | \(String(format: "%.2f", coldModern)) ms |")
        let m = try Child([minsky, "mcp"], cwd: dir)
        _ = m.roundTrip(#"{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":\#(modernMeta)}}"#)
        let modernGet = p50(5000) { i in
            _ = m.roundTrip(
                #"{"jsonrpc":"2.0","id":\#(i),"method":"tools/call","params":{"_meta":\#(modernMeta),"name":"get_task","arguments":{"id":"\#(id)"}}}"#
            )
        }
        rows.append("| 2026-07-28: stateless tools/call get_task (SQLite) | \(String(format: "%.3f", modernGet)) ms |")
        m.stop()
        return rows
    }
}
