import MinskyCore

/// `minsky serve`'s bearer tokens (migration 019): the secret's hash only.
extension SQLTaskStore {
    var tokenSelect: String {
        [
            "id", "name", "role", "secret_hash", d.select("created_at", as: .timestamp),
            d.select("expires_at", as: .timestamp), d.select("revoked_at", as: .timestamp),
        ].joined(separator: ", ")
    }

    static func decodeToken(_ r: SQLRow) throws -> (token: ServerToken, secretHash: String) {
        (
            ServerToken(
                id: try r.text("id"), name: try r.text("name"), role: try r.optionalText("role"),
                createdAt: try r.timestamp("created_at"), expiresAt: try r.optionalTimestamp("expires_at"),
                revokedAt: try r.optionalTimestamp("revoked_at")), try r.text("secret_hash")
        )
    }

    public func saveToken(_ t: ServerToken, secretHash: String) async throws {
        _ = try await write { c in
            try c.execute(
                """
                INSERT INTO server_tokens (id, name, role, secret_hash, created_at, expires_at, revoked_at) \
                VALUES (\(text: t.id), \(text: t.name), \(text: t.role), \(text: secretHash), \(t.createdAt), \(t.expiresAt), \(t.revokedAt))
                """)
        }
    }

    public func token(id: String) async throws -> (token: ServerToken, secretHash: String)? {
        try await boundedRead { [self] c in
            try c.query("SELECT \(raw: tokenSelect) FROM server_tokens WHERE id = \(text: id)").first.map(
                Self.decodeToken)
        }
    }

    public func tokens() async throws -> [ServerToken] {
        try await read { [self] c in
            try c.query("SELECT \(raw: tokenSelect) FROM server_tokens ORDER BY created_at, id").map {
                try Self.decodeToken($0).token
            }
        }
    }

    public func revokeToken(id: String, at: Timestamp) async throws -> Bool {
        try await write { c in
            try c.execute("UPDATE server_tokens SET revoked_at = \(at) WHERE id = \(text: id) AND revoked_at IS NULL")
                == 1
        }
    }

    public func serverSecret(_ name: String, make: @escaping @Sendable () -> String) async throws -> String {
        if let v = try await read({ c in
            try c.query("SELECT value FROM server_secrets WHERE name = \(text: name)").first?[0].text
        }) {
            return v
        }
        return try await write { c in
            try c.execute(
                "INSERT INTO server_secrets (name, value) VALUES (\(text: name), \(text: make())) ON CONFLICT (name) DO NOTHING"
            )
            guard let v = try c.query("SELECT value FROM server_secrets WHERE name = \(text: name)").first?[0].text
            else {
                throw MinskyError(.internal, "the server secret \(name) could not be stored")
            }
            return v
        }
    }
}
