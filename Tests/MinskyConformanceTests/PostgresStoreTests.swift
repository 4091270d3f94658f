import Foundation
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskyTestSupport
import Testing

/// What only the PostgreSQL store can get wrong: reaching the server and its schema version.
@Suite("PostgreSQL store connections")
struct PostgresStoreTests {
    /// A driver on one connection and a table of its own; `cleanUp` drops the table, then closes
    /// the driver.
    static func scratchTable(_ prefix: String, columns: String = "n integer PRIMARY KEY") async throws -> (
        driver: PostgresDriver, table: String, cleanUp: @Sendable () -> Void
    ) {
        let driver = try await PostgresDriver(url: try TestEnvironment.postgresURL(), maxConnections: 1)
        let table = "\(prefix)\(UInt32.random(in: 0...UInt32.max))"
        try await driver.write { c in _ = try c.execute(SQL(raw: "CREATE TABLE \(table) (\(columns))")) }
        return (
            driver, table,
            {
                Task {
                    try? await driver.write { c in _ = try c.execute(SQL(raw: "DROP TABLE \(table)")) }
                    await driver.close()
                }
            }
        )
    }

    func connectError(_ url: String) async -> MinskyError? {
        do {
            _ = try await PostgresTaskStore.connect(url: url)
            return nil
        } catch let e as MinskyError { return e } catch {
            return MinskyError(.internal, "\(error)")
        }
    }

    @Test func unreachableServerNamesHostAndPortButNeverThePassword() async throws {
        let e = await connectError("postgresql://alice:s3cr3t-pw@127.0.0.1:1/tasks")
        #expect(e?.code == .storeUnavailable)
        #expect(e?.message.contains("127.0.0.1:1") == true)
        #expect(e?.message.contains("s3cr3t-pw") == false)
        #expect(e.map { "\($0)" }?.contains("s3cr3t-pw") == false)
    }

    /// A transaction's BEGIN travels with its first statement (one round trip): when that
    /// statement fails, or BEGIN's would-be transaction is refused, the error is the statement's,
    /// nothing of it stays, and the same connection serves the next transaction; a transaction
    /// that runs nothing sends nothing.
    @Test func beginSharesTheFirstStatementsRoundTripAndFailuresLeaveTheConnectionClean() async throws {
        let (driver, table, cleanUp) = try await Self.scratchTable("pipe_")
        defer { cleanUp() }
        let e = await #expect(throws: MinskyError.self) {
            try await driver.write { c in
                _ = try c.execute(SQL(raw: "INSERT INTO \(table) VALUES (1), (1)"))
            }
        }
        #expect(
            e?.message.contains("duplicate key") == true || e?.message.contains("unique") == true,
            "\(String(describing: e))")
        // The first statement succeeds, a later one fails: the whole transaction is rolled back.
        await #expect(throws: MinskyError.self) {
            try await driver.write { c in
                _ = try c.execute(SQL(raw: "INSERT INTO \(table) VALUES (2)"))
                _ = try c.execute(SQL(raw: "SELECT 1 / 0"))
            }
        }
        let empty: Int64 = try await driver.read { c in
            try c.query(SQL(raw: "SELECT count(*) FROM \(table)")).first?[0].int ?? -1
        }
        #expect(empty == 0)
        // Nothing run: nothing sent, and the connection is idle for the next one.
        try await driver.write { _ in }
        try await driver.write { c in _ = try c.execute(SQL(raw: "INSERT INTO \(table) VALUES (3)")) }
        let inTransaction: [String] = try await driver.read { c in
            try c.query(
                SQL(raw: "SELECT n::text FROM \(table) UNION ALL SELECT current_setting('transaction_read_only')")
            )
            .compactMap { $0[0].text }
        }
        #expect(inTransaction == ["3", "on"], "the read ran as the read-only transaction it asked for")
    }

    /// Statements whose results are not needed travel with the next one or the COMMIT: a later
    /// read sees them, their failure fails the transaction (nothing of it stays, the connection
    /// serves the next one), and outside a transaction they run at once.
    @Test func laterStatementsGoWithTheNextOneAndTheirFailureFailsTheTransaction() async throws {
        let (driver, table, cleanUp) = try await Self.scratchTable("later_")
        defer { cleanUp() }
        let seen: [Int64] = try await driver.write { c in
            try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (1)"))
            try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (2)"))
            return try c.query(SQL(raw: "SELECT n FROM \(table) ORDER BY n")).compactMap { $0[0].int }
        }
        #expect(seen == [1, 2])
        // Only queued, then COMMIT: the duplicate fails the transaction, its other row is gone too.
        let e = await #expect(throws: MinskyError.self) {
            try await driver.write { c in
                try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (3)"))
                try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (1)"))
            }
        }
        #expect(e?.message.contains("duplicate key") == true, "\(String(describing: e))")
        // A statement whose result is needed carries the queue; the queue's failure is what is thrown.
        await #expect(throws: MinskyError.self) {
            try await driver.write { c in
                try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (2)"))
                _ = try c.query(SQL(raw: "SELECT 1"))
            }
        }
        // A transaction that fails before its queue was sent sends none of it.
        await #expect(throws: MinskyError.self) {
            try await driver.write { c in
                try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (4)"))
                throw MinskyError(.invalidInput, "changed my mind")
            }
        }
        try await driver.autocommit { c in try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (5)")) }
        let rows: [Int64] = try await driver.read { c in
            try c.query(SQL(raw: "SELECT n FROM \(table) ORDER BY n")).compactMap { $0[0].int }
        }
        #expect(rows == [1, 2, 5])
    }

    /// A statement sent without waiting (`executeSoon`) runs while the caller goes on: the next
    /// statement, COPY or COMMIT reads its result, and its failure fails the transaction there
    /// (nothing of it stays; the connection serves the next one). Outside a transaction it runs
    /// at once.
    @Test func soonStatementsRunMeanwhileAndTheirFailureFailsTheTransaction() async throws {
        let (driver, table, cleanUp) = try await Self.scratchTable("soon_")
        defer { cleanUp() }
        func rows() async throws -> [Int64] {
            try await driver.read { c in
                try c.query(SQL(raw: "SELECT n FROM \(table) ORDER BY n")).compactMap { $0[0].int }
            }
        }
        let seen: [Int64] = try await driver.write { c in
            try c.executeSoon(SQL(raw: "INSERT INTO \(table) VALUES (1)"))
            try c.executeLater(SQL(raw: "INSERT INTO \(table) VALUES (2)"))
            try c.executeSoon(SQL(raw: "INSERT INTO \(table) VALUES (3)"))
            // A COPY after them (64 rows or more go by COPY).
            var bulk = SQLRows(table, [("n", .integer)])
            for n in 100..<200 { bulk.append(.int(Int64(n))) }
            try c.insert(bulk)
            return try c.query(SQL(raw: "SELECT n FROM \(table) WHERE n < 100 ORDER BY n")).compactMap { $0[0].int }
        }
        #expect(seen == [1, 2, 3])
        #expect(try await rows().count == 103)
        for ending in ["commit", "query", "copy", "throw"] {
            await #expect(throws: MinskyError.self, "\(ending)") {
                try await driver.write { c in
                    try c.executeSoon(SQL(raw: "INSERT INTO \(table) VALUES (4)"))
                    try c.executeSoon(SQL(raw: "INSERT INTO \(table) VALUES (1)"))  // a duplicate
                    switch ending {
                    case "query": _ = try c.query(SQL(raw: "SELECT 1"))
                    case "copy":
                        var bulk = SQLRows(table, [("n", .integer)])
                        for n in 300..<400 { bulk.append(.int(Int64(n))) }
                        try c.insert(bulk)
                    case "throw": throw MinskyError(.invalidInput, "changed my mind")
                    default: break
                    }
                }
            }
            #expect(try await rows().count == 103, "\(ending): nothing of the failed transaction stays")
        }
        try await driver.autocommit { c in try c.executeSoon(SQL(raw: "INSERT INTO \(table) VALUES (5)")) }
        #expect(try await rows().prefix(4) == [1, 2, 3, 5])
    }

    /// Many rows upsert through a scratch table: new keys are inserted, existing ones take the
    /// conflict clause once each, a second upsert in the same transaction does not see the first
    /// one's rows again, the next transaction starts from an empty scratch table, and rows upserted
    /// outside a transaction land too.
    @Test func upsertsThroughTheScratchTableTouchEachRowOnce() async throws {
        let (driver, table, cleanUp) = try await Self.scratchTable(
            "staged_", columns: "k text PRIMARY KEY, v text NOT NULL, hits integer DEFAULT 0")
        defer { cleanUp() }
        let conflict = "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, hits = \(table).hits + 1"
        @Sendable func rows(_ keys: Range<Int>, _ v: String) -> SQLRows {
            var r = SQLRows(table, [("k", .text), ("v", .text)])
            for k in keys { r.append(.text("k\(k)"), .text(v)) }
            return r
        }
        try await driver.write { c in
            try c.upsert(rows(0..<100, "a"), onConflict: conflict)
            try c.upsert(rows(50..<150, "b"), onConflict: conflict)
        }
        try await driver.write { c in try c.upsert(rows(0..<100, "c"), onConflict: conflict) }
        // Outside a transaction (each statement its own commit, which empties a scratch table).
        try await driver.autocommit { c in try c.upsert(rows(150..<250, "d"), onConflict: conflict) }
        let got: [String: String] = try await driver.read { c in
            Dictionary(
                uniqueKeysWithValues: try c.query(SQL(raw: "SELECT k, v || ':' || hits FROM \(table)")).map {
                    ($0[0].text ?? "", $0[1].text ?? "")
                })
        }
        var expected: [String: String] = [:]
        for k in 0..<50 { expected["k\(k)"] = "c:1" }
        for k in 50..<100 { expected["k\(k)"] = "c:2" }
        for k in 100..<150 { expected["k\(k)"] = "b:0" }
        for k in 150..<250 { expected["k\(k)"] = "d:0" }
        #expect(got == expected)
    }

    /// On PostgreSQL a new task's row is sent without first learning whether its id is free: a
    /// taken id fails that transaction, and the task is created again with a longer id.
    @Test func idsGrowWhenTheyCollideThoughTheRowIsSentBlind() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let store = try await PostgresTaskStore.connect(
                url: url, makeID: { p, len in TaskID(trusted: "\(p)-" + String(repeating: "a", count: len)) })
            defer { Task { await store.close() } }
            let a = try await store.create(NewTask(title: "a"))
            let b = try await store.create(NewTask(title: "b"))
            let c = try await store.create(NewTask(title: "c", parentId: a.id))
            #expect([a.id, b.id, c.id] == ["mk-aaaaa", "mk-aaaaaa", "mk-aaaaaaa"])
            #expect(try await store.count() == 3)
            let events = try await store.history(of: a.id, limit: 10, cursor: nil).events.map(\.kind)
            #expect(events == ["created"], "only the task that was written has a history: \(events)")
            #expect(try await store.get(c.id).parentId == a.id)
        }
    }

    /// A store that found no sync tracking stops asking (a round trip per write) and checks at
    /// commit instead: when another process starts tracking, the next write is tracked anyway.
    @Test func aWriteThatAssumedNoTrackingIsTrackedOnceTrackingBegan() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let agent = try await PostgresTaskStore.connect(url: url, maxConnections: 1)
            defer { Task { await agent.close() } }
            let before = try await agent.create(NewTask(title: "before tracking"))
            _ = try await agent.update(before.id, TaskPatch(priority: try Priority(1)), expectedVersion: nil)
            let other = try await PostgresTaskStore.connect(url: url, maxConnections: 1)
            _ = try await other.syncStartTracking(remote: nil, strategy: nil)
            await other.close()
            let after = try await agent.create(NewTask(title: "after tracking"))
            _ = try await agent.update(before.id, TaskPatch(title: "renamed after tracking"), expectedVersion: nil)
            let logged = try await agent.syncLocalChanges(after: 0, limit: 1000).map(\.key)
            #expect(logged.contains(after.id.rawValue), "the create was tracked: \(logged)")
            #expect(
                logged.filter { $0 == before.id.rawValue }.count >= 2,
                "the rename of a task made before tracking was tracked: \(logged)")
        }
    }

    /// libpq refuses a statement with more than 65,535 parameters before sending it; the import
    /// of 100,000 tasks reported that as "lost the connection", which it was not. Now it says what
    /// happened (and the statements that did it bind a few hundred values each).
    @Test func aStatementLibpqRefusesIsNotALostConnection() async throws {
        let url = try TestEnvironment.postgresURL()
        let session = try PostgresSession(url: url)
        let params = (0..<70_000).map { SQLValue.int(Int64($0)) }
        do {
            _ = try session.query("SELECT 1", params)
            Issue.record("70,000 parameters were accepted")
        } catch let e as MinskyError {
            #expect(e.code == .internal && e.message.contains("refused a statement before sending it"), "\(e)")
            #expect(!e.message.contains("lost the connection"))
        }
        // The connection is still good.
        #expect(try session.query("SELECT 2").first?[0].int == 2)
    }

    @Test func malformedURLIsAnInputError() async throws {
        let e = await connectError("postgresql://bob:pw@[bad")
        #expect(e?.code == .invalidInput)
        #expect(e?.message.contains("pw@") == false)
    }

    @Test func missingDatabaseIsNamed() async throws {
        let base = try TestEnvironment.postgresURL()
        let target = try PGTarget(conninfo: base)
        let e = await connectError(
            "postgresql://\(target.user)@\(target.host):\(target.port)/no_such_db_\(UUID().uuidString.prefix(6))")
        #expect(e?.code == .storeUnavailable)
        #expect(e?.message.contains("no_such_db") == true)
        #expect(e?.message.contains("\(target.host):\(target.port)") == true)
    }

    @Test func migrationsAreRecordedAndNewerSchemaRefused() async throws {
        try await TestEnvironment.withPostgresSchema { url, schema in
            let s = try await PostgresTaskStore.connect(url: url)
            _ = try await s.create(NewTask(title: "x"))
            await s.close()
            let names = try await PostgresAdmin.query(url: url, "SELECT name FROM minsky_migrations ORDER BY name").map
            {
                $0[0] ?? ""
            }
            #expect(names == Schema.migrationNames)
            let types = try await PostgresAdmin.query(
                url: url,
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '\(schema)' AND table_name = 'tasks' AND column_name IN ('metadata', 'created_at', 'search') ORDER BY 1"
            )
            #expect(types.map { $0[1] ?? "" } == ["timestamp with time zone", "jsonb", "tsvector"])
            try await PostgresAdmin.execute(
                url: url, "INSERT INTO minsky_migrations (name) VALUES ('999_future_feature')")
            let e = await connectError(url)
            #expect(e?.code == .storeIncompatible)
            #expect(e?.message.contains("999_future_feature") == true)
            #expect(try await PostgresAdmin.query(url: url, "SELECT count(*) FROM tasks")[0][0] == "1")
        }
    }

    @Test func concurrentFirstOpensMigrateOnce() async throws {
        try await TestEnvironment.withPostgresSchema { url, schema in
            try await withThrowingTaskGroup(of: Void.self) { g in
                for _ in 0..<4 {
                    g.addTask {
                        let s = try await PostgresTaskStore.connect(url: url)
                        _ = try await s.count()
                        await s.close()
                    }
                }
                try await g.waitForAll()
            }
            #expect(
                try await PostgresAdmin.query(url: url, "SELECT count(*) FROM minsky_migrations")[0][0]
                    == String(Schema.migrationNames.count))
        }
    }
}
