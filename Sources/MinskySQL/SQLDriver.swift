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
    func close() async
    /// Runs `body` on a connection outside any transaction, each statement committing on its own
    /// (PostgreSQL's CREATE INDEX CONCURRENTLY needs this). Default: a write transaction.
    func autocommit<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// A vector index of the backend's own, made once per store.
    func makeVectorIndex() -> (any VectorIndex)?
}

extension SQLDriver {
    public func boundedRead<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    {
        try await read(body)
    }

    /// The backend's own vector index, if it has one (see `VectorIndex`). Default: none.
    public func makeVectorIndex() -> (any VectorIndex)? { nil }

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
