import MinskyCore

/// A named schema change, recorded in the database once applied. Names are ordered and never
/// reused; a store holding a name this build does not know was written by a newer minsky.
public struct SQLMigration: Sendable {
    public let name: String
    public let statements: @Sendable (SQLDialect) -> [String]
}

/// The schema, designed once for both stores: JSON is JSONB/TEXT, timestamps TIMESTAMPTZ/ISO
/// text, integers BIGINT/INTEGER. Only the text index differs in kind, so it is its own migration.
///
/// `open_blockers` (unresolved tasks this one depends on) and `open_subtasks` (unresolved
/// children) are kept by `SQLTaskStore.refreshCounters` on every write that can change them, so
/// "next ready" is an index range scan instead of two anti-joins per candidate row.
public enum Schema {
    public static let statuses = TaskStatus.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")

    public static let migrations: [SQLMigration] = [
        SQLMigration(name: "001_tasks") { d in
            [
                """
                CREATE TABLE tasks (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    description TEXT NOT NULL DEFAULT '',
                    status TEXT NOT NULL CHECK (status IN (\(statuses))),
                    priority \(d.type(.integer)) NOT NULL CHECK (priority BETWEEN 0 AND 4),
                    tags \(d.type(.json)) NOT NULL,
                    metadata \(d.type(.json)) NOT NULL,
                    parent_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
                    assignee TEXT,
                    claim_expires_at \(d.type(.timestamp)),
                    created_at \(d.type(.timestamp)) NOT NULL,
                    updated_at \(d.type(.timestamp)) NOT NULL,
                    version \(d.type(.integer)) NOT NULL DEFAULT 1,
                    open_blockers \(d.type(.integer)) NOT NULL DEFAULT 0,
                    open_subtasks \(d.type(.integer)) NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX tasks_created ON tasks (created_at, id)",
                "CREATE INDEX tasks_status ON tasks (status, created_at, id)",
                "CREATE INDEX tasks_ready ON tasks (open_blockers, open_subtasks, priority, created_at, id)",
                "CREATE INDEX tasks_parent ON tasks (parent_id)",
                """
                CREATE TABLE task_dependencies (
                    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
                    depends_on_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
                    created_at \(d.type(.timestamp)) NOT NULL,
                    PRIMARY KEY (task_id, depends_on_id),
                    CHECK (task_id <> depends_on_id)
                )
                """,
                "CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on_id)",
            ]
        },
        SQLMigration(name: "002_text_search") { d in
            let n = SQLDialect.indexedDescriptionCharacters
            switch d {
            case .sqlite:
                let new = "new.rowid, new.title, substr(new.description, 1, \(n))"
                let old = "'delete', old.rowid, old.title, substr(old.description, 1, \(n))"
                return [
                    "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content='', tokenize='unicode61 remove_diacritics 0', detail=none)",
                    "CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN INSERT INTO tasks_fts (rowid, title, description) VALUES (\(new)); END",
                    "CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN INSERT INTO tasks_fts (tasks_fts, rowid, title, description) VALUES (\(old)); END",
                    """
                    CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks BEGIN
                        INSERT INTO tasks_fts (tasks_fts, rowid, title, description) VALUES (\(old));
                        INSERT INTO tasks_fts (rowid, title, description) VALUES (\(new));
                    END
                    """,
                ]
            case .postgres:
                return [
                    "ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || left(description, \(n)))) STORED",
                    "CREATE INDEX tasks_search ON tasks USING gin (search)",
                    "CREATE INDEX tasks_tags ON tasks USING gin (tags jsonb_path_ops)",
                ]
            }
        },
    ]

    public static var migrationNames: [String] { migrations.map(\.name) }

    /// The error for a store that records migrations this build does not know.
    public static func newerSchemaError(unknown: [String], location: String) -> MinskyError {
        MinskyError(.storeIncompatible,
                    "\(location) was written by a newer minsky (unknown schema migrations: \(unknown.sorted().joined(separator: ", "))); upgrade minsky to use it. The store was not modified.")
    }

    /// Tables a store holds, in an order that satisfies foreign keys (parents first).
    public static let tables = ["tasks", "task_dependencies"]
}
