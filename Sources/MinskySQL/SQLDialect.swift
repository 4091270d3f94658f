import MinskyCore

/// Everything that differs between SQLite and PostgreSQL SQL lives here, and only here.
/// Queries and migrations elsewhere are written once and ask the dialect for the differing parts.
public enum SQLDialect: String, Sendable, CaseIterable {
    case sqlite
    case postgres

    /// Logical column types of the shared schema.
    public enum ColumnType: Sendable {
        case text, integer, json, timestamp, blob
    }

    public func type(_ t: ColumnType) -> String {
        switch (self, t) {
        case (.sqlite, .text): "TEXT"
        case (.sqlite, .integer): "INTEGER"
        case (.sqlite, .json): "TEXT"
        case (.sqlite, .timestamp): "TEXT"
        case (.sqlite, .blob): "BLOB"
        case (.postgres, .text): "TEXT"
        case (.postgres, .integer): "BIGINT"
        case (.postgres, .json): "JSONB"
        case (.postgres, .timestamp): "TIMESTAMPTZ"
        case (.postgres, .blob): "BYTEA"
        }
    }

    /// The placeholder for the `n`-th (1-based) bound value, cast to the column type.
    public func placeholder(_ n: Int, as t: ColumnType) -> String {
        switch self {
        case .sqlite: return "?"
        case .postgres:
            switch t {
            case .json: return "$\(n)::jsonb"
            case .timestamp: return "$\(n)::timestamptz"
            case .integer: return "$\(n)::bigint"
            case .blob: return "$\(n)::bytea"
            case .text: return "$\(n)::text"
            }
        }
    }

    /// An expression reading a column back in the portable form the decoder expects:
    /// timestamps as fixed-width ISO-8601 UTC text, JSON as text.
    public func read(_ column: String, as t: ColumnType) -> String {
        switch (self, t) {
        case (.postgres, .timestamp):
            return "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        case (.postgres, .json): return "\(column)::text"
        default: return column
        }
    }

    /// `select(_:as:)` of each column, comma-separated: a SELECT list read back by name.
    public func selectList(_ columns: [TableSpec.Column]) -> String {
        columns.map { select($0.name, as: $0.type) }.joined(separator: ", ")
    }

    /// `read(_:as:)` named after the column (`… AS created_at`), so rows are read by name.
    public func select(_ column: String, as t: ColumnType) -> String {
        let name = column.split(separator: ".").last.map(String.init) ?? column
        return "\(read(column, as: t)) AS \(name)"
    }

    /// Bytes of a blob column as read back (`read(_:as: .blob)`): raw on SQLite, hex on PostgreSQL.
    public func blobBytes(_ v: SQLValue) -> [UInt8] {
        switch v {
        case .blob(let b): return b
        case .text(var s):
            return s.withUTF8 { hex -> [UInt8] in
                let skip = hex.count >= 2 && hex[0] == 0x5C && hex[1] == 0x78 ? 2 : 0  // \x
                let n = (hex.count - skip) / 2
                @inline(__always) func nib(_ c: UInt8) -> UInt8 { c <= 57 ? c &- 48 : (c | 0x20) &- 87 }
                return [UInt8](unsafeUninitializedCapacity: n) { out, count in
                    for i in 0..<n { out[i] = nib(hex[skip + 2 * i]) << 4 | nib(hex[skip + 2 * i + 1]) }
                    count = n
                }
            }
        default: return []
        }
    }

    /// New tasks reach the text index in batches (SQLite's FTS through `tasks_fts_pending`,
    /// flushed by the 64th create or before a text search); elsewhere the index is kept by the
    /// database as rows change.
    public var batchesTextIndex: Bool { self == .sqlite }

    /// A trigger-kept counter (`embedding_generation`) says when embeddings changed, so a
    /// process may keep its in-memory matrix between searches.
    public var countsEmbeddingChanges: Bool { self == .sqlite }

    /// Committed events are announced by NOTIFY on `changeChannel` (PostgreSQL).
    public var notifiesChanges: Bool { self == .postgres }
    public static let changeChannel = "minsky_events"

    /// Who makes a change, as the history records it: the database role where the database
    /// knows it (PostgreSQL), else the store's configured actor (bound).
    public var databaseActor: String? { self == .postgres ? "current_user" : nil }

    /// The database knows which role is connected and grants rights per role (PostgreSQL: a
    /// team's members and admins); elsewhere the one local user may do everything.
    public var enforcesRoles: Bool { self == .postgres }

    /// The database decides a note's author and time (a team's trigger) and keeps notes
    /// append-only, so a copied note is inserted once and read back as stored.
    public var stampsNotes: Bool { self == .postgres }

    /// Embeddings may have a vector column of the database's own beside the stored bytes
    /// (pgvector), to be cleared when the bytes change.
    public var mayHaveVectorColumn: Bool { self == .postgres }

    /// A page cache for a bulk load and the usual one to return to. SQLite's default (2 MB)
    /// makes a large transaction spill its index pages to the log again and again.
    public var bulkLoadCache: (large: [String], usual: [String])? {
        self == .sqlite ? (["PRAGMA cache_size = -131072"], ["PRAGMA cache_size = -2000"]) : nil
    }

    /// Defers foreign-key checks to commit, for a batch that may insert a child before its parent.
    public var deferForeignKeys: String {
        self == .postgres ? "SET CONSTRAINTS ALL DEFERRED" : "PRAGMA defer_foreign_keys = ON"
    }

    /// Serializes appends to the sync log until commit, so sequence order is commit order. Nil
    /// where writers are already serialized.
    public var lockSyncLog: String? { self == .postgres ? AdvisoryLock.syncLog.transactionLock : nil }

    /// Refreshes the planner's statistics after a bulk load (PostgreSQL; SQLite plans from its
    /// indexes without them).
    public var analyzeAfterBulkLoad: String? {
        self == .postgres ? "ANALYZE tasks, task_dependencies, task_events" : nil
    }

    /// A column's NOT NULL can be dropped in place (SQLite rebuilds the table instead).
    public var altersColumnsInPlace: Bool { self == .postgres }

    /// Whether statements whose results are not needed travel with the next one (a round trip
    /// saved each): a new task's row is then written without first learning whether its id was
    /// free, and a taken id fails the transaction, which is run again with a longer id.
    public var pipelinesWrites: Bool { self == .postgres }

    /// Only SQLite stores are ever upgraded away (and marked in `store_moved`); a PostgreSQL store
    /// need not pay a query per transaction to check for a mark it can never carry.
    public var canBeUpgradedAway: Bool { self == .sqlite }

    /// Suffix that locks selected rows until the transaction ends. SQLite serializes writers
    /// (BEGIN IMMEDIATE), so it needs none.
    public var forUpdate: String { self == .postgres ? " FOR UPDATE" : "" }

    /// A statement that serializes changes to the dependency graph, so two concurrent edges
    /// cannot together close a cycle. Nil where writers are already serialized.
    public var lockDependencyGraph: String? {
        self == .postgres ? AdvisoryLock.dependencyGraph.transactionLock : nil
    }

    /// Names the index a query must read (SQLite's planner, without statistics, cannot tell a
    /// small partial index from a whole one); PostgreSQL's planner chooses by itself.
    public func indexedBy(_ index: String) -> String { self == .sqlite ? " INDEXED BY \(index)" : "" }

    /// A statement that serializes claims of tasks with paths, so two overlapping claims cannot
    /// both see the other absent. Nil where writers are already serialized.
    public var lockPathLeases: String? {
        self == .postgres ? AdvisoryLock.pathLeases.transactionLock : nil
    }

    /// Matches rows of `tasks t` whose title or description contain every term as a word prefix.
    /// Returns the SQL condition and the value to bind (for placeholder `n`). On SQLite a term
    /// with its `words` named matches any of them (the same rows as the prefix, which FTS5
    /// streams instead of gathering).
    public func textMatch(terms: [String], words: [[String]?] = [], placeholder n: Int) -> (
        sql: String, value: SQLValue
    ) {
        switch self {
        case .sqlite:
            let q = Self.ftsQuery(terms: terms, words: words, prefix: true)
            return ("t.rowid IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH ?)", .text(q))
        case .postgres:
            let q = terms.map { "'\($0)':*" }.joined(separator: " & ")
            return ("t.search @@ to_tsquery('simple', $\(n)::text)", .text(q))
        }
    }

    /// An FTS5 query: every term, as its named words (an OR) where given, else as a prefix (or
    /// the word alone without `prefix`).
    static func ftsQuery(terms: [String], words: [[String]?], prefix: Bool) -> String {
        func quoted(_ w: String) -> String { "\"" + w.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        return terms.enumerated().map { i, term in
            if i < words.count, let named = words[i] {
                return named.count == 1 ? quoted(named[0]) : "(" + named.map(quoted).joined(separator: " OR ") + ")"
            }
            return quoted(term) + (prefix ? "*" : "")
        }.joined(separator: " AND ")
    }

    /// How many words a prefix may stand for in a query; more, and FTS5 gathers the prefix.
    public static let maxPrefixWords = 64

    /// SQLite: how a text search reads `tasks` when its words match many tasks. Reading the
    /// matches and sorting them all costs 14 ms when a word matches 10% of 100,000 tasks; walking
    /// the creation-order index and keeping the matching rows stops after a page (2 ms). Only
    /// for common words: a rare one would walk the whole index for nothing.
    public func commonWordsScan(matches: Int) -> String? {
        self == .sqlite && matches >= Self.commonMatches ? " INDEXED BY tasks_created" : nil
    }

    /// SQLite: the index a board column is read through (SQLite has no statistics to choose it by
    /// and would sort a whole column for a page). Nil elsewhere, and for columns of chosen tasks
    /// (a search's few hundred ids are read by key and sorted).
    public func boardColumnScan(_ status: TaskStatus, chosen: Bool) -> String? {
        guard self == .sqlite, !chosen else { return nil }
        switch status {
        case .done: return " INDEXED BY tasks_board_done"
        case .closed: return " INDEXED BY tasks_board_closed"
        default: return " INDEXED BY tasks_board_open"
        }
    }

    /// How many matches make a search's words common (see `commonWordsScan`).
    public static let commonMatches = 1000

    /// SQLite: counts a search's matches up to `commonMatches` (a cheap bounded read of the text
    /// index), with the rowids they span, so the plan can be chosen (and a walk sized). Nil elsewhere. It counts the words themselves, not as
    /// prefixes: FTS5 streams a word's matches but gathers a prefix's whole list first (23 ms
    /// for a word in 17% of 1,000,000 tasks, against 0.3 ms). A prefix matches at least what
    /// its word does, so a common word is a common prefix; the count only chooses the plan.
    public func matchCount(terms: [String], words: [[String]?] = []) -> (sql: String, value: SQLValue)? {
        guard self == .sqlite else { return nil }
        let q = Self.ftsQuery(terms: terms, words: words, prefix: false)
        return (
            "SELECT count(*), min(rowid), max(rowid) FROM (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH ? LIMIT \(Self.commonMatches))",
            .text(q)
        )
    }

    /// Matches rows of `tasks t` carrying `tag` (placeholder `n`).
    public func tagMatch(placeholder n: Int, tag: String) -> String {
        switch self {
        case .sqlite:
            // A tag of plain ASCII (no quote, backslash or control character) appears verbatim in
            // every JSON encoding of the array: looking for the text first spares most rows the
            // JSON walk (a tag's board at a million tasks: 0.66 → 0.32 s). The same value binds
            // both placeholders (numbered).
            let plain = tag.unicodeScalars.allSatisfy {
                $0.value >= 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "\\"
            }
            let exact = "EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?\(n))"
            return plain ? "(instr(t.tags, ?\(n)) > 0 AND \(exact))" : exact
        case .postgres: return "t.tags @> jsonb_build_array($\(n)::text)"
        }
    }

    /// How much of a description the text index covers (PostgreSQL caps a tsvector at 1 MB).
    public static let indexedDescriptionCharacters = 100_000
}

/// A value bound to, or read from, a statement.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public var text: String? {
        switch self {
        case .text(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        default: nil
        }
    }

    public var int: Int64? {
        switch self {
        case .int(let i): i
        case .text(let s): Int64(s)
        case .double(let d): Int64(exactly: d)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .double(let d): d
        case .int(let i): Double(i)
        case .text(let s): Double(s)
        default: nil
        }
    }

    public var isNull: Bool { self == .null }
}

/// SQL text plus its bound values with the dialect's placeholders, rendered from an `SQL` literal.
public struct SQLStatement: Sendable {
    public let dialect: SQLDialect
    public private(set) var sql: String
    public private(set) var binds: [SQLValue]

    /// An empty statement; `SQLStatement(dialect, sql)` renders an `SQL` literal into one.
    init(_ dialect: SQLDialect) {
        self.dialect = dialect
        self.sql = ""
        self.binds = []
    }

    mutating func append(_ raw: String) { sql += raw }

    /// Appends a placeholder for `value`.
    mutating func bind(_ value: SQLValue, as t: SQLDialect.ColumnType = .text) {
        binds.append(value)
        sql += dialect.placeholder(binds.count, as: t)
    }

    /// Appends a dialect fragment whose single placeholder is numbered `binds.count + 1`.
    mutating func appendFragment(_ make: (Int) -> (sql: String, value: SQLValue)) {
        let (s, v) = make(binds.count + 1)
        binds.append(v)
        sql += s
    }
}

/// PostgreSQL advisory lock keys, named once: every process sharing a database agrees on them.
public enum AdvisoryLock: Int64, Sendable {
    /// Applying migrations (and an upgrade's schema creation): one migrator at a time.
    case migrations = 4_242_000
    /// Changes to the dependency graph, so two concurrent edges cannot together close a cycle.
    case dependencyGraph = 4_242_001
    /// Installing pgvector and adding the vector column.
    case pgvectorSetup = 4_242_002
    /// Building an HNSW index (a session lock on this key and the table's oid: tried, never
    /// waited for, except by an explicit preparation).
    case hnswBuild = 4_242_003
    /// Appending to the sync log: held to commit, so sequence order is commit order.
    case syncLog = 4_242_004
    /// Claims of tasks that name paths: one at a time, so leases never overlap.
    case pathLeases = 4_242_005
    /// An upgrade loading a store (a session lock on this key and the schema, tried): a second
    /// upgrade into the same store is refused while one runs, instead of clearing its rows as an
    /// interrupted load's.
    case upgradeLoad = 4_242_006

    /// Held until the transaction ends.
    public var transactionLock: String { "SELECT pg_advisory_xact_lock(\(rawValue))" }
}
