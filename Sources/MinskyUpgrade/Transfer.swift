import Foundation
import GRDB
import GRDBSQLite
import MinskyCore
import MinskyPostgres
import MinskySQL
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Reports the steps of a long operation to a person (CLI) or an agent (MCP progress).
public protocol TransferReporter: Sendable {
    /// A finished step, e.g. "Migrating 127 tasks...".
    func step(_ text: String)
    /// Progress within the current step.
    func progress(_ done: Int, of total: Int, _ what: String)
    /// Something worth knowing that is not a finished step.
    func note(_ text: String)
}

extension TransferReporter {
    public func note(_ text: String) {}
}

/// Named points of an upgrade (after-backup, copy, validate, switch) where the executable may
/// act: `minsky` installs a hook that reads its test-only `MINSKY_FAULT` setting (kill, sleep or
/// wait there). The library itself reads no environment and kills nothing.
public enum Faults {
    private static let hook = Mutex<(@Sendable (String) -> Void)?>(nil)

    public static func install(_ h: @escaping @Sendable (String) -> Void) { hook.withLock { $0 = h } }

    public static func point(_ name: String) { hook.withLock { $0 }?(name) }

    /// Test-only: the size of the COPY chunks an upgrade hands its connections (1 MiB).
    public static func setCopyChunkBytes(_ n: Int) { Transfer.chunkBytes = max(1, n) }
}

/// What a copy moved and proved, per table.
public struct TableReport: Sendable, Codable, Equatable {
    public var table: String
    public var rows: Int
    /// The table checksum as 32 hexadecimal digits (the 128-bit sum both sides computed).
    public var checksum: String

    init(_ e: Transfer.Export) {
        table = e.table.name
        rows = e.digest.count
        checksum = TableDigest.hex(sum: e.checksum)
    }
}

/// Copies between a SQLite file and PostgreSQL, table by table from `Schema.catalog`, and proves
/// the result: row counts and a content checksum per table computed on both sides (RowCanon),
/// foreign keys checked, before anything is committed.
enum Transfer {
    /// COPY data is handed over in chunks of about this size (`minsky` lets tests make it small,
    /// so a small store spans several chunks and both connections of a split load).
    static var chunkBytes: Int {
        get { chunkSize.load(ordering: .relaxed) }
        set { chunkSize.store(newValue, ordering: .relaxed) }
    }
    private static let chunkSize = Atomic<Int>(1 << 20)

    struct Export: Sendable {
        var table: TableSpec
        var chunks: [[UInt8]]
        var digest: TableDigest
        var checksum: String
    }

    /// Reads every catalog table of a SQLite store in one snapshot: COPY data plus digests.
    /// With `sink`, chunks go to it as they fill (and a nil after each table) instead of being kept.
    /// With `vectors`, task_embeddings rows carry one more COPY field after the catalog's: the
    /// embedding in pgvector's text form, for a target that has the vector column (not digested:
    /// it is derived from the `vector` bytes, which are).
    static func exportSQLite(
        _ db: Database, reporter: (any TransferReporter)?, vectors: Bool = false,
        sink: ((_ chunk: [UInt8]?) throws -> Void)? = nil
    ) throws -> [Export] {
        // Map the file instead of a pread per page.
        _ = try Row.fetchAll(db, sql: "PRAGMA mmap_size = 4294967296")
        return try Schema.catalog.map { t in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(t.name)") ?? 0
            var chunks: [[UInt8]] = []
            var buf: [UInt8] = []
            buf.reserveCapacity(chunkBytes + 4096)
            var digest = TableDigest(keyColumns: t.key.count)
            var row = RowWriter(table: t)
            let vectorIdx = vectors ? t.pgvectorBytesIndex.map(Int32.init) : nil
            // Table order (rowid), not key order: a sequential scan; digests are sorted after.
            // Fields are read from SQLite's own buffers: no String, array or value per field.
            let statement = try db.makeStatement(sql: "SELECT \(t.columnList) FROM \(t.name)")
            let h = statement.sqliteStatement
            defer { sqlite3_reset(h) }
            while true {
                let rc = sqlite3_step(h)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else {
                    throw DatabaseError(
                        resultCode: ResultCode(rawValue: rc),
                        message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
                try row.write(h, into: &buf, digest: &digest)
                if let vi = vectorIdx, sqlite3_column_type(h, vi) == SQLITE_BLOB {
                    buf.append(0x09)
                    let n = Int(sqlite3_column_bytes(h, vi))
                    let bytes =
                        n == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: sqlite3_column_blob(h, vi), count: n))
                    PGVectorText.append(littleEndian: bytes, into: &buf)
                }
                buf.append(0x0A)
                if buf.count >= chunkBytes {
                    if let sink { try sink(buf) } else { chunks.append(buf) }
                    buf.removeAll(keepingCapacity: true)
                    reporter?.progress(digest.count, of: total, "exporting \(t.name)")
                }
            }
            if let sink {
                if !buf.isEmpty { try sink(buf) }
                try sink(nil)
            } else if !buf.isEmpty {
                chunks.append(buf)
            }
            return Export(table: t, chunks: chunks, digest: digest, checksum: digest.checksum())
        }
    }

    /// Row counts of the catalog tables in PostgreSQL (0 for missing tables).
    static func postgresCounts(_ pg: PostgresSession) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for t in Schema.catalog {
            let exists = try pg.query("SELECT to_regclass($1) IS NOT NULL", [.text(t.name)]).first?[0].text == "t"
            out[t.name] = exists ? Int(try pg.query("SELECT count(*) FROM \(t.name)").first?[0].int ?? 0) : 0
        }
        return out
    }

    /// PostgreSQL's own count and checksum of a table, computed over what it stores.
    static func postgresDigest(_ pg: PostgresSession, _ t: TableSpec) throws -> (Int, String) {
        let r = try pg.query(RowCanon.postgresTableDigest(t))
        return (Int(r.first?[0].int ?? 0), r.first?[1].text ?? "")
    }

    /// Compares a table on both sides; throws naming the table and the first differing row.
    static func validate(_ pg: PostgresSession, _ e: Export) throws {
        let (count, sum) = try postgresDigest(pg, e.table)
        if count == e.digest.count && sum == e.checksum { return }
        let theirs = try pg.query(RowCanon.postgresRowDigests(e.table))
        var first = "none"
        let rows = e.digest.sorted()
        for (i, mine) in rows.enumerated() {
            let other = i < theirs.count ? theirs[i] : nil
            let otherKey = other.map { $0.dropLast().map { $0.text ?? "" }.joined(separator: "|") }
            let myKey = mine.parts.joined(separator: "|")
            if otherKey != myKey || other?.last?.text != mine.md5 {
                first = myKey
                break
            }
        }
        if first == "none" && theirs.count > rows.count {
            first = theirs[rows.count].dropLast().map { $0.text ?? "" }.joined(separator: "|")
        }
        throw MinskyError(
            .internal,
            "validation failed on table \(e.table.name): source has \(e.digest.count) rows (checksum \(e.checksum)), PostgreSQL has \(count) (checksum \(sum)); first differing row: \(first). Nothing was committed."
        )
    }

    /// COPYs the exported chunks of every table (reporting each), with an optional fault point
    /// once data is flowing.
    static func copy(
        _ exports: [Export], into pg: PostgresSession, reporter: (any TransferReporter)?, faultPoint: String?
    ) throws {
        for e in exports {
            var i = 0
            try pg.copyIn("COPY \(e.table.name) (\(e.table.columnList)) FROM STDIN") {
                guard i < e.chunks.count else { return nil }
                defer { i += 1 }
                if let faultPoint, i == 1 || (i == 0 && e.chunks.count == 1) { Faults.point(faultPoint) }
                reporter?.progress(i, of: e.chunks.count, "copying \(e.table.name)")
                return e.chunks[i]
            }
            reporter?.step(label(e.table.name, e.digest.count))
        }
    }

    /// With pgvector already installed on the target, adds the store's vector column before the
    /// COPY so embeddings arrive searchable (no second write of every row afterwards). Without
    /// it, nothing: the store sets pgvector up on first use if it can.
    static func addVectorColumn(_ pg: PostgresSession) throws -> Bool {
        guard
            let schema = try pg.query(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
            ).first?[0].text
        else {
            return false
        }
        for sql in Schema.pgvectorColumn(schema: schema) { try pg.execute(sql) }
        return true
    }

    /// A primary key dropped for a bulk load, as the database defined it.
    struct DroppedKey {
        var table: String
        var name: String
        var definition: String
    }

    /// Before a bulk COPY: drop foreign keys, secondary indexes and the catalog tables' primary
    /// keys (inside the transaction; returns the keys, as the database defines them, for
    /// `restoreAfterBulkLoad`). A key's index is built once by sorting instead of taking every row
    /// in random order: 200,000 dependencies COPY in 0.18 s instead of 0.70 s, plus 0.17 s to build.
    static func dropForBulkLoad(_ pg: PostgresSession) throws -> [DroppedKey] {
        for fk in Schema.postgresForeignKeys {
            try pg.execute("ALTER TABLE \(fk.table) DROP CONSTRAINT IF EXISTS \(fk.name)")
        }
        for ix in Schema.postgresIndexes { try pg.execute("DROP INDEX IF EXISTS \(ix.name)") }
        let keys = try pg.query(
            """
            SELECT r.relname::text, c.conname::text, pg_get_constraintdef(c.oid) FROM pg_constraint c \
            JOIN pg_class r ON r.oid = c.conrelid \
            WHERE c.contype = 'p' AND r.relnamespace = current_schema()::regnamespace AND r.relname = ANY($1::text[]) \
            ORDER BY 1
            """, [.text("{" + Schema.catalog.map(\.name).joined(separator: ",") + "}")]
        ).map { DroppedKey(table: $0[0].text ?? "", name: $0[1].text ?? "", definition: $0[2].text ?? "") }
        for k in keys { try pg.execute("ALTER TABLE \(k.table) DROP CONSTRAINT \(k.name)") }
        // A table without its key (an interrupted split load dropped it) gets the catalog's.
        let missing = Schema.catalog.filter { t in !keys.contains { $0.table == t.name } }.map {
            DroppedKey(
                table: $0.name, name: "\($0.name)_pkey", definition: "PRIMARY KEY (\($0.key.joined(separator: ", ")))")
        }
        return keys + missing
    }

    /// After it: build the keys and indexes in bulk and re-create the foreign keys (each validated
    /// by one query). Re-adding a foreign key checks every reference at once, so it doubles as the
    /// orphan check (keys come from SQLite's own, which are unique there as here).
    static func restoreAfterBulkLoad(_ pg: PostgresSession, keys: [DroppedKey]) throws {
        try pg.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for sql in keyAndIndexStatements(keys) { try pg.execute(sql) }
        try addForeignKeys(pg)
    }

    /// Keys first (a table's indexes wait for its key), then the slowest builds (text search),
    /// so two connections sharing the list finish close together.
    static func keyAndIndexStatements(_ keys: [DroppedKey]) -> [String] {
        let indexes = Schema.postgresIndexes.map(\.create)
        return keys.map { "ALTER TABLE \($0.table) ADD CONSTRAINT \($0.name) \($0.definition)" }
            + indexes.filter { $0.contains(" USING gin ") } + indexes.filter { !$0.contains(" USING gin ") }
    }

    static func addForeignKeys(_ pg: PostgresSession) throws {
        for fk in Schema.postgresForeignKeys {
            do {
                try pg.execute("ALTER TABLE \(fk.table) ADD CONSTRAINT \(fk.name) \(fk.definition)")
            } catch let e as MinskyError where e.message.contains("violates foreign key constraint") {
                throw MinskyError(
                    .internal,
                    "validation failed: \(fk.table) has rows whose \(fk.definition.split(separator: "(")[1].prefix { $0 != ")" }) points at a missing task (\(e.message)). Nothing was committed."
                )
            }
        }
    }

    /// Checksums computed on several connections.
    final class Found: Sendable {
        let digests = Mutex<[String: (Int, String)]>([:])
    }

    /// Runs `work` on every session at once, each session taking the next item when it is free
    /// (statements in autocommit). After a failure no new item starts; the first error is thrown.
    static func inLanes(_ sessions: [PostgresSession], _ work: [@Sendable (PostgresSession) throws -> Void]) throws {
        let next = Mutex(0)
        let failed = Atomic<Bool>(false)
        let lanes = sessions.map { session in
            Beside {
                while !failed.load(ordering: .relaxed) {
                    let i = next.withLock { n in
                        defer { n += 1 }
                        return n
                    }
                    guard i < work.count else { return }
                    do { try work[i](session) } catch {
                        failed.store(true, ordering: .relaxed)
                        throw error
                    }
                }
            }
        }
        try Beside.values(lanes)
    }

    /// Foreign keys hold: no dependency or parent pointing at a missing task.
    static func checkOrphans(_ pg: PostgresSession) throws {
        try pg.execute("SET CONSTRAINTS ALL IMMEDIATE")
        let orphans =
            try pg.query(
                """
                SELECT (SELECT count(*) FROM tasks t WHERE t.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = t.parent_id)) + \
                (SELECT count(*) FROM task_dependencies e WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.task_id) \
                OR NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.depends_on_id))
                """
            ).first?[0].int ?? 0
        if orphans != 0 {
            throw MinskyError(
                .internal, "validation failed: \(orphans) orphaned reference(s) in PostgreSQL. Nothing was committed.")
        }
    }

    static func label(_ table: String, _ n: Int) -> String {
        switch table {
        case "tasks": return "Migrating \(n) tasks..."
        case "task_dependencies": return "Migrating \(n) task relationships..."
        case "task_embeddings": return "Migrating \(n) AI embeddings..."
        case "proposals": return "Migrating \(n) proposals..."
        case "task_notes": return "Migrating \(n) notes..."
        case "ai_calls": return "Migrating \(n) AI call records..."
        default: return "Migrating \(n) rows of \(table)..."
        }
    }

    /// SQLite → PostgreSQL inside one PostgreSQL transaction. Returns per-table reports, or throws
    /// with everything rolled back. `dryRun` validates and then rolls back.
    static func sqliteToPostgres(
        exports: [Export], pg: PostgresSession, force: Bool, dryRun: Bool,
        reporter: (any TransferReporter)?, beforeCommit: () throws -> Void = {}
    ) throws -> (reports: [TableReport], alreadyThere: Bool) {
        try pg.execute("BEGIN")
        do {
            try pg.migrateInTransaction()
            reporter?.step("Creating PostgreSQL schema...")
            let counts = try postgresCounts(pg)
            let nonEmpty = counts.filter { $0.value > 0 }
            var alreadyThere = false
            if !nonEmpty.isEmpty {
                // A rerun after a crash between commit and switch finds exactly this data: fine.
                let same = try exports.allSatisfy { e in try postgresDigest(pg, e.table) == (e.digest.count, e.checksum)
                }
                if same {
                    alreadyThere = true
                } else if force {
                    try truncateCatalog(pg)
                } else {
                    let what = nonEmpty.sorted { $0.key < $1.key }.map { "\($0.value) rows in \($0.key)" }.joined(
                        separator: ", ")
                    throw MinskyError.invalid(
                        "db-url",
                        "the target PostgreSQL database is not empty (\(what)); point at an empty database or pass --force to replace its minsky data"
                    )
                }
            }
            var keys: [DroppedKey] = []
            if !alreadyThere {
                keys = try dropForBulkLoad(pg)
                try copy(exports, into: pg, reporter: reporter, faultPoint: "copy")
            }
            Faults.point("validate")
            try checkOrphans(pg)
            if !alreadyThere { try restoreAfterBulkLoad(pg, keys: keys) }
            for e in exports { try validate(pg, e) }
            reporter?.step("Validating data integrity...")
            if !dryRun { try beforeCommit() }
            try pg.execute(dryRun ? "ROLLBACK" : "COMMIT")
            return (exports.map { TableReport($0) }, alreadyThere)
        } catch {
            _ = try? pg.execute("ROLLBACK")
            throw error
        }
    }

    static func truncateCatalog(_ pg: PostgresSession) throws {
        try pg.execute("TRUNCATE " + Schema.catalog.map(\.name).reversed().joined(separator: ", ") + " CASCADE")
    }

    /// What an interrupted split load left (its mark and whatever rows it had committed) goes,
    /// inside the caller's transaction: the load starts over.
    static func clearUnfinishedUpgrade(_ pg: PostgresSession) throws {
        guard
            try pg.execute("DELETE FROM minsky_migrations WHERE name = $1", [.text(Schema.unfinishedUpgrade)]) > 0
        else { return }
        try truncateCatalog(pg)
    }

    /// SQLite → PostgreSQL with reading and copying overlapped: writer threads COPY chunks while
    /// this thread is still reading and digesting SQLite. Used when the target is empty (the usual
    /// case); otherwise the target must first be compared with full digests, see `sqliteToPostgres`.
    ///
    /// With a `helper` session the load is split: chunks go to the two connections in turn, so
    /// PostgreSQL parses rows and computes their search vectors on two backends at once. The
    /// helper's rows commit before the main transaction (which builds keys and indexes, checks
    /// foreign keys and checksums over all rows, and commits last); until then the database is
    /// marked (`Schema.unfinishedUpgrade`, committed with the emptied schema first) so no store
    /// opens it, and a failure empties it again (or the next upgrade does, if this one died).
    /// Without a helper (a dry run), everything is one transaction, rolled back.
    static func streamSQLiteToPostgres(
        _ db: Database, pg: PostgresSession, helper: PostgresSession? = nil, dryRun: Bool,
        reporter: (any TransferReporter)?, beforeCommit: () throws -> Void = {}
    ) throws -> [TableReport]? {
        let helper = dryRun ? nil : helper
        var keys: [DroppedKey] = []
        var marked = false
        // Per schema: stores in other schemas of the database are other stores.
        let lock = "\(AdvisoryLock.upgradeLoad.rawValue), hashtext(current_schema())"
        guard try pg.query("SELECT pg_try_advisory_lock(\(lock))").first?[0].text == "t" else {
            throw MinskyError.invalid(
                "db-url",
                "another `minsky upgrade to-postgres` is loading \(pg.target.safeDescription) right now; let it finish, or point at another database"
            )
        }
        defer { _ = try? pg.execute("SELECT pg_advisory_unlock(\(lock))") }
        try pg.execute("BEGIN")
        do {
            try pg.migrateInTransaction(allowingUnfinishedUpgrade: true)
            try clearUnfinishedUpgrade(pg)
            if try postgresCounts(pg).values.contains(where: { $0 > 0 }) {
                try pg.execute("ROLLBACK")
                return nil
            }
            keys = try dropForBulkLoad(pg)
            let vectors = try addVectorColumn(pg)
            if helper != nil {
                try pg.execute("INSERT INTO minsky_migrations (name) VALUES ($1)", [.text(Schema.unfinishedUpgrade)])
                try pg.execute("COMMIT")
                marked = true
                try pg.execute("BEGIN")
            }
            let sessions = [pg] + (helper.map { [$0] } ?? [])
            let channels = sessions.map { _ in ChunkChannel() }
            let tables = Schema.catalog
            let writers = zip(sessions, channels).enumerated().map { i, w in
                let (session, channel) = w
                return Beside {
                    do {
                        if i > 0 { try session.execute("BEGIN") }
                        for t in tables {
                            var first = i == 0
                            try session.copyIn("COPY \(t.name) (\(t.copyColumns(vectors: vectors))) FROM STDIN") {
                                let c = try channel.receive()
                                if first && c != nil {
                                    first = false
                                    Faults.point("copy")
                                }
                                return c
                            }
                        }
                        if i > 0 { try session.execute("COMMIT") }
                    } catch {
                        for c in channels { c.fail(error) }
                        throw error
                    }
                }
            }
            let exports: [Export]
            do {
                var n = 0
                exports = try exportSQLite(db, reporter: reporter, vectors: vectors) { chunk in
                    if let chunk {
                        try channels[n % channels.count].send(chunk)
                        n += 1
                    } else {
                        for c in channels { try c.send(nil) }
                        n = 0
                    }
                }
            } catch {
                for c in channels { c.fail(error) }
                try Beside.values(writers)  // a writer's failure, if one failed, explains this one
                throw error
            }
            try Beside.values(writers)
            reporter?.step("Exporting SQLite data...")
            reporter?.step("Creating PostgreSQL schema...")
            for e in exports { reporter?.step(label(e.table.name, e.digest.count)) }
            if marked {
                // Every row is committed (still marked): keys, indexes and checksums are built on
                // both connections at once, then the foreign keys and the mark's removal commit.
                try pg.execute("COMMIT")
                Faults.point("validate")
                let found = Found()
                let build: [@Sendable (PostgresSession) throws -> Void] = keyAndIndexStatements(keys).map { sql in
                    { try $0.execute(sql) }
                }
                let sums: [@Sendable (PostgresSession) throws -> Void] = exports.map { e in
                    { s in
                        let d = try postgresDigest(s, e.table)
                        found.digests.withLock { $0[e.table.name] = d }
                    }
                }
                for s in sessions { try s.execute("SET maintenance_work_mem = '256MB'") }
                try inLanes(sessions, build + sums)
                let digests = found.digests.withLock { $0 }
                try pg.execute("BEGIN")
                try addForeignKeys(pg)
                for e in exports where digests[e.table.name].map({ $0 != (e.digest.count, e.checksum) }) ?? true {
                    try validate(pg, e)  // names the first differing row
                }
                try pg.execute("DELETE FROM minsky_migrations WHERE name = $1", [.text(Schema.unfinishedUpgrade)])
            } else {
                Faults.point("validate")
                try restoreAfterBulkLoad(pg, keys: keys)
                for e in exports { try validate(pg, e) }
            }
            reporter?.step("Validating data integrity...")
            if !dryRun { try beforeCommit() }
            try pg.execute(dryRun ? "ROLLBACK" : "COMMIT")
            return exports.map { TableReport($0) }
        } catch {
            _ = try? pg.execute("ROLLBACK")
            _ = try? helper?.execute("ROLLBACK")
            if marked {
                // Back to an empty store, whole, unmarked (if PostgreSQL is still there to ask).
                _ = try? pg.execute("BEGIN")
                do {
                    try truncateCatalog(pg)
                    try restoreAfterBulkLoad(pg, keys: try dropForBulkLoad(pg))
                    try pg.execute("DELETE FROM minsky_migrations WHERE name = $1", [.text(Schema.unfinishedUpgrade)])
                    try pg.execute("COMMIT")
                } catch {
                    _ = try? pg.execute("ROLLBACK")
                }
            }
            throw error
        }
    }

    /// PostgreSQL → a SQLite database (already created and migrated, empty), validated the same
    /// way: the SQLite copy is exported and its checksums compared with PostgreSQL's.
    static func postgresToSQLite(pg: PostgresSession, into db: DatabasePool, reporter: (any TransferReporter)?) throws
        -> [TableReport]
    {
        try pg.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? pg.execute("ROLLBACK") }
        var expected: [String: (Int, String)] = [:]
        try db.write { db in
            try db.execute(sql: "PRAGMA defer_foreign_keys = ON")
            for t in Schema.catalog {
                expected[t.name] = try postgresDigest(pg, t)
                let cols = t.columns.map { SQLDialect.postgres.read($0.name, as: $0.type) }.joined(separator: ", ")
                let rows = try pg.query(
                    "SELECT \(cols) FROM \(t.name) ORDER BY \(t.key.map { "\($0) COLLATE \"C\"" }.joined(separator: ", "))"
                )
                let insert = try db.makeStatement(
                    sql:
                        "INSERT INTO \(t.name) (\(t.columnList)) VALUES (\(t.columns.map { _ in "?" }.joined(separator: ", ")))"
                )
                for (n, r) in rows.enumerated() {
                    let args: [(any DatabaseValueConvertible)?] = zip(r, t.columns).map { v, c in
                        switch (v, c.type) {
                        case (.null, _): return nil
                        case (_, .integer): return v.int
                        case (_, .blob): return Data(SQLDialect.postgres.blobBytes(v))
                        case (.text(let s), .json): return (try? JSONValue.parse(s).canonicalJSON()) ?? s
                        default: return v.text
                        }
                    }
                    try insert.execute(arguments: StatementArguments(args))
                    if n % 5000 == 0 { reporter?.progress(n, of: rows.count, "copying \(t.name)") }
                }
                reporter?.step("Copied \(rows.count) rows of \(t.name)")
            }
        }
        let exports = try db.read { try exportSQLite($0, reporter: nil) }
        for e in exports {
            let (n, sum) = expected[e.table.name] ?? (0, "")
            if n != e.digest.count || sum != e.checksum {
                throw MinskyError(
                    .internal,
                    "validation failed on table \(e.table.name): PostgreSQL has \(n) rows (checksum \(sum)), the SQLite copy \(e.digest.count) (checksum \(e.checksum))"
                )
            }
        }
        reporter?.step("Validating data integrity...")
        return exports.map { TableReport($0) }
    }
}
