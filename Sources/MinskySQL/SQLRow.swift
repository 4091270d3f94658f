import MinskyCore

/// The column names of one result, shared by its rows.
public final class SQLColumnNames: Sendable {
    public let names: [String]
    let index: [String: Int]

    public init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() where index[n] == nil { index[n] = i }
        self.index = index
    }
}

/// One row of a result: its values by position (`row[0]`) and by column name
/// (`try row.text("title")`). Decoders read by name, so a column added to a SELECT list or
/// reordered cannot shift what a field reads; a name the query did not select is an error.
public struct SQLRow: Sendable {
    public let values: [SQLValue]
    public let columns: SQLColumnNames

    public init(_ values: [SQLValue], columns: SQLColumnNames) {
        self.values = values
        self.columns = columns
    }

    public var count: Int { values.count }
    public subscript(_ i: Int) -> SQLValue { values[i] }

    /// The value of column `name` (NULL is `.null`); a name the query did not select throws.
    public func value(_ name: String) throws -> SQLValue {
        guard let i = columns.index[name], i < values.count else {
            throw MinskyError(
                .internal, "a query result has no column '\(name)' (it has \(columns.names.joined(separator: ", ")))")
        }
        return values[i]
    }

    /// Column `name` as text; NULL is an error (a stored row missing a value is never invented).
    public func text(_ name: String) throws -> String {
        guard let s = try value(name).text else {
            throw MinskyError(.internal, "a stored row has no value in column '\(name)'")
        }
        return s
    }

    public func optionalText(_ name: String) throws -> String? { try value(name).text }

    public func int(_ name: String) throws -> Int64 {
        guard let i = try value(name).int else {
            throw MinskyError(.internal, "a stored row has no integer in column '\(name)'")
        }
        return i
    }

    /// Column `name` read as `SQLDialect.read(_:as: .timestamp)` gives it.
    public func timestamp(_ name: String) throws -> Timestamp {
        let s = try text(name)
        guard let t = Timestamp(iso8601: s) else {
            throw MinskyError(.internal, "a stored timestamp '\(s.prefix(40))' in column '\(name)' is malformed")
        }
        return t
    }

    public func optionalTimestamp(_ name: String) throws -> Timestamp? {
        try value(name).isNull ? nil : try timestamp(name)
    }

    /// Column `name` as parsed JSON (read with `SQLDialect.read(_:as: .json)`).
    public func json(_ name: String) throws -> JSONValue { try JSONValue.parse(try text(name), field: name) }
}
