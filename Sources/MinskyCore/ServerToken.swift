/// A bearer token for `minsky serve`: a name for people to recognise it, the database role its
/// requests run as (PostgreSQL; nil on SQLite, whose one owner is whoever holds the file), and
/// its lifetime. Only a hash of its secret is stored; the token is shown once, when made.
public struct ServerToken: Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: String?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?

    public init(
        id: String, name: String, role: String?, createdAt: Timestamp, expiresAt: Timestamp?,
        revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    /// Why the token cannot be used at `now` (revoked, expired), or nil when it can.
    public func refusal(at now: Timestamp) -> String? {
        if revokedAt != nil { return "the token was revoked" }
        if let e = expiresAt, e <= now { return "the token expired" }
        return nil
    }

    public var json: JSONValue {
        [
            "id": .string(id), "name": .string(name), "role": role.map { .string($0) } ?? .null,
            "createdAt": .string(createdAt.iso8601), "expiresAt": expiresAt.map { .string($0.iso8601) } ?? .null,
            "revokedAt": revokedAt.map { .string($0.iso8601) } ?? .null,
        ]
    }
}

/// Making, reading and checking token texts: `mks_<id>_<secret>`, 12 and 43 characters of
/// base32 (the secret carries 215 random bits).
public enum ServerTokens {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    static func random(_ n: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return String((0..<n).map { _ in alphabet[Int(g.next() % 32)] })
    }

    /// A new token: the text to show once, and what the store keeps (the record and the hash).
    public static func mint(name: String, role: String?, expiresAt: Timestamp?, now: Timestamp) throws -> (
        text: String, token: ServerToken, secretHash: String
    ) {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 100, !trimmed.contains(where: \.isNewline) else {
            throw MinskyError.invalid("name", "a token needs a name of 1 to 100 characters on one line (who holds it)")
        }
        if let e = expiresAt, e <= now {
            throw MinskyError.invalid("expires", "the expiry is in the past; give a duration such as 30d or 12h")
        }
        let id = random(12)
        let secret = random(43)
        return (
            "mks_\(id)_\(secret)", ServerToken(id: id, name: trimmed, role: role, createdAt: now, expiresAt: expiresAt),
            hash(secret)
        )
    }

    /// The id and secret of a token text, or nil when it is not shaped like one.
    public static func parse(_ text: String) -> (id: String, secret: String)? {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "mks", parts[1].count == 12, parts[2].count == 43,
            (parts[1] + parts[2]).allSatisfy({ alphabet.contains($0) })
        else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    public static func hash(_ secret: String) -> String {
        var h = SHA256()
        h.update(Array(secret.utf8))
        return SHA256.hex(h.finalize())
    }

    /// Compares two hashes in time independent of where they differ.
    public static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in x.indices { d |= x[i] ^ y[i] }
        return d == 0
    }
}

/// Where `minsky serve` keeps its tokens: in the store it serves.
public protocol TokenStore: Sendable {
    func saveToken(_ token: ServerToken, secretHash: String) async throws
    /// The token with this id and its secret's hash, revoked or not.
    func token(id: String) async throws -> (token: ServerToken, secretHash: String)?
    func tokens() async throws -> [ServerToken]
    /// Revokes the token; false when there is none with that id (or it was already revoked).
    func revokeToken(id: String, at: Timestamp) async throws -> Bool
    /// The store's secret named `name`, made from `make()` the first time any server asks.
    func serverSecret(_ name: String, make: @escaping @Sendable () -> String) async throws -> String
}
