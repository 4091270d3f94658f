import CLibPQ
import Foundation
import MinskyCore
import MinskySQL

/// One libpq connection. Every call blocks, so the pool runs them on its own dispatch queue.
/// `@unchecked Sendable`: the pool lends a connection to exactly one borrower at a time.
final class PGConnection: @unchecked Sendable {
    let raw: OpaquePointer
    let target: PGTarget

    init(conninfo: String, target: PGTarget) throws {
        guard let c = PQconnectdb(conninfo) else {
            throw MinskyError(.storeUnavailable, "cannot allocate a PostgreSQL connection to \(target.safeDescription)")
        }
        if PQstatus(c) != CONNECTION_OK {
            var msg = target.scrub(String(cString: PQerrorMessage(c)))
            while let last = msg.last, last == "." || last == " " { msg.removeLast() }
            PQfinish(c)
            throw MinskyError(
                .storeUnavailable,
                "cannot connect to PostgreSQL at \(target.hostPort) (database \(target.database), user \(target.user)): \(msg) — check that the server is running and the URL is right"
            )
        }
        raw = c
        self.target = target
        // Server notices (e.g. "relation already exists, skipping") would otherwise go to stderr.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
    }

    deinit { PQfinish(raw) }

    var isHealthy: Bool { PQstatus(raw) == CONNECTION_OK && PQtransactionStatus(raw) == PQTRANS_IDLE }

    func reset() { PQreset(raw) }

    /// A transaction's BEGIN not sent yet: it travels with the transaction's first statement, in
    /// one round trip (libpq's pipeline mode). A transaction that runs no statement sends neither.
    private(set) var pendingBegin: String?

    /// Statements whose results are not needed (history rows, counters, checks), sent in order
    /// with the transaction's next statement or its COMMIT: a write and its history cost one
    /// round trip. Their errors surface there and fail the transaction.
    private var queued: [(sql: String, params: [SQLValue])] = []
    private var queuedOnce: Set<String> = []

    /// Whether an earlier transaction on this connection found that the store keeps no sync log
    /// (see `SQLConnection.knownUntracked`). Dropped when `untrackedGuard` fails.
    var knownUntracked = false

    /// The SQLSTATE `untrackedGuard` raises.
    static let untrackedState = "MK001"

    /// Fails the transaction if the store keeps a sync log (it began to since `knownUntracked`
    /// was learned): the transaction is then retried, asking again.
    static let untrackedGuard = """
        DO $$BEGIN IF EXISTS (SELECT 1 FROM sync_state WHERE name = 'replica') THEN \
        RAISE EXCEPTION 'minsky: this store began tracking changes for sync' USING ERRCODE = '\(untrackedState)'; \
        END IF; END$$
        """

    /// Whether this connection's role may make temporary tables (asked once: a connection keeps
    /// its role).
    private var temporaryTables: Bool?

    func mayUseTemporaryTables() throws -> Bool {
        if let known = temporaryTables { return known }
        let may =
            try exec("SELECT has_database_privilege(current_database(), 'TEMPORARY')").rows.first?[0].text == "t"
        temporaryTables = may
        return may
    }

    /// Whether row-level security applies to this connection's role on each table asked about
    /// (a connection keeps its role, so the answer is kept).
    private var rowSecurity: [String: Bool] = [:]

    func rowSecurityActive(_ table: String) throws -> Bool {
        if let known = rowSecurity[table] { return known }
        let active =
            try exec("SELECT row_security_active($1::text::regclass)", [.text(table)]).rows.first?[0].text == "t"
        rowSecurity[table] = active
        return active
    }

    /// Starts a transaction: `begin` is sent with its first statement.
    func begin(_ begin: String) {
        pendingBegin = begin
        queued = []
        queuedOnce = []
        stagesUsed = []
    }

    /// Scratch tables (`PGSQLConnection.upsert`) filled in this transaction.
    private var stagesUsed: Set<String> = []

    /// Whether `stage` was filled earlier in this transaction (and so must be emptied first);
    /// notes that it is now.
    func stageUsed(_ stage: String) -> Bool { !stagesUsed.insert(stage).inserted }

    /// Ends a transaction: COMMIT (with whatever is queued), or nothing for one that sent nothing.
    func commit() throws {
        defer { queuedOnce = [] }
        if pendingBegin != nil && queued.isEmpty {
            pendingBegin = nil
            return
        }
        try exec("COMMIT")
    }

    /// Abandons a transaction: queued statements are dropped, and what was sent is rolled back.
    func rollback() {
        queued = []
        queuedOnce = []
        try? drain()
        if pendingBegin != nil {
            pendingBegin = nil
        } else {
            _ = try? exec("ROLLBACK")
        }
    }

    /// Queues a statement whose result is not needed (see `queued`); with `once`, a statement
    /// already queued in this transaction is not queued again. Outside a transaction it runs now.
    func execLater(_ sql: String, _ params: [SQLValue] = [], once: Bool = false) throws {
        if once { guard queuedOnce.insert(sql).inserted else { return } }
        guard pendingBegin != nil || PQtransactionStatus(raw) == PQTRANS_INTRANS else {
            try exec(sql, params)
            return
        }
        queued.append((sql, params))
    }

    /// Sends a pending BEGIN and queued statements on their own (before a COPY or a script,
    /// which cannot be pipelined).
    func flushBegin() throws {
        try drain()
        guard pendingBegin != nil || !queued.isEmpty else { return }
        _ = try pipelined(takePending())
    }

    /// The pending BEGIN and queued statements, in order, leaving neither.
    private func takePending() -> [(sql: String, params: [SQLValue])] {
        var batch = queued
        queued = []
        if let b = pendingBegin {
            batch.insert((b, []), at: 0)
            pendingBegin = nil
        }
        return batch
    }

    /// Runs one statement with text parameters; returns the result rows as text values.
    @discardableResult
    func exec(_ sql: String, _ params: [SQLValue] = []) throws -> PGResult {
        try drain()
        if pendingBegin != nil || !queued.isEmpty {
            return try pipelined(takePending() + [(sql, params)])
        }
        return try withParameters(params) { n, values in
            try PGResult.check(PQexecParams(raw, sql, n, nil, values, nil, nil, 0), conn: self, sql: sql)
        }
    }

    /// Whether a transaction is open (or begun, its BEGIN not sent yet).
    var inTransaction: Bool {
        inFlight != nil || pendingBegin != nil || PQtransactionStatus(raw) == PQTRANS_INTRANS
    }

    /// Statements sent (`execSoon`) whose results are not read yet: their SQL, and whether they
    /// were all handed to the server.
    private var inFlight: (sql: [String], sent: Bool)?

    /// Sends a statement whose result is not needed now, with a pending BEGIN and queued
    /// statements, and returns without waiting: the server runs it while the caller prepares
    /// what comes next. Its result is read, and its error thrown (failing the transaction), by
    /// the connection's next statement, COPY or COMMIT. Outside a transaction it runs now.
    func execSoon(_ sql: String, _ params: [SQLValue] = []) throws {
        guard inTransaction else {
            _ = try exec(sql, params)
            return
        }
        try drain()
        let batch = takePending() + [(sql, params)]
        guard PQenterPipelineMode(raw) == 1 else {
            _ = try runEach(batch)
            return
        }
        inFlight = (batch.map(\.sql), send(batch))
    }

    /// Reads the results of statements sent by `execSoon`; throws the first failure.
    private func drain() throws {
        guard let (sqls, sent) = inFlight else { return }
        inFlight = nil
        do {
            _ = try receive(sqls, sent: sent)
        } catch let e as PGError where e.sqlState == Self.untrackedState {
            knownUntracked = false
            throw e
        }
    }

    /// Statements in one round trip; the last one's result. The first that failed is thrown
    /// (those after it were skipped by the server).
    private func pipelined(_ batch: [(sql: String, params: [SQLValue])]) throws -> PGResult {
        do {
            return try sendPipeline(batch)
        } catch let e as PGError where e.sqlState == Self.untrackedState {
            knownUntracked = false
            throw e
        }
    }

    /// Each statement on its own (where pipeline mode cannot be entered); the last one's result.
    private func runEach(_ batch: [(sql: String, params: [SQLValue])]) throws -> PGResult {
        var last: PGResult?
        for (sql, params) in batch {
            last = try withParameters(params) { n, values in
                try PGResult.check(PQexecParams(raw, sql, n, nil, values, nil, nil, 0), conn: self, sql: sql)
            }
        }
        return last!
    }

    private func sendPipeline(_ batch: [(sql: String, params: [SQLValue])]) throws -> PGResult {
        guard PQenterPipelineMode(raw) == 1 else { return try runEach(batch) }
        return try receive(batch.map(\.sql), sent: send(batch))
    }

    /// Sends `batch` and a sync point in pipeline mode (entered by the caller); whether all of it
    /// was handed to the server.
    private func send(_ batch: [(sql: String, params: [SQLValue])]) -> Bool {
        var sent = true
        for (sql, params) in batch where sent {
            sent = withParameters(params) { n, values in
                PQsendQueryParams(raw, sql, n, nil, values, nil, nil, 0) == 1
            }
        }
        return sent && PQpipelineSync(raw) == 1
    }

    /// Reads a sent pipeline's results up to its sync point and leaves pipeline mode; the last
    /// statement's result, or the first failure thrown.
    private func receive(_ batch: [String], sent: Bool) throws -> PGResult {
        defer { PQexitPipelineMode(raw) }
        // Every result is read, up to the sync point, whatever failed: each statement's (each
        // followed by a nil), then the sync's.
        var results: [OpaquePointer?] = []
        var synced = false
        var idle = 0
        while sent {
            guard let r = PQgetResult(raw) else {
                // One nil ends each statement's results; more in a row means nothing is coming.
                idle += 1
                if idle > 2 || PQstatus(raw) != CONNECTION_OK { break }
                continue
            }
            idle = 0
            if PQresultStatus(r) == PGRES_PIPELINE_SYNC {
                PQclear(r)
                synced = true
                break
            }
            results.append(r)
        }
        guard synced, results.count == batch.count else {
            for r in results { PQclear(r) }
            throw MinskyError(
                .storeUnavailable,
                "lost the connection to PostgreSQL at \(target.hostPort): \(target.scrub(String(cString: PQerrorMessage(raw))))"
            )
        }
        var failed: Int?
        for (i, r) in results.enumerated() where failed == nil {
            let st = PQresultStatus(r)
            if st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK { failed = i }
        }
        if let i = failed {
            for (k, r) in results.enumerated() where k != i { PQclear(r) }
            _ = try PGResult.check(results[i], conn: self, sql: batch[i])
        }
        for r in results.dropLast() { PQclear(r) }
        return try PGResult.check(results[results.count - 1], conn: self, sql: batch[batch.count - 1])
    }

    /// Calls `body` with `params` as the C strings libpq takes (NULL for SQL NULL).
    private func withParameters<T>(
        _ params: [SQLValue], _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) throws -> T
    ) rethrows -> T {
        var cstrings: [UnsafeMutablePointer<CChar>?] = params.map { v in
            switch v {
            case .null: return nil
            case .int(let i): return strdup(String(i))
            case .double(let d): return strdup(String(d))
            case .text(let s): return strdup(s)
            case .blob(let b):
                var hex = "\\x"
                hex.reserveCapacity(2 + b.count * 2)
                let digits = Array("0123456789abcdef".utf8)
                var bytes = [UInt8]()
                bytes.reserveCapacity(b.count * 2)
                for x in b {
                    bytes.append(digits[Int(x >> 4)])
                    bytes.append(digits[Int(x & 15)])
                }
                hex += String(decoding: bytes, as: UTF8.self)
                return strdup(hex)
            }
        }
        defer { for p in cstrings { free(p) } }
        return try cstrings.withUnsafeMutableBufferPointer { buf in
            try buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buf.count, 1)) {
                vals in
                try body(Int32(params.count), params.isEmpty ? nil : UnsafePointer(vals))
            }
        }
    }

    /// Runs several statements separated by semicolons (no parameters).
    func script(_ sql: String) throws {
        try flushBegin()
        _ = try PGResult.check(PQexec(raw, sql), conn: self, sql: sql)
    }
}

/// A finished result. Values are read eagerly, then the libpq result is freed.
struct PGResult {
    var rows: [[SQLValue]]
    var affected: Int
    var columns: [String] = []

    static func check(_ res: OpaquePointer?, conn: PGConnection, sql: String) throws -> PGResult {
        guard let res else {
            let why = conn.target.scrub(String(cString: PQerrorMessage(conn.raw)))
            // No result at all: the connection is gone, or libpq refused the statement before
            // sending it (too many parameters, out of memory); only the first is a lost connection.
            guard PQstatus(conn.raw) == CONNECTION_OK else {
                throw MinskyError(
                    .storeUnavailable, "lost the connection to PostgreSQL at \(conn.target.hostPort): \(why)")
            }
            throw MinskyError(
                .internal, "PostgreSQL's client library refused a statement before sending it: \(why)",
                detail: String(sql.prefix(200)))
        }
        defer { PQclear(res) }
        let st = PQresultStatus(res)
        if st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK {
            let n = Int(PQntuples(res))
            let m = Int(PQnfields(res))
            var rows: [[SQLValue]] = []
            rows.reserveCapacity(n)
            for r in 0..<n {
                var row: [SQLValue] = []
                row.reserveCapacity(m)
                for f in 0..<m {
                    if PQgetisnull(res, Int32(r), Int32(f)) == 1 {
                        row.append(.null)
                    } else {
                        row.append(.text(String(cString: PQgetvalue(res, Int32(r), Int32(f)))))
                    }
                }
                rows.append(row)
            }
            let affected = Int(String(cString: PQcmdTuples(res))) ?? 0
            let columns = (0..<m).map { String(cString: PQfname(res, Int32($0))) }
            return PGResult(rows: rows, affected: affected, columns: columns)
        }
        let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
        let primary =
            PQresultErrorField(res, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? conn.target.scrub(String(cString: PQerrorMessage(conn.raw)))
        throw PGError(
            sqlState: state, message: conn.target.scrub(primary), sql: sql, hostPort: conn.target.hostPort,
            user: conn.target.user,
            constraint: PQresultErrorField(res, Int32(UInt8(ascii: "n"))).map { String(cString: $0) })
    }
}

/// A server-reported error, kept apart from `MinskyError` so the driver can react to its SQLSTATE.
struct PGError: Error {
    var sqlState: String
    var message: String
    var sql: String
    var hostPort: String
    var user: String
    /// The constraint a violation names (PG_DIAG_CONSTRAINT_NAME), if any.
    var constraint: String? = nil

    /// Serialization failures, deadlocks, and a write that assumed the store kept no sync log
    /// when it had begun to (`PGConnection.untrackedGuard`).
    var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" || sqlState == PGConnection.untrackedState }
    var isConnectionLoss: Bool { sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState.isEmpty }

    var minsky: MinskyError {
        switch sqlState {
        case "23505" where constraint == "tasks_pkey":
            return .taskIDTaken(message)
        case "23505", "23503", "23514", "23502":
            return MinskyError(
                .invalidInput, "the change breaks a store constraint (\(message)); check ids and values", detail: sql)
        case "22021", "22P05":
            return MinskyError(
                .invalidInput, "text contains a character PostgreSQL cannot store (\(message))", detail: sql)
        case "42501":
            return MinskyError(
                .permissionDenied,
                "PostgreSQL refused role \(user): it may not \(Self.refusedOperation(sql: sql, message: message)) (viewers read; members also create and update tasks, notes and dependencies as themselves; admins also delete and manage the team; nobody rewrites history): ask an admin for a role that has the right (`minsky team list` shows who is an admin; --verbose shows the database's words)",
                field: "role",
                detail: "\(message) [SQLSTATE 42501] in: "
                    + sql.replacingOccurrences(
                        of: #"PASSWORD '[^']*'"#, with: "PASSWORD '…'", options: .regularExpression))
        case _ where isConnectionLoss:
            return MinskyError(.storeUnavailable, "PostgreSQL at \(hostPort) is unavailable: \(message)", detail: sql)
        default:
            return MinskyError(.internal, "PostgreSQL error \(sqlState) at \(hostPort): \(message)", detail: sql)
        }
    }
}

extension PGError {
    /// What a refused statement tried, in minsky's words: "delete tasks", "change the history".
    static func refusedOperation(sql: String, message: String) -> String {
        let words: [String: String] = [
            "tasks": "tasks", "task_dependencies": "dependencies", "task_events": "the history",
            "task_notes": "notes", "proposals": "AI proposals", "task_embeddings": "embeddings",
            "ai_calls": "AI call records", "sync_state": "this store's sync settings", "sync_log": "the sync log",
            "sync_rows": "sync stamps", "sync_applied": "sync records", "sync_replicas": "replica positions",
            "minsky_migrations": "the schema", "store_moved": "the store's location",
        ]
        if message.contains("append-only") { return "change or delete the history (it is append-only)" }
        var table: String?
        for marker in ["for table ", "policy for table \"", "for table \""] {
            if let r = message.range(of: marker) {
                table = String(message[r.upperBound...].prefix { $0 != " " && $0 != "\"" })
            }
        }
        if table == nil,
            let r = sql.range(of: #"(?i)\b(into|update|from|table)\s+"?([a-z_]+)"#, options: .regularExpression)
        {
            table = sql[r].split(whereSeparator: { $0 == " " || $0 == "\"" }).last.map(String.init)
        }
        let verb = sql.trimmingCharacters(in: .whitespaces).prefix { $0.isLetter }.uppercased()
        let action: String
        switch verb {
        case "INSERT": action = message.contains("row-level security") ? "write this row of" : "add to"
        case "UPDATE": action = "change"
        case "DELETE": action = "delete"
        case "TRUNCATE": action = "empty"
        case "SELECT", "WITH": action = "read"
        case "SET": return "take on another role"
        case "ALTER", "CREATE", "DROP", "GRANT", "REVOKE", "COMMENT":
            return "change the schema or the rights (only the database owner may)"
        default: action = "run this on"
        }
        guard let table else { return "\(action) this store" }
        return "\(action) \(words[table] ?? table)"
    }
}

/// Where a connection string points, for messages that must never show the password.
public struct PGTarget: Sendable {
    public var host: String
    public var port: String
    public var database: String
    public var user: String
    var password: String?

    public var hostPort: String { "\(host):\(port)" }
    public var safeDescription: String { "postgresql://\(user)@\(hostPort)/\(database)" }

    /// Parses a `postgresql://` URL or `key=value` string with libpq's own parser.
    public init(conninfo: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard let opts = PQconninfoParse(conninfo, &err) else {
            var msg = err.map { String(cString: $0) } ?? "malformed"
            if let err { PQfreemem(err) }
            // libpq quotes the offending URL, password included: never echo it.
            msg = msg.replacingOccurrences(of: conninfo, with: "<url>").trimmingCharacters(in: .whitespacesAndNewlines)
            throw MinskyError.invalid(
                "db-url", "the PostgreSQL URL is malformed (\(msg)); use postgresql://user@host:5432/dbname")
        }
        defer { PQconninfoFree(opts) }
        var values: [String: String] = [:]
        var p = opts
        while let kw = p.pointee.keyword {
            if let v = p.pointee.val { values[String(cString: kw)] = String(cString: v) }
            p += 1
        }
        let env = ProcessInfo.processInfo.environment
        host = values["host"] ?? values["hostaddr"] ?? env["PGHOST"] ?? "localhost"
        port = values["port"] ?? env["PGPORT"] ?? "5432"
        user = values["user"] ?? env["PGUSER"] ?? env["USER"] ?? "postgres"
        database = values["dbname"] ?? env["PGDATABASE"] ?? user
        password = values["password"]
    }

    /// Removes the password from text that came from libpq or the server.
    func scrub(_ s: String) -> String {
        var out = s.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\t", with: " ")
        if let pw = password, !pw.isEmpty { out = out.replacingOccurrences(of: pw, with: "****") }
        return out
    }
}

extension PGTarget {
    /// `conninfo` with every connection taking `role` (`SET ROLE` at connection start, through
    /// the `options` startup parameter): what `minsky serve` opens per token role, so the
    /// database's grants and row-level security bind each member's requests. Returned as libpq
    /// `key=value` text built from libpq's own parse of the input (a URL or key=value).
    public static func conninfo(_ conninfo: String, role: String) throws -> String {
        guard !role.isEmpty, role.count <= 63,
            role.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else {
            throw MinskyError.invalid(
                "role", "role '\(role.prefix(63))' is not a team role name (lowercase letters, digits, _)")
        }
        var err: UnsafeMutablePointer<CChar>?
        guard let opts = PQconninfoParse(conninfo, &err) else {
            if let err { PQfreemem(err) }
            throw MinskyError.invalid(
                "db-url", "the PostgreSQL URL is malformed; use postgresql://user@host:5432/dbname")
        }
        defer { PQconninfoFree(opts) }
        var pairs: [(String, String)] = []
        var options = ""
        var p = opts
        while let kw = p.pointee.keyword {
            if let v = p.pointee.val {
                let k = String(cString: kw)
                if k == "options" { options = String(cString: v) } else { pairs.append((k, String(cString: v))) }
            }
            p += 1
        }
        pairs.append(("options", (options.isEmpty ? "" : options + " ") + "-c role=\(role)"))
        func quoted(_ v: String) -> String {
            "'" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        return pairs.map { "\($0.0)=\(quoted($0.1))" }.joined(separator: " ")
    }
}
