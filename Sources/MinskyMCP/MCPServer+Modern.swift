import Foundation
import MinskyAI
import MinskyCore

/// The 2026-07-28 revision beside the handshake era: no `initialize`; every request carries its
/// protocol version, client capabilities and identity in `_meta` and is answered on its own.
/// A request whose `_meta` names a modern version is served here; one without it keeps the
/// handshake era's rules, so a connection may even mix both (the specification allows a
/// dual-era server to).
extension MCPServer {
    public static let modernProtocolVersions = ["2026-07-28"]
    /// Every version served, newest first: per request (modern) and by handshake (legacy).
    public static var allProtocolVersions: [String] { modernProtocolVersions + supportedProtocolVersions }

    enum Meta {
        static let protocolVersion = "io.modelcontextprotocol/protocolVersion"
        static let clientCapabilities = "io.modelcontextprotocol/clientCapabilities"
        static let clientInfo = "io.modelcontextprotocol/clientInfo"
        static let logLevel = "io.modelcontextprotocol/logLevel"
        static let serverInfo = "io.modelcontextprotocol/serverInfo"
        static let subscriptionId = "io.modelcontextprotocol/subscriptionId"
    }

    static let serverInfo: JSONValue = [
        "name": "minsky", "title": "Minsky task store", "version": .string(MCPServer.version),
    ]

    static let instructions = """
        Minsky is the shared task list. See ready work with next_task, take it atomically with claim_task, \
        read it with get_task, record progress with update_task/set_status, and plan with create_tasks \
        and add_dependency. Pass expectedVersion on updates to avoid overwriting others' changes.
        """

    /// How long a client may keep a result (`CacheableResult`): tools and discovery change only
    /// with the process (a restart or an upgrade); tasks change all the time, so their lists and
    /// reads are fresh for a moment only (subscriptions say when they change). Everything depends
    /// on the store and the role reading it, so nothing is shared across clients (`private`).
    enum Cache {
        static let discover: JSONValue = ["ttlMs": 3_600_000, "cacheScope": "private"]
        static let tools: JSONValue = ["ttlMs": 300_000, "cacheScope": "private"]
        static let templates: JSONValue = ["ttlMs": 3_600_000, "cacheScope": "public"]
        static let tasks: JSONValue = ["ttlMs": 0, "cacheScope": "private"]
    }

    /// The per-request `_meta` of a modern request, or the error that refuses it. Nil: a request
    /// of the handshake era (no version in `_meta`).
    func modernCaller(_ method: String, _ params: [String: JSONValue]) throws -> Caller? {
        guard let requested = params["_meta"]?[Meta.protocolVersion] else {
            // `server/discover` belongs to the modern era only: without a version it is refused the
            // modern way, which tells a dual-era client which versions to use.
            if method == "server/discover" { throw Self.unsupportedVersion(nil) }
            return nil
        }
        guard case .string(let version) = requested, Self.modernProtocolVersions.contains(version) else {
            // A session opened by `initialize` keeps its negotiated version whatever `_meta` says.
            if state.withLock({ $0.initialized }) && method != "server/discover" { return nil }
            throw Self.unsupportedVersion(requested)
        }
        let caps = params["_meta"]?[Meta.clientCapabilities] ?? .object([:])
        var level: String?
        if let l = params["_meta"]?[Meta.logLevel] {
            guard let s = l.stringValue, Self.logLevels.contains(s) else {
                throw RPCError(
                    code: .invalidParams,
                    message:
                        "_meta[\"\(Meta.logLevel)\"] must be one of \(Self.logLevels.joined(separator: ", "))")
            }
            level = s
        }
        return Caller(
            modern: true, protocolVersion: version,
            clientName: params["_meta"]?[Meta.clientInfo]?["name"]?.stringValue ?? "agent",
            canSample: caps["sampling"]?.objectValue != nil, canElicit: Confirmation.supported(caps),
            canTasks: caps["extensions"]?[Self.tasksExtension] != nil, logLevel: level)
    }

    static func unsupportedVersion(_ requested: JSONValue?) -> RPCError {
        let what = requested.map { $0.stringValue.map { "\"\($0)\"" } ?? $0.canonicalJSON() } ?? "none"
        return RPCError(
            code: .unsupportedProtocolVersion,
            message:
                "Unsupported protocol version \(what.prefix(40)): send _meta[\"\(Meta.protocolVersion)\"] = \"\(modernProtocolVersions[0])\" on every request, or initialize for \(supportedProtocolVersions.joined(separator: ", "))",
            data: [
                "supported": .array(allProtocolVersions.map(JSONValue.string)),
                "requested": requested.flatMap(\.stringValue).map(JSONValue.string) ?? .null,
            ])
    }

    /// A modern request, answered on its own. Methods the revision removed (`ping`,
    /// `logging/setLevel`, `resources/subscribe`) are unknown here.
    func handleModern(id: JSONValue, method: String, params: [String: JSONValue], caller: Caller) throws {
        switch method {
        case "server/discover":
            send(RPC.response(id: id, result: Self.complete(discoverResult(), cache: Cache.discover)))
        case "tools/list":
            spawn(id: id) { [self] in
                Self.complete(try listTools(params, access: await currentAccess(), caller: caller), cache: Cache.tools)
            }
        case "tools/call":
            let (tool, args) = try resolveCall(params)
            spawn(id: id) { [self] in
                // A long call of a client that follows tasks: a handle now, the work in the background.
                if caller.canTasks, tool.runsLong?(Arguments(values: args), services) == true,
                    checkCall(tool, args) == nil, await refusal(tool) == nil
                {
                    return Self.complete(try await startJob(tool, args, caller: caller))
                }
                return Self.complete(try await callTool(tool, args, params: params, caller: caller))
            }
        case "tasks/get":
            spawn(id: id) { [self] in Self.complete(try await tasksGet(params)) }
        case "tasks/update":
            spawn(id: id) { [self] in Self.complete(try await tasksUpdate(params)) }
        case "tasks/cancel":
            spawn(id: id) { [self] in Self.complete(try await tasksCancel(params)) }
        case "resources/templates/list":
            send(RPC.response(id: id, result: Self.complete(resourceTemplates(), cache: Cache.templates)))
        case "resources/list":
            let cursor = try cursorParam(params)
            spawn(id: id) { [self] in Self.complete(try await listResources(cursor: cursor), cache: Cache.tasks) }
        case "resources/read":
            guard let uri = params["uri"]?.stringValue else {
                throw RPCError(code: .invalidParams, message: "resources/read needs a string uri")
            }
            spawn(id: id) { [self] in
                Self.complete(try await readResource(uri, notFound: .invalidParams), cache: Cache.tasks)
            }
        case "subscriptions/listen":
            try listen(id: id, params: params, caller: caller)
        default:
            throw RPCError(code: .methodNotFound, message: "method not found in \(caller.protocolVersion): \(method)")
        }
    }

    /// A modern result: `resultType` (unless the result set it), the server's identity in
    /// `_meta`, and the cache fields of a `CacheableResult`.
    static func complete(_ result: JSONValue, cache: JSONValue? = nil) -> JSONValue {
        guard case .object(var o) = result else { return result }
        if o["resultType"] == nil { o["resultType"] = "complete" }
        var meta = o["_meta"]?.objectValue ?? [:]
        meta[Meta.serverInfo] = serverInfo
        o["_meta"] = .object(meta)
        if case .object(let c)? = cache { o.merge(c) { a, _ in a } }
        return .object(o)
    }

    func discoverResult() -> JSONValue {
        [
            "supportedVersions": .array(Self.allProtocolVersions.map(JSONValue.string)),
            "capabilities": capabilities(modern: true),
            "instructions": .string(Self.instructions),
        ]
    }

    /// What this server offers. Subscriptions need a change feed (so others' changes are seen);
    /// in the modern era they are opened with `subscriptions/listen`.
    func capabilities(modern: Bool) -> JSONValue {
        let feed = services.changes != nil
        var caps: [String: JSONValue] = [
            // The tools a process offers never change while it runs (a restart re-reads the role).
            "tools": ["listChanged": false],
            "resources": ["listChanged": .bool(feed), "subscribe": .bool(feed)],
            "logging": .object([:]),
        ]
        // MCP Apps: `next_task` names a view (`ReadyView`) that hosts rendering apps may show.
        var extensions: [String: JSONValue] = [ReadyView.extensionID: ["mimeTypes": [.string(ReadyView.mimeType)]]]
        if modern { extensions[Self.tasksExtension] = .object([:]) }
        caps["extensions"] = .object(extensions)
        return .object(caps)
    }

    // MARK: subscriptions/listen

    /// Opens a subscription: the acknowledgment (what is honoured) first, then every matching
    /// change, each tagged with the subscription's id, until the client cancels it or the
    /// server ends it with a result.
    func listen(id: JSONValue, params: [String: JSONValue], caller: Caller) throws {
        guard case .object(let filter)? = params["notifications"] else {
            throw RPCError(
                code: .invalidParams,
                message:
                    "subscriptions/listen needs notifications: an object such as {\"resourcesListChanged\": true, \"resourceSubscriptions\": [\"minsky://tasks/ID\"]}"
            )
        }
        func flag(_ k: String) throws -> Bool {
            switch filter[k] {
            case nil, .null?: return false
            case .bool(let b)?: return b
            default: throw RPCError(code: .invalidParams, message: "notifications.\(k) must be true or false")
            }
        }
        var uris: [String] = []
        switch filter["resourceSubscriptions"] {
        case nil, .null?: break
        case .array(let a)?:
            for v in a {
                guard let uri = v.stringValue else {
                    throw RPCError(
                        code: .invalidParams, message: "notifications.resourceSubscriptions must list resource URIs")
                }
                _ = try taskID(fromURI: uri)
                if !uris.contains(uri) { uris.append(uri) }
            }
        default:
            throw RPCError(code: .invalidParams, message: "notifications.resourceSubscriptions must be an array")
        }
        var taskIds: [String] = []
        switch filter["taskIds"] {
        case nil, .null?: break
        case .array(let a)?:
            guard caller.canTasks else {
                throw RPCError(
                    code: .missingRequiredClientCapability, message: "Missing required client capability",
                    data: ["requiredCapabilities": ["extensions": [Self.tasksExtension: .object([:])]]])
            }
            taskIds = a.compactMap(\.stringValue)
            if taskIds.count != a.count {
                throw RPCError(code: .invalidParams, message: "notifications.taskIds must list task ids (strings)")
            }
        default: throw RPCError(code: .invalidParams, message: "notifications.taskIds must be an array")
        }
        let feed = services.changes != nil
        // toolsListChanged and promptsListChanged are not honoured: the tools never change while the
        // process runs, and there are no prompts; the acknowledgment leaves them out.
        _ = try flag("toolsListChanged")
        _ = try flag("promptsListChanged")
        let listener = Listener(
            id: id, resourcesListChanged: try flag("resourcesListChanged") && feed, uris: feed ? Set(uris) : [],
            taskIds: Set(taskIds))
        var honoured: [String: JSONValue] = [:]
        if listener.resourcesListChanged { honoured["resourcesListChanged"] = true }
        if !listener.uris.isEmpty { honoured["resourceSubscriptions"] = .array(uris.map(JSONValue.string)) }
        if !taskIds.isEmpty { honoured["taskIds"] = .array(taskIds.map(JSONValue.string)) }
        let key = id.canonicalJSON()
        let taken = state.withLock { s -> Bool in
            if s.listeners[key] != nil || s.queued.contains(key) || s.running?.key == key { return true }
            s.listeners[key] = listener
            return false
        }
        if taken {
            throw RPCError(code: .invalidRequest, message: "request id \(key.prefix(40)) is already in use")
        }
        // The acknowledgment is the first message of the subscription, sent before the feed can
        // deliver anything on it.
        send(
            RPC.notification(
                "notifications/subscriptions/acknowledged",
                ["_meta": [Meta.subscriptionId: id], "notifications": .object(honoured)]))
        if feed && (listener.resourcesListChanged || !listener.uris.isEmpty) { startWatching() }
        if !taskIds.isEmpty { startWatchingJobs() }
    }

    /// Ends every subscription gracefully (end of input, a signal): each gets its result.
    func closeListeners() {
        let all = state.withLock { s -> [Listener] in
            defer { s.listeners = [:] }
            return Array(s.listeners.values)
        }
        for l in all.sorted(by: { $0.id.canonicalJSON() < $1.id.canonicalJSON() }) {
            send(RPC.response(id: l.id, result: ["resultType": "complete", "_meta": [Meta.subscriptionId: l.id]]))
        }
    }
}

/// One `subscriptions/listen` stream and what it asked for (and was granted).
struct Listener: Sendable {
    var id: JSONValue
    var resourcesListChanged: Bool
    var uris: Set<String>
    /// Jobs (MCP tasks) whose status changes it hears (`notifications/tasks`).
    var taskIds: Set<String> = []
}

/// Who asked, and how to answer: a handshake session's settings, or one modern request's `_meta`.
struct Caller: Sendable {
    var modern: Bool
    var protocolVersion: String
    var clientName: String
    /// The client declared sampling: asked by a request to it (legacy) or by an
    /// `InputRequiredResult` (modern).
    var canSample: Bool
    /// The client declared form elicitation: destructive calls ask the person to confirm.
    var canElicit: Bool
    /// The client declared the Tasks extension on this request: a long call may become a task.
    var canTasks = false
    /// Modern: the level this request asked logs at (nil: none are sent for it).
    var logLevel: String?
}
