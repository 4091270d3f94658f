/// A reviewable AI answer (e.g. a decomposition) stored before anything is applied, so a person
/// or agent can apply it later, whole or in part.
public struct Proposal: Codable, Sendable, Hashable {
    public var id: String
    /// The task it is for; nil for a plan stored before its root task exists (a dry run).
    public var taskId: TaskID?
    public var kind: String
    public var model: String
    /// SHA-256 of the prompt the model answered, to tell proposals from different prompts apart.
    public var promptHash: String
    public var body: JSONValue
    public var createdAt: Timestamp
    public var appliedAt: Timestamp?

    public init(
        id: String, taskId: TaskID?, kind: String, model: String, promptHash: String, body: JSONValue,
        createdAt: Timestamp, appliedAt: Timestamp? = nil
    ) {
        self.id = id
        self.taskId = taskId
        self.kind = kind
        self.model = model
        self.promptHash = promptHash
        self.body = body
        self.createdAt = createdAt
        self.appliedAt = appliedAt
    }

    public static func newID() -> String { "pr-" + String(TaskID.random(prefix: "x", length: 8).rawValue.dropFirst(2)) }
}

/// One call to a model (chat or embeddings), recorded in the store: what it was for, which
/// model, the tokens the server reported (nil when it reported none, as MCP sampling does), how
/// long it took and whether it succeeded.
public struct AICall: Codable, Sendable, Hashable {
    public var id: String
    public var at: Timestamp
    /// decompose, complexity, insights, embed, search.
    public var purpose: String
    /// openai, anthropic or sampling.
    public var provider: String
    public var model: String
    public var taskId: TaskID?
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var durationMs: Int
    /// "ok", or the error's code.
    public var outcome: String

    public init(
        id: String = AICall.newID(), at: Timestamp, purpose: String, provider: String, model: String, taskId: TaskID?,
        inputTokens: Int?, outputTokens: Int?, durationMs: Int, outcome: String
    ) {
        self.id = id
        self.at = at
        self.purpose = purpose
        self.provider = provider
        self.model = model
        self.taskId = taskId
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.durationMs = durationMs
        self.outcome = outcome
    }

    public static func newID() -> String {
        "ai-" + String(TaskID.random(prefix: "x", length: 10).rawValue.dropFirst(2))
    }
}

/// Calls and tokens summed per provider, model and purpose.
public struct AIUsage: Codable, Sendable, Hashable {
    public var provider: String
    public var model: String
    public var purpose: String
    public var calls: Int
    public var failed: Int
    public var inputTokens: Int
    public var outputTokens: Int

    public init(
        provider: String, model: String, purpose: String, calls: Int, failed: Int, inputTokens: Int, outputTokens: Int
    ) {
        self.provider = provider
        self.model = model
        self.purpose = purpose
        self.calls = calls
        self.failed = failed
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}
