/// The workflow states a task moves through. Raw values are what stores hold and users type.
public enum TaskStatus: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case todo = "TODO"
    case inProgress = "IN-PROGRESS"
    case inReview = "IN-REVIEW"
    case done = "DONE"
    case blocked = "BLOCKED"
    case closed = "CLOSED"

    /// DONE and CLOSED no longer block anything that depends on them.
    public var isResolved: Bool { self == .done || self == .closed }

    public var description: String { rawValue }

    /// Accepts `in-progress`, `IN_PROGRESS`, `in progress`, `inprogress`.
    public init(parsing raw: String) throws {
        let norm = raw.trimmingWhitespace().uppercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(
            of: " ", with: "-")
        if let s = TaskStatus(rawValue: norm) {
            self = s
            return
        }
        if let s = TaskStatus.allCases.first(where: { $0.rawValue.replacingOccurrences(of: "-", with: "") == norm }) {
            self = s
            return
        }
        throw MinskyError.invalid(
            "status",
            "unknown status '\(raw.prefix(40))'; use one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))"
        )
    }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: decoder.singleValueContainer().decode(String.self))
    }
}

/// 0 is the most urgent, 4 the least; 2 is the default.
public struct Priority: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let value: Int
    public static let range = 0...4
    public static let `default` = Priority(unchecked: 2)
    static let names = ["critical", "high", "medium", "low", "backlog"]

    public init(_ value: Int) throws {
        guard Self.range.contains(value) else {
            throw MinskyError.invalid("priority", "priority \(value) is out of range; use 0 (critical) to 4 (backlog)")
        }
        self.value = value
    }

    init(unchecked value: Int) { self.value = value }

    /// Accepts `0`-`4`, `P0`-`P4`, or critical/high/medium/low/backlog.
    public init(parsing raw: String) throws {
        let s = raw.trimmingWhitespace().lowercased()
        if let i = Self.names.firstIndex(of: s) {
            self.init(unchecked: i)
            return
        }
        let digits = s.hasPrefix("p") ? String(s.dropFirst()) : s
        guard let n = Int(digits) else {
            throw MinskyError.invalid(
                "priority", "unknown priority '\(raw.prefix(40))'; use 0-4, P0-P4 or critical/high/medium/low/backlog")
        }
        try self.init(n)
    }

    public var name: String { Self.names[value] }
    public var description: String { "P\(value)" }
    public static func < (a: Priority, b: Priority) -> Bool { a.value < b.value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { try self.init(i) } else { try self.init(parsing: c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}
