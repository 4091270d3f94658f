import MinskyCore

/// A connection borrowed for the length of one transaction. Calls block; drivers run them on
/// their own threads, never on Swift's cooperative pool.
public protocol SQLConnection {
    /// The SQL this connection speaks: statements written as `SQL` literals are rendered for it,
    /// so queries never pass it along.
    var dialect: SQLDialect { get }
    /// Runs a statement and returns the number of rows it changed.
    @discardableResult func execute(_ statement: SQLStatement) throws -> Int
    /// Runs a statement and returns its rows, readable by column name.
    func query(_ statement: SQLStatement) throws -> [SQLRow]
    /// Calls `body` with each row's column 0 as text and column 1 as raw bytes, without building
    /// values per row: how many vectors are read at once. Column 1 is read with
    /// `dialect.read(_:as: .blob)`.
    func forEachTextAndBlob(_ statement: SQLStatement, _ body: (String, UnsafeRawBufferPointer) throws -> Void) throws
    /// Appends rows to a table: the database's bulk path where it has one (PostgreSQL's COPY),
    /// else multi-row INSERTs (`insertWithStatements`, the default).
    func insert(_ rows: SQLRows) throws
    /// Inserts rows, doing `onConflict` (an `ON CONFLICT (…) DO …` clause, which may name
    /// `EXCLUDED`) for keys already there. PostgreSQL copies many rows into a scratch table of
    /// the transaction and upserts them from it in one statement; elsewhere multi-row INSERTs
    /// (`upsertWithStatements`, the default). The rows must not repeat a key.
    func upsert(_ rows: SQLRows, onConflict: String) throws
    /// Runs a statement whose result is not needed (a history row, a counter refresh). PostgreSQL
    /// sends it with the transaction's next statement or its COMMIT, in one round trip; its error
    /// fails the transaction there. Default: `execute`, now.
    func executeLater(_ statement: SQLStatement) throws
    /// Runs a statement whose result is not needed now, letting the caller go on while the
    /// database works: PostgreSQL sends it at once and reads its result (its error failing the
    /// transaction) with the connection's next statement. Default: `execute`, now.
    func executeSoon(_ statement: SQLStatement) throws
    /// Whether an earlier transaction on this connection found that the store keeps no sync log,
    /// so a write may skip asking again (a round trip on PostgreSQL) if it calls
    /// `requireUntracked()`. Always false where asking is cheap (SQLite, in process).
    var knownUntracked: Bool { get nonmutating set }
    /// Checks, with the COMMIT and in its round trip, that the store still keeps no sync log; if
    /// it began to, the transaction fails, `knownUntracked` is dropped, and the driver runs the
    /// transaction again (which then asks and tracks).
    func requireUntracked() throws
}

extension SQLConnection {
    public func executeLater(_ statement: SQLStatement) throws { try execute(statement) }
    public func executeSoon(_ statement: SQLStatement) throws { try execute(statement) }
    public var knownUntracked: Bool {
        get { false }
        nonmutating set {}
    }
    public func requireUntracked() throws {}
}

/// What a database backend provides to `SQLTaskStore`: transactions and a dialect. All task
/// logic lives in `SQLTaskStore`, shared by every backend.
public protocol SQLDriver: Sendable {
    var dialect: SQLDialect { get }
    /// Human description without secrets.
    var location: String { get }
    /// Runs `body` in a write transaction; a thrown error rolls everything back.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// Runs `body` against a consistent snapshot, off the cooperative pool.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// The same for a bounded read (a few rows found by index): a backend may run it where it is
    /// cheapest, when that cannot block for long. Default: `read`.
    func boundedRead<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// The same for a bounded write (one task's create, update, claim …). Default: `write`.
    func boundedWrite<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    func close() async
    /// Runs `body` on a connection outside any transaction, each statement committing on its own
    /// (PostgreSQL's CREATE INDEX CONCURRENTLY needs this). Default: a write transaction.
    func autocommit<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// A vector index of the backend's own, made once per store.
    func makeVectorIndex() -> (any VectorIndex)?
    /// The store's file, for stores that are one (caches may live beside it). Default: nil.
    var filePath: String? { get }
}

extension SQLDriver {
    public func boundedRead<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    {
        try await read(body)
    }

    public func boundedWrite<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws
        -> T
    {
        try await write(body)
    }

    /// The backend's own vector index, if it has one (see `VectorIndex`). Default: none.
    public func makeVectorIndex() -> (any VectorIndex)? { nil }

    public var filePath: String? { nil }

    public func autocommit<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await write(body)
    }
}

extension SQLConnection {
    public func forEachTextAndBlob(_ statement: SQLStatement, _ body: (String, UnsafeRawBufferPointer) throws -> Void)
        throws
    {
        for r in try query(statement) {
            try dialect.blobBytes(r[1]).withUnsafeBytes { try body(r[0].text ?? "", $0) }
        }
    }
}

/// Rows to append to one table, held flat (row after row) for `SQLConnection.insert(_:)`.
public struct SQLRows: Sendable {
    public let table: String
    public let columns: [(name: String, type: SQLDialect.ColumnType)]
    public private(set) var values: [SQLValue] = []

    public init(_ table: String, _ columns: [(name: String, type: SQLDialect.ColumnType)]) {
        self.table = table
        self.columns = columns
    }

    public var count: Int { values.count / columns.count }
    public var isEmpty: Bool { values.isEmpty }

    /// Appends one row: a value per column, in the columns' order.
    public mutating func append(_ row: SQLValue...) { append(row: row) }

    public mutating func append(row: [SQLValue]) {
        precondition(row.count == columns.count, "a row of \(table) needs \(columns.count) values")
        values += row
    }

    public mutating func removeAll() { values.removeAll(keepingCapacity: true) }

    /// Multi-row INSERT statements, as many rows per statement as the bind limit allows.
    public func statements() -> [SQL] {
        let perStatement = Swift.max(1, Swift.min(500, 30_000 / columns.count))
        let head = "INSERT INTO \(table) (\(columns.map(\.name).joined(separator: ", "))) VALUES "
        return stride(from: 0, to: count, by: perStatement).map { first in
            var s = SQL(raw: head)
            let last = Swift.min(count, first + perStatement)
            s.parts.reserveCapacity(1 + (last - first) * (2 * columns.count + 1))
            for r in first..<last {
                for (k, column) in columns.enumerated() {
                    s.parts.append(.raw(k > 0 ? ", " : r == first ? "(" : "), ("))
                    s.parts.append(.value(values[r * columns.count + k], column.type))
                }
            }
            s.parts.append(.raw(")"))
            return s
        }
    }
}

extension SQLConnection {
    public func insert(_ rows: SQLRows) throws { try insertWithStatements(rows) }
    public func upsert(_ rows: SQLRows, onConflict: String) throws {
        try upsertWithStatements(rows, onConflict: onConflict)
    }

    /// Upserts `rows` with multi-row INSERT statements.
    public func upsertWithStatements(_ rows: SQLRows, onConflict: String) throws {
        for var s in rows.statements() {
            s.parts.append(.raw(" " + onConflict))
            try execute(SQLStatement(dialect, s))
        }
    }

    /// Appends `rows` with multi-row INSERT statements.
    public func insertWithStatements(_ rows: SQLRows) throws {
        for s in rows.statements() { try execute(SQLStatement(dialect, s)) }
    }
}
