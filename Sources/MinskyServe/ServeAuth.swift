import Foundation
import MinskyCore

/// Who an HTTP request acts as, once its bearer token checked out.
public struct ServeCaller: Sendable, Hashable {
    public var tokenID: String
    public var name: String
    /// The database role its requests run as (nil on SQLite: the store's one owner).
    public var role: String?
}

/// Why a request was not let in: the 401's `WWW-Authenticate` error and a message.
public struct AuthRefusal: Error, Sendable {
    /// RFC 6750: nil for a request that carried no credentials, `invalid_token` otherwise.
    public var error: String?
    public var message: String
}

/// Authentication for `minsky serve`, all of it: a bearer token (`minsky team token create`)
/// checked against the store's hashes, expiry and revocation at every request, so a revoked
/// token fails on its next request whichever instance receives it. The MCP authorization
/// profile (OAuth 2.1) is not implemented; it would be added here, beside the token check.
public struct TokenAuthority: Sendable {
    let tokens: any TokenStore
    let now: @Sendable () -> Timestamp

    public init(tokens: any TokenStore, now: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.tokens = tokens
        self.now = now
    }

    public func check(authorization: String?) async -> Result<ServeCaller, AuthRefusal> {
        guard let authorization, !authorization.isEmpty else {
            return .failure(
                AuthRefusal(
                    error: nil,
                    message:
                        "this server needs a bearer token: send `Authorization: Bearer mks_…` (the store's owner makes one with `minsky team token create NAME`)"
                ))
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            let (id, secret) = ServerTokens.parse(String(parts[1]))
        else {
            return .failure(
                AuthRefusal(
                    error: "invalid_token", message: "the Authorization header is not `Bearer mks_…` with a token"))
        }
        let found: (token: ServerToken, secretHash: String)?
        do { found = try await tokens.token(id: id) } catch {
            return .failure(AuthRefusal(error: "invalid_token", message: "tokens cannot be checked now: \(error)"))
        }
        // The same answer for an unknown id and a wrong secret: neither tells which ids exist.
        guard let found, ServerTokens.same(found.secretHash, ServerTokens.hash(secret)) else {
            return .failure(AuthRefusal(error: "invalid_token", message: "the token is not valid"))
        }
        if let why = found.token.refusal(at: now()) {
            return .failure(AuthRefusal(error: "invalid_token", message: "\(why); ask the store's owner for a new one"))
        }
        return .success(ServeCaller(tokenID: found.token.id, name: found.token.name, role: found.token.role))
    }
}

/// What `minsky serve` checks before it reads a request: that the request names this server
/// (`Host`: no DNS rebinding) and, when it carries an `Origin`, comes from an origin allowed to
/// call it (a browser page elsewhere may not).
public struct ServeGuard: Sendable {
    public var hosts: Set<String>
    public var origins: Set<String>

    /// The server listening on `host:port`, plus hosts and origins a reverse proxy presents.
    public init(host: String, port: UInt16, extraHosts: [String] = [], extraOrigins: [String] = []) {
        var h: Set<String> = ["\(host):\(port)".lowercased()]
        if host == "127.0.0.1" || host == "localhost" || host == "::1" {
            h.formUnion(["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"])
        }
        h.formUnion(extraHosts.map { $0.lowercased() })
        hosts = h
        origins = Set(h.map { "http://\($0)" }).union(extraOrigins.map { $0.lowercased() })
    }

    public func refusal(host: String?, origin: String?) -> String? {
        guard let host, hosts.contains(host.lowercased()) else {
            return
                "foreign Host header \(host.map { "'\($0.prefix(80))'" } ?? "(none)"): this server answers to \(hosts.sorted().joined(separator: ", ")) (add others with --allow-host)"
        }
        if let origin, !origins.contains(origin.lowercased()) {
            return "foreign Origin '\(origin.prefix(80))': allow it with --allow-origin if it is yours"
        }
        return nil
    }
}
