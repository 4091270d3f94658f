import Foundation
import MinskyCore

extension SQLTaskStore {
    /// Appends one event to the history, in the caller's transaction (so a change and its record
    /// commit or roll back together). The actor is the database role where the database knows it.
    /// With `track`, the change is also recorded for sync when the store tracks changes.
    func recordEvent(
        _ c: any SQLConnection, _ taskId: TaskID, _ kind: String, _ changes: JSONValue, at: Timestamp,
        track: Bool = true
    ) throws {
        try insertEvents(c, [(taskId, kind, changes)], at: at)
        if track { try trackEvent(c, taskId, kind, changes) }
    }

    /// Appends history events in multi-row statements.
    func insertEvents(_ c: any SQLConnection, _ events: [(TaskID, String, JSONValue)], at: Timestamp) throws {
        if let who = try bulkActor(c, count: events.count) {
            try c.insert(eventRows(events, at: at, actor: who))
            return
        }
        let expression = d.databaseActor!  // bulkActor answers nil only where the database names the actor
        var s: SQL = "INSERT INTO task_events (id, task_id, at, actor, kind, changes) VALUES "
        for (n, (task, kind, changes)) in events.enumerated() {
            s += """
                \(raw: n == 0 ? "" : ", ")(\(text: at.rowID("ev-")), \(task), \(at), \(raw: expression), \
                \(text: kind), \(json: changes))
                """
        }
        if !events.isEmpty { try c.executeLater(s) }
    }

    /// Who a bulk load of `count` history rows names — the database's connected role where it
    /// knows one, else the store's actor — or nil when they go by one statement instead: a few
    /// rows where the database knows who is connected name it with an expression in the statement
    /// (one write's history costs no extra round trip).
    func bulkActor(_ c: any SQLConnection, count: Int) throws -> String? {
        guard let expression = d.databaseActor else { return actor }
        if count < 64 { return nil }
        return try c.query(SQL(raw: "SELECT " + expression)).first?[0].text ?? actor
    }

    func eventRows(_ events: [(TaskID, String, JSONValue)], at: Timestamp, actor who: String) -> SQLRows {
        var rows = SQLRows.events
        for (task, kind, changes) in events { rows.appendEvent(task, kind, changes, at: at, actor: who) }
        return rows
    }

    public func history(of id: TaskID, limit: Int, cursor: String?) async throws -> TaskEventPage {
        guard (1...TaskQuery.maxLimit).contains(limit) else {
            throw MinskyError.invalid("limit", "limit \(limit) is out of range; use 1 to \(TaskQuery.maxLimit)")
        }
        let after = try cursor.map(Self.eventCursor)
        return try await read { [self] c in
            let from: SQL = after.map { " AND (at, id) > (\($0.at), \(text: $0.id))" } ?? ""
            let rows = try c.query(
                """
                SELECT id, task_id, \(raw: d.select("at", as: .timestamp)), actor, kind, \(raw: d.select("changes", as: .json)) \
                FROM task_events WHERE task_id = \(id)\(from) ORDER BY at, id LIMIT \(raw: String(limit + 1))
                """)
            var events = try rows.map(Self.decodeEvent)
            var next: String?
            if events.count > limit {
                events.removeLast()
                if let last = events.last { next = TaskEventPage.cursor(after: last) }
            }
            return TaskEventPage(events: events, nextCursor: next)
        }
    }

    public func latestHistory(of id: TaskID, limit: Int) async throws -> [TaskEvent] {
        guard (1...TaskQuery.maxLimit).contains(limit) else {
            throw MinskyError.invalid("limit", "limit \(limit) is out of range; use 1 to \(TaskQuery.maxLimit)")
        }
        return try await read { [self] c in
            try c.query(
                """
                SELECT id, task_id, \(raw: d.select("at", as: .timestamp)), actor, kind, \(raw: d.select("changes", as: .json)) \
                FROM task_events WHERE task_id = \(id) ORDER BY at DESC, id DESC LIMIT \(raw: String(limit))
                """
            ).map(Self.decodeEvent).reversed()
        }
    }

    public func events(since: Timestamp, limit: Int) async throws -> [TaskEvent] {
        try await read { [self] c in
            try c.query(
                """
                SELECT id, task_id, \(raw: d.select("at", as: .timestamp)), actor, kind, \(raw: d.select("changes", as: .json)) \
                FROM task_events WHERE at >= \(since) ORDER BY at, id LIMIT \(raw: String(max(1, limit)))
                """
            ).map(Self.decodeEvent)
        }
    }

    public func events(after position: EventPosition, limit: Int) async throws -> [TaskEvent] {
        try await read { [self] c in
            try c.query(
                """
                SELECT id, task_id, \(raw: d.select("at", as: .timestamp)), actor, kind, \(raw: d.select("changes", as: .json)) \
                FROM task_events WHERE (at, id) > (\(position.at), \(text: position.id)) ORDER BY at, id \
                LIMIT \(raw: String(max(1, limit)))
                """
            ).map(Self.decodeEvent)
        }
    }

    static func decodeEvent(_ r: SQLRow) throws -> TaskEvent {
        TaskEvent(
            id: try r.text("id"), taskId: TaskID(trusted: try r.text("task_id")), at: try r.timestamp("at"),
            actor: try r.text("actor"), kind: try r.text("kind"), changes: try r.json("changes"))
    }

    static func eventCursor(_ token: String) throws -> (at: Timestamp, id: String) {
        guard let data = Data(base64Encoded: token), let s = String(data: data, encoding: .utf8),
            let colon = s.firstIndex(of: ":"), let micros = Int64(s[..<colon])
        else {
            throw MinskyError.invalid(
                "cursor", "cursor is not one this history issued; pass the nextCursor of the previous page")
        }
        return (Timestamp(microseconds: micros), String(s[s.index(after: colon)...]))
    }
}

extension SQLTaskStore {
    /// SQLite: one user, every right. PostgreSQL: what the database grants the connected role on
    /// `tasks` (deleting is the admin's right, inserting and updating the member's).
    public func access() async throws -> StoreAccess {
        guard d.enforcesRoles else { return StoreAccess(identity: actor, right: .admin, enforced: false) }
        let row = try await read { c in
            try c.query(
                """
                SELECT current_user AS identity, has_table_privilege('tasks', 'DELETE') AS admin, \
                has_table_privilege('tasks', 'INSERT') AND has_table_privilege('tasks', 'UPDATE') \
                AND has_table_privilege('task_events', 'INSERT') AS write, \
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
                """
            ).first
        }
        guard let row else { throw MinskyError(.internal, "the database did not say what the role may do") }
        let flag = { (name: String) in try row.value(name).text == "t" }
        let right: AccessRight = try flag("admin") ? .admin : try flag("write") ? .write : .read
        return StoreAccess(identity: try row.text("identity"), right: right, enforced: !(try flag("superuser")))
    }
}

extension SQLRows {
    /// History rows, for `SQLConnection.insert`.
    static var events: SQLRows {
        SQLRows(
            "task_events",
            [
                ("id", .text), ("task_id", .text), ("at", .timestamp), ("actor", .text), ("kind", .text),
                ("changes", .json),
            ])
    }

    mutating func appendEvent(_ task: TaskID, _ kind: String, _ changes: JSONValue, at: Timestamp, actor: String) {
        append(
            .text(at.rowID("ev-")), .text(task.rawValue), .text(at.iso8601), .text(actor), .text(kind),
            .text(changes.canonicalJSON()))
    }
}
