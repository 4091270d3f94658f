import Dispatch
import Foundation
import Logging
import MinskyAI
import MinskyCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The write end of the self-pipe the signal handler writes to. `nonisolated(unsafe)`: set once
/// before the handler is installed, then only read (from the handler).
nonisolated(unsafe) var signalPipeWriteFD: Int32 = -1

/// The MCP server: JSON-RPC 2.0 over stdio, written to the 2026-07-28 specification (stateless
/// requests, see MCPServer+Modern.swift) and the handshake era 2024-11-05 … 2025-11-25.
///
/// The reader thread parses each line and answers cheap methods (ping, initialize, tools/list)
/// at once; tool calls and resource reads run one after another in arrival order on a worker
/// task, so a client that pipelines "create" then "list" sees its own write, while pings and
/// cancellations are still read and answered during a long call. Every request gets exactly one
/// response, except a request the client cancelled, which gets none (as the spec says). At end
/// of input the server answers everything already received, then returns.
public final class MCPServer: Sendable {
    public static let latestProtocolVersion = "2025-11-25"
    public static let supportedProtocolVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// The server's version in its identity: the release and its commit as semver build
    /// metadata (`0.2.0+1a2b3c4d5e6f`), what `minsky --version` says.
    public static var version: String { MinskyVersion.number + "+" + MinskyVersion.commit }
    static let logLevels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
    static let resourcePrefix = "minsky://tasks/"

    struct State {
        var initialized = false
        var protocolVersion = MCPServer.latestProtocolVersion
        var clientName = "agent"
        var logLevel = "warning"
        var clientCanSample = false
        var clientCanElicit = false
        var nextOutgoingID = 0
        var awaiting: [String: CheckedContinuation<JSONValue, any Error>] = [:]
        var queued: Set<String> = []
        var running: (key: String, task: Task<JSONValue, any Error>)?
        var cancelled: Set<String> = []
        var shuttingDown = false
        /// The read end of the signal self-pipe, once `run` installed the handlers.
        var signalFD: Int32 = -1
        /// What the connected role may do, once asked (a team store offers only that).
        var access: StoreAccess?
        /// Tasks the client subscribed to (`resources/subscribe`), by id.
        var subscriptions: Set<String> = []
        var watching = false
        /// Open `subscriptions/listen` streams (modern era), by request id.
        var listeners: [String: Listener] = [:]
        /// Jobs (MCP tasks) running in this process, by id; whether their watcher runs.
        var runningJobs: [String: Task<ToolOutcome, any Error>] = [:]
        var watchingJobs = false
    }

    /// Tool calls read ahead of the one running, at most. Beyond it the reader waits, so a client
    /// that pipelines thousands of calls is held back by the pipe instead of filling memory, and
    /// a signal finds little left to finish.
    static let maxQueued = 64
    let slots = DispatchSemaphore(value: MCPServer.maxQueued)

    let tools: [Tool]
    let toolIndex: [String: Tool]
    let storeProvider: @Sendable () async throws -> any MinskyStore
    let transport: StdioTransport
    let logger: Logger
    let state = Mutex(State())
    let group = DispatchGroup()
    /// Jobs running in the background (not requests: the server does not wait for them at
    /// end of input beyond a moment, then reports them failed).
    let jobGroup = DispatchGroup()
    let pageSize: Int
    let services: ToolServices
    let jobs: AsyncStream<QueuedRequest>
    let jobSink: AsyncStream<QueuedRequest>.Continuation
    let seal: RequestStateSeal
    /// Where outgoing messages go instead of the transport's output (one HTTP exchange's).
    let emit: (@Sendable ([UInt8]) -> Void)?

    struct QueuedRequest: Sendable {
        var id: JSONValue
        var key: String
        var work: @Sendable () async throws -> JSONValue
    }

    public init(
        tools: [Tool] = Tool.all, store: @escaping @Sendable () async throws -> any MinskyStore,
        services: ToolServices = ToolServices(),
        input: Int32 = 0, output: Int32 = 1, pageSize: Int = 100, logger: Logger = Logger(label: "minsky.mcp"),
        stateKey: [UInt8]? = nil, emit: (@Sendable ([UInt8]) -> Void)? = nil, access: StoreAccess? = nil
    ) {
        self.emit = emit
        state.withLock { $0.access = access }
        self.services = services
        self.seal = RequestStateSeal(key: stateKey)
        self.tools = tools
        self.toolIndex = Dictionary(uniqueKeysWithValues: tools.map { ($0.name, $0) })
        self.storeProvider = store
        self.transport = StdioTransport(input: input, output: output)
        self.pageSize = max(1, pageSize)
        self.logger = logger
        (jobs, jobSink) = AsyncStream.makeStream(of: QueuedRequest.self)
    }

    /// The declarations as `tools/list` serves them (all pages), for tools.json.
    public static func toolsDocument(_ tools: [Tool] = Tool.all) -> JSONValue {
        ["tools": .array(tools.map { $0.declaration() })]
    }

    /// tools.json: the declarations pretty-printed with sorted keys, two-space indent.
    public static func toolsDocumentText(_ tools: [Tool] = Tool.all) -> String {
        toolsDocument(tools).prettyJSON()
    }

    // MARK: Running

    /// Serves until end of input (after answering every request received) and returns.
    public func run() async {
        let stopFD = installSignalHandlers()
        state.withLock { $0.signalFD = stopFD }
        let worker = Task { [self] in for await job in jobs { await execute(job) } }
        defer { worker.cancel() }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let reader = Thread { [self] in
                let signalled = transport.readLines(
                    stopFD: stopFD, onLine: { handle(line: $0) },
                    onOversized: {
                        send(RPC.error(id: .null, RPCError(code: .parseError, message: "message longer than 64 MiB")))
                    })
                if signalled {
                    // SIGINT/SIGTERM: nothing more is read; what was received finishes (at most
                    // `maxQueued` calls, up to 10 s), then the server exits.
                    logger.info("signal received: finishing in-flight requests")
                    state.withLock { $0.shuttingDown = true }
                    _ = group.wait(timeout: .now() + 10)
                } else {
                    group.wait()
                }
                // Background jobs get a moment to finish; those still running are reported.
                if jobGroup.wait(timeout: .now() + 5) == .timedOut {
                    let stopped = DispatchSemaphore(value: 0)
                    Task { [self] in
                        await stopJobs()
                        stopped.signal()
                    }
                    _ = stopped.wait(timeout: .now() + 10)
                }
                state.withLock { $0.shuttingDown = true }
                closeListeners()
                state.withLock { $0.watching = false }
                done.resume()
            }
            reader.name = "minsky-mcp-reader"
            reader.start()
        }
    }

    /// SIGINT/SIGTERM: a plain sigaction installed before anything is read writes to a self-pipe
    /// whose read end the reader polls beside stdin, so no signal can be missed. Returns that end.
    func installSignalHandlers() -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return -1 }
        signalPipeWriteFD = fds[1]
        var action = sigaction()
        #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { _ in
                var byte: UInt8 = 1
                _ = write(signalPipeWriteFD, &byte, 1)  // async-signal-safe
            }
        #else
            action.__sigaction_u.__sa_handler = { _ in
                var byte: UInt8 = 1
                _ = write(signalPipeWriteFD, &byte, 1)  // async-signal-safe
            }
        #endif
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        return fds[0]
    }

    func send(_ message: JSONValue) {
        if let emit { emit(RPC.encode(message)) } else { transport.send(RPC.encode(message)) }
    }

    /// Answers the messages of one HTTP request (its body, after the replayed handshake of a
    /// session of the handshake era), handing each outgoing message to `emit`, and returns once
    /// every request among them is answered. What `run` adds for stdio (a reader thread, signal
    /// handling, waiting for background jobs at end of input) is the HTTP server's business.
    public func exchange(_ lines: [[UInt8]]) async {
        let worker = Task { [self] in for await job in jobs { await execute(job) } }
        for line in lines { handle(line: line) }
        // Notified, not waited for: a thread blocked per request would starve the others.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { done.resume() }
        }
        jobSink.finish()
        await worker.value
    }

    /// Ends this server's subscriptions without a word (their HTTP stream was closed by the
    /// client, which is the cancellation): the change feed stops with them.
    public func endSubscriptions() {
        state.withLock { s in
            s.listeners = [:]
            s.watching = false
        }
    }

    // MARK: Dispatch

    func handle(line raw: [UInt8]) {
        var line = raw[...]
        while let last = line.last, last == 0x0D || last == 0x20 || last == 0x09 { line = line.dropLast() }
        guard line.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }
        let message: JSONValue
        do { message = try JSONParser.parse(line) } catch {
            // When the id itself is readable, the error answers it rather than null.
            let id = JSONParser.rawMember(line, key: "id").flatMap(RPC.requestID) ?? .null
            send(
                RPC.error(
                    id: id,
                    RPCError(
                        code: .parseError,
                        message: "parse error: \((error as? JSONParser.Failure)?.description ?? "invalid JSON")")))
            return
        }
        guard case .object(let obj) = message else {
            let what =
                message.arrayValue != nil
                ? "batches are not supported; send one JSON-RPC message per line"
                : "a JSON-RPC message must be an object"
            send(RPC.error(id: .null, RPCError(code: .invalidRequest, message: what)))
            return
        }
        // A response to one of our own requests (sampling/createMessage).
        if obj["method"] == nil && (obj["result"] != nil || obj["error"] != nil) {
            let key = (obj["id"] ?? .null).canonicalJSON()
            let waiter = state.withLock { $0.awaiting.removeValue(forKey: key) }
            if let e = obj["error"] {
                waiter?.resume(
                    throwing: MinskyError(
                        .internal,
                        "the client refused sampling: \(e["message"]?.stringValue ?? "error \(e["code"]?.canonicalJSON() ?? "?")")"
                    ))
            } else {
                waiter?.resume(returning: obj["result"] ?? .null)
            }
            return
        }
        let idValue = obj["id"]
        let validID: JSONValue? = {
            switch idValue {
            case .string?, .int?: return idValue
            // Beyond 64-bit integers: echoed exactly as sent, digit for digit.
            case .double?: return JSONParser.rawMember(line, key: "id").flatMap(RPC.requestID)
            default: return nil
            }
        }()
        guard obj["jsonrpc"] == "2.0" else {
            send(RPC.error(id: validID ?? .null, RPCError(code: .invalidRequest, message: "jsonrpc must be \"2.0\"")))
            return
        }
        guard case .string(let method)? = obj["method"] else {
            send(RPC.error(id: validID ?? .null, RPCError(code: .invalidRequest, message: "method must be a string")))
            return
        }
        if idValue != nil && validID == nil {
            send(RPC.error(id: .null, RPCError(code: .invalidRequest, message: "id must be a string or a number")))
            return
        }
        let params = obj["params"] ?? .object([:])
        guard let id = validID else {
            handleNotification(method, params)
            return
        }
        guard case .object(let p) = params else {
            send(RPC.error(id: id, RPCError(code: .invalidParams, message: "params must be an object")))
            return
        }
        handleRequest(id: id, method: method, params: p)
    }

    func handleNotification(_ method: String, _ params: JSONValue) {
        switch method {
        case "notifications/cancelled":
            guard let rid = params["requestId"], rid.stringValue != nil || rid.intValue != nil else { return }
            let key = rid.canonicalJSON()
            let task: Task<JSONValue, any Error>? = state.withLock { s in
                // A subscription the client ends: nothing more is sent for it.
                if s.listeners.removeValue(forKey: key) != nil { return nil }
                if let r = s.running, r.key == key {
                    s.cancelled.insert(key)
                    return r.task
                }
                if s.queued.contains(key) { s.cancelled.insert(key) }
                return nil
            }
            task?.cancel()
        default:
            break  // notifications/initialized and unknown notifications need no answer
        }
    }

    func handleRequest(id: JSONValue, method: String, params: [String: JSONValue]) {
        let (initialized, shuttingDown) = state.withLock { ($0.initialized, $0.shuttingDown) }
        if shuttingDown {
            send(RPC.error(id: id, RPCError(code: .internalError, message: "server is shutting down")))
            return
        }
        do {
            if let caller = try modernCaller(method, params) {
                try handleModern(id: id, method: method, params: params, caller: caller)
                return
            }
        } catch let e as RPCError {
            send(RPC.error(id: id, e))
            return
        } catch {
            send(RPC.error(id: id, RPCError(code: .internalError, message: "internal error")))
            return
        }
        if !initialized && method != "initialize" && method != "ping" {
            send(
                RPC.error(
                    id: id, RPCError(code: .invalidRequest, message: "server not initialized: send initialize first")))
            return
        }
        do {
            switch method {
            case "ping": send(RPC.response(id: id, result: .object([:])))
            case "initialize": send(RPC.response(id: id, result: try initialize(params)))
            case "tools/list":
                let caller = legacyCaller()
                if let access = state.withLock({ $0.access }) {
                    send(RPC.response(id: id, result: try listTools(params, access: access, caller: caller)))
                } else {
                    // The role's rights need the store: asked once, in arrival order with the calls.
                    spawn(id: id) { [self] in try listTools(params, access: await currentAccess(), caller: caller) }
                }
            case "resources/subscribe", "resources/unsubscribe":
                guard let uri = params["uri"]?.stringValue else {
                    throw RPCError(code: .invalidParams, message: "\(method) needs a string uri")
                }
                guard services.changes != nil else {
                    throw RPCError(code: .methodNotFound, message: "this store has no change feed to subscribe to")
                }
                let id0 = try taskID(fromURI: uri)
                state.withLock { s in
                    if method == "resources/subscribe" {
                        s.subscriptions.insert(id0.rawValue)
                    } else {
                        s.subscriptions.remove(id0.rawValue)
                    }
                }
                send(RPC.response(id: id, result: .object([:])))
            case "resources/templates/list": send(RPC.response(id: id, result: resourceTemplates()))
            case "logging/setLevel": send(RPC.response(id: id, result: try setLevel(params)))
            case "tools/call":
                let (tool, args) = try resolveCall(params)
                let caller = legacyCaller()
                spawn(id: id) { [self] in try await callTool(tool, args, params: params, caller: caller) }
            case "resources/list":
                let cursor = try cursorParam(params)
                spawn(id: id) { [self] in try await listResources(cursor: cursor) }
            case "resources/read":
                guard let uri = params["uri"]?.stringValue else {
                    throw RPCError(code: .invalidParams, message: "resources/read needs a string uri")
                }
                spawn(id: id) { [self] in try await readResource(uri) }
            default:
                throw RPCError(code: .methodNotFound, message: "method not found: \(method)")
            }
        } catch let e as RPCError {
            send(RPC.error(id: id, e))
        } catch {
            send(RPC.error(id: id, RPCError(code: .internalError, message: "internal error")))
        }
    }

    /// Queues a request for the worker; its result (or error) becomes its one response unless the
    /// client cancels it first.
    func spawn(id: JSONValue, _ work: @escaping @Sendable () async throws -> JSONValue) {
        let stopFD = state.withLock { $0.signalFD }
        while slots.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if stopFD >= 0 && StdioTransport.readable(stopFD) {
                send(RPC.error(id: id, RPCError(code: .internalError, message: "server is shutting down")))
                return
            }
        }
        let key = id.canonicalJSON()
        group.enter()
        state.withLock { _ = $0.queued.insert(key) }
        jobSink.yield(QueuedRequest(id: id, key: key, work: work))
    }

    func execute(_ job: QueuedRequest) async {
        defer {
            slots.signal()
            group.leave()
        }
        let skip = state.withLock { s -> Bool in
            guard s.cancelled.remove(job.key) != nil else { return false }
            s.queued.remove(job.key)
            return true
        }
        if skip { return }
        let task = Task { try await job.work() }
        // A cancellation that arrived while the job was being started still reaches it: until
        // `running` is set it is recorded against the queued key.
        state.withLock { s in
            s.queued.remove(job.key)
            s.running = (job.key, task)
            if s.cancelled.contains(job.key) { task.cancel() }
        }
        let reply: JSONValue
        do {
            reply = RPC.response(id: job.id, result: try await task.value)
        } catch let e as RPCError {
            reply = RPC.error(id: job.id, e)
        } catch is CancellationError {
            reply = .null
        } catch {
            logger.error("internal error: \(error)")
            reply = RPC.error(id: job.id, RPCError(code: .internalError, message: "internal error"))
        }
        let cancelled = state.withLock { s in
            s.running = nil
            return s.cancelled.remove(job.key) != nil
        }
        if !cancelled && !reply.isNull { send(reply) }
    }

    // MARK: Lifecycle

    func initialize(_ params: [String: JSONValue]) throws -> JSONValue {
        guard let requested = params["protocolVersion"]?.stringValue else {
            throw RPCError(
                code: .invalidParams,
                message: "initialize needs protocolVersion (a string such as \"\(Self.latestProtocolVersion)\")")
        }
        let chosen = Self.supportedProtocolVersions.contains(requested) ? requested : Self.latestProtocolVersion
        let client = params["clientInfo"]?["name"]?.stringValue ?? "agent"
        let canSample = params["capabilities"]?["sampling"]?.objectValue != nil
        let canElicit = Confirmation.supported(params["capabilities"])
        let already = state.withLock { s -> Bool in
            if s.initialized { return true }
            s.initialized = true
            s.clientCanSample = canSample
            s.clientCanElicit = canElicit
            s.protocolVersion = chosen
            s.clientName = client
            return false
        }
        if already { throw RPCError(code: .invalidRequest, message: "already initialized") }
        startWatching()
        return [
            "protocolVersion": .string(chosen),
            // Declared only when honoured: a change feed tells this server of others' changes.
            "capabilities": capabilities(modern: false),
            "serverInfo": Self.serverInfo,
            "instructions": .string(Self.instructions),
        ]
    }

    /// The handshake session as a caller: its negotiated version, name and sampling.
    func legacyCaller() -> Caller {
        state.withLock {
            Caller(
                modern: false, protocolVersion: $0.protocolVersion, clientName: $0.clientName,
                canSample: $0.clientCanSample, canElicit: $0.clientCanElicit, logLevel: nil)
        }
    }

    /// Follows the change feed for the session: a change to a subscribed task is announced by
    /// `notifications/resources/updated`, a created or deleted task by
    /// `notifications/resources/list_changed` (once per batch of changes read together).
    func startWatching() {
        guard let changes = services.changes else { return }
        let start = state.withLock { s -> Bool in
            if s.watching { return false }
            s.watching = true
            return true
        }
        guard start else { return }
        Task { [self] in
            do {
                try await changes({ [self] in state.withLock { !$0.watching } }) { [self] events in
                    announce(events)
                }
            } catch {
                logger.info("change feed stopped: \((error as? MinskyError)?.message ?? "\(error)")")
            }
        }
    }

    func announce(_ events: [TaskEvent]) {
        let (subscribed, listeners) = state.withLock { ($0.subscriptions, $0.listeners) }
        var changed: [String] = []
        for e in events where !changed.contains(e.taskId.rawValue) { changed.append(e.taskId.rawValue) }
        let listChanged = events.contains(where: { ["created", "deleted", "imported"].contains($0.kind) })
        // The handshake era's resources/subscribe.
        for id in changed where subscribed.contains(id) {
            send(RPC.notification("notifications/resources/updated", ["uri": .string(Self.resourcePrefix + id)]))
        }
        if listChanged && state.withLock({ $0.initialized }) {
            send(RPC.notification("notifications/resources/list_changed", .object([:])))
        }
        // Each subscriptions/listen stream gets what it asked for, tagged with its id.
        for l in listeners.values.sorted(by: { $0.id.canonicalJSON() < $1.id.canonicalJSON() }) {
            let meta: JSONValue = [Meta.subscriptionId: l.id]
            for id in changed where l.uris.contains(Self.resourcePrefix + id) {
                sendOnListener(
                    l, "notifications/resources/updated", ["_meta": meta, "uri": .string(Self.resourcePrefix + id)])
            }
            if listChanged && l.resourcesListChanged {
                sendOnListener(l, "notifications/resources/list_changed", ["_meta": meta])
            }
        }
    }

    /// Sends on a subscription unless it was cancelled meanwhile.
    func sendOnListener(_ l: Listener, _ method: String, _ params: JSONValue) {
        guard state.withLock({ $0.listeners[l.id.canonicalJSON()] != nil }) else { return }
        send(RPC.notification(method, params))
    }

    /// Sends a request to the client and waits for its answer (cancellable).
    func requestFromClient(_ method: String, _ params: JSONValue) async throws -> JSONValue {
        let id = state.withLock { s -> String in
            s.nextOutgoingID += 1
            return "minsky-\(s.nextOutgoingID)"
        }
        let key = JSONValue.string(id).canonicalJSON()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<JSONValue, any Error>) in
                state.withLock { $0.awaiting[key] = cont }
                send(["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params])
            }
        } onCancel: {
            if let cont = state.withLock({ $0.awaiting.removeValue(forKey: key) }) {
                send(RPC.notification("notifications/cancelled", ["requestId": .string(id), "reason": "cancelled"]))
                cont.resume(throwing: CancellationError())
            }
        }
    }

    func setLevel(_ params: [String: JSONValue]) throws -> JSONValue {
        guard let level = params["level"]?.stringValue, Self.logLevels.contains(level) else {
            throw RPCError(
                code: .invalidParams, message: "level must be one of \(Self.logLevels.joined(separator: ", "))")
        }
        state.withLock { $0.logLevel = level }
        return .object([:])
    }

    /// Sends a `notifications/message` when `level` is at or above the level chosen: by the
    /// session (`logging/setLevel`), or by the request itself in the modern era, where a request
    /// that chose none gets none.
    func notifyLog(_ level: String, _ data: String, caller: Caller) {
        let min: String
        if caller.modern {
            guard let l = caller.logLevel else { return }
            min = l
        } else {
            min = state.withLock { $0.logLevel }
        }
        guard let a = Self.logLevels.firstIndex(of: level), let b = Self.logLevels.firstIndex(of: min), a >= b else {
            return
        }
        send(
            RPC.notification(
                "notifications/message", ["level": .string(level), "logger": "minsky", "data": .string(data)]))
    }

    // MARK: Tools

    func cursorParam(_ params: [String: JSONValue]) throws -> String? {
        switch params["cursor"] {
        case nil, .null?: return nil
        case .string(let c)?: return c
        default: throw RPCError(code: .invalidParams, message: "cursor must be a string from a previous nextCursor")
        }
    }

    /// The connected role's rights, asked of the store once; nil when the store cannot say (it
    /// cannot be opened: every tool is offered and each call reports the problem itself).
    func currentAccess() async -> StoreAccess? {
        if let known = state.withLock({ $0.access }) { return known }
        guard let access = try? await storeProvider().access() else { return nil }
        state.withLock { $0.access = access }
        return access
    }

    func listTools(_ params: [String: JSONValue], access: StoreAccess?, caller: Caller) throws -> JSONValue {
        let tools = access.map { a in self.tools.filter { a.allows($0.right) } } ?? self.tools
        var start = 0
        if let c = try cursorParam(params) {
            guard let n = Int(c), n > 0, n < tools.count else {
                throw RPCError(
                    code: .invalidParams, message: "unknown cursor \(c.prefix(40)); pass a nextCursor from tools/list")
            }
            start = n
        }
        let version = caller.protocolVersion
        let end = min(tools.count, start + pageSize)
        var result: [String: JSONValue] = [
            "tools": .array(tools[start..<end].map { $0.declaration(protocolVersion: version) })
        ]
        if end < tools.count { result["nextCursor"] = .string(String(end)) }
        return .object(result)
    }

    func resolveCall(_ params: [String: JSONValue]) throws -> (Tool, [String: JSONValue]) {
        guard let name = params["name"]?.stringValue else {
            throw RPCError(code: .invalidParams, message: "tools/call needs a string name")
        }
        guard let tool = toolIndex[name] else {
            throw RPCError(
                code: .invalidParams, message: "unknown tool: \(name.prefix(80)); tools/list shows the available tools")
        }
        switch params["arguments"] {
        case nil, .null?: return (tool, [:])
        case .object(let a)?: return (tool, a)
        default: throw RPCError(code: .invalidParams, message: "arguments must be an object")
        }
    }

    static func errorResult(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "isError": true]
    }

    func callTool(_ tool: Tool, _ args: [String: JSONValue], params: [String: JSONValue], caller: Caller)
        async throws -> JSONValue
    {
        if let problem = checkCall(tool, args) { return problem }
        if let refused = await refusal(tool) { return refused }
        var sink: (@Sendable (Double, Double?, String?) -> Void)?
        if let token = params["_meta"]?["progressToken"], token.stringValue != nil || token.intValue != nil {
            sink = { [self] done, total, message in
                var p: [String: JSONValue] = ["progressToken": token, "progress": .double(done)]
                if let total { p["total"] = .double(total) }
                if let message { p["message"] = .string(message) }
                send(RPC.notification("notifications/progress", .object(p)))
            }
        }
        // Modern era: what the client's model or the person must answer comes back on a retry
        // (multi round-trip), with what earlier rounds learned sealed into requestState.
        var trip: RoundTrip?
        var binding: RequestStateSeal.Binding?
        if caller.modern && (caller.canSample || caller.canElicit) {
            let b = RequestStateSeal.binding(
                method: "tools/call", name: tool.name, arguments: args,
                principal: "\(caller.clientName)|\(await currentAccess()?.identity ?? "local")")
            var earlier: [String: JSONValue] = [:]
            switch params["requestState"] {
            case nil, .null?: break
            case .string(let token)?: earlier = try seal.open(token, expect: b)
            default: throw RPCError(code: .invalidParams, message: "requestState must be the string a result gave")
            }
            trip = RoundTrip(earlier: earlier, fresh: try Self.inputResponses(params))
            binding = b
        }
        switch try await execute(tool, args, caller: caller, trip: trip, progress: sink) {
        case .result(let r): return r
        case .inputRequired(let asked):
            guard let trip, let binding else {
                throw MinskyError(.internal, "input was asked for outside a multi round-trip request")
            }
            return [
                "resultType": "input_required", "inputRequests": .object(asked),
                "requestState": .string(seal.seal(binding, answers: trip.answers)),
            ]
        }
    }

    /// A call the schema refuses, as the tool error result that says why (nil: it may run).
    func checkCall(_ tool: Tool, _ args: [String: JSONValue]) -> JSONValue? {
        guard let problem = JSONSchema.firstError(.object(args), tool.inputSchema) else { return nil }
        return Self.errorResult("invalid arguments for \(tool.name): \(problem)")
    }

    /// The tool error result of a role that may not use the tool (nil: it may).
    func refusal(_ tool: Tool) async -> JSONValue? {
        guard tool.right > .read, let access = await currentAccess(), !access.allows(tool.right) else { return nil }
        let e = access.refusal("use \(tool.name)", needs: tool.right)
        return Self.errorResult("\(e.code.rawValue): \(e.message)")
    }

    static func inputResponses(_ params: [String: JSONValue]) throws -> [String: JSONValue] {
        switch params["inputResponses"] {
        case nil, .null?: return [:]
        case .object(let o)?: return o
        default: throw RPCError(code: .invalidParams, message: "inputResponses must be an object of results by key")
        }
    }

    enum ToolOutcome {
        case result(JSONValue)
        /// The questions (by key) the client must answer before the call can finish.
        case inputRequired([String: JSONValue])
    }

    /// Runs a tool: its result (a tool error as an `isError` result), or the questions it is
    /// waiting on. The client's model and the person are asked through `trip` when there is one
    /// (a retried request, or a job), else by a request to a handshake-era client that can answer.
    func execute(
        _ tool: Tool, _ args: [String: JSONValue], caller: Caller, trip: RoundTrip?,
        progress sink: (@Sendable (Double, Double?, String?) -> Void)?
    ) async throws -> ToolOutcome {
        var sampler: (any LLMProvider)?
        var confirmer: (@Sendable (String, String) async throws -> Bool)?
        if let trip {
            if caller.canSample { sampler = RoundTripSampling(trip: trip) }
            if caller.canElicit {
                confirmer = { message, action in
                    Confirmation.accepted(
                        try trip.ask(
                            "confirm", "elicitation/create", Confirmation.params(message, action: action, modern: true)
                        ).0)
                }
            }
        } else if !caller.modern {
            if caller.canSample { sampler = SamplingProvider(server: self) }
            if caller.canElicit {
                confirmer = { [self] message, action in
                    Confirmation.accepted(
                        try await requestFromClient(
                            "elicitation/create", Confirmation.params(message, action: action, modern: false)))
                }
            }
        }
        let ctx = ToolContext(
            storeProvider: storeProvider, progressSink: sink, services: services, sampler: sampler,
            defaultOwner: "\(caller.clientName)@\(ProcessInfo.processInfo.hostName)", confirmer: confirmer)
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let structured = try await tool.handler(Arguments(values: args), ctx)
            try Task.checkCancellation()
            let ms = (DispatchTime.now().uptimeNanoseconds - started) / 1_000_000
            notifyLog("debug", "\(tool.name) answered in \(ms) ms", caller: caller)
            var result: [String: JSONValue] = [
                "content": [["type": "text", "text": .string(structured.canonicalJSON())]], "isError": false,
            ]
            if caller.protocolVersion >= "2025-06-18" { result["structuredContent"] = structured }
            return .result(.object(result))
        } catch is InputRequired {
            guard let trip else { throw MinskyError(.internal, "input was asked for outside a round trip") }
            return .inputRequired(trip.asked.withLock { $0 })
        } catch let e as MinskyError {
            if e.code == .internal { notifyLog("error", "\(tool.name): \(e.message)", caller: caller) }
            return .result(Self.errorResult("\(e.code.rawValue): \(e.message)"))
        }
    }

    // MARK: Resources

    func resourceTemplates() -> JSONValue {
        [
            "resourceTemplates": [
                [
                    "uriTemplate": .string(Self.resourcePrefix + "{id}"), "name": "task", "title": "Task",
                    "description": "A task with all its fields, as JSON", "mimeType": "application/json",
                ]
            ]
        ]
    }

    func listResources(cursor: String?) async throws -> JSONValue {
        var q = TaskQuery(limit: 50)
        if let cursor {
            do { q.cursor = try PageCursor(token: cursor) } catch {
                throw RPCError(code: .invalidParams, message: "unknown cursor; pass a nextCursor from resources/list")
            }
        }
        let page: TaskPage
        do { page = try await storeProvider().list(q) } catch let e as MinskyError {
            throw RPCError(code: .internalError, message: e.message)
        }
        var out: [String: JSONValue] = [
            "resources": .array(
                page.tasks.map {
                    [
                        "uri": .string(Self.resourcePrefix + $0.id.rawValue), "name": .string($0.id.rawValue),
                        "title": .string($0.title), "mimeType": "application/json",
                    ]
                })
        ]
        if let n = page.nextCursor { out["nextCursor"] = .string(n.token) }
        return .object(out)
    }

    func taskID(fromURI uri: String) throws -> TaskID {
        guard uri.hasPrefix(Self.resourcePrefix),
            let id = try? TaskID(validating: String(uri.dropFirst(Self.resourcePrefix.count)))
        else {
            throw RPCError(
                code: .invalidParams, message: "unknown resource URI \(uri.prefix(100)); use minsky://tasks/{id}")
        }
        return id
    }

    /// `notFound`: the code an unknown task answers (-32002 in the handshake era, -32602 since 2026-07-28).
    func readResource(_ uri: String, notFound: RPCCode = .resourceNotFound) async throws -> JSONValue {
        if uri == ReadyView.uri { return ReadyView.resource() }
        let id = try taskID(fromURI: uri)
        do {
            let t = try await storeProvider().get(id)
            return [
                "contents": [
                    [
                        "uri": .string(uri), "mimeType": "application/json",
                        "text": .string(TaskJSON.full(t).canonicalJSON()),
                    ]
                ]
            ]
        } catch let e as MinskyError where e.code == .notFound {
            throw RPCError(code: notFound, message: "resource not found: \(uri)", data: ["uri": .string(uri)])
        } catch let e as MinskyError {
            throw RPCError(code: .internalError, message: e.message)
        }
    }
}
