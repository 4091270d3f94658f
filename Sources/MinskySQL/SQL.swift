import MinskyCore

/// SQL written as SQL, with values bound by interpolation (as GRDB's `SQL` literals do):
///
///     try c.execute("UPDATE tasks SET title = \(text: title), version = \(int: v) WHERE id = \(id)")
///
/// Each interpolated value becomes a placeholder the dialect renders (`?` on SQLite, `$n::type`
/// on PostgreSQL), so no value is ever spliced into the text. `\(raw:)` inserts trusted SQL
/// (a column list, a dialect fragment) and `\(sql)` nests another literal. A plain `String`
/// cannot be interpolated without a label, so SQL text and bound text are never confused.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    enum Part: Sendable {
        case raw(String)
        case value(SQLValue, SQLDialect.ColumnType)
        /// A dialect fragment with one placeholder, numbered when rendered.
        case fragment(@Sendable (SQLDialect, Int) -> (sql: String, value: SQLValue))
    }

    var parts: [Part]

    public init(stringLiteral value: String) { parts = [.raw(value)] }

    /// Trusted SQL text held in a variable (a dialect's statement, a generated list).
    public init(raw: String) { parts = [.raw(raw)] }

    public init(stringInterpolation: StringInterpolation) { parts = stringInterpolation.parts }

    public struct StringInterpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: String) { parts.append(.raw(literal)) }
        public mutating func appendInterpolation(text: String) { parts.append(.value(.text(text), .text)) }
        public mutating func appendInterpolation(text: String?) {
            parts.append(.value(text.map(SQLValue.text) ?? .null, .text))
        }
        public mutating func appendInterpolation(_ id: TaskID) { parts.append(.value(.text(id.rawValue), .text)) }
        public mutating func appendInterpolation(_ id: TaskID?) {
            parts.append(.value(id.map { .text($0.rawValue) } ?? .null, .text))
        }
        public mutating func appendInterpolation(int: Int64) { parts.append(.value(.int(int), .integer)) }
        public mutating func appendInterpolation(int: Int) { parts.append(.value(.int(Int64(int)), .integer)) }
        public mutating func appendInterpolation(_ t: Timestamp) { parts.append(.value(.text(t.iso8601), .timestamp)) }
        public mutating func appendInterpolation(_ t: Timestamp?) {
            parts.append(.value(t.map { .text($0.iso8601) } ?? .null, .timestamp))
        }
        /// A JSON column's value, stored in canonical form.
        public mutating func appendInterpolation(json: JSONValue) {
            parts.append(.value(.text(json.canonicalJSON()), .json))
        }
        public mutating func appendInterpolation(blob: [UInt8]) { parts.append(.value(.blob(blob), .blob)) }
        public mutating func appendInterpolation(_ value: SQLValue, as type: SQLDialect.ColumnType) {
            parts.append(.value(value, type))
        }
        /// Trusted SQL text: column lists, constants, dialect fragments. Never user input.
        public mutating func appendInterpolation(raw: String) { parts.append(.raw(raw)) }
        public mutating func appendInterpolation(_ sql: SQL) { parts += sql.parts }
        /// `a, b, c` placeholders for an `IN (…)` list of text values.
        public mutating func appendInterpolation(list: [String]) {
            for (i, v) in list.enumerated() {
                if i > 0 { parts.append(.raw(", ")) }
                parts.append(.value(.text(v), .text))
            }
        }
        public mutating func appendInterpolation(list: [TaskID]) { appendInterpolation(list: list.map(\.rawValue)) }
        /// A dialect fragment that binds one value at the placeholder number it is given.
        public mutating func appendInterpolation(
            fragment: @escaping @Sendable (SQLDialect, Int) -> (sql: String, value: SQLValue)
        ) {
            parts.append(.fragment(fragment))
        }
    }

    public static func + (a: SQL, b: SQL) -> SQL {
        var s = a
        s.parts += b.parts
        return s
    }

    public static func += (a: inout SQL, b: SQL) { a.parts += b.parts }
}

extension SQLStatement {
    /// Renders `sql` for `dialect`: placeholders numbered in order, values bound.
    public init(_ dialect: SQLDialect, _ sql: SQL) {
        self.init(dialect)
        for part in sql.parts {
            switch part {
            case .raw(let s): append(s)
            case .value(let v, let t): bind(v, as: t)
            case .fragment(let make): appendFragment { make(dialect, $0) }
            }
        }
    }
}

extension SQLConnection {
    /// Renders `sql` for this connection's dialect and runs it.
    public func query(_ sql: SQL) throws -> [SQLRow] { try query(SQLStatement(dialect, sql)) }

    @discardableResult
    public func execute(_ sql: SQL) throws -> Int { try execute(SQLStatement(dialect, sql)) }

    public func executeLater(_ sql: SQL) throws { try executeLater(SQLStatement(dialect, sql)) }
    public func executeSoon(_ sql: SQL) throws { try executeSoon(SQLStatement(dialect, sql)) }

    public func forEachTextAndBlob(_ sql: SQL, _ body: (String, UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachTextAndBlob(SQLStatement(dialect, sql), body)
    }
}
