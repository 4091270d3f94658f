import Foundation
import GRDB
import GRDBSQLite
import Logging
import MinskyCore
import MinskySQL
import Synchronization

/// SQLite through GRDB: a WAL-mode `DatabasePool` (concurrent readers, one writer), a busy
/// timeout so concurrent processes wait instead of failing, and named migrations recorded in
/// the database by GRDB's `DatabaseMigrator`.
public struct SQLiteDriver: SQLDriver {
    public let dialect = SQLDialect.sqlite
    public let path: String
    let pool: DatabasePool
    /// Operations running on the pool: closing waits for them (GRDB closes a reader under a read
    /// still running on it, which crashed `minsky mcp` at exit about once in 30 sessions), and an
    /// operation that starts once closing began is refused.
    let operations = PoolOperations()
    /// Every statement is logged at `trace` level (MINSKY_LOG_LEVEL=trace shows the SQL a command
    /// runs; tests read the statements back to check their query plans).
    let logger: Logger

    public var location: String { "sqlite:\(path)" }
    public var filePath: String? { path }

    public static let busyTimeout: TimeInterval = 60

    /// Opens (creating if missing) the store at `path` and applies pending migrations. A file that
    /// is not SQLite, is read-only, or was written by a newer minsky is refused unmodified.
    public init(path: String, create: Bool = true, logger: Logger = Logger(label: "minsky.sqlite")) throws {
        self.path = path
        self.logger = logger
        let fm = FileManager.default
        let exists = fm.fileExists(atPath: path)
        if !exists && !create {
            throw MinskyError(.storeUnavailable, "no SQLite store at \(path); run `minsky init` to create one")
        }
        if exists {
            try Self.preflight(path: path)
        } else {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty && !fm.fileExists(atPath: dir) {
                do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                    throw MinskyError(
                        .storeUnavailable,
                        "cannot create directory \(dir) for the SQLite store: \(error.localizedDescription)")
                }
            }
        }
        var config = Configuration()
        config.busyMode = .timeout(Self.busyTimeout)
        config.foreignKeysEnabled = true
        config.label = "minsky"
        // WAL + synchronous=NORMAL: commits never corrupt and survive a crash of the process;
        // only a power loss can drop the last commits. It removes an fsync from every write.
        // The log is bounded: after a checkpoint it is cut back to 64 MiB at most.
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw Self.map(error, path: path)
        }
        do {
            let location = path
            let recorded = try pool.read { db in try SQLiteMigrations(db: db, location: location).recordedMigrations() }
            if try !MigrationRunner.pending(recorded: recorded, location: path).isEmpty {
                logger.debug("migrating SQLite store", metadata: ["path": "\(path)"])
                // BEGIN IMMEDIATE: one migrator at a time; the names are read again inside.
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        try MigrationRunner.apply(to: SQLiteMigrations(db: db, location: location))
                        return .commit
                    }
                }
            }
        } catch let e as MinskyError {
            try? pool.close()
            throw e
        } catch {
            try? pool.close()
            throw Self.map(error, path: path)
        }
    }

    /// Checks made before SQLite touches an existing file, so a refused file stays byte-identical.
    /// Read-only: SQLite's `quick_check` of the file (["ok"] when healthy).
    public static func quickCheck(path: String) throws -> [String] {
        var config = Configuration()
        config.readonly = true
        do {
            let q = try DatabaseQueue(path: path, configuration: config)
            defer { try? q.close() }
            return try q.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
        } catch {
            throw map(error, path: path)
        }
    }

    /// Read-only: refuses a file that is not a minsky store or holds migrations this build does
    /// not know (a newer minsky wrote it), without changing a byte.
    public static func checkSchemaKnown(path: String) throws {
        var config = Configuration()
        config.readonly = true
        let names: [String]?
        do {
            let q = try DatabaseQueue(path: path, configuration: config)
            defer { try? q.close() }
            names = try q.read { db in
                try db.tableExists("grdb_migrations")
                    ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : nil
            }
        } catch {
            throw map(error, path: path)
        }
        guard let names else {
            throw MinskyError(
                .storeIncompatible,
                "\(path) is not a minsky store (no migrations table); point --db at .minsky/tasks.db. The file was not modified."
            )
        }
        let unknown = Set(names).subtracting(Schema.migrationNames)
        if !unknown.isEmpty { throw Schema.newerSchemaError(unknown: Array(unknown), location: path) }
    }

    public static func preflight(path: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path) else {
            throw MinskyError(
                .storeUnavailable, "no SQLite store at \(path); run `minsky init` to create one, or check the path")
        }
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw MinskyError(
                .storeUnavailable, "cannot read \(path): permission denied; check the file's owner and mode")
        }
        let header = (try? fh.read(upToCount: 100)) ?? Data()
        try? fh.close()
        if header.isEmpty { return }
        let magic = Data("SQLite format 3\u{0}".utf8)
        guard header.count >= 100, header.prefix(16) == magic else {
            throw MinskyError(
                .storeIncompatible,
                "\(path) is not a SQLite database; point --db at a minsky store (.minsky/tasks.db) or run `minsky init` elsewhere. The file was not modified."
            )
        }
        // stat(2), not FileManager's attributes (those look the owner and group names up in
        // /etc/passwd and /etc/group: a few milliseconds of every command).
        var st = stat()
        let mode = stat(path, &st) == 0 ? Int(st.st_mode) & 0o7777 : 0o644
        let dir = (path as NSString).deletingLastPathComponent
        if !fm.isWritableFile(atPath: path) || mode & 0o222 == 0 || !fm.isWritableFile(atPath: dir.isEmpty ? "." : dir)
        {
            throw MinskyError(
                .storeUnavailable,
                "\(path) is read-only (or its directory is); minsky needs to write the store and its -wal file. Make it writable (chmod u+w) and retry. The file was not modified."
            )
        }
        // A legacy rollback-journal file (header byte 18 == 1) would be switched to WAL by opening
        // a pool: first make sure it is a minsky store (or empty) before touching it.
        if header[18] == 1 {
            var config = Configuration()
            config.readonly = true
            let names: [String]
            do {
                let q = try DatabaseQueue(path: path, configuration: config)
                names = try q.read { db in
                    try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                try q.close()
            } catch {
                throw map(error, path: path)
            }
            if !names.isEmpty && !names.contains("grdb_migrations") {
                throw MinskyError(
                    .storeIncompatible,
                    "\(path) is a SQLite database but not a minsky store (tables: \(names.prefix(5).joined(separator: ", "))); use another path. The file was not modified."
                )
            }
        }
    }

    public static func map(_ error: any Error, path: String) -> MinskyError {
        if let e = error as? MinskyError { return e }
        guard let db = error as? DatabaseError else {
            return MinskyError(.internal, "SQLite store \(path): \(error.localizedDescription)")
        }
        switch db.resultCode {
        case .SQLITE_NOTADB:
            return MinskyError(
                .storeIncompatible, "\(path) is not a SQLite database (or is encrypted); point --db at a minsky store")
        case .SQLITE_CORRUPT:
            return MinskyError(
                .storeIncompatible, "\(path) is corrupt (\(db.message ?? "malformed")); restore it from a backup")
        case .SQLITE_READONLY:
            return MinskyError(.storeUnavailable, "\(path) is read-only; make it writable (chmod u+w) and retry")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return MinskyError(
                .storeUnavailable,
                "\(path) stayed locked by another process for \(Int(busyTimeout)) s; retry, or look for a stuck minsky process"
            )
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return MinskyError(
                .storeUnavailable,
                "cannot open \(path): \(db.message ?? "permission denied"); check the path and permissions")
        case .SQLITE_FULL, .SQLITE_IOERR:
            return MinskyError(
                .storeUnavailable, "I/O error on \(path): \(db.message ?? "disk full?"); free disk space and retry")
        case .SQLITE_CONSTRAINT:
            return MinskyError(
                .invalidInput,
                "the change breaks a store constraint (\(db.message ?? "constraint")); check ids and values")
        default:
            return MinskyError(
                .internal, "SQLite error on \(path): \(db.message ?? "\(db.resultCode)")", detail: db.sql)
        }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await operations.enterWrite(path)
        defer { operations.leaveWrite() }
        do {
            return try await pool.write { db in try body(GRDBConnection(db: db, logger: logger)) }
        } catch {
            throw Self.map(error, path: path)
        }
    }

    /// A write of a few rows found by index (one task's create, update, claim …) runs inline, on
    /// the calling thread, when it cannot wait: no other write of this process is running or
    /// queued, and SQLite's write lock is free at once (`BEGIN IMMEDIATE` without the busy wait;
    /// the statements after it keep the usual timeout). Otherwise it takes `write`'s path and
    /// waits there, on GRDB's writer queue. The two hops of that path (to the writer's thread and
    /// back) cost more than the write itself: create 0.21 → 0.13 ms p50 (BENCHMARKS.md).
    public func boundedWrite<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws
        -> T
    {
        if try operations.enterInlineWrite(path) {
            defer { operations.leaveInlineWrite() }
            do {
                if let value = try writeHereIfFree(body) { return value }
            } catch {
                throw Self.map(error, path: path)
            }
        }
        return try await write(body)
    }

    /// `body` in an IMMEDIATE transaction on the calling thread, or nil (nothing run) when another
    /// connection holds SQLite's write lock.
    func writeHereIfFree<T>(_ body: (any SQLConnection) throws -> T) throws -> T? {
        try pool.writeWithoutTransaction { db -> T? in
            let connection = db.sqliteConnection
            let wait = CInt(Self.busyTimeout * 1000)
            sqlite3_busy_timeout(connection, 0)
            defer { sqlite3_busy_timeout(connection, wait) }  // (if BEGIN failed)
            var began = false
            var value: T?
            do {
                try db.inTransaction(.immediate) {
                    began = true
                    sqlite3_busy_timeout(connection, wait)
                    value = try body(GRDBConnection(db: db, logger: logger))
                    return .commit
                }
            } catch let e as DatabaseError where !began && e.resultCode == .SQLITE_BUSY {
                return nil
            }
            return value
        }
    }

    /// WAL readers never wait for a lock, and a read of a few rows by index from the page cache
    /// takes microseconds: it runs inline, where a hop to another thread would cost more than the
    /// query (get 0.03 ms inline against 0.06 ms with the hop, BENCHMARKS.md).
    public func boundedRead<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    {
        do {
            return try readHere(body)
        } catch {
            throw Self.map(error, path: path)
        }
    }

    /// GRDB's synchronous read, on the calling thread (a plain function, so the compiler does not
    /// pick the async overload).
    func readHere<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try operations.enter(path)
        defer { operations.leave() }
        return try pool.read { db in try body(GRDBConnection(db: db, logger: logger)) }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        do {
            // On GRDB's reader queue: a read may be long (every embedding of a model), and the
            // cooperative pool's threads must not block on it.
            try operations.enter(path)
            defer { operations.leave() }
            let pool = pool
            return try await Blocking.run { try pool.read { db in try body(GRDBConnection(db: db, logger: logger)) } }
        } catch {
            throw Self.map(error, path: path)
        }
    }

    /// A consistent copy of the store at `dest` (`VACUUM INTO` on a connection of its own, so
    /// writers keep going while it runs).
    public static func snapshot(path: String, to dest: String) throws {
        do {
            var config = Configuration()
            config.busyMode = .timeout(busyTimeout)
            let q = try DatabaseQueue(path: path, configuration: config)
            defer { try? q.close() }
            try q.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [dest]) }
        } catch {
            throw map(error, path: path)
        }
    }

    /// Folds the WAL into the main file and closes, so the file alone is the whole database and
    /// can be renamed or copied (backups, rollback).
    public func closeAsSingleFile() throws {
        operations.closeWhenIdle()
        do {
            try pool.writeWithoutTransaction { db in _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try pool.close()
        } catch {
            throw Self.map(error, path: path)
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber
        if let wal, wal.intValue > 0 {
            throw MinskyError(
                .internal, "\(path) still has \(wal.intValue) bytes of write-ahead log after closing; retry")
        }
    }

    /// Raw access for backup and upgrade tooling in the same process.
    public var databasePool: DatabasePool { pool }

    /// Folds the write-ahead log into the file, then closes. GRDB closes the writer before the
    /// readers, and a read-only connection closing last cannot checkpoint, so without this every
    /// process left its log behind and the next one paid to recover it (a `tasks get` after a
    /// large import took three times as long).
    public func close() async {
        let operations = operations
        await Blocking.run { operations.closeWhenIdle() }
        _ = try? pool.writeWithoutTransaction { db in try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try? pool.close()
    }
}

struct GRDBConnection: SQLConnection {
    let db: Database
    let logger: Logger
    var dialect: SQLDialect { .sqlite }

    func arguments(_ s: SQLStatement) -> StatementArguments {
        StatementArguments(
            s.binds.map { v -> (any DatabaseValueConvertible)? in
                switch v {
                case .null: nil
                case .int(let i): i
                case .double(let x): x
                case .text(let t): t
                case .blob(let b): Data(b)
                }
            })
    }

    func execute(_ s: SQLStatement) throws -> Int {
        if logger.logLevel <= .trace { logger.trace("\(s.sql)") }
        let st = try db.cachedStatement(sql: s.sql)
        try st.execute(arguments: arguments(s))
        return db.changesCount
    }

    /// Rows go in through prepared multi-row INSERTs (a few hundred rows a statement: one
    /// statement a row wrote SQLite's statement journal to a temporary file for every row), each
    /// value bound straight to SQLite: no boxed argument per value.
    func insert(_ rows: SQLRows) throws {
        let width = rows.columns.count
        let perStatement = max(1, min(500, 30_000 / width))
        let head = "INSERT INTO \(rows.table) (\(rows.columns.map(\.name).joined(separator: ", "))) VALUES "
        let tuple = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for first in stride(from: 0, to: rows.count, by: perStatement) {
            let n = min(perStatement, rows.count - first)
            let sql = head + Array(repeating: tuple, count: n).joined(separator: ", ")
            if logger.logLevel <= .trace { logger.trace("\(head)… × \(n)") }
            let statement = try db.cachedStatement(sql: sql)
            let h = statement.sqliteStatement
            defer { sqlite3_reset(h) }
            sqlite3_reset(h)
            for (k, value) in rows.values[(first * width)..<((first + n) * width)].enumerated() {
                let i = Int32(k + 1)
                let rc: Int32
                switch value {
                case .null: rc = sqlite3_bind_null(h, i)
                case .int(let v): rc = sqlite3_bind_int64(h, i, v)
                case .double(let x): rc = sqlite3_bind_double(h, i, x)
                case .text(let t): rc = t.withCString { sqlite3_bind_text(h, i, $0, Int32(t.utf8.count), transient) }
                case .blob(let b):
                    rc = b.withUnsafeBytes { sqlite3_bind_blob(h, i, $0.baseAddress, Int32(b.count), transient) }
                }
                if rc != SQLITE_OK { throw failure(rc, head) }
            }
            let rc = sqlite3_step(h)
            if rc != SQLITE_DONE { throw failure(rc, head) }
        }
    }

    /// SQLite's error for a statement run by hand, as GRDB would have raised it.
    func failure(_ code: Int32, _ sql: String) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
            sql: sql)
    }

    func query(_ s: SQLStatement) throws -> [SQLRow] {
        if logger.logLevel <= .trace { logger.trace("\(s.sql)") }
        let st = try db.cachedStatement(sql: s.sql)
        let names = SQLColumnNames(st.columnNames)
        var out: [SQLRow] = []
        let rows = try Row.fetchCursor(st, arguments: arguments(s))
        while let row = try rows.next() {
            out.append(SQLRow(row.databaseValues.map(SQLValue.init), columns: names))
        }
        return out
    }

    func forEachTextAndBlob(_ s: SQLStatement, _ body: (String, UnsafeRawBufferPointer) throws -> Void) throws {
        let rows = try Row.fetchCursor(try db.cachedStatement(sql: s.sql), arguments: arguments(s))
        while let row = try rows.next() {
            let id: String = row[0]
            try row.withUnsafeData(atIndex: 1) { data in
                guard let data else { return }
                try data.withUnsafeBytes { try body(id, $0) }
            }
        }
    }
}

/// The SQLite-backed store.
public typealias SQLiteTaskStore = SQLTaskStore<SQLiteDriver>

extension SQLTaskStore where Driver == SQLiteDriver {
    public convenience init(
        path: String, idPrefix: String = TaskID.defaultPrefix, create: Bool = true,
        now: @escaping @Sendable () -> Timestamp = { .now() },
        makeID: @escaping @Sendable (String, Int) -> TaskID = { TaskID.random(prefix: $0, length: $1) },
        actor: String = "unknown"
    ) throws {
        self.init(
            driver: try SQLiteDriver(path: path, create: create), idPrefix: idPrefix, now: now, makeID: makeID,
            actor: actor)
    }
}

/// SQLite's migration record: GRDB's `grdb_migrations` table, which every existing store has.
struct SQLiteMigrations: MigrationTarget {
    let db: Database
    let location: String
    var dialect: SQLDialect { .sqlite }
    var migrationLocation: String { location }

    func recordedMigrations() throws -> Set<String> {
        guard try db.tableExists("grdb_migrations") else { return [] }
        return Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
    }

    func executeMigration(_ sql: String) throws { try db.execute(sql: sql) }

    func createMigrationRecord() throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
    }

    func recordMigration(_ name: String) throws {
        try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [name])
    }
}

/// Notices commits made by any process to a SQLite file: `PRAGMA data_version` on a connection
/// of its own changes whenever another connection commits. On Linux it sleeps in poll(2) on an
/// inotify watch of the file's directory and looks only when the database or its WAL was written
/// (no CPU at all while nothing happens); elsewhere it looks every 100 ms.
/// `@unchecked Sendable`: used by one watcher thread at a time, by contract.
public final class SQLiteCommitWatcher: @unchecked Sendable {
    let queue: DatabaseQueue
    var last: Int64 = -1
    let fileName: String
    #if os(Linux)
        let inotify: Int32
    #endif

    public init(path: String) throws {
        var config = Configuration()
        config.readonly = true
        do { queue = try DatabaseQueue(path: path, configuration: config) } catch {
            throw SQLiteDriver.map(error, path: path)
        }
        let url = URL(fileURLWithPath: path)
        fileName = url.lastPathComponent
        #if os(Linux)
            inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            if inotify >= 0 {
                let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO)
                _ = inotify_add_watch(inotify, url.deletingLastPathComponent().path, mask)
            }
        #endif
        last = (try? version()) ?? -1
    }

    deinit {
        #if os(Linux)
            if inotify >= 0 { close(inotify) }
        #endif
    }

    func version() throws -> Int64 {
        try queue.inDatabase { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? -1 }
    }

    /// Sleeps until the database file or its WAL is written to (true), or `timeout` seconds pass.
    func sleepUntilWritten(timeout: Double) -> Bool {
        #if os(Linux)
            guard inotify >= 0 else {
                usleep(UInt32(min(timeout, 0.1) * 1_000_000))
                return true
            }
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { return false }
                var p = pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { return false }
                let n = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                guard n > 0 else { continue }
                // Only the database and its WAL matter: our own reads touch the -shm file.
                var offset = 0
                while offset + 16 <= n {
                    let nameLength = buffer.withUnsafeBytes {
                        Int($0.load(fromByteOffset: offset + 12, as: UInt32.self))
                    }
                    let nameBytes = buffer[(offset + 16)..<min(n, offset + 16 + nameLength)].prefix { $0 != 0 }
                    let name = String(decoding: nameBytes, as: UTF8.self)
                    if name == fileName || name == fileName + "-wal" || name == fileName + "-journal" { return true }
                    offset += 16 + nameLength
                }
            }
        #else
            usleep(UInt32(min(timeout, 0.1) * 1_000_000))
            return true
        #endif
    }

    /// True when another connection committed since the last call; false after `timeout` seconds.
    public func wait(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let v = try? version(), v != last {
                last = v
                return true
            }
            guard sleepUntilWritten(timeout: deadline.timeIntervalSinceNow) else { break }
            // A commit writes the WAL first and then the shared-memory index (which sends no
            // event) that makes it visible: look again briefly before sleeping on.
            for _ in 0..<25 where Date() < deadline {
                if let v = try? version(), v != last {
                    last = v
                    return true
                }
                usleep(2000)
            }
        } while Date() < deadline
        if let v = try? version(), v != last {
            last = v
            return true
        }
        return false
    }
}

/// How many operations run on a pool, and whether it is closing (see `SQLiteDriver.operations`).
final class PoolOperations: Sendable {
    struct State {
        var running = 0
        /// Writes running or queued on the pool's writer.
        var writes = 0
        /// A write running on its caller's thread, the writes waiting for it to end (no new one
        /// runs inline while any waits, so a stream of them cannot starve a bulk write), and how
        /// many those are.
        var inline = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var pending = 0
        var closing = false
    }
    let state = Mutex(State())

    func enter(_ path: String) throws {
        try state.withLock { s in
            if s.closing { throw MinskyError(.storeUnavailable, "the store at \(path) was closed") }
            s.running += 1
        }
    }

    func leave() { state.withLock { $0.running -= 1 } }

    /// Enters a write on the pool's writer queue. While a write runs inline (below) it waits, so
    /// that write never finds one of ours queued ahead of it (one waiting for another process's
    /// lock would hold it, and the thread it runs on, for up to the busy timeout).
    func enterWrite(_ path: String) async throws {
        var waited = false
        while true {
            let entered = try state.withLock { s -> Bool in
                if s.closing {
                    if waited { s.pending -= 1 }
                    throw MinskyError(.storeUnavailable, "the store at \(path) was closed")
                }
                guard !s.inline else {
                    if !waited { s.pending += 1 }
                    return false
                }
                if waited { s.pending -= 1 }
                s.running += 1
                s.writes += 1
                return true
            }
            if entered { return }
            waited = true
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if !s.inline { return true }
                    s.waiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    func leaveWrite() {
        state.withLock { s in
            s.running -= 1
            s.writes -= 1
        }
    }

    /// Enters a write that runs on the calling thread: only when no other write is running,
    /// queued or inline (returns false, entering nothing, otherwise).
    func enterInlineWrite(_ path: String) throws -> Bool {
        try state.withLock { s in
            if s.closing { throw MinskyError(.storeUnavailable, "the store at \(path) was closed") }
            if s.writes > 0 || s.inline || s.pending > 0 { return false }
            s.running += 1
            s.inline = true
            return true
        }
    }

    func leaveInlineWrite() {
        let waiting = state.withLock { s in
            s.running -= 1
            s.inline = false
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in waiting { c.resume() }
    }

    /// Refuses new operations, then waits (up to 10 s) for the running ones to end.
    func closeWhenIdle() {
        state.withLock { $0.closing = true }
        for _ in 0..<10_000 {
            if state.withLock({ $0.running }) <= 0 { return }
            usleep(1000)
        }
    }
}

extension SQLValue {
    /// A value as SQLite stored it.
    public init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case .int64(let i): self = .int(i)
        case .double(let x): self = .double(x)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .blob([UInt8](b))
        }
    }
}
