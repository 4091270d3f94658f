import CLibPQ
import Foundation
import MinskyCore
import MinskySQL

/// One dedicated PostgreSQL connection for bulk tools (upgrade, backup, restore): plain
/// statements, explicit transactions and `COPY … FROM STDIN`. Every call blocks; callers run it
/// on their own thread, never on Swift's cooperative pool.
/// `@unchecked Sendable`: a session is used by one thread at a time, by contract.
public final class PostgresSession: @unchecked Sendable {
    let conn: PGConnection
    public let target: PGTarget

    public init(url: String) throws {
        target = try PGTarget(conninfo: url)
        conn = try PGConnection(conninfo: url, target: target)
        try execute("SET client_encoding = 'UTF8'")
        try execute("SET client_min_messages = warning")
    }

    /// Runs a statement; `$1…` placeholders take `params` as text.
    @discardableResult
    public func execute(_ sql: String, _ params: [SQLValue] = []) throws -> Int {
        do { return try conn.exec(sql, params).affected } catch let e as PGError { throw e.minsky }
    }

    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [[SQLValue]] {
        do { return try conn.exec(sql, params).rows } catch let e as PGError { throw e.minsky }
    }

    /// Applies the shared migrations inside the caller's transaction (so a rolled-back upgrade
    /// leaves no schema behind). Refuses a database written by a newer minsky.
    /// The upgrade itself passes `allowingUnfinishedUpgrade` (it clears what an interrupted one left).
    public func migrateInTransaction(allowingUnfinishedUpgrade: Bool = false) throws {
        try execute(AdvisoryLock.migrations.transactionLock)
        try MigrationRunner.apply(
            to: PostgresMigrations(
                exec: { sql, params in try self.query(sql, params) }, location: target.safeDescription),
            allowingUnfinishedUpgrade: allowingUnfinishedUpgrade)
    }

    /// Streams COPY text-format data into `sql` (`COPY t (…) FROM STDIN`). `chunks` is called
    /// until it returns nil.
    public func copyIn(_ sql: String, chunks: () throws -> [UInt8]?) throws {
        do { try conn.copyIn(sql, chunks: chunks) } catch let e as PGError { throw e.minsky }
    }

}

extension PGConnection {
    /// Streams COPY text-format data into `sql` (`COPY t (…) FROM STDIN`). `chunks` is called
    /// until it returns nil; an error from it aborts the COPY and is rethrown.
    func copyIn(_ sql: String, chunks: () throws -> [UInt8]?) throws {
        try flushBegin()
        guard let start = PQexec(raw, sql) else { throw lost() }
        let st = PQresultStatus(start)
        if st != PGRES_COPY_IN {
            _ = try PGResult.check(start, conn: self, sql: sql)
            throw MinskyError(.internal, "COPY did not start on \(target.hostPort)")
        }
        PQclear(start)
        var failure: (any Error)?
        do {
            while let chunk = try chunks() {
                let ok = chunk.withUnsafeBytes { buf in
                    PQputCopyData(raw, buf.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(buf.count))
                }
                if ok != 1 { throw lost() }
            }
        } catch {
            failure = error
        }
        _ = PQputCopyEnd(raw, failure == nil ? nil : "aborted by minsky")
        var serverError: (any Error)?
        while let r = PQgetResult(raw) {
            if PQresultStatus(r) != PGRES_COMMAND_OK {
                do { _ = try PGResult.check(r, conn: self, sql: sql) } catch { serverError = error }
            } else {
                PQclear(r)
            }
        }
        if let failure { throw failure }
        if let serverError { throw serverError }
        if PQstatus(raw) != CONNECTION_OK { throw lost() }
    }

    func lost() -> MinskyError {
        MinskyError(
            .storeUnavailable,
            "lost the connection to PostgreSQL at \(target.hostPort): \(target.scrub(String(cString: PQerrorMessage(raw)))); nothing was written, rerun when the server is back"
        )
    }
}

extension PGTarget {
    public var secret: String? { password }
}
