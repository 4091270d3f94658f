import MinskyCore

extension SQLTaskStore {
    var noteColumns: String { "id, task_id, author, body, \(d.select("created_at", as: .timestamp))" }

    static func decodeNote(_ r: SQLRow) throws -> TaskNote {
        TaskNote(
            id: try r.text("id"), taskId: TaskID(trusted: try r.text("task_id")), author: try r.text("author"),
            body: try r.text("body"), createdAt: try r.timestamp("created_at"))
    }

    /// Appends the note, records a `note_added` event (the change feed shows it) and tracks the
    /// note as its own sync row. The task's version does not change: a note is not an edit.
    public func addNote(_ taskId: TaskID, body: String) async throws -> TaskNote {
        try TaskRules.checkNote(body)
        let now = now()
        return try await write(bounded: true) { [self] c in
            try requireExists(c, taskId, field: "id")
            let id = now.rowID("nt-")
            let who: SQL = d.databaseActor.map { SQL(raw: $0) } ?? "\(text: actor)"
            guard
                let row = try c.query(
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
            try c.query("SELECT \(raw: noteColumns) FROM task_notes ORDER BY task_id, created_at, id").map(
                Self.decodeNote)
        }
    }

    public func notes(of taskId: TaskID) async throws -> [TaskNote] {
        try await read { [self] c in
            let rows = try c.query(
                "SELECT \(raw: noteColumns) FROM task_notes WHERE task_id = \(taskId) ORDER BY created_at, id")
            if rows.isEmpty { try requireExists(c, taskId, field: "id") }
            return try rows.map(Self.decodeNote)
        }
    }
}
