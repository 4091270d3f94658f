import Foundation
import MinskyCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A raw JSON-RPC client for the built `minsky mcp`, over real pipes. It keeps every line the
/// server wrote so tests can check that stdout carried nothing but JSON-RPC.
// mutable state is guarded by `lock`; the child is only reaped by waitForExit
public final class MCPProcess: @unchecked Sendable {
    public let pid: pid_t
    public let cwd: URL?
    /// The environment given beyond the test's own (e.g. MINSKY_DB), for other processes on the same store.
    public let env: [String: String]
    let toChild: FileHandle
    let lock = NSCondition()
    var lines: [String] = []
    var consumed = 0
    var eof = false
    var exitStatus: Int32?
    let stderrData = Mutex(Data())
    public private(set) var nextID = 1000
    /// Messages read past while waiting for something else (notifications), oldest first.
    var unclaimed: [JSONValue] = []

    /// Spawned with posix_spawn and reaped with waitpid by this class alone: Foundation's Process
    /// has been seen to miss a child's exit under load.
    public init(args: [String] = ["mcp"], cwd: URL? = nil, env: [String: String] = [:]) throws {
        self.cwd = cwd
        self.env = env
        // A server that exits while a test still writes must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        var environment = ProcessInfo.processInfo.environment
        environment["MINSKY_DB"] = nil
        for (k, v) in env { environment[k] = v }
        let inPipe = Pipe()
        let outPipe = Pipe()
        let errPipe = Pipe()
        closeOnExec(inPipe, outPipe, errPipe)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe.fileHandleForReading.fileDescriptor, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe.fileHandleForWriting.fileDescriptor, 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe.fileHandleForWriting.fileDescriptor, 2)
        for fd in [
            inPipe.fileHandleForWriting.fileDescriptor, outPipe.fileHandleForReading.fileDescriptor,
            errPipe.fileHandleForReading.fileDescriptor,
        ] {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        // Nothing else of this process reaches the server: tests run in parallel, and a pipe
        // another test's child writes to, inherited here, would keep that test waiting for an
        // end of file until this server exits (it hung a CI run once).
        closeInheritedDescriptors(&actions)

        // A shell `cd` gives the child its working directory without changing ours.
        let exe = Binaries.minsky.path
        let quoted = ([exe] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(
            separator: " ")
        let script = (cwd.map { "cd '\($0.path)' && " } ?? "") + "exec " + quoted
        let parts: [String] = ["/bin/sh", "-c", script]
        let argv: [UnsafeMutablePointer<CChar>?] = parts.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/bin/sh", &actions, nil, argv, envp)
        guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc)) }
        pid = child
        try inPipe.fileHandleForReading.close()
        try outPipe.fileHandleForWriting.close()
        try errPipe.fileHandleForWriting.close()
        toChild = inPipe.fileHandleForWriting
        let out = outPipe.fileHandleForReading
        Thread { [self] in
            var pending: [UInt8] = []
            while true {
                let chunk = out.availableData
                if chunk.isEmpty { break }
                // Scan only the new bytes for newlines.
                chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                    var start = 0
                    for i in 0..<raw.count where raw[i] == 0x0A {
                        pending.append(contentsOf: raw[start..<i])
                        let line = String(decoding: pending, as: UTF8.self)
                        pending.removeAll(keepingCapacity: true)
                        lock.lock()
                        lines.append(line)
                        lock.broadcast()
                        lock.unlock()
                        start = i + 1
                    }
                    pending.append(contentsOf: raw[start..<raw.count])
                }
            }
            lock.lock()
            eof = true
            lock.broadcast()
            lock.unlock()
        }.start()
        let err = errPipe.fileHandleForReading
        Thread { [self] in
            while true {
                let chunk = err.availableData
                if chunk.isEmpty { break }
                stderrData.withLock { $0.append(chunk) }
            }
        }.start()
    }

    public var stderrText: String { stderrData.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Every line written to stdout so far.
    public var allLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    public func sendRaw(_ bytes: [UInt8]) { try? toChild.write(contentsOf: Data(bytes)) }
    public func sendLine(_ text: String) { sendRaw(Array((text + "\n").utf8)) }
    public func send(_ message: JSONValue) { sendLine(message.canonicalJSON()) }

    public func closeInput() { try? toChild.close() }

    /// The next line not yet consumed, parsed; nil on timeout or end of output.
    public func nextMessage(timeout: Double = 10) -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while consumed >= lines.count {
            if eof || !lock.wait(until: deadline) { return nil }
        }
        let line = lines[consumed]
        consumed += 1
        return (try? JSONParser.parse(line.utf8)) ?? .string(line)
    }

    /// The next line not yet consumed, as sent.
    public func nextRawLine(timeout: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while consumed >= lines.count {
            if eof || !lock.wait(until: deadline) { return nil }
        }
        consumed += 1
        return lines[consumed - 1]
    }

    /// Reads until the response with `id`; notifications seen on the way are returned too.
    public func response(id: JSONValue, timeout: Double = 20) -> (JSONValue?, [JSONValue]) {
        var notes: [JSONValue] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let m = nextMessage(timeout: deadline.timeIntervalSinceNow) else { break }
            if m["id"] == id && m["method"] == nil { return (m, notes) }
            notes.append(m)
            unclaimed.append(m)
        }
        return (nil, notes)
    }

    /// The first notification of `method` (satisfying `matching`), among those seen while waiting
    /// for responses and those still to come; nil if none arrives within `timeout`.
    public func notification(
        _ method: String, timeout: Double = 10, matching: (JSONValue) -> Bool = { _ in true }
    ) -> JSONValue? {
        if let i = unclaimed.firstIndex(where: { $0["method"]?.stringValue == method && matching($0) }) {
            return unclaimed.remove(at: i)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let m = nextMessage(timeout: deadline.timeIntervalSinceNow) else { break }
            if m["method"]?.stringValue == method && matching(m) { return m }
            unclaimed.append(m)
        }
        return nil
    }

    @discardableResult
    public func request(_ method: String, _ params: JSONValue? = nil, timeout: Double = 20) -> JSONValue? {
        nextID += 1
        let id = JSONValue.int(Int64(nextID))
        var m: [String: JSONValue] = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
        if let params { m["params"] = params }
        send(.object(m))
        return response(id: id, timeout: timeout).0
    }

    /// The `_meta` a 2026-07-28 request carries (version, client, capabilities), plus `extra`.
    public static func modernMeta(
        capabilities: JSONValue = .object([:]), extra: [String: JSONValue] = [:], version: String = "2026-07-28"
    ) -> JSONValue {
        var m: [String: JSONValue] = [
            "io.modelcontextprotocol/protocolVersion": .string(version),
            "io.modelcontextprotocol/clientInfo": ["name": "minsky-tests", "version": "1"],
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        ]
        m.merge(extra) { _, b in b }
        return .object(m)
    }

    /// A 2026-07-28 request: `params` with the per-request `_meta` added; returns the response.
    @discardableResult
    public func modern(
        _ method: String, _ params: [String: JSONValue] = [:], capabilities: JSONValue = .object([:]),
        meta: [String: JSONValue] = [:], timeout: Double = 20
    ) -> JSONValue? {
        var p = params
        p["_meta"] = Self.modernMeta(capabilities: capabilities, extra: meta)
        return request(method, .object(p), timeout: timeout)
    }

    /// The same, with the notifications that came before the response.
    public func modernWithNotes(
        _ method: String, _ params: [String: JSONValue] = [:], meta: [String: JSONValue] = [:]
    ) -> (response: JSONValue?, notes: [JSONValue]) {
        nextID += 1
        let id = JSONValue.int(Int64(nextID))
        var p = params
        p["_meta"] = Self.modernMeta(extra: meta)
        send(["jsonrpc": "2.0", "id": id, "method": .string(method), "params": .object(p)])
        return response(id: id)
    }

    public func initialize(version: String = "2025-11-25") -> JSONValue? {
        let r = request(
            "initialize",
            [
                "protocolVersion": .string(version), "capabilities": .object([:]),
                "clientInfo": ["name": "minsky-tests", "version": "1"],
            ])
        send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        return r
    }

    /// `tools/call`; returns the result object (or the error response when there is no result).
    public func call(_ tool: String, _ args: JSONValue = .object([:])) -> JSONValue? {
        let r = request("tools/call", ["name": .string(tool), "arguments": args])
        return r?["result"] ?? r
    }

    /// The exit status (128 + signal when killed), or nil if it is still running at the deadline.
    public func waitForExit(timeout: Double = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = lock.withLock({ exitStatus }) { return s }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                lock.withLock { exitStatus = code }
                return code
            }
            usleep(5000)
        }
        return nil
    }

    public func terminate() {
        if lock.withLock({ exitStatus }) == nil {
            kill(pid, SIGKILL)
            _ = waitForExit(timeout: 5)
        }
    }

    deinit { terminate() }
}

/// Adds "close every descriptor from 3 on" to a spawn's file actions (glibc 2.34+:
/// posix_spawn_file_actions_addclosefrom_np, looked up at run time).
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
}
