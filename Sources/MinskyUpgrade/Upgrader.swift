import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

public struct UpgradeOptions: Sendable {
    public var dbURL: String
    public var dryRun = false
    public var force = false
    public init(dbURL: String, dryRun: Bool = false, force: Bool = false) {
        self.dbURL = dbURL
        self.dryRun = dryRun
        self.force = force
    }
}

public struct UpgradeResult: Sendable, Codable {
    public var tables: [TableReport]
    public var backup: String?
    public var database: String
    public var switched: Bool
    public var dryRun: Bool
}

/// `minsky upgrade to-postgres`: pre-flight, backup, copy, validate, switch.
///
/// Order matters for crash safety: the SQLite store is only read (until the final "moved" mark),
/// PostgreSQL's copy becomes a store only in its last commit, after validation (until then it is
/// marked unfinished and no store opens it; see `Transfer.streamSQLiteToPostgres`), and the config
/// is replaced by an atomic rename only after that commit. A crash anywhere leaves either the old
/// config with PostgreSQL empty or marked (a rerun clears it), or a committed, validated copy
/// that a rerun recognizes and switches to.
public enum Upgrader {
    public static let backupName = "pre-migration-backup.db"

    public static func toPostgres(project: Project, options: UpgradeOptions, reporter: (any TransferReporter)?)
        async throws -> UpgradeResult
    {
        let (path, url) = try endpoints(project: project, options: options)
        let result = try await offload {
            try run(project: project, sqlitePath: path, url: url, options: options, reporter: reporter)
        }
        return await finish(result, url: url, reporter: reporter)
    }

    /// After the switch, embeddings become searchable through pgvector now rather than on the
    /// first search. Derived data only: a failure here is reported as a note and the store fills
    /// and indexes them on first use instead; the upgrade itself has already succeeded.
    static func finish(_ result: UpgradeResult, url: String, reporter: (any TransferReporter)?) async -> UpgradeResult {
        guard result.switched else { return result }
        do {
            let store = try await PostgresTaskStore.connect(url: url)
            let (count, method) = try await store.prepareVectorSearch()
            await store.close()
            if count > 0 {
                reporter?.step(
                    method.hasPrefix("pgvector")
                        ? "Indexing \(count) AI embeddings for pgvector search..." : "\(count) AI embeddings: \(method)"
                )
            }
        } catch {
            reporter?.note(
                "AI embeddings are not indexed yet (\((error as? MinskyError)?.message ?? "\(error)")); the first search will do it"
            )
        }
        reporter?.step("Migration complete!")
        return result
    }

    /// The SQLite file to move and the PostgreSQL URL to move it to (accepting the rerun case).
    static func endpoints(project: Project, options: UpgradeOptions) throws -> (path: String, url: String) {
        let target = try StoreLocation(parsing: options.dbURL)
        guard let url = target.postgresConninfo else {
            throw MinskyError.invalid(
                "db-url", "upgrade to-postgres needs a postgresql:// URL, e.g. postgresql://me@db.internal:5432/tasks")
        }
        let path: String
        let current = try project.location()
        switch current.kind {
        case .sqlite(let p): path = p
        case .postgres:
            // A rerun after a crash that switched the config but did not mark the old store.
            let local = project.dir.appendingPathComponent("tasks.db").path
            guard current.sameStore(as: target), FileManager.default.fileExists(atPath: local) else {
                throw MinskyError.invalid("db", "this project already uses \(current); nothing to upgrade")
            }
            path = local
        }
        return (path, url)
    }

    /// Pre-flight on SQLite, without writing to it: integrity, foreign keys, not already moved.
    static func preflight(_ pool: DatabasePool, path: String) throws {
        try pool.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA quick_check")
            guard integrity == ["ok"] else {
                throw MinskyError(
                    .storeIncompatible,
                    "\(path) fails its integrity check (\(integrity.prefix(3).joined(separator: "; "))); restore a backup before upgrading"
                )
            }
            let fk = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            guard fk.isEmpty else {
                throw MinskyError(
                    .storeIncompatible,
                    "\(path) has \(fk.count) broken foreign key(s); run `minsky backup verify` and repair before upgrading"
                )
            }
            if let moved = try String.fetchOne(db, sql: "SELECT url FROM store_moved") {
                throw MinskyError.invalid("db", "\(path) was already upgraded to \(moved)")
            }
        }
    }

    /// `.minsky/pre-migration-backup.db`, written whole or not at all (temporary file, rename).
    static func preMigrationBackup(project: Project, sqlitePath: String) throws -> String {
        let dest = project.dir.appendingPathComponent(backupName).path
        let tmp = dest + ".tmp"
        try? FileManager.default.removeItem(atPath: tmp)
        try SQLiteDriver.snapshot(path: sqlitePath, to: tmp)
        try AtomicFile.rename(tmp, to: dest)
        return dest
    }

    /// Runs blocking work on a dispatch queue, off Swift's cooperative pool.
    /// SQLite errors come back as `MinskyError`s that name the file.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run {
            do { return try work() } catch let e as MinskyError { throw e } catch {
                throw SQLiteDriver.map(error, path: "the SQLite store")
            }
        }
    }

    static func run(
        project: Project, sqlitePath: String, url: String, options: UpgradeOptions, reporter: (any TransferReporter)?
    ) throws -> UpgradeResult {
        let driver = try SQLiteDriver(path: sqlitePath, create: false)
        let pool = driver.databasePool
        defer { try? pool.close() }
        // Target reachable (host and port named on failure, never the password). Checked first, so
        // a wrong URL fails at once and writes no backup; a damaged store still explains more.
        let pg: PostgresSession
        do { pg = try PostgresSession(url: url) } catch {
            try preflight(pool, path: sqlitePath)
            throw error
        }
        if options.dryRun { try preflight(pool, path: sqlitePath) }
        // A second connection loads half the rows (see `Transfer.streamSQLiteToPostgres`); if the
        // server will not give one, the load runs on one, as a dry run does.
        let helper = options.dryRun ? nil : try? PostgresSession(url: url)
        // Pre-flight and backup read SQLite on a thread of their own, beside the copy (which holds
        // the write lock from its start, so all three see the same data); PostgreSQL commits only
        // once both have succeeded. On 100,000 tasks they took 0.6 s before the copy began. Their
        // failure explains any other (a damaged store, say), so it is the one reported.
        let checks: Beside<String>? =
            options.dryRun
            ? nil
            : Beside(yielding: true) {
                try preflight(pool, path: sqlitePath)
                let dest = try preMigrationBackup(project: project, sqlitePath: sqlitePath)
                Faults.point("after-backup")
                return dest
            }
        defer { _ = try? checks?.value() }  // before the pool closes
        func checked<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch {
                _ = try checks?.value()
                throw error
            }
        }

        /// Streams into an empty target; otherwise compares full digests first (rerun, --force).
        func copy(_ db: Database, dryRun: Bool) throws -> [TableReport] {
            let beforeCommit = { _ = try checks?.value() }
            if let reports = try Transfer.streamSQLiteToPostgres(
                db, pg: pg, helper: helper, dryRun: dryRun, reporter: reporter, beforeCommit: beforeCommit)
            {
                return reports
            }
            let exports = try Transfer.exportSQLite(db, reporter: reporter)
            reporter?.step("Exporting SQLite data...")
            return try Transfer.sqliteToPostgres(
                exports: exports, pg: pg, force: options.force, dryRun: dryRun, reporter: reporter,
                beforeCommit: beforeCommit
            ).reports
        }
        if options.dryRun {
            let reports = try pool.read { try copy($0, dryRun: true) }
            return UpgradeResult(
                tables: reports, backup: nil, database: pg.target.safeDescription, switched: false, dryRun: true)
        }

        // From here to the end, writers wait for the lock (up to the busy timeout) instead of
        // writing behind our back; once released they find the store marked moved and follow.
        var reports: [TableReport] = []
        var configURL = ""
        try checked {
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                do {
                    reports = try copy(db, dryRun: false)
                    Faults.point("switch")
                    // The password goes to ~/.pgpass; config.json gets the URL without it (atomic rename).
                    configURL = try Credentials.store(url: url)
                    var next = project
                    next.config.database = configURL
                    try next.save()
                    try db.execute(sql: "DELETE FROM store_moved")
                    try db.execute(
                        sql: "INSERT INTO store_moved (url, moved_at) VALUES (?, ?)",
                        arguments: [configURL, Timestamp.now().iso8601])
                    try db.execute(sql: "COMMIT")
                } catch {
                    try? db.execute(sql: "ROLLBACK")
                    throw error
                }
            }
        }
        let backup: String? = try checks?.value()
        reporter?.step("Switching backend configuration...")
        return UpgradeResult(tables: reports, backup: backup, database: configURL, switched: true, dryRun: false)
    }
}

/// Work started on a thread of its own, its result waited for (blocking) when needed, as often as
/// needed. `@unchecked Sendable`: `result` is written once, before `done` is signalled.
final class Beside<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    /// With `yielding`, the thread runs at a lower CPU priority (nice 10), so work on the
    /// critical path beside it goes first.
    init(yielding: Bool = false, _ work: @escaping @Sendable () throws -> T) {
        Thread { [self] in
            #if os(Linux)
                // (Linux: a nice value belongs to the thread; 0 names the calling one.)
                if yielding { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
            #endif
            result = Result { try work() }
            done.signal()
        }.start()
    }

    func value() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }

    /// Waits for every one (none is still using what they share when this returns), then
    /// throws the first failure in their order.
    static func values(_ all: [Beside<T>]) throws {
        let results = all.map { b in Result { try b.value() } }
        for r in results { _ = try r.get() }
    }
}
