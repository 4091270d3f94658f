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
                    parent_id TEXT REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
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
                    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
                    depends_on_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
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
        // Written by `upgrade to-postgres` into the old SQLite store when it switches: every later
        // operation on that store is redirected (see `MinskyError.Code.storeMoved`).
        SQLMigration(name: "003_store_moved") { d in
            ["CREATE TABLE store_moved (url TEXT NOT NULL, moved_at \(d.type(.timestamp)) NOT NULL)"]
        },
        SQLMigration(name: "004_proposals") { d in
            [
                """
                CREATE TABLE proposals (
                    id TEXT PRIMARY KEY,
                    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
                    kind TEXT NOT NULL,
                    model TEXT NOT NULL,
                    prompt_hash TEXT NOT NULL,
                    body \(d.type(.json)) NOT NULL,
                    created_at \(d.type(.timestamp)) NOT NULL,
                    applied_at \(d.type(.timestamp))
                )
                """,
                "CREATE INDEX proposals_task ON proposals (task_id, created_at)",
            ]
        },
        // Embeddings as float32 little-endian bytes (BLOB/BYTEA), searched exactly in process.
        SQLMigration(name: "005_embeddings") { d in
            [
                """
                CREATE TABLE task_embeddings (
                    task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
                    model TEXT NOT NULL,
                    dims \(d.type(.integer)) NOT NULL,
                    content_hash TEXT NOT NULL,
                    vector \(d.type(.blob)) NOT NULL,
                    updated_at \(d.type(.timestamp)) NOT NULL
                )
                """
            ]
        },
        // A counter every change to task_embeddings bumps (SQLite), so a process can keep the
        // embedding matrix in memory and know, with one tiny read, when it must read it again.
        // PostgreSQL searches with pgvector (see SQLTaskStore+Embeddings) and needs none.
        SQLMigration(name: "006_embedding_generation") { d in
            guard d.countsEmbeddingChanges else { return [] }
            let bump = "UPDATE embedding_generation SET generation = generation + 1; END"
            return [
                "CREATE TABLE embedding_generation (generation INTEGER NOT NULL)",
                "INSERT INTO embedding_generation (generation) VALUES (0)",
                "CREATE TRIGGER task_embeddings_gen_insert AFTER INSERT ON task_embeddings BEGIN \(bump)",
                "CREATE TRIGGER task_embeddings_gen_update AFTER UPDATE ON task_embeddings BEGIN \(bump)",
                "CREATE TRIGGER task_embeddings_gen_delete AFTER DELETE ON task_embeddings BEGIN \(bump)",
            ]
        },
        // One row per model call: tokens, time and outcome (`minsky usage`). No foreign key:
        // the record of what was spent outlives the task it was spent on.
        SQLMigration(name: "007_ai_calls") { d in
            [
                """
                CREATE TABLE ai_calls (
                    id TEXT PRIMARY KEY,
                    at \(d.type(.timestamp)) NOT NULL,
                    purpose TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    task_id TEXT,
                    input_tokens \(d.type(.integer)),
                    output_tokens \(d.type(.integer)),
                    duration_ms \(d.type(.integer)) NOT NULL,
                    outcome TEXT NOT NULL
                )
                """,
                "CREATE INDEX ai_calls_at ON ai_calls (at, id)",
            ]
        },
        // SQLite: a new task's text reaches the FTS index in batches. The insert trigger only
        // notes its rowid in tasks_fts_pending (one small B-tree row instead of a new FTS segment
        // per commit); `SQLTaskStore.flushTextIndex` moves pending rows into the index every
        // `textIndexBatch` creates and before any text search, so searches stay exact. Deletes and
        // edits of a still-pending task skip the index (it holds nothing for it yet).
        SQLMigration(name: "008_text_index_batches") { d in
            guard d.batchesTextIndex else { return [] }
            let n = SQLDialect.indexedDescriptionCharacters
            let pending = "EXISTS (SELECT 1 FROM tasks_fts_pending WHERE id = old.rowid)"
            return [
                "CREATE TABLE tasks_fts_pending (id INTEGER PRIMARY KEY)",
                "DROP TRIGGER tasks_fts_insert",
                "DROP TRIGGER tasks_fts_delete",
                "DROP TRIGGER tasks_fts_update",
                "CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN INSERT INTO tasks_fts_pending (id) VALUES (new.rowid); END",
                """
                CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN
                    INSERT INTO tasks_fts (tasks_fts, rowid, title, description)
                        SELECT 'delete', old.rowid, old.title, substr(old.description, 1, \(n)) WHERE NOT \(pending);
                    DELETE FROM tasks_fts_pending WHERE id = old.rowid;
                END
                """,
                """
                CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks WHEN NOT \(pending) BEGIN
                    INSERT INTO tasks_fts (tasks_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, substr(old.description, 1, \(n)));
                    INSERT INTO tasks_fts (rowid, title, description) VALUES (new.rowid, new.title, substr(new.description, 1, \(n)));
                END
                """,
            ]
        },
        // Every change to a task, appended in the transaction that makes it: who (the database
        // role on PostgreSQL, the configured user on SQLite), when, what, and the changed fields
        // before and after. Events outlive their task (no foreign key), so a deletion stays known.
        SQLMigration(name: "009_task_events") { d in
            [
                """
                CREATE TABLE task_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, at \(d.type(.timestamp)) NOT NULL, \
                actor TEXT NOT NULL, kind TEXT NOT NULL, changes \(d.type(.json)) NOT NULL)
                """,
                "CREATE INDEX task_events_task ON task_events (task_id, at, id)",
            ]
        },
        // The change feed: `at` orders every event for watchers; on PostgreSQL a NOTIFY on
        // `minsky_events` wakes them (an empty payload, so a transaction's events collapse into
        // one notification, sent at commit). SQLite watchers notice commits by `data_version`.
        SQLMigration(name: "010_change_feed") { d in
            var statements = ["CREATE INDEX task_events_at ON task_events (at, id)"]
            if d.notifiesChanges {
                statements += [
                    """
                    CREATE FUNCTION minsky_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$ \
                    BEGIN PERFORM pg_notify('\(SQLDialect.changeChannel)', ''); RETURN NULL; END $$
                    """,
                    """
                    CREATE TRIGGER task_events_notify AFTER INSERT ON task_events \
                    FOR EACH STATEMENT EXECUTE FUNCTION minsky_notify_events()
                    """,
                ]
            }
            return statements
        },
        // Sync (see SQLTaskStore+Sync): settings (`sync_state`), the stamps of every tracked row
        // (`sync_rows`), the change log with gap-free sequence numbers (`sync_log`), which pushed
        // changes a remote has applied and how (`sync_applied`), how far each replica has pulled
        // (`sync_replicas`) and a replica's open conflicts (`sync_conflicts`). Bodies are JSON
        // text on both stores, so what one store logs another reads back byte for byte.
        SQLMigration(name: "011_sync") { d in
            let int = d.type(.integer)
            let ts = d.type(.timestamp)
            return [
                "CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE sync_rows (entity TEXT NOT NULL, key TEXT NOT NULL, stamps TEXT NOT NULL, \
                deleted \(int) NOT NULL DEFAULT 0, PRIMARY KEY (entity, key))
                """,
                """
                CREATE TABLE sync_log (seq \(int) PRIMARY KEY, change_id TEXT NOT NULL, replica TEXT NOT NULL, \
                entity TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, at \(ts) NOT NULL)
                """,
                "CREATE INDEX sync_log_row ON sync_log (entity, key, seq)",
                "CREATE TABLE sync_applied (change_id TEXT PRIMARY KEY, replica TEXT NOT NULL, outcome TEXT NOT NULL, at \(ts) NOT NULL)",
                "CREATE TABLE sync_replicas (replica TEXT PRIMARY KEY, pulled_seq \(int) NOT NULL, seen_at \(ts) NOT NULL)",
                """
                CREATE TABLE sync_conflicts (entity TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, body TEXT NOT NULL, \
                PRIMARY KEY (entity, key, field))
                """,
            ]
        },
        // Acceptance criteria (a JSON array of {text, done} on the task: checking one is an edit
        // with a new version) and notes (their own append-only rows, so notes written on two
        // replicas at once both survive a sync).
        SQLMigration(name: "012_notes_acceptance") { d in
            [
                "ALTER TABLE tasks ADD COLUMN acceptance \(d.type(.json)) NOT NULL DEFAULT '[]'",
                """
                CREATE TABLE task_notes (
                    id TEXT PRIMARY KEY,
                    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
                    author TEXT NOT NULL,
                    body TEXT NOT NULL,
                    created_at \(d.type(.timestamp)) NOT NULL
                )
                """,
                "CREATE INDEX task_notes_task ON task_notes (task_id, created_at, id)",
            ]
        },
        // Who wrote each sync record: on PostgreSQL the database fills it in (`current_user`) and
        // a team's policies accept only one's own name, so a member cannot log a change, an
        // applied record or a replica position in another's name.
        SQLMigration(name: "013_sync_actor") { d in
            let who = d.databaseActor ?? "''"
            return ["sync_log", "sync_applied", "sync_replicas"].map {
                "ALTER TABLE \($0) ADD COLUMN actor TEXT NOT NULL DEFAULT \(who)"
            }
        },
        // A plan stored by a dry run before any task exists: its proposal has no task yet (the
        // root is made when it is applied), so task_id may be NULL.
        SQLMigration(name: "014_proposal_without_task") { d in
            if d.altersColumnsInPlace { return ["ALTER TABLE proposals ALTER COLUMN task_id DROP NOT NULL"] }
            return [
                """
                CREATE TABLE proposals_014 (
                    id TEXT PRIMARY KEY,
                    task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
                    kind TEXT NOT NULL,
                    model TEXT NOT NULL,
                    prompt_hash TEXT NOT NULL,
                    body \(d.type(.json)) NOT NULL,
                    created_at \(d.type(.timestamp)) NOT NULL,
                    applied_at \(d.type(.timestamp))
                )
                """,
                "INSERT INTO proposals_014 (id, task_id, kind, model, prompt_hash, body, created_at, applied_at) SELECT id, task_id, kind, model, prompt_hash, body, created_at, applied_at FROM proposals",
                "DROP TABLE proposals",
                "ALTER TABLE proposals_014 RENAME TO proposals",
                "CREATE INDEX proposals_task ON proposals (task_id, created_at)",
            ]
        },
        // Long operations started for MCP clients (the Tasks extension): their state in the store,
        // so any server on it answers for them, after a restart too.
        SQLMigration(name: "015_jobs") { d in
            let who = d.databaseActor ?? "''"
            return [
                """
                CREATE TABLE mcp_jobs (
                    id TEXT PRIMARY KEY,
                    tool TEXT NOT NULL,
                    arguments \(d.type(.json)) NOT NULL,
                    client \(d.type(.json)) NOT NULL,
                    status TEXT NOT NULL,
                    message TEXT,
                    result \(d.type(.json)),
                    error \(d.type(.json)),
                    input_requests \(d.type(.json)),
                    input_responses \(d.type(.json)),
                    runner TEXT,
                    heartbeat_at \(d.type(.timestamp)),
                    cancel_requested \(d.type(.integer)) NOT NULL DEFAULT 0,
                    actor TEXT NOT NULL DEFAULT \(who),
                    created_at \(d.type(.timestamp)) NOT NULL,
                    updated_at \(d.type(.timestamp)) NOT NULL,
                    ttl_ms \(d.type(.integer)) NOT NULL
                )
                """,
                "CREATE INDEX mcp_jobs_created ON mcp_jobs (created_at)",
            ]
        },
        // The board's columns in their own order, read a page at a time at any size: open work
        // by priority then age, DONE and CLOSED most recently changed first. The last two hold
        // only resolved tasks, so creating or editing open work (every edit changes updated_at)
        // never touches them; a query names its status as a literal to use them.
        SQLMigration(name: "016_board_columns") { _ in
            [
                "CREATE INDEX tasks_board_open ON tasks (status, priority, created_at, id)",
                "CREATE INDEX tasks_board_done ON tasks (updated_at, id) WHERE status = 'DONE'",
                "CREATE INDEX tasks_board_closed ON tasks (updated_at, id) WHERE status = 'CLOSED'",
            ]
        },
        // SQLite: every word the text index has seen, so a prefix becomes the words it stands
        // for. FTS5 gathers a prefix's whole match list before it answers (25 ms for a word in
        // 17% of 1,000,000 tasks) but streams an OR of words, which a page of a search can stop
        // early. Words come from FTS5's own tokenizer: each flush indexes its batch in a small
        // scratch index and keeps that index's vocabulary (a bulk flush reads the main index's).
        // An edited task's old text leaves the index at once and its new text goes through the
        // pending queue like a new task's, so no word bypasses the list. Words are never removed:
        // a word no task has any more matches nothing.
        SQLMigration(name: "017_search_words") { d in
            guard d.batchesTextIndex else { return [] }
            let n = SQLDialect.indexedDescriptionCharacters
            let pending = "EXISTS (SELECT 1 FROM tasks_fts_pending WHERE id = old.rowid)"
            return [
                "CREATE TABLE tasks_fts_words (word TEXT PRIMARY KEY) WITHOUT ROWID",
                "CREATE VIRTUAL TABLE tasks_fts_vocab USING fts5vocab(tasks_fts, 'row')",
                "CREATE VIRTUAL TABLE tasks_fts_batch USING fts5(title, description, content='', tokenize='unicode61 remove_diacritics 0', detail=none)",
                "CREATE VIRTUAL TABLE tasks_fts_batch_vocab USING fts5vocab(tasks_fts_batch, 'row')",
                "INSERT INTO tasks_fts_words (word) SELECT term FROM tasks_fts_vocab",
                "DROP TRIGGER tasks_fts_update",
                """
                CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks WHEN NOT \(pending) BEGIN
                    INSERT INTO tasks_fts (tasks_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, substr(old.description, 1, \(n)));
                    INSERT INTO tasks_fts_pending (id) VALUES (new.rowid);
                END
                """,
            ]
        },
        // SQLite: the embedding generation becomes a random value at each change instead of a
        // count, so a value names one state of the embeddings for good: a store restored from a
        // backup and changed again cannot come back to a number a process or a vector file
        // beside the store (`VectorFile`) remembers for other vectors.
        SQLMigration(name: "018_embedding_generation_random") { d in
            guard d.countsEmbeddingChanges else { return [] }
            let bump = "UPDATE embedding_generation SET generation = random(); END"
            return [
                "DROP TRIGGER task_embeddings_gen_insert",
                "DROP TRIGGER task_embeddings_gen_update",
                "DROP TRIGGER task_embeddings_gen_delete",
                "CREATE TRIGGER task_embeddings_gen_insert AFTER INSERT ON task_embeddings BEGIN \(bump)",
                "CREATE TRIGGER task_embeddings_gen_update AFTER UPDATE ON task_embeddings BEGIN \(bump)",
                "CREATE TRIGGER task_embeddings_gen_delete AFTER DELETE ON task_embeddings BEGIN \(bump)",
                "UPDATE embedding_generation SET generation = random()",
            ]
        },
        // `minsky serve`'s bearer tokens: who holds each (a name), the database role its requests
        // run as (none on SQLite), its lifetime, and only the SHA-256 of its secret. A team's
        // members get no grant on it: the store's owner makes, lists and revokes tokens.
        SQLMigration(name: "019_server_tokens") { d in
            [
                """
                CREATE TABLE server_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT, secret_hash TEXT NOT NULL, \
                created_at \(d.type(.timestamp)) NOT NULL, expires_at \(d.type(.timestamp)), revoked_at \(d.type(.timestamp)))
                """,
                // The key every server on the store seals sessions and request states with.
                "CREATE TABLE server_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            ]
        },
        // The paths a task touches (a JSON array of patterns; a live claim leases them) and the
        // evidence it was done with (a JSON object, `{}` when none).
        SQLMigration(name: "020_paths_evidence") { d in
            [
                "ALTER TABLE tasks ADD COLUMN paths \(d.type(.json)) NOT NULL DEFAULT '[]'",
                "ALTER TABLE tasks ADD COLUMN evidence \(d.type(.json)) NOT NULL DEFAULT '{}'",
                // The live claims with paths, read by every next and claim: only those rows.
                "CREATE INDEX tasks_leases ON tasks (claim_expires_at) WHERE status = 'IN-PROGRESS' AND paths <> '[]'",
            ]
        },
    ]

    /// The ways data leaves a store for another: each either carries a table or says why not.
    public enum DataPath: String, CaseIterable, Sendable {
        case exportImport = "export/import"
        case backup
        case upgrade = "upgrade to-postgres"
        case rollback = "migrate rollback"
        case sync
    }

    /// Every table either store may hold, with the paths that do not carry it and why (a path
    /// not named carries the table). A test enumerates both stores' tables from their own
    /// catalogs and fails on a table this list does not name, and proves the carried ones are.
    public static let coverage: [String: [DataPath: String]] = {
        let history =
            "the history of this store: each store records its own (import and sync record events where they land)"
        let ai = "usage records of this store's AI calls, not a task's content"
        let own: (String) -> [DataPath: String] = { why in
            Dictionary(uniqueKeysWithValues: DataPath.allCases.map { ($0, why) })
        }
        var out: [String: [DataPath: String]] = [
            "tasks": [:], "task_dependencies": [:], "task_notes": [:],
            "proposals": [
                .exportImport: "an AI proposal is a draft under review, not part of the task; backups and sync carry it"
            ],
            "task_embeddings": [
                .exportImport:
                    "derived from the task's text and recomputed by `minsky embed`; backups, upgrades and sync carry it"
            ],
            "task_events": [.exportImport: history, .sync: history],
            "ai_calls": [.exportImport: ai, .sync: ai],
            "store_moved": own("where this store moved to: a marker for this store only"),
            "minsky_migrations": own("schema bookkeeping: every store records its own migrations"),
            "grdb_migrations": own("schema bookkeeping: every store records its own migrations"),
            "embedding_generation": own("a counter that invalidates this process's vector index cache"),
            "tasks_fts_pending": own("the text index's own work queue, rebuilt from tasks"),
            "mcp_jobs": own("the running work of this store's MCP servers (Tasks extension), not task content"),
            "server_tokens": own("this store's server's bearer tokens: who may reach it over HTTP, not task content"),
            "server_secrets": own("the key this store's servers seal sessions with: made anew for each store"),
        ]
        for t in syncTables { out[t] = own("sync bookkeeping: a store's sync state is its own") }
        for t in [
            "tasks_fts", "tasks_fts_config", "tasks_fts_data", "tasks_fts_docsize", "tasks_fts_idx", "tasks_fts_words",
            "tasks_fts_vocab", "tasks_fts_batch", "tasks_fts_batch_config", "tasks_fts_batch_data",
            "tasks_fts_batch_idx", "tasks_fts_batch_docsize", "tasks_fts_batch_vocab",
        ] {
            out[t] = own("SQLite's full-text index of tasks, rebuilt from tasks (PostgreSQL indexes the columns)")
        }
        return out
    }()

    /// Sync's bookkeeping tables (never copied by upgrades or backups: a store's sync state is its own).
    public static let syncTables = [
        "sync_state", "sync_rows", "sync_log", "sync_applied", "sync_replicas", "sync_conflicts",
    ]

    /// PostgreSQL with pgvector (installed in `schema`): the vector column beside the stored
    /// bytes, rows kept inline up to a page (bytes and vector together outgrow the default 2 kB
    /// before values move out of line), and a partial index that finds rows still without a
    /// vector at once. Idempotent.
    public static func pgvectorColumn(schema: String) -> [String] {
        [
            "ALTER TABLE task_embeddings ADD COLUMN IF NOT EXISTS embedding \(schema).vector",
            "ALTER TABLE task_embeddings SET (toast_tuple_target = 8160)",
            "CREATE INDEX IF NOT EXISTS task_embeddings_unvectored ON task_embeddings (model) WHERE embedding IS NULL",
        ]
    }

    /// Columns PostgreSQL stores keep besides the catalog's, derived from catalog columns and
    /// rebuilt by the store itself (never copied): the text-search vector and pgvector's copy
    /// of each embedding.
    public static let postgresDerivedColumns: Set<String> = ["search", pgvectorSource.column]

    /// pgvector's column and the stored bytes it is derived from.
    public static let pgvectorSource = (table: "task_embeddings", bytes: "vector", column: "embedding")

    public static var migrationNames: [String] { migrations.map(\.name) }

    /// The error for a store that records migrations this build does not know.
    /// Recorded among the migrations while `upgrade to-postgres` loads a database on several
    /// connections (their rows commit one by one; this mark goes in the last commit): every
    /// opener refuses the store until then, and the next upgrade into it starts over.
    public static let unfinishedUpgrade = "~upgrade-unfinished"

    public static func unfinishedUpgradeError(location: String) -> MinskyError {
        MinskyError(
            .storeIncompatible,
            "\(location) holds a copy that `minsky upgrade to-postgres` has not finished (it is running, or it was interrupted); rerun the upgrade from the project it moves (it starts the copy over), or use another database. The store was not modified."
        )
    }

    public static func newerSchemaError(unknown: [String], location: String) -> MinskyError {
        MinskyError(
            .storeIncompatible,
            "\(location) was written by a newer minsky (unknown schema migrations: \(unknown.sorted().joined(separator: ", "))); upgrade minsky to use it. The store was not modified."
        )
    }

    /// Every table that holds user data, with its columns in storage order: what upgrade, backup,
    /// restore and rollback carry. Indexes, the text index and the migrations table are rebuilt,
    /// not copied. A test compares this list with the tables a migrated store really has, so a
    /// table added without being listed here fails the build.
    public static let catalog: [TableSpec] = [
        TableSpec(
            name: "tasks", key: ["id"],
            columns: [
                ("id", .text), ("title", .text), ("description", .text), ("status", .text), ("priority", .integer),
                ("tags", .json), ("metadata", .json), ("parent_id", .text), ("assignee", .text),
                ("claim_expires_at", .timestamp),
                ("created_at", .timestamp), ("updated_at", .timestamp), ("version", .integer),
                ("open_blockers", .integer),
                ("open_subtasks", .integer), ("acceptance", .json), ("paths", .json), ("evidence", .json),
            ]),
        TableSpec(
            name: "task_dependencies", key: ["task_id", "depends_on_id"],
            columns: [
                ("task_id", .text), ("depends_on_id", .text), ("created_at", .timestamp),
            ]),
        TableSpec(
            name: "proposals", key: ["id"],
            columns: [
                ("id", .text), ("task_id", .text), ("kind", .text), ("model", .text), ("prompt_hash", .text),
                ("body", .json),
                ("created_at", .timestamp), ("applied_at", .timestamp),
            ]),
        TableSpec(
            name: "task_notes", key: ["id"],
            columns: [
                ("id", .text), ("task_id", .text), ("author", .text), ("body", .text), ("created_at", .timestamp),
            ]),
        TableSpec(
            name: "task_embeddings", key: ["task_id"],
            columns: [
                ("task_id", .text), ("model", .text), ("dims", .integer), ("content_hash", .text), ("vector", .blob),
                ("updated_at", .timestamp),
            ]),
        TableSpec(
            name: "task_events", key: ["id"],
            columns: [
                ("id", .text), ("task_id", .text), ("at", .timestamp), ("actor", .text), ("kind", .text),
                ("changes", .json),
            ]),
        TableSpec(
            name: "ai_calls", key: ["id"],
            columns: [
                ("id", .text), ("at", .timestamp), ("purpose", .text), ("provider", .text), ("model", .text),
                ("task_id", .text),
                ("input_tokens", .integer), ("output_tokens", .integer), ("duration_ms", .integer), ("outcome", .text),
            ]),
    ]

    /// PostgreSQL foreign keys by the names PostgreSQL gives the migrations' REFERENCES clauses.
    /// Bulk loads drop them and the secondary indexes, copy, then re-create both: one set-based
    /// check and one index build instead of a trigger and an index insert per row. A test checks
    /// the result is the same schema as a fresh migration.
    public static let postgresForeignKeys: [(table: String, name: String, definition: String)] = [
        (
            "tasks", "tasks_parent_id_fkey",
            "FOREIGN KEY (parent_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
        (
            "task_dependencies", "task_dependencies_task_id_fkey",
            "FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
        (
            "task_dependencies", "task_dependencies_depends_on_id_fkey",
            "FOREIGN KEY (depends_on_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
        (
            "proposals", "proposals_task_id_fkey",
            "FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
        (
            "task_notes", "task_notes_task_id_fkey",
            "FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
        (
            "task_embeddings", "task_embeddings_task_id_fkey",
            "FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE"
        ),
    ]

    /// The migrations' secondary indexes for PostgreSQL, as (name, CREATE statement).
    public static var postgresIndexes: [(name: String, create: String)] {
        migrations.flatMap { $0.statements(.postgres) }.compactMap { sql in
            guard sql.hasPrefix("CREATE INDEX ") else { return nil }
            let name = sql.dropFirst("CREATE INDEX ".count).prefix { $0 != " " }
            return (String(name), sql)
        }
    }

    /// Objects a migrated store has besides the catalog's tables (bookkeeping and derived indexes).
    public static func isBookkeeping(_ table: String) -> Bool {
        table == "grdb_migrations" || table == "minsky_migrations" || table == "store_moved" || table == "change_log"
            || table == "mcp_jobs" || table == "server_tokens" || table == "server_secrets"
            || table == "embedding_generation" || syncTables.contains(table) || table.hasPrefix("sqlite_")
            || table.hasPrefix("tasks_fts")
    }
}

/// A table as the copy tools see it.
public struct TableSpec: Sendable {
    public struct Column: Sendable {
        public var name: String
        public var type: SQLDialect.ColumnType
    }

    public var name: String
    /// Primary key columns: copies and checksums go in this order.
    public var key: [String]
    public var columns: [Column]

    public init(name: String, key: [String], columns: [(String, SQLDialect.ColumnType)]) {
        self.name = name
        self.key = key
        self.columns = columns.map { Column(name: $0.0, type: $0.1) }
    }

    public var columnList: String { columns.map(\.name).joined(separator: ", ") }

    /// The column pgvector's column derives from, when this table has one.
    public var pgvectorBytesIndex: Int? {
        name == Schema.pgvectorSource.table ? columns.firstIndex { $0.name == Schema.pgvectorSource.bytes } : nil
    }

    /// The COPY column list, with pgvector's column after the catalog's when `vectors`.
    public func copyColumns(vectors: Bool) -> String {
        columnList + (vectors && pgvectorBytesIndex != nil ? ", \(Schema.pgvectorSource.column)" : "")
    }
}
