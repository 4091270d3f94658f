import Foundation
import MinskyAI
import MinskyCore

/// Hints a client may show or act on; see the MCP spec's ToolAnnotations.
public struct ToolAnnotations: Sendable {
    public var readOnly: Bool
    public var destructive: Bool
    public var idempotent: Bool
    public var openWorld: Bool

    public static let read = ToolAnnotations(readOnly: true, destructive: false, idempotent: true, openWorld: false)
    public static func write(destructive: Bool = false, idempotent: Bool = false) -> ToolAnnotations {
        ToolAnnotations(readOnly: false, destructive: destructive, idempotent: idempotent, openWorld: false)
    }

    var json: JSONValue {
        [
            "readOnlyHint": .bool(readOnly), "destructiveHint": .bool(destructive), "idempotentHint": .bool(idempotent),
            "openWorldHint": .bool(openWorld),
        ]
    }
}

/// One tool: its declaration (served by `tools/list`, written to tools.json) and its handler.
public struct Tool: Sendable {
    public var name: String
    public var title: String
    public var description: String
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue
    public var annotations: ToolAnnotations
    /// Deleting and whole-store operations: for a team store's admins only.
    public var adminOnly = false
    /// When a call may take long (a model, a whole-store operation): a client that declares the
    /// Tasks extension then gets a task handle at once and polls it.
    public var runsLong: (@Sendable (Arguments, ToolServices) -> Bool)? = nil
    public var handler: @Sendable (Arguments, ToolContext) async throws -> JSONValue
    /// The `ui://` resource a host may render beside this tool's result (MCP Apps).
    public var uiResource: String? = nil

    /// The same tool, naming a view for hosts that render MCP Apps (`_meta.ui.resourceUri`).
    func presenting(_ uri: String) -> Tool {
        var t = self
        t.uiResource = uri
        return t
    }

    /// The same tool, run as an MCP task (when the client can follow one) whenever `when` holds.
    func long(when: @escaping @Sendable (Arguments, ToolServices) -> Bool) -> Tool {
        var t = self
        t.runsLong = when
        return t
    }

    /// The right a caller needs: reading for read-only tools, admin for `adminOnly`, else write.
    /// A team store's `tools/list` offers only what the connected role holds.
    public var right: AccessRight { annotations.readOnly ? .read : adminOnly ? .admin : .write }

    /// The declaration as `tools/list` serves it for a negotiated protocol version.
    public func declaration(protocolVersion: String = MCPServer.latestProtocolVersion) -> JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "description": .string(description), "inputSchema": inputSchema,
        ]
        if protocolVersion >= "2025-03-26" { o["annotations"] = annotations.json }
        if protocolVersion >= "2025-06-18" {
            o["title"] = .string(title)
            o["outputSchema"] = outputSchema
        }
        if let uiResource { o["_meta"] = ["ui": ["resourceUri": .string(uiResource)]] }
        return .object(o)
    }
}

extension Tool {
    /// A tool whose arguments are decoded once into `Input` (after the schema check), so a
    /// handler reads typed fields instead of keys.
    init<Input: Decodable & Sendable>(
        name: String, title: String, description: String, inputSchema: JSONValue, outputSchema: JSONValue,
        annotations: ToolAnnotations, adminOnly: Bool = false,
        typed handler: @escaping @Sendable (Input, ToolContext) async throws -> JSONValue
    ) {
        self.init(
            name: name, title: title, description: description, inputSchema: inputSchema, outputSchema: outputSchema,
            annotations: annotations, adminOnly: adminOnly,
            handler: { args, ctx in try await handler(try JSONValue.object(args.values).decoded(as: Input.self), ctx) }
        )
    }
}

/// Operations on the store as a whole that the executable wires in (the MCP module does not
/// depend on the upgrade module). A nil service makes its tool answer that it is unavailable.
public struct ToolServices: Sendable {
    /// Upgrades the project's store to PostgreSQL; reports each finished step.
    public var upgrade:
        (
            @Sendable (_ dbURL: String, _ dryRun: Bool, _ force: Bool, _ step: @escaping @Sendable (String) -> Void)
                async throws -> JSONValue
        )?
    /// Writes a backup of the current store and returns its manifest.
    public var backup: (@Sendable () async throws -> JSONValue)?
    /// The configured model, if any (nil: agents answer AI tools themselves).
    public var llm: (@Sendable () throws -> (any LLMProvider)?)?
    /// The embeddings endpoint for semantic search.
    public var embeddings: (@Sendable () throws -> EmbeddingClient)?
    /// Follows every change made to the store by anyone, from now on: calls its handler with
    /// each batch of events as they commit, until `stop` returns true (checked at least once a
    /// second). Nil where there is no change feed: the server then declares no subscriptions.
    public var changes:
        (
            @Sendable (_ stop: @escaping @Sendable () -> Bool, _ onEvents: @escaping @Sendable ([TaskEvent]) -> Void)
                async throws -> Void
        )?

    /// Sync with the shared remote. Nil where the store does not sync.
    public var sync: (@Sendable (SyncAction) async throws -> JSONValue)?
    /// The project's `done.requires`, read at each call (so `config set` applies at once).
    public var doneRequires: @Sendable () -> DoneRequirement

    public init(
        upgrade: (@Sendable (String, Bool, Bool, @escaping @Sendable (String) -> Void) async throws -> JSONValue)? =
            nil,
        backup: (@Sendable () async throws -> JSONValue)? = nil,
        llm: (@Sendable () throws -> (any LLMProvider)?)? = nil,
        embeddings: (@Sendable () throws -> EmbeddingClient)? = nil,
        changes: (
            @Sendable (_ stop: @escaping @Sendable () -> Bool, _ onEvents: @escaping @Sendable ([TaskEvent]) -> Void)
                async throws -> Void
        )? = nil,
        sync: (@Sendable (SyncAction) async throws -> JSONValue)? = nil,
        doneRequires: @escaping @Sendable () -> DoneRequirement = { .criteria }
    ) {
        self.doneRequires = doneRequires
        self.sync = sync
        self.changes = changes
        self.upgrade = upgrade
        self.backup = backup
        self.llm = llm
        self.embeddings = embeddings
    }
}

/// What a handler can use besides its arguments.
public struct ToolContext: Sendable {
    let storeProvider: @Sendable () async throws -> any MinskyStore
    let progressSink: (@Sendable (Double, Double?, String?) -> Void)?
    public let services: ToolServices
    /// The calling agent's own model, when its client declared the sampling capability.
    public let sampler: (any LLMProvider)?

    /// The model for AI tools: the configured provider first, else the agent's model by sampling.
    public func model() throws -> (any LLMProvider)? { try services.llm?() ?? sampler }
    /// The default owner for claims: the client's name at this host.
    public let defaultOwner: String
    /// Asks the person to confirm (message, action), when the client can ask (elicitation).
    var confirmer: (@Sendable (String, String) async throws -> Bool)? = nil

    /// Asks the person, through the client, to confirm a destructive step; throws `declined`
    /// when they do not. A client that cannot ask proceeds as before (the agent decided).
    public func confirm(_ message: String, action: String) async throws {
        guard let confirmer else { return }
        guard try await confirmer(message, action) else {
            throw MinskyError(.declined, "declined: \(action.lowercased()) was not confirmed, nothing was changed")
        }
    }

    public func store() async throws -> any MinskyStore { try await storeProvider() }

    /// Reports progress when the caller asked for it (`_meta.progressToken`); a no-op otherwise.
    public func progress(_ done: Double, total: Double? = nil, message: String? = nil) {
        progressSink?(done, total, message)
    }
}

/// Tool arguments as they came (after the schema check). Handlers get them decoded into their
/// own `Input` type; the raw values serve decisions made before, such as whether a call runs long.
public struct Arguments: Sendable {
    public let values: [String: JSONValue]

    public subscript(_ key: String) -> JSONValue? { values[key].flatMap { $0.isNull ? nil : $0 } }
}

/// Small builders that keep tool files short.
public enum ToolSchema {
    public static func object(_ props: [String: JSONValue], required: [String] = []) -> JSONValue {
        var o: [String: JSONValue] = ["type": "object", "properties": .object(props), "additionalProperties": false]
        if !required.isEmpty { o["required"] = .array(required.map { .string($0) }) }
        return .object(o)
    }

    /// Output objects allow extra fields so results can grow without breaking clients.
    public static func output(_ props: [String: JSONValue], required: [String]) -> JSONValue {
        ["type": "object", "properties": .object(props), "required": .array(required.map { .string($0) })]
    }

    public static func string(_ description: String? = nil, maxLength: Int? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": "string"]
        if let description { o["description"] = .string(description) }
        if let maxLength { o["maxLength"] = .int(Int64(maxLength)) }
        return .object(o)
    }

    public static func integer(_ description: String? = nil, min: Int? = nil, max: Int? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": "integer"]
        if let description { o["description"] = .string(description) }
        if let min { o["minimum"] = .int(Int64(min)) }
        if let max { o["maximum"] = .int(Int64(max)) }
        return .object(o)
    }

    public static func boolean(_ description: String? = nil) -> JSONValue {
        description.map { ["type": "boolean", "description": .string($0)] } ?? ["type": "boolean"]
    }

    public static func array(_ items: JSONValue, description: String? = nil, maxItems: Int? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": "array", "items": items]
        if let description { o["description"] = .string(description) }
        if let maxItems { o["maxItems"] = .int(Int64(maxItems)) }
        return .object(o)
    }

    public static let id = string()
    public static let status: JSONValue = [
        "type": "string", "enum": .array(TaskStatus.allCases.map { .string($0.rawValue) }),
    ]
    public static let priority = integer("0 critical … 4 backlog", min: 0, max: 4)
    // Lists, titles and texts are bounded by TaskRules, whose errors name the limit; the schemas
    // leave the bounds out to keep every agent's tool list short.
    public static let tags = array(string())
    public static let expectedVersion = integer("conflict unless at this version", min: 1)
    public static let criteria = array(string())
    public static let numbers = array(integer(min: 1))
    /// Repository paths or globs (`Sources/App/**`, `README.md`).
    public static let paths = array(string())
    /// Checked by `Evidence.parse`, whose errors name the field: the schema stays short.
    public static let evidence: JSONValue = [
        "type": "object", "description": "commits, command, exitStatus, tests, links, changed, tokens",
    ]

    /// The shapes every result uses, described once in the core (`TaskSchemas`).
    public static let task = TaskSchemas.task
    public static let taskList = TaskSchemas.page
}
