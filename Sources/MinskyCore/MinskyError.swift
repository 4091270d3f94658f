/// The one error type every layer speaks. `description` is safe to show to a user or a model:
/// it never contains SQL, connection passwords or API keys. `detail` may hold more for logs.
public struct MinskyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// Input refused by a domain rule (empty title, unknown status, bad tag ...).
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        /// Optimistic-concurrency mismatch: the caller's expected version is stale.
        case conflict
        /// A dependency or parent link would create a cycle.
        case cycle
        /// The task is claimed by another owner whose claim has not expired.
        case alreadyClaimed = "already_claimed"
        /// The store cannot be opened or reached (missing file, server down, read-only file).
        case storeUnavailable = "store_unavailable"
        /// The store exists but cannot be used by this version (not SQLite, newer schema).
        case storeIncompatible = "store_incompatible"
        /// No project store was found or configured.
        case notConfigured = "not_configured"
        /// The model server cannot be reached, keeps failing, or went silent.
        case modelUnavailable = "model_unavailable"
        /// The store was upgraded to another location; `field` holds the new URL (no password).
        case storeMoved = "store_moved"
        /// The database refused the connected role (a team store's viewer writing, a member
        /// deleting); the message names the missing right and who can grant it.
        case permissionDenied = "permission_denied"
        /// A person asked to confirm a destructive operation declined it; nothing was done.
        case declined
        case `internal`
    }

    public var code: Code
    public var message: String
    /// The input field the error is about, when there is one (`title`, `status`, `dependsOn` ...).
    public var field: String?
    /// Extra diagnostic text for logs; never shown by `description`.
    public var detail: String?

    public init(_ code: Code, _ message: String, field: String? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.detail = detail
    }

    public var description: String { message }

    public static func invalid(_ field: String, _ message: String) -> MinskyError {
        MinskyError(.invalidInput, message, field: field)
    }

    /// A new task drew an id another task has (the store draws again, one character longer).
    public static func taskIDTaken(_ detail: String? = nil) -> MinskyError {
        MinskyError(.conflict, "the new task's id is already taken; create it again", field: "id", detail: detail)
    }

    public var isTaskIDTaken: Bool { code == .conflict && field == "id" }

    public static func notFound(_ id: TaskID) -> MinskyError {
        MinskyError(.notFound, "task \(id) not found; run `minsky tasks list` to see existing ids", field: "id")
    }
}

/// Thrown by an operation that cannot go on until someone outside answers (the calling agent's
/// model, or a person asked to confirm): in an MCP multi round-trip request the call ends with the
/// question, and is retried with the answer.
public struct InputRequired: Error, Sendable {
    public init() {}
}
