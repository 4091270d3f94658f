import MinskyCore

extension SQLTaskStore {
    var noteColumns: String { "id, task_id, author, body, \(d.read("created_at", as: .timestamp))" }

    static func decodeNote(_ r: [SQLValue]) throws -> TaskNote {
        TaskNote(
            id: try text(r, 0, "note"), taskId: TaskID(trusted: try text(r, 1, "note")), author: try text(r, 2, "note"),
            body: try text(r, 3, "note"), createdAt: try timestamp(r, 4, "note"))
    }

    /// Appends the note, records a `note_added` event (the change feed shows it) and tracks the
    /// note as its own sync row. The task's version does not change: a note is not an edit.
    public func addNote(_ taskId: TaskID, body: String) async throws -> TaskNote {
        try TaskRules.checkNote(body)
        let now = now()
        return try await write { [self] c in
            try requireExists(c, taskId, field: "id")
            let id = "nt-" + String(now.microseconds, radix: 36) + String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
            let who: SQL = d.databaseActor.map { SQL(raw: $0) } ?? "\(text: actor)"
            guard
                let row = try c.query(
                    d,
                    """
                    INSERT INTO task_notes (id, task_id, author, body, created_at) \
                    VALUES (\(text: id), \(taskId), \(who), \(text: body), \(now)) RETURNING \(raw: noteColumns)
                    """
                ).first
            else { throw MinskyError(.internal, "the note was not stored") }
            try recordEvent(c, taskId, "note_added", ["notes": ["after": .string(body)]], at: now, track: false)
            try track(c, .note, id, changed: [])
            return try Self.decodeNote(row)
        }
    }

    public func allNotes() async throws -> [TaskNote] {
        try await read { [self] c in
            try c.query(d, "SELECT \(raw: noteColumns) FROM task_notes ORDER BY task_id, created_at, id").map(
                Self.decodeNote)
        }
    }

    public func notes(of taskId: TaskID) async throws -> [TaskNote] {
        try await read { [self] c in
            let rows = try c.query(
                d, "SELECT \(raw: noteColumns) FROM task_notes WHERE task_id = \(taskId) ORDER BY created_at, id")
            if rows.isEmpty { try requireExists(c, taskId, field: "id") }
            return try rows.map(Self.decodeNote)
        }
    }
}
