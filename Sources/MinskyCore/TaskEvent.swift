import Foundation

/// One change to a task, as the history records it: append-only, written in the transaction
/// that made the change.
public struct TaskEvent: Sendable, Hashable {
    public var id: String
    public var taskId: TaskID
    public var at: Timestamp
    /// Who: the database role on PostgreSQL, the configured user (MINSKY_OWNER or user@host) on SQLite.
    public var actor: String
    /// created, imported, updated, deleted, claimed, heartbeat, released, dependency_added, dependency_removed.
    public var kind: String
    /// Changed fields: `{field: {before, after}}` (absent side: the field had no value).
    public var changes: JSONValue

    public init(id: String, taskId: TaskID, at: Timestamp, actor: String, kind: String, changes: JSONValue) {
        self.id = id
        self.taskId = taskId
        self.at = at
        self.actor = actor
        self.kind = kind
        self.changes = changes
    }

    public var json: JSONValue {
        [
            "id": .string(id), "taskId": .string(taskId.rawValue), "at": .string(at.iso8601), "actor": .string(actor),
            "kind": .string(kind), "changes": changes,
        ]
    }

    /// The fields that differ between two versions of a task, as `{field: {before, after}}`.
    /// The bookkeeping (`version`, `updatedAt`) is left out.
    public static func changes(from before: TaskItem?, to after: TaskItem?) -> JSONValue {
        let a = before.map { TaskJSON.full($0).objectValue ?? [:] } ?? [:]
        let b = after.map { TaskJSON.full($0).objectValue ?? [:] } ?? [:]
        var out: [String: JSONValue] = [:]
        for key in Set(a.keys).union(b.keys).subtracting(["version", "updatedAt", "createdAt", "id"])
        where a[key] != b[key] {
            var change: [String: JSONValue] = [:]
            if let v = a[key] { change["before"] = v }
            if let v = b[key] { change["after"] = v }
            out[key] = .object(change)
        }
        return .object(out)
    }
}

/// A page of events, oldest first, and where the next page starts.
public struct TaskEventPage: Sendable, Hashable {
    public var events: [TaskEvent]
    public var nextCursor: String?
    public init(events: [TaskEvent], nextCursor: String?) {
        self.events = events
        self.nextCursor = nextCursor
    }

    /// The cursor that continues after `event`.
    public static func cursor(after event: TaskEvent) -> String {
        Data("\(event.at.microseconds):\(event.id)".utf8).base64EncodedString()
    }

    public var json: JSONValue { json() }

    /// The page as `{events, nextCursor?}`. With a budget (MCP), string values in the changes are
    /// cut to `valueLimit` characters and the page ends once its JSON would pass the budget, the
    /// cursor then continuing after the last event shown, like every bounded result.
    public func json(budgetCharacters: Int? = nil, valueLimit: Int = 300) -> JSONValue {
        var items: [JSONValue] = []
        var used = 0
        var next = nextCursor
        for e in events {
            var j = e.json
            if budgetCharacters != nil, var o = j.objectValue, var changes = o["changes"]?.objectValue {
                for (field, change) in changes {
                    var sides = change.objectValue ?? [:]
                    for (side, v) in sides {
                        if case .string(let text) = v, text.count > valueLimit {
                            sides[side] = .string(text.prefix(valueLimit) + "…")
                        }
                    }
                    changes[field] = .object(sides)
                }
                o["changes"] = .object(changes)
                j = .object(o)
            }
            if let budget = budgetCharacters {
                used += j.canonicalJSON().utf8.count
                if used > budget, let last = items.last, let id = last["id"]?.stringValue,
                    let shown = events.first(where: { $0.id == id })
                {
                    next = Self.cursor(after: shown)
                    break
                }
            }
            items.append(j)
        }
        var o: [String: JSONValue] = ["events": .array(items)]
        if let next { o["nextCursor"] = .string(next) }
        return .object(o)
    }
}
