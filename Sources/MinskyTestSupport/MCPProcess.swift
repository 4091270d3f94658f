#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MinskyCore
import Synchronization

/// A raw JSON-RPC client for the built `minsky mcp`, over real pipes. It keeps every line the
/// server wrote so tests can check that stdout carried nothing but JSON-RPC.
public final class MCPProcess: @unchecked Sendable { // mutable state is guarded by `lock`; Process is only touched by the test's task
    public let process = Process()
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    let lock = NSCondition()
    var lines: [String] = []
    var consumed = 0
    var eof = false
    let stderrData = Mutex(Data())
    var nextID = 1000

    public init(args: [String] = ["mcp"], cwd: URL? = nil, env: [String: String] = [:]) throws {
        process.executableURL = Binaries.minsky
        process.arguments = args
        if let cwd { process.currentDirectoryURL = cwd }
        var environment = ProcessInfo.processInfo.environment
        environment["MINSKY_DB"] = nil
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading
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
                        lock.lock(); lines.append(line); lock.broadcast(); lock.unlock()
                        start = i + 1
                    }
                    pending.append(contentsOf: raw[start..<raw.count])
                }
            }
            lock.lock(); eof = true; lock.broadcast(); lock.unlock()
        }.start()
        let err = stderr.fileHandleForReading
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
    public var allLines: [String] { lock.lock(); defer { lock.unlock() }; return lines }

    public func sendRaw(_ bytes: [UInt8]) { stdin.fileHandleForWriting.write(Data(bytes)) }
    public func sendLine(_ text: String) { sendRaw(Array((text + "\n").utf8)) }
    public func send(_ message: JSONValue) { sendLine(message.canonicalJSON()) }

    public func closeInput() { try? stdin.fileHandleForWriting.close() }

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

    /// Reads until the response with `id`; notifications seen on the way are returned too.
    public func response(id: JSONValue, timeout: Double = 20) -> (JSONValue?, [JSONValue]) {
        var notes: [JSONValue] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let m = nextMessage(timeout: deadline.timeIntervalSinceNow) else { break }
            if m["id"] == id && m["method"] == nil { return (m, notes) }
            notes.append(m)
        }
        return (nil, notes)
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

    public func initialize(version: String = "2025-11-25") -> JSONValue? {
        let r = request("initialize", ["protocolVersion": .string(version), "capabilities": .object([:]), "clientInfo": ["name": "minsky-tests", "version": "1"]])
        send(["jsonrpc": "2.0", "method": "notifications/initialized"])
        return r
    }

    /// `tools/call`; returns the result object (or the error response when there is no result).
    public func call(_ tool: String, _ args: JSONValue = .object([:])) -> JSONValue? {
        let r = request("tools/call", ["name": .string(tool), "arguments": args])
        return r?["result"] ?? r
    }

    /// The exit status, reaping the child ourselves too: Foundation's own monitor has been seen
    /// to miss a child's exit under load.
    public func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        let pid = process.processIdentifier
        while Date() < deadline {
            if !process.isRunning { return process.terminationStatus }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            usleep(5000)
        }
        return nil
    }

    public func terminate() { if process.isRunning { process.terminate() } }

    deinit { terminate() }
}
