/// A reviewable AI answer (e.g. a decomposition) stored before anything is applied, so a person
/// or agent can apply it later, whole or in part.
public struct Proposal: Codable, Sendable, Hashable {
    public var id: String
    public var taskId: TaskID
    public var kind: String
    public var model: String
    /// SHA-256 of the prompt the model answered, to tell proposals from different prompts apart.
    public var promptHash: String
    public var body: JSONValue
    public var createdAt: Timestamp
    public var appliedAt: Timestamp?

    public init(id: String, taskId: TaskID, kind: String, model: String, promptHash: String, body: JSONValue, createdAt: Timestamp, appliedAt: Timestamp? = nil) {
        self.id = id; self.taskId = taskId; self.kind = kind; self.model = model; self.promptHash = promptHash
        self.body = body; self.createdAt = createdAt; self.appliedAt = appliedAt
    }

    public static func newID() -> String { "pr-" + String(TaskID.random(prefix: "x", length: 8).rawValue.dropFirst(2)) }
}
