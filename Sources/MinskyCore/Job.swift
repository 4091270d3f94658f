/// A long operation started for a client and followed by polling: an MCP task of the Tasks
/// extension (`io.modelcontextprotocol/tasks`). Its state lives in the store, so any server on
/// the same store (another process, the next one after a restart) answers for it, and a job
/// whose runner died is found out by its stale heartbeat.
public struct Job: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable, Codable {
        case working
        case inputRequired = "input_required"
        case completed, failed, cancelled

        public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    public var id: String
    /// The tool it runs and the arguments it was called with.
    public var tool: String
    public var arguments: JSONValue
    /// What the client that started it can do (its name, whether it samples or confirms), so any
    /// server that resumes it asks the same way.
    public var client: JSONValue = .object([:])
    public var status: Status
    public var message: String?
    /// Completed: the tool's result. Failed: the JSON-RPC error.
    public var result: JSONValue?
    public var error: JSONValue?
    /// Input required: the questions outstanding (MRTR `inputRequests`); the answers so far.
    public var inputRequests: JSONValue?
    public var inputResponses: JSONValue?
    /// The process running it (`host:pid:token`) and when it last said it was alive.
    public var runner: String?
    public var heartbeatAt: Timestamp?
    public var cancelRequested: Bool
    /// Who started it (the database role on PostgreSQL).
    public var actor: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// How long the job is kept after it was created.
    public var ttlMs: Int64

    public init(
        id: String, tool: String, arguments: JSONValue, status: Status = .working, message: String? = nil,
        actor: String = "", createdAt: Timestamp, ttlMs: Int64 = Job.defaultTTLMs
    ) {
        self.id = id
        self.tool = tool
        self.arguments = arguments
        self.status = status
        self.message = message
        self.cancelRequested = false
        self.actor = actor
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.ttlMs = ttlMs
    }

    /// A day: long enough to come back to, short enough not to pile up.
    public static let defaultTTLMs: Int64 = 24 * 3600 * 1000

    public static func newID() -> String {
        Timestamp.now().rowID("job-")
    }
}

/// Where jobs are kept: every store has them (not exported, backed up, upgraded or synced: they
/// are the running work of the servers on this store, not task content).
public protocol JobStore: Sendable {
    func createJob(_ job: Job) async throws
    /// The job, or `notFound` naming the id.
    func job(_ id: String) async throws -> Job
    /// The newest first.
    func jobs(limit: Int) async throws -> [Job]
    /// Writes the job's state when its stored status is still `expecting` (compare-and-set, so
    /// two servers never both resume a job, and a finished job is not overwritten). Returns
    /// whether it was written.
    func saveJob(_ job: Job, expecting: Job.Status) async throws -> Bool
    /// The runner's heartbeat (and progress message, when given); returns whether a
    /// cancellation was requested meanwhile.
    func touchJob(_ id: String, runner: String, message: String?) async throws -> Bool
    /// Marks a cancellation request; the runner (wherever it is) stops at its next heartbeat.
    func requestJobCancel(_ id: String) async throws
    /// Deletes jobs whose time to live has passed; returns how many.
    @discardableResult func deleteExpiredJobs(now: Timestamp) async throws -> Int
}
