import Dispatch
import Foundation
import Logging
import MinskyCore
import MinskySQL
import Synchronization

/// A small pool of libpq connections. Blocking libpq calls run on blocking-work threads (`Blocking`),
/// never on Swift's cooperative thread pool; waiting for a free connection suspends, not blocks.
final class PGPool: Sendable {
    struct State {
        var idle: [PGConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<PGConnection?, Never>] = []
        var closed = false
    }

    let conninfo: String
    let target: PGTarget
    let maxConnections: Int
    let state = Mutex(State())

    init(conninfo: String, target: PGTarget, maxConnections: Int) {
        self.conninfo = conninfo
        self.target = target
        self.maxConnections = max(1, maxConnections)
    }

    /// Runs blocking libpq work off the cooperative pool.
    func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run(work)
    }

    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        let conn = try await acquire()
        do {
            let r = try await offload { try body(conn) }
            release(conn)
            return r
        } catch {
            release(conn)
            throw error
        }
    }

    func acquire() async throws -> PGConnection {
        enum Step { case use(PGConnection), connect, wait, closed }
        let step: Step = state.withLock { s in
            if s.closed { return .closed }
            if let c = s.idle.popLast() { return .use(c) }
            if s.open < maxConnections {
                s.open += 1
                return .connect
            }
            return .wait
        }
        switch step {
        case .use(let c):
            if c.isHealthy { return c }
            try? await offload { c.reset() }
            if c.isHealthy { return c }
            discard()
            return try await acquire()
        case .connect:
            do {
                let info = conninfo
                let t = target
                return try await offload { try PGConnection(conninfo: info, target: t) }
            } catch {
                discard()
                throw error
            }
        case .wait:
            let c = await withCheckedContinuation { (cont: CheckedContinuation<PGConnection?, Never>) in
                let resumeNow: Bool = state.withLock { s in
                    if s.closed { return true }
                    s.waiters.append(cont)
                    return false
                }
                if resumeNow { cont.resume(returning: nil) }
            }
            guard let c else { throw MinskyError(.storeUnavailable, "the PostgreSQL store was closed") }
            return c
        case .closed:
            throw MinskyError(.storeUnavailable, "the PostgreSQL store was closed")
        }
    }

    /// Gives back a connection; a broken one is dropped and its slot freed.
    func release(_ c: PGConnection) {
        let healthy = c.isHealthy
        let waiter: CheckedContinuation<PGConnection?, Never>? = state.withLock { s in
            if !healthy || s.closed {
                s.open -= 1
                return nil
            }
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.idle.append(c)
            return nil
        }
        if let waiter {
            waiter.resume(returning: c)
        } else if !healthy {
            wakeOneToConnect()
        }
    }

    func discard() {
        state.withLock { $0.open -= 1 }
        wakeOneToConnect()
    }

    /// A waiter whose connection slot freed up retries acquisition (and may open a new one).
    func wakeOneToConnect() {
        let w: CheckedContinuation<PGConnection?, Never>? = state.withLock { s in
            guard !s.waiters.isEmpty, s.open < maxConnections else { return nil }
            s.open += 1
            return s.waiters.removeFirst()
        }
        guard let w else { return }
        let info = conninfo
        let t = target
        Task { [self] in
            if let c = await Blocking.run({ try? PGConnection(conninfo: info, target: t) }) {
                w.resume(returning: c)
            } else {
                state.withLock { $0.open -= 1 }
                w.resume(returning: nil)
            }
        }
    }

    func close() {
        let (idle, waiters) = state.withLock { s -> ([PGConnection], [CheckedContinuation<PGConnection?, Never>]) in
            s.closed = true
            let r = (s.idle, s.waiters)
            s.open -= s.idle.count
            s.idle = []
            s.waiters = []
            return r
        }
        _ = idle  // connections finish in deinit
        for w in waiters { w.resume(returning: nil) }
    }
}

/// PostgreSQL through libpq. Opening connects once (so a wrong URL fails at once with host and
/// port named), checks the schema version and applies pending migrations under an advisory lock.
public final class PostgresDriver: SQLDriver {
    public let dialect = SQLDialect.postgres
    public let target: PGTarget
    let pool: PGPool

    public var location: String { target.safeDescription }

    public init(url: String, maxConnections: Int = 4, logger: Logger = Logger(label: "minsky.postgres")) async throws {
        let target = try PGTarget(conninfo: url)
        self.target = target
        pool = PGPool(conninfo: url, target: target, maxConnections: maxConnections)
        try await migrate(logger: logger)
    }

    func migrate(logger: Logger) async throws {
        let loc = location
        try await pool.withConnection { c in
            do {
                try c.exec("SET client_min_messages = warning")
                let query: (String) throws -> [[SQLValue]] = { try c.exec($0).rows }
                // A team store, read from this database's own state (who owns `tasks`).
                let team = try PostgresTeam.detect(query: query)
                if team != nil,
                    try c.exec("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").rows.first?[0].text == "t"
                {
                    // A superuser writing would run any trigger attached to the tables with its rights.
                    try PostgresTeam.checkSafeForSuperuser(user: c.target.user, query: query)
                }
                let target = PostgresMigrations(exec: { sql, params in try c.exec(sql, params).rows }, location: loc)
                let pending = try MigrationRunner.pending(recorded: target.recordedMigrations(), location: loc)
                if pending.isEmpty { return }
                if let team,
                    try c.exec("SELECT pg_has_role(current_user, $1, 'MEMBER')", [.text(team.owner)]).rows.first?[0]
                        .text != "t"
                {
                    throw MinskyError(
                        .permissionDenied,
                        "this team store needs schema migrations (\(pending.map(\.name).joined(separator: ", "))) that only the database owner or a superuser may apply, as the team's owner role; ask them to run `minsky doctor --db URL` once with this minsky",
                        field: "role")
                }
                try c.exec("BEGIN")
                do {
                    // One migrator at a time across every process sharing this database.
                    try c.exec(AdvisoryLock.migrations.transactionLock)
                    // A team store migrates as its owner role (never as a superuser, whose rights
                    // a trigger would borrow), and protects what was added.
                    if let team { try c.exec("SET LOCAL ROLE \(PostgresTeam.quote(team.owner))") }
                    let applied = try MigrationRunner.apply(to: target)
                    if let team {
                        let tables = try PostgresTeam.existingTables(query: query)
                        for sql in PostgresTeam.tableGrants(team, tables: tables) {
                            try c.exec(sql)
                        }
                    }
                    try c.exec("COMMIT")
                    if !applied.isEmpty { logger.debug("applied migrations", metadata: ["names": "\(applied)"]) }
                } catch {
                    _ = try? c.exec("ROLLBACK")
                    throw error
                }
            } catch let e as PGError {
                throw e.minsky
            }
        }
    }

    /// Attempts of a transaction that keeps failing with a serialization failure or deadlock.
    static let maxAttempts = 20

    func transaction<T: Sendable>(readOnly: Bool, _ body: @escaping @Sendable (any SQLConnection) throws -> T)
        async throws -> T
    {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await pool.withConnection { c in
                    // BEGIN goes with the first statement (one round trip fewer for every
                    // transaction); a transaction that ran nothing has nothing to end.
                    c.begin(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
                    do {
                        let r = try body(PGSQLConnection(conn: c))
                        try c.commit()
                        return r
                    } catch {
                        c.rollback()
                        throw error
                    }
                }
            } catch let e as PGError {
                // Serialization failures and deadlocks are the database asking for a retry: the
                // transaction is run again (with a growing, jittered pause) and never reaches the
                // caller unless contention lasts through every attempt.
                if e.isRetryable && attempt < Self.maxAttempts {
                    let pause = min(50_000_000, 500_000 << min(attempt, 7))
                    try await Task.sleep(nanoseconds: UInt64(pause / 2 + Int.random(in: 0...(pause / 2))))
                    continue
                }
                throw e.minsky
            }
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(readOnly: false, body)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await transaction(readOnly: true, body)
    }

    public func close() async { pool.close() }

    public func autocommit<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection { c in try body(PGSQLConnection(conn: c)) }
        } catch let e as PGError {
            throw e.minsky
        }
    }
}

extension PostgresDriver {
    /// How many rows make an upsert go through a scratch table (see `PGSQLConnection.upsert`);
    /// tests lower it to take that path with few rows.
    public static let stagedUpsertRows = Atomic<Int>(64)
}

struct PGSQLConnection: SQLConnection {
    let conn: PGConnection
    var dialect: SQLDialect { .postgres }

    /// Many rows go in by COPY (one stream, no statement per few hundred rows); a few by INSERT
    /// (COPY costs a round trip more).
    func insert(_ rows: SQLRows) throws {
        // The server refuses COPY into a table whose row-level security applies to this role (a
        // team's member or admin): such rows go by INSERT, under the same policies.
        guard rows.count >= 64, try !conn.rowSecurityActive(rows.table) else { return try insertWithStatements(rows) }
        let sql = "COPY \(rows.table) (\(rows.columns.map(\.name).joined(separator: ", "))) FROM STDIN"
        var sent = false
        try conn.copyIn(sql) {
            guard !sent else { return nil }
            sent = true
            return Self.copyText(rows)
        }
    }

    /// Many rows: COPY into a scratch table (a temporary table of the connection's own, so no
    /// row-level security applies to it; emptied at each commit), then one INSERT … SELECT with
    /// the conflict clause, under the table's policies, sent without waiting (`execSoon`). A role
    /// that may not make temporary tables, a few rows, and rows outside a transaction (whose
    /// commit after the COPY would empty the scratch table) go by statements.
    func upsert(_ rows: SQLRows, onConflict: String) throws {
        guard rows.count >= PostgresDriver.stagedUpsertRows.load(ordering: .relaxed), conn.inTransaction,
            try conn.mayUseTemporaryTables()
        else {
            return try upsertWithStatements(rows, onConflict: onConflict)
        }
        let columns = rows.columns.map(\.name).joined(separator: ", ")
        // Named by its columns, so a store migrated meanwhile gets a table of its own.
        let stage = "minsky_stage_\(rows.table)_\(FNV1a.hex(columns, digits: 8))"
        // Made once per connection (a rolled-back transaction's is made again); sent with the COPY.
        try conn.execLater(
            "CREATE TEMP TABLE IF NOT EXISTS \(stage) ON COMMIT DELETE ROWS AS SELECT \(columns) FROM \(rows.table) WITH NO DATA",
            once: true)
        if conn.stageUsed(stage) { try conn.execLater("DELETE FROM pg_temp.\(stage)") }
        var sent = false
        try conn.copyIn("COPY pg_temp.\(stage) (\(columns)) FROM STDIN") {
            guard !sent else { return nil }
            sent = true
            return Self.copyText(rows)
        }
        try conn.execSoon(
            "INSERT INTO \(rows.table) (\(columns)) SELECT \(columns) FROM pg_temp.\(stage) \(onConflict)")
    }

    /// Rows in COPY's text format: tab between values, a newline after each row, `\N` for NULL,
    /// backslash escapes for backslash, tab, newline and carriage return.
    static func copyText(_ rows: SQLRows) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.values.count * 24)
        let width = rows.columns.count
        for (i, v) in rows.values.enumerated() {
            if i % width != 0 { out.append(0x09) }
            switch v {
            case .null: out += [0x5C, 0x4E]
            case .int(let n): out += String(n).utf8
            case .double(let d): out += String(d).utf8
            case .text(let s):
                for b in s.utf8 {
                    switch b {
                    case 0x5C: out += [0x5C, 0x5C]
                    case 0x09: out += [0x5C, 0x74]
                    case 0x0A: out += [0x5C, 0x6E]
                    case 0x0D: out += [0x5C, 0x72]
                    default: out.append(b)
                    }
                }
            case .blob(let b):
                out += [0x5C, 0x5C, 0x78]  // \\x: bytea's hex form, its backslash escaped
                let digits = Array("0123456789abcdef".utf8)
                for x in b {
                    out.append(digits[Int(x >> 4)])
                    out.append(digits[Int(x & 15)])
                }
            }
            if i % width == width - 1 { out.append(0x0A) }
        }
        return out
    }
    func execute(_ s: SQLStatement) throws -> Int { try conn.exec(s.sql, s.binds).affected }
    func executeLater(_ s: SQLStatement) throws { try conn.execLater(s.sql, s.binds) }
    func executeSoon(_ s: SQLStatement) throws { try conn.execSoon(s.sql, s.binds) }
    var knownUntracked: Bool {
        get { conn.knownUntracked }
        nonmutating set { conn.knownUntracked = newValue }
    }
    func requireUntracked() throws { try conn.execLater(PGConnection.untrackedGuard, once: true) }
    func query(_ s: SQLStatement) throws -> [SQLRow] {
        let r = try conn.exec(s.sql, s.binds)
        let names = SQLColumnNames(r.columns)
        return r.rows.map { SQLRow($0, columns: names) }
    }
}

/// The PostgreSQL-backed store.
public typealias PostgresTaskStore = SQLTaskStore<PostgresDriver>

extension SQLTaskStore where Driver == PostgresDriver {
    public static func connect(
        url: String, idPrefix: String = TaskID.defaultPrefix, maxConnections: Int = 4,
        now: @escaping @Sendable () -> Timestamp = { .now() },
        makeID: @escaping @Sendable (String, Int) -> TaskID = { TaskID.random(prefix: $0, length: $1) }
    ) async throws -> PostgresTaskStore {
        PostgresTaskStore(
            driver: try await PostgresDriver(url: url, maxConnections: maxConnections), idPrefix: idPrefix, now: now,
            makeID: makeID)
    }
}

/// One-off statements outside any store, for tooling and tests (creating schemas or databases).
public enum PostgresAdmin {
    public static func execute(url: String, _ sql: String) async throws {
        let target = try PGTarget(conninfo: url)
        let pool = PGPool(conninfo: url, target: target, maxConnections: 1)
        defer { pool.close() }
        do {
            try await pool.withConnection { c in try c.script(sql) }
        } catch let e as PGError {
            throw e.minsky
        }
    }

    /// Rows of a query as text (NULL as nil).
    public static func query(url: String, _ sql: String) async throws -> [[String?]] {
        let target = try PGTarget(conninfo: url)
        let pool = PGPool(conninfo: url, target: target, maxConnections: 1)
        defer { pool.close() }
        do {
            return try await pool.withConnection { c in try c.exec(sql).rows.map { $0.map(\.text) } }
        } catch let e as PGError {
            throw e.minsky
        }
    }
}

/// PostgreSQL's migration record: `minsky_migrations`, read and written through `exec`.
struct PostgresMigrations: MigrationTarget {
    let exec: (String, [SQLValue]) throws -> [[SQLValue]]
    let location: String
    var dialect: SQLDialect { .postgres }
    var migrationLocation: String { location }

    func recordedMigrations() throws -> Set<String> {
        guard try exec("SELECT to_regclass('minsky_migrations') IS NOT NULL", []).first?[0].text == "t" else {
            return []
        }
        return Set(try exec("SELECT name FROM minsky_migrations", []).compactMap { $0[0].text })
    }

    func executeMigration(_ sql: String) throws { _ = try exec(sql, []) }

    func createMigrationRecord() throws {
        _ = try exec(
            "CREATE TABLE IF NOT EXISTS minsky_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            [])
    }

    func recordMigration(_ name: String) throws {
        _ = try exec("INSERT INTO minsky_migrations (name) VALUES ($1)", [.text(name)])
    }
}
