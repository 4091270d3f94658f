/// A short, collision-free task identifier such as `mk-4f9za`.
///
/// Tasks are created on several offline machines and merged later, so ids are random
/// (base-36 suffix after a prefix) rather than autoincrement integers. Stores grow the suffix
/// by one character whenever a freshly drawn id collides with an existing one.
public struct TaskID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public static let defaultPrefix = "mk"
    public static let defaultSuffixLength = 5
    public static let maxLength = 64
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")

    /// Validates an id typed by a user or sent by an agent.
    public init(validating raw: String) throws {
        let trimmed = raw.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw MinskyError.invalid("id", "task id is empty; pass an id like mk-4f9za") }
        guard trimmed.utf8.count <= Self.maxLength,
            trimmed.unicodeScalars.allSatisfy({
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
            })
        else {
            throw MinskyError.invalid(
                "id",
                "'\(trimmed.prefix(80))' is not a task id; ids look like mk-4f9za (letters, digits, '-', '_', '.')")
        }
        self.rawValue = trimmed.lowercased()
    }

    /// For ids read back from a store, which were validated on the way in.
    public init(trusted raw: String) { self.rawValue = raw }

    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(validating: raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public var description: String { rawValue }
    public static func < (a: TaskID, b: TaskID) -> Bool { a.rawValue < b.rawValue }

    /// Draws a random id. `prefix` must already be a valid prefix (see `validatePrefix`).
    public static func random<G: RandomNumberGenerator>(
        prefix: String = defaultPrefix, length: Int = defaultSuffixLength, using rng: inout G
    ) -> TaskID {
        var suffix = ""
        suffix.reserveCapacity(length)
        for _ in 0..<length { suffix.append(alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))]) }
        return TaskID(trusted: "\(prefix)-\(suffix)")
    }

    public static func random(prefix: String = defaultPrefix, length: Int = defaultSuffixLength) -> TaskID {
        var g = SystemRandomNumberGenerator()
        return random(prefix: prefix, length: length, using: &g)
    }

    public static func validatePrefix(_ prefix: String) throws -> String {
        let p = prefix.lowercased()
        guard (1...16).contains(p.count),
            p.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        else {
            throw MinskyError.invalid("idPrefix", "id prefix '\(prefix)' must be 1-16 ASCII letters or digits, e.g. mk")
        }
        return p
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
