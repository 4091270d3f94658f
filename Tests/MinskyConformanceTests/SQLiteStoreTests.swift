import Foundation
import GRDB
import Logging
import MinskyCore
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import Synchronization
import Testing

/// What only the SQLite store can get wrong: the file it is pointed at.
@Suite("SQLite store files")
struct SQLiteStoreTests {
    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func open(_ path: String) -> MinskyError? {
        do {
            _ = try SQLiteTaskStore(path: path, create: false)
            return nil
        } catch let e as MinskyError { return e } catch {
            return MinskyError(.internal, "\(error)")
        }
    }

    @Test func newStoreUsesWALAndRecordsNamedMigrations() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let store = try SQLiteTaskStore(path: path)
        _ = try await store.create(NewTask(title: "x"))
        let (mode, migrations, timeout) = try await store.driver.databasePool.read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier"),
                try Int.fetchOne(db, sql: "PRAGMA busy_timeout")
            )
        }
        #expect(mode == "wal")
        #expect(migrations == Schema.migrationNames)
        #expect((timeout ?? 0) >= 10_000)
        await store.close()
        // Reopening applies nothing new and keeps data.
        let again = try SQLiteTaskStore(path: path, create: false)
        #expect(try await again.count() == 1)
        await again.close()
    }

    @Test func notSQLiteFileIsRefusedUnmodified() throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("notes.db").path
        let content = Data(("This is a text file, not a database.\n" + String(repeating: "filler ", count: 100)).utf8)
        try content.write(to: URL(fileURLWithPath: path))
        let e = open(path)
        #expect(e?.code == .storeIncompatible)
        #expect(e?.message.contains("not a SQLite database") == true)
        #expect(try bytes(path) == content)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func foreignSQLiteDatabaseIsRefusedUnmodified() throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("other.db").path
        let q = try DatabaseQueue(path: path)
        try q.write { db in
            try db.execute(
                sql: "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat')"
            )
        }
        try q.close()
        let before = try bytes(path)
        let e = open(path)
        #expect(e?.code == .storeIncompatible)
        #expect(e?.message.contains("not a minsky store") == true)
        #expect(try bytes(path) == before)
    }

    @Test func readOnlyFileIsRefusedUnmodified() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let s = try SQLiteTaskStore(path: path)
        _ = try await s.create(NewTask(title: "keep me"))
        await s.close()
        let before = try bytes(path)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path) }
        let e = open(path)
        #expect(e?.code == .storeUnavailable)
        #expect(e?.message.contains("read-only") == true)
        #expect(try bytes(path) == before)
    }

    @Test func newerSchemaIsRefusedUnmodified() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let s = try SQLiteTaskStore(path: path)
        _ = try await s.create(NewTask(title: "from the future"))
        try await s.driver.databasePool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('999_future_feature')")
        }
        await s.close()
        let before = try bytes(path)
        let e = open(path)
        #expect(e?.code == .storeIncompatible)
        #expect(e?.message.contains("newer minsky") == true)
        #expect(e?.message.contains("999_future_feature") == true)
        #expect(try bytes(path) == before)
    }

    @Test func missingStoreWithoutCreateSaysRunInit() throws {
        let e = open("/nonexistent-dir-\(UUID().uuidString)/tasks.db")
        #expect(e?.code == .storeUnavailable)
        #expect(e?.message.contains("minsky init") == true)
    }

    /// Closing waits for the operations running on the store, and refuses those that start
    /// afterwards: GRDB closed a reader under a read still running on it, and `minsky mcp`
    /// crashed at exit about once in 30 sessions (examples/sample-session.sh).
    @Test func closingWaitsForReadsInFlightAndRefusesNewOnes() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let driver = try SQLiteDriver(path: dir.appendingPathComponent("t.db").path)
        let started = DispatchSemaphore(value: 0)
        // A read on the calling thread (how bounded reads run) and one on the blocking pool.
        let inline = Task.detached {
            try await driver.boundedRead { c -> Int64 in
                started.signal()
                usleep(300_000)
                return try c.query(SQL(raw: "SELECT count(*) FROM tasks")).first?[0].int ?? -1
            }
        }
        let pooled = Task {
            try await driver.read { c -> Int64 in
                started.signal()
                usleep(300_000)
                return try c.query(SQL(raw: "SELECT count(*) FROM tasks")).first?[0].int ?? -1
            }
        }
        started.wait()
        started.wait()
        // And reads that keep starting while the store closes (the race that crashed).
        let readers = (0..<8).map { _ in
            Task.detached { () -> Int in
                var n = 0
                while (try? await driver.boundedRead({ c in try c.query(SQL(raw: "SELECT 1")).count })) != nil {
                    n += 1
                }
                return n
            }
        }
        await driver.close()
        #expect(try await inline.value == 0, "the read in flight finished before the store closed")
        #expect(try await pooled.value == 0, "the read in flight finished before the store closed")
        for r in readers { _ = await r.value }
        await #expect(throws: MinskyError.self) { _ = try await driver.read { _ in 1 } }
        await #expect(throws: MinskyError.self) { _ = try await driver.boundedRead { _ in 1 } }
    }

    @Test func idsGrowWhenTheyCollide() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A generator that always draws the same short id: the store must grow it to stay unique.
        let store = try SQLiteTaskStore(
            path: dir.appendingPathComponent("t.db").path,
            makeID: { p, len in
                TaskID(trusted: "\(p)-" + String(repeating: "a", count: len))
            })
        let a = try await store.create(NewTask(title: "a"))
        let b = try await store.create(NewTask(title: "b"))
        let c = try await store.create(NewTask(title: "c"))
        #expect([a.id, b.id, c.id] == ["mk-aaaaa", "mk-aaaaaa", "mk-aaaaaaa"])
        // An import gives records without an id theirs on the writing side, around the store's
        // ids, the file's and each other's.
        var records = (0..<40).map { i in
            var r = TaskRecord(title: "imported \(i)", origin: "line \(i + 1)")
            if i % 10 == 1 { r.id = TaskID(trusted: "mk-" + String(repeating: "a", count: 8 + i / 10)) }
            return r
        }
        records[2].parentId = "mk-aaaaaaaa"
        let made = try await store.importRecords(records)
        #expect(made.count == 40 && Set(made).count == 40)
        #expect(try await store.count() == 43)
        #expect(made[1] == "mk-aaaaaaaa" && made[0] == "mk-aaaaaaaaaaaa", "\(made.prefix(3))")
        #expect(try await store.get(made[2]).parentId == "mk-aaaaaaaa")
        await store.close()
    }

    /// Every process left its write-ahead log behind (GRDB closes the writer before the
    /// read-only readers, which cannot checkpoint), so the next command paid to recover it: after
    /// an import of 100,000 tasks `tasks get` took 105 ms instead of 31. Closing folds the log
    /// into the file: what a process leaves is an empty log.
    @Test func closingLeavesNoLogForTheNextProcessToRecover() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-wal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let store = try SQLiteTaskStore(path: path)
        _ = try await store.createMany(
            (0..<2_000).map { NewTask(title: "task \($0)", description: String(repeating: "x", count: 200)) },
            progress: nil, isCancelled: { false })
        let wal = path + "-wal"
        let before = (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
        #expect(before > 100_000, "the writes went through the log (\(before) bytes)")
        await store.close()
        let after = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
        #expect(after == 0, "the log still holds \(after) bytes after close")
        let reopened = try SQLiteTaskStore(path: path, create: false)
        #expect(try await reopened.count() == 2_000)
        await reopened.close()
    }
}

/// A bounded write (one task's create, update, claim …) runs on the calling thread when nothing
/// can make it wait: the hop to GRDB's writer thread and back cost more than the write (create
/// 0.21 → 0.13 ms). When it could wait — another write of the process running, another process
/// holding SQLite's write lock — it must wait on the writer's queue, never on a thread of Swift's
/// cooperative pool (a handful, one per core: blocking them all stalls every task of the
/// process, an MCP server's included).
@Suite("SQLite bounded writes")
struct SQLiteBoundedWriteTests {
    /// Starts more bounded creates than the cooperative pool has threads while `hold` keeps the
    /// store's writer busy, then checks that this task gets a thread back before the hold ends
    /// (a watchdog thread ends the hold after 60 s either way, so a failure cannot hang). Returns
    /// the creates' outcomes.
    func createsWhileHeld(_ store: SQLiteTaskStore, releaseHold: @escaping @Sendable () -> Void) async throws
        -> [Result<TaskItem, any Error>]
    {
        let back = DispatchSemaphore(value: 0)
        let timedOut = Mutex(false)
        let watchdog = Thread {
            if back.wait(timeout: .now() + 60) == .timedOut { timedOut.withLock { $0 = true } }
            releaseHold()
        }
        watchdog.start()
        let n = ProcessInfo.processInfo.activeProcessorCount + 2
        let creates = (0..<n).map { i in
            Task { () -> Result<TaskItem, any Error> in
                do { return .success(try await store.create(NewTask(title: "while held \(i)"))) } catch {
                    return .failure(error)
                }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        back.signal()  // this task ran again while the writer was held
        var outcomes: [Result<TaskItem, any Error>] = []
        for c in creates { outcomes.append(await c.value) }
        #expect(!timedOut.withLock { $0 }, "the cooperative pool stayed blocked while the writer was held")
        return outcomes
    }

    @Test func uncontendedRunsHereAndContendedWaitsOffThePool() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-inline")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let store = try SQLiteTaskStore(path: path)

        // Uncontended: on the caller's thread.
        let caller = pthread_self()
        let ranOn = try await store.driver.boundedWrite { _ in pthread_self() }
        #expect(pthread_equal(caller, ranOn) != 0, "an uncontended bounded write hopped to another thread")

        // Another write of this process holds the writer.
        let held = Mutex(false)
        let release = DispatchSemaphore(value: 0)
        let long = Task {
            try await store.driver.write { _ -> Int in
                held.withLock { $0 = true }
                release.wait()
                return 0
            }
        }
        while !held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        let inProcess = try await createsWhileHeld(store) { release.signal() }
        _ = try await long.value
        for o in inProcess { _ = try o.get() }

        // Another connection (as another process would) holds SQLite's write lock: the inline
        // attempt does not wait for it, the write waits on the writer's queue with the usual busy
        // timeout (restored after the attempt: without it the wait fails at once with SQLITE_BUSY).
        // (Three rounds: a write that fell back must never be queued ahead of one inline.)
        let other = try DatabaseQueue(path: path)
        var crossProcess: [Result<TaskItem, any Error>] = []
        for _ in 0..<3 {
            let locked = DispatchSemaphore(value: 0)
            let unlock = DispatchSemaphore(value: 0)
            let holder = Thread {
                try? other.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    locked.signal()
                    unlock.wait()
                    try db.execute(sql: "COMMIT")
                }
            }
            holder.start()
            while locked.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(5)) }
            crossProcess += try await createsWhileHeld(store) { unlock.signal() }
        }
        for o in crossProcess { _ = try o.get() }

        // And the inline path again, once nothing holds the lock.
        let caller2 = pthread_self()
        let again = try await store.driver.boundedWrite { _ in pthread_self() }
        #expect(pthread_equal(caller2, again) != 0)
        #expect(try await store.count() == inProcess.count + crossProcess.count)
        try other.close()
        await store.close()
    }
}

/// Collects the SQL a store runs (the SQLite driver logs each statement at trace level).
final class StatementLog: LogHandler, @unchecked Sendable {
    let lines = NSLock()
    var statements: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.lock()
        statements.append("\(event.message)")
        lines.unlock()
    }
    func take() -> [String] {
        lines.lock()
        defer {
            statements = []
            lines.unlock()
        }
        return statements
    }
}

@Suite("Hot paths use indexes")
struct QueryPlanTests {
    /// Every statement behind get, next, the lists (by status, tag, text), a subtree and a task's
    /// dependencies reads through an index: SQLite's query plan shows no full scan of a table.
    /// (At a million tasks a full scan is the difference between 1 ms and a second.)
    @Test func theHotPathsReadThroughIndexes() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-plans")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tasks.db").path
        let log = StatementLog()
        let store = SQLTaskStore(driver: try SQLiteDriver(path: path, logger: Logger(label: "plans") { _ in log }))
        var records: [TaskRecord] = []
        for i in 0..<2_000 {
            var r = TaskRecord(title: "\(i % 10 == 0 ? "billing" : "parser") task \(i)", origin: "line \(i + 1)")
            r.id = TaskID(trusted: "mk-p\(i)")
            r.tags = [i % 3 == 0 ? "red" : "blue"]
            if i % 7 == 3 { r.status = .done }
            if i % 11 == 5 { r.status = .closed }
            if i % 20 != 0 { r.parentId = TaskID(trusted: "mk-p\(i - i % 20)") }
            if i % 20 > 1 { r.dependsOn = [TaskID(trusted: "mk-p\(i - 1)")] }
            records.append(r)
        }
        _ = try await store.importRecords(records)
        _ = log.take()
        _ = try await store.get("mk-p45")
        _ = try await store.details("mk-p45")
        _ = try await store.nextReady(limit: 5, filter: ReadyFilter())
        _ = try await store.pathLeases()
        _ = try await store.list(TaskQuery(limit: 50))
        _ = try await store.list(TaskQuery(statuses: [.todo], limit: 50))
        _ = try await store.list(TaskQuery(tag: "red", limit: 50))
        _ = try await store.list(TaskQuery(parent: .task("mk-p40"), limit: 50))
        _ = try await store.list(TaskQuery(text: "billing", limit: 25))
        _ = try await store.tree(root: "mk-p40")
        _ = try await store.board(BoardFilter(openLimit: 50, resolvedLimit: 20))
        _ = try await store.board(BoardFilter(tag: "billing", openLimit: 50, resolvedLimit: 20))
        let statements = log.take().filter { $0.hasPrefix("SELECT") || $0.hasPrefix("WITH") }
        #expect(statements.count >= 9, "\(statements)")
        await store.close()
        let q = try DatabaseQueue(path: path)
        defer { try? q.close() }
        let scans = try await q.read { db -> [String] in
            var scans: [String] = []
            for sql in Set(statements) {
                // The plan does not depend on the values: every placeholder is given NULL.
                // (A numbered placeholder, ?N, may appear twice and is one parameter.)
                let chars = Array(sql)
                var plain = 0
                var numbered = Set<String>()
                for (i, ch) in chars.enumerated() where ch == "?" {
                    let digits = String(chars[(i + 1)...].prefix { $0.isNumber })
                    if digits.isEmpty { plain += 1 } else { numbered.insert(digits) }
                }
                let nulls = StatementArguments(
                    Array(repeating: DatabaseValue.null, count: plain + numbered.count))
                for row in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: nulls) {
                    let detail: String = row["detail"]
                    // Path leases are read from their own partial index (claims with paths only).
                    if sql.contains("paths <> '[]'"), !detail.contains("tasks_leases") {
                        scans.append("\(detail) (not tasks_leases) in: \(sql.prefix(200))")
                    }
                    // A table read whole: "SCAN x" without an index. Not tables: the text index's
                    // own scan, a recursive query's working table, a subquery's rows. Tables of a
                    // handful of rows by design: store_moved (a marker), tasks_fts_pending (at most
                    // 64 tasks waiting for the text index).
                    let small = ["SCAN store_moved", "SCAN tasks_fts_pending", "SCAN (subquery", "SCAN sub", "SCAN r"]
                    // An index walked in order is a page only when the statement stops (LIMIT).
                    // (The board's counts by status read the status index whole, by design: 70 ms
                    // at a million tasks, within the board's one second.)
                    let counts = sql.contains("GROUP BY t.status")
                    // The leases' partial index holds only claims with paths: read whole by design.
                    let walksWhole =
                        detail.contains("USING") && !sql.contains("LIMIT") && !counts
                        && !detail.contains("tasks_leases")
                    // A board column is read in its index's order: sorting a column (a million
                    // tasks at most) for a page is what its indexes are for.
                    if detail.contains("TEMP B-TREE FOR ORDER BY"),
                        sql.contains("ORDER BY t.updated_at DESC")
                            || sql.contains("ORDER BY t.priority, t.created_at, t.id LIMIT")
                    {
                        scans.append("\(detail) in: …\(sql.suffix(220))")
                    }
                    if detail.hasPrefix("SCAN "), !detail.contains("USING") || walksWhole,
                        !detail.contains("VIRTUAL TABLE"), !small.contains(where: { detail.hasPrefix($0) })
                    {
                        scans.append("\(detail) in: \(sql.prefix(160))")
                    }
                }
            }
            return scans
        }
        #expect(scans.isEmpty, "full scans:\n\(scans.joined(separator: "\n"))")
    }
}

/// Bulk rows are bound straight to SQLite (not through GRDB's arguments): what they store and
/// how they fail must be what a statement would store and raise.
@Suite("SQLite bulk insert")
struct SQLiteBulkInsertTests {
    @Test func valuesRoundTripAndAConstraintFailureIsNamed() async throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let driver = try SQLiteDriver(path: dir.appendingPathComponent("t.db").path)
        defer { Task { await driver.close() } }
        _ = try await driver.write { c in
            try c.execute(SQL(raw: "CREATE TABLE bulk (id TEXT PRIMARY KEY, n INTEGER, x REAL, b BLOB, note TEXT)"))
        }
        var rows = SQLRows("bulk", [("id", .text), ("n", .integer), ("x", .integer), ("b", .blob), ("note", .text)])
        for i in 0..<1_234 {
            rows.append(
                .text("r\(i)"), .int(Int64(i) * 1_000_000_007), .double(Double(i) / 3), .blob([0, 1, UInt8(i % 256)]),
                i % 2 == 0 ? .null : .text("naïve \u{1F600} \(i)"))
        }
        try await driver.write { [rows] c in try c.insert(rows) }
        let back = try await driver.read { c in try c.query(SQL(raw: "SELECT id, n, x, b, note FROM bulk ORDER BY n")) }
        #expect(back.count == 1_234)
        #expect(
            back[7][0] == .text("r7") && back[7][1] == .int(7_000_000_049) && back[7][4] == .text("naïve \u{1F600} 7"))
        #expect(back[8][4] == .null && back[8][2].double == 8.0 / 3 && back[8][3] == .blob([0, 1, 8]))
        // A duplicate key in the second statement's rows: nothing of the transaction stays.
        var again = SQLRows("bulk", [("id", .text), ("n", .integer), ("x", .integer), ("b", .blob), ("note", .text)])
        for i in 0..<900 { again.append(.text(i == 700 ? "r3" : "s\(i)"), .int(0), .double(0), .null, .null) }
        let duplicate = again
        let e = await #expect(throws: MinskyError.self) { try await driver.write { c in try c.insert(duplicate) } }
        #expect(
            e?.code == .invalidInput && e?.message.contains("UNIQUE constraint failed: bulk.id") == true,
            "\(String(describing: e))")
        #expect(
            try await driver.read { c in try c.query(SQL(raw: "SELECT count(*) FROM bulk")) }.first?[0] == .int(1_234))
    }
}
