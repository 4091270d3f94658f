import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

/// `minsky upgrade to-postgres --live`: the upgrade while agents keep writing to SQLite.
///
/// Change capture starts before the snapshot (triggers append every changed key to `change_log`
/// with a sequence number); the snapshot is copied without blocking anyone; the log is replayed,
/// idempotently, from the snapshot's sequence number until it has caught up; then writers are
/// held for a moment (they wait on the lock, they do not fail) while the last changes drain, the
/// copy is validated against SQLite as it now stands, PostgreSQL commits, the config switches and
/// the old store is marked moved, so the waiting writers continue on PostgreSQL.
public enum LiveUpgrade {
    static func captureStatements() -> [String] {
        var out = [
            "CREATE TABLE IF NOT EXISTS change_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT)"
        ]
        for t in Schema.catalog {
            let keys = t.key
            for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                let values = "'\(t.name)', \(row).\(keys[0]), " + (keys.count > 1 ? "\(row).\(keys[1])" : "NULL")
                out.append(
                    "CREATE TRIGGER IF NOT EXISTS minsky_capture_\(t.name)_\(op.lowercased()) AFTER \(op) ON \(t.name) BEGIN INSERT INTO change_log (tbl, k1, k2) VALUES (\(values)); END"
                )
            }
        }
        return out
    }

    static func dropStatements() -> [String] {
        Schema.catalog.flatMap { t in
            ["insert", "update", "delete"].map { "DROP TRIGGER IF EXISTS minsky_capture_\(t.name)_\($0)" }
        } + ["DROP TABLE IF EXISTS change_log"]
    }

    struct Change {
        var table: TableSpec
        var key: [String]
        var row: [SQLValue]?
    }

    /// Changes after `seq` with each key's current row (nil when it was deleted), last change per key.
    static func pending(_ db: Database, after seq: Int64) throws -> (changes: [Change], last: Int64) {
        let rows = try Row.fetchAll(
            db, sql: "SELECT seq, tbl, k1, k2 FROM change_log WHERE seq > ? ORDER BY seq", arguments: [seq])
        var last = seq
        var order: [String] = []
        var latest: [String: (String, [String])] = [:]
        for r in rows {
            last = r["seq"]
            let tbl: String = r["tbl"]
            let k1: String = r["k1"]
            let k2: String? = r["k2"]
            let key = [k1] + (k2.map { [$0] } ?? [])
            let id = tbl + "\u{1}" + key.joined(separator: "\u{1}")
            if latest[id] == nil { order.append(id) }
            latest[id] = (tbl, key)
        }
        let changes: [Change] = try order.compactMap { id in
            guard let (tbl, key) = latest[id], let t = Schema.catalog.first(where: { $0.name == tbl }) else {
                return nil
            }
            let cond = t.key.map { "\($0) = ?" }.joined(separator: " AND ")
            let row = try Row.fetchOne(
                db, sql: "SELECT \(t.columnList) FROM \(t.name) WHERE \(cond)", arguments: StatementArguments(key))
            let values: [SQLValue]? = row.map { $0.databaseValues.map(SQLValue.init) }
            return Change(table: t, key: key, row: values)
        }
        return (changes, last)
    }

    /// Applies changes to PostgreSQL; applying the same change twice changes nothing.
    static func apply(_ changes: [Change], to pg: PostgresSession) throws {
        for c in changes {
            let t = c.table
            if let row = c.row {
                var sql: MinskySQL.SQL = "INSERT INTO \(raw: t.name) (\(raw: t.columnList)) VALUES ("
                for (i, (v, col)) in zip(row, t.columns).enumerated() {
                    var value = v
                    if col.type == .json, let text = v.text, let j = try? JSONValue.parse(text) {
                        value = .text(j.canonicalJSON())
                    }
                    sql += "\(raw: i > 0 ? ", " : "")\(value, as: col.type)"
                }
                let updates = t.columns.filter { !t.key.contains($0.name) }.map { "\($0.name) = EXCLUDED.\($0.name)" }
                    .joined(separator: ", ")
                sql += ") ON CONFLICT (\(raw: t.key.joined(separator: ", "))) DO UPDATE SET \(raw: updates)"
                let s = SQLStatement(.postgres, sql)
                try pg.execute(s.sql, s.binds)
            } else {
                let cond = t.key.enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: " AND ")
                try pg.execute("DELETE FROM \(t.name) WHERE \(cond)", c.key.map { .text($0) })
            }
        }
    }

    public static func run(project: Project, options: UpgradeOptions, reporter: (any TransferReporter)?) async throws
        -> UpgradeResult
    {
        let (path, url) = try Upgrader.endpoints(project: project, options: options)
        let result = try await Upgrader.offload {
            let driver = try SQLiteDriver(path: path, create: false)
            let pool = driver.databasePool
            defer { try? pool.close() }
            try Upgrader.preflight(pool, path: path)
            let pg = try PostgresSession(url: url)
            let dest = try Upgrader.preMigrationBackup(project: project, sqlitePath: path)

            // 1. Capture changes from now on, then take the snapshot and note where the log stood.
            try pool.write { db in for sql in captureStatements() { try db.execute(sql: sql) } }
            let (exports, snapSeq) = try pool.read { db in
                (
                    try Transfer.exportSQLite(db, reporter: reporter),
                    try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM change_log") ?? 0
                )
            }
            reporter?.step("Exporting SQLite data...")
            var reports: [TableReport] = []
            var configURL = ""
            try pg.execute("BEGIN")
            do {
                try pg.migrateInTransaction()
                reporter?.step("Creating PostgreSQL schema...")
                let nonEmpty = try Transfer.postgresCounts(pg).filter { $0.value > 0 }
                if !nonEmpty.isEmpty {
                    guard options.force else {
                        throw MinskyError.invalid(
                            "db-url",
                            "the target PostgreSQL database is not empty; point at an empty database or pass --force")
                    }
                    try pg.execute(
                        "TRUNCATE " + Schema.catalog.map(\.name).reversed().joined(separator: ", ") + " CASCADE")
                }
                try pg.execute("SET CONSTRAINTS ALL DEFERRED")
                // 2. The snapshot, while writers carry on.
                try Transfer.copy(exports, into: pg, reporter: reporter, faultPoint: nil)
                Faults.point("copy")
                // 3. Replay the log until it has (nearly) caught up.
                var seq = snapSeq
                for _ in 0..<20 {
                    let (changes, last) = try pool.read { try pending($0, after: seq) }
                    try apply(changes, to: pg)
                    seq = last
                    if changes.count < 20 { break }
                }
                reporter?.step("Replayed changes made during the copy (up to #\(seq))")
                // 4. Hold writers for a moment: drain, validate, commit, switch, mark moved.
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    do {
                        let (changes, _) = try pending(db, after: seq)
                        try apply(changes, to: pg)
                        let now = try Transfer.exportSQLite(db, reporter: nil)
                        Faults.point("validate")
                        try Transfer.checkOrphans(pg)
                        for e in now { try Transfer.validate(pg, e) }
                        reporter?.step("Validating data integrity...")
                        reports = now.map { TableReport($0) }
                        if options.dryRun {
                            try pg.execute("ROLLBACK")
                        } else {
                            try pg.execute("COMMIT")
                            Faults.point("switch")
                            configURL = try Credentials.store(url: url)
                            var next = project
                            next.config.database = configURL
                            try next.save()
                            try db.execute(
                                sql: "INSERT INTO store_moved (url, moved_at) VALUES (?, ?)",
                                arguments: [configURL, Timestamp.now().iso8601])
                        }
                        for sql in dropStatements() { try db.execute(sql: sql) }
                        try db.execute(sql: "COMMIT")
                    } catch {
                        try? db.execute(sql: "ROLLBACK")
                        throw error
                    }
                }
            } catch {
                _ = try? pg.execute("ROLLBACK")
                try? pool.write { db in for sql in dropStatements() { try db.execute(sql: sql) } }
                throw error
            }
            if options.dryRun {
                return UpgradeResult(
                    tables: reports, backup: nil, database: pg.target.safeDescription, switched: false, dryRun: true)
            }
            reporter?.step("Switching backend configuration...")
            return UpgradeResult(tables: reports, backup: dest, database: configURL, switched: true, dryRun: false)
        }
        return await Upgrader.finish(result, url: url, reporter: reporter)
    }
}
