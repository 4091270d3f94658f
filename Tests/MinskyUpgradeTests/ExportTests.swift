import Foundation
import GRDB
import MinskyCore
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import Testing

@testable import MinskyUpgrade

/// The export reads fields straight from SQLite's buffers; the general path (each value as an
/// `SQLValue`, then `CopyText` and `RowCanon`) is what the upgrade tests prove against
/// PostgreSQL. Here both paths meet on what a store may hold: numbers given as text and as
/// reals (SQLite's affinity stores them as integers), a blob in a text column, timestamps not in
/// the fixed form, JSON with escapes and repeated, text with every COPY escape.
@Suite("Upgrade export")
struct ExportTests {
    @Test func theFastExportMatchesTheGeneralPathOnEveryStorageClass() throws {
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let driver = try SQLiteDriver(path: dir.appendingPathComponent("tasks.db").path)
        defer { try? driver.databasePool.close() }
        try driver.databasePool.write { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            let rows: [[DatabaseValueConvertible?]] = [
                [
                    "mk-a", "plain", "", "TODO", 1, "[]", "{}", nil, nil, nil, "2026-01-02T03:04:05.123456Z",
                    "2026-01-02T03:04:05.123456Z", 1,
                ],
                [
                    "mk-b", "tab\there \\N back\\slash\r\nnew", "ü 🎉", "DONE", "3", "[\"x\",\"t\\\"q\"]",
                    "{\"b\":1,\"aa\":[true,null,1.5e-07]}", "mk-a", "ann", "2026-01-02T03:04:05Z",
                    "2026-01-02 03:04:05", "0999-12-31T23:59:59.000001Z", "2",
                ],
                [
                    "mk-c", "same tags", "x", "TODO", 2, "[\"x\",\"t\\\"q\"]", "{}", nil, nil, nil,
                    "2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z", 7.0,
                ],
                [
                    42, Data([0, 1, 0xFF]), "", "TODO", 0, "[]", "{}", nil, nil, nil, "2026-01-02T03:04:05.123456Z",
                    "2026-01-02T03:04:05.123456Z", 1,
                ],
            ]
            for r in rows {
                try db.execute(
                    sql: """
                        INSERT INTO tasks (id, title, description, status, priority, tags, metadata, parent_id, assignee, \
                        claim_expires_at, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: StatementArguments(r))
            }
            try db.execute(
                sql:
                    "INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES ('mk-b', 'mk-a', '2026-01-02T03:04:05.1Z')"
            )
        }
        let exports = try driver.databasePool.read { try Transfer.exportSQLite($0, reporter: nil) }
        for e in exports {
            let (copy, sum, keys) = try driver.databasePool.read { db in try Self.generalPath(db, e.table) }
            #expect(
                String(decoding: e.chunks.flatMap { $0 }, as: UTF8.self) == String(decoding: copy, as: UTF8.self),
                "COPY text of \(e.table.name)")
            #expect(e.checksum == String(sum), "checksum of \(e.table.name)")
            #expect(
                e.digest.sorted().map(\.parts) == keys.sorted { TableDigest.precedes($0, $1) },
                "keys of \(e.table.name)")
        }
        #expect(exports.first { $0.table.name == "tasks" }?.digest.count == 4)
        // The odd classes really are stored (SQLite's column affinity converts some on insert).
        let classes = try driver.databasePool.read { db in
            try String.fetchAll(db, sql: "SELECT typeof(title) || typeof(version) FROM tasks ORDER BY rowid")
        }
        #expect(classes == ["textinteger", "textinteger", "textinteger", "blobinteger"])
    }

    /// COPY's text escapes, byte by byte.
    static func escape(_ text: String, into out: inout [UInt8]) {
        for b in text.utf8 {
            switch b {
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            default: out.append(b)
            }
        }
    }

    /// The export as it was written before the fast path: one `SQLValue` per field.
    static func generalPath(_ db: Database, _ t: TableSpec) throws -> ([UInt8], Int128, [[String]]) {
        var copy: [UInt8] = []
        var sum: Int128 = 0
        var keys: [[String]] = []
        for row in try Row.fetchAll(db, sql: "SELECT \(t.columnList) FROM \(t.name)") {
            let values = Array(row.databaseValues.map(SQLValue.init))
            var canon: [UInt8] = []
            for (i, v) in values.enumerated() {
                if i > 0 { copy.append(0x09) }
                if case .text(let text) = v {
                    Self.escape(text, into: &copy)
                } else {
                    CopyText.append(v, t.columns[i].type, into: &copy)
                }
                try RowCanon.field(v, t.columns[i].type, into: &canon)
            }
            copy.append(0x0A)
            let (hi, _) = canon.withUnsafeBytes { MD5.digest128($0) }
            sum += Int128(Int64(bitPattern: hi))
            keys.append(t.key.map { k in values[t.columns.firstIndex { $0.name == k }!].text ?? "" })
        }
        return (copy, sum, keys)
    }
}
