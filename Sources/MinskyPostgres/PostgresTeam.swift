import CLibPQ
import Foundation
import MinskyCore
import MinskySQL

/// A person's (or an agent's) place in a team store.
public enum TeamRole: String, CaseIterable, Sendable, Codable {
    case viewer, member, admin

    public var right: AccessRight {
        switch self {
        case .viewer: .read
        case .member: .write
        case .admin: .admin
        }
    }
}

/// The group roles of one store. A store in the `public` schema uses `minsky_owner`,
/// `minsky_admin`, `minsky_member` and `minsky_viewer`; a store in another schema uses the
/// schema's name instead of `minsky`, so several stores can share a server without sharing a team.
public struct TeamRoles: Sendable, Equatable {
    public let schema: String
    public let base: String

    public init(schema: String) {
        self.schema = schema
        base = schema == "public" ? "minsky" : schema
    }

    /// NOLOGIN: owns the tables, so no person owns them (and FORCE ROW LEVEL SECURITY binds
    /// even the owner).
    public var owner: String { base + "_owner" }
    public func group(_ role: TeamRole) -> String { base + "_" + role.rawValue }
    /// The owner and the three groups.
    public var all: [String] { [owner] + TeamRole.allCases.map(group) }
}

/// A login role of the team.
public struct TeamMember: Sendable, Codable, Equatable {
    public var name: String
    public var role: TeamRole
}

/// What `team init` found and did.
public struct TeamSetup: Sendable, Codable {
    public var schema: String
    public var owner: String
    public var roles: [String: String]
    public var tables: [String]
}

/// Team mode on PostgreSQL: roles, grants and row-level security that the database enforces.
/// viewer reads; member also creates and updates tasks, claims, dependencies and AI proposals,
/// and appends history (as itself only: a policy checks `actor = current_user`); admin also
/// deletes, manages the team and runs upgrades and backups (through the owner role). None is a
/// superuser or has BYPASSRLS. Every call blocks: run it off the cooperative pool.
public enum PostgresTeam {
    /// The tables minsky keeps on PostgreSQL, besides the catalog's.
    static let bookkeepingTables = ["minsky_migrations", "store_moved"] + Schema.syncTables

    /// What a member may do to each table besides reading it.
    static let memberWrites: [String: [String]] = [
        "tasks": ["INSERT", "UPDATE"],
        "task_dependencies": ["INSERT", "DELETE"],
        "proposals": ["INSERT", "UPDATE"],
        "task_notes": ["INSERT"],
        "task_embeddings": ["INSERT", "UPDATE"],
        "task_events": ["INSERT"],
        "ai_calls": ["INSERT"],
        // A member's writes are tracked for sync, and a member's replica may push.
        "sync_rows": ["INSERT", "UPDATE"],
        "sync_log": ["INSERT"],
        "sync_applied": ["INSERT"],
        "sync_replicas": ["INSERT", "UPDATE"],
    ]

    public static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    public static func roles(_ s: PostgresSession) throws -> TeamRoles {
        TeamRoles(schema: try s.query("SELECT current_schema()").first?[0].text ?? "public")
    }

    static func roleExists(_ s: PostgresSession, _ name: String) throws -> Bool {
        try !s.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(name)]).isEmpty
    }

    /// Sets the store up for a team, idempotently, in one transaction: the group roles, the
    /// tables handed to the owner role, grants, and row-level security forced on every table.
    /// Needs a superuser (or the tables' owner with CREATEROLE).
    public static func initialize(url: String) throws -> TeamSetup {
        let s = try PostgresSession(url: url)
        try s.execute("BEGIN")
        do {
            try s.execute(AdvisoryLock.migrations.transactionLock)
            let r = try roles(s)
            let tables = try existingTables(s)
            guard tables.contains("tasks") else {
                throw MinskyError(
                    .notConfigured,
                    "no minsky store in schema \(r.schema) of \(s.target.safeDescription); create it first (`minsky upgrade team` or `minsky init --db URL`)"
                )
            }
            for name in r.all where try !roleExists(s, name) {
                try s.execute("CREATE ROLE \(quote(name)) NOLOGIN")
            }
            // Admins act as the owner (schema changes in upgrades) and grant the other roles.
            try s.execute("GRANT \(quote(r.owner)) TO \(quote(r.group(.admin)))")
            try s.execute(
                "GRANT \(quote(r.group(.member))), \(quote(r.group(.viewer))) TO \(quote(r.group(.admin))) WITH ADMIN OPTION"
            )
            if let vector = try s.query(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
            ).first?[0].text {
                // Made now, by the owner, so members (who may not alter tables) can search by meaning.
                for sql in Schema.pgvectorColumn(schema: vector) { try s.execute(sql) }
            }
            for sql in grants(r, tables: tables) { try s.execute(sql) }
            try s.execute("COMMIT")
            return TeamSetup(
                schema: r.schema, owner: r.owner,
                roles: Dictionary(uniqueKeysWithValues: TeamRole.allCases.map { ($0.rawValue, r.group($0)) }),
                tables: tables)
        } catch {
            _ = try? s.execute("ROLLBACK")
            throw error
        }
    }

    static func existingTables(_ s: PostgresSession) throws -> [String] {
        try existingTables(query: { try s.query($0) })
    }

    /// minsky's tables present in the current schema, read through `query` (any connection).
    static func existingTables(query: (String) throws -> [[SQLValue]]) throws -> [String] {
        let present = Set(
            try query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").compactMap { $0[0].text })
        return (Schema.catalog.map(\.name) + bookkeepingTables).filter(present.contains)
    }

    /// The schema grants, then the grants and policies for `tables`; every statement may run
    /// again (policies are replaced).
    static func grants(_ r: TeamRoles, tables: [String]) -> [String] {
        [
            "GRANT USAGE ON SCHEMA \(quote(r.schema)) TO \(r.all.map(quote).joined(separator: ", "))",
            "GRANT CREATE ON SCHEMA \(quote(r.schema)) TO \(quote(r.owner))",
        ] + tableGrants(r, tables: tables)
    }

    /// What the owner role itself may re-apply: migrations run as the owner on a team store and
    /// call this for every table, so a table a newer minsky adds is protected like the others.
    public static func tableGrants(_ r: TeamRoles, tables: [String]) -> [String] {
        let owner = quote(r.owner)
        let viewer = quote(r.group(.viewer))
        let member = quote(r.group(.member))
        var out: [String] = []
        for t in tables {
            let table = quote(t)
            out += [
                "ALTER TABLE \(table) OWNER TO \(owner)",
                "REVOKE ALL ON \(table) FROM PUBLIC",
                "GRANT SELECT ON \(table) TO \(viewer), \(member)",
                "ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY",
                "ALTER TABLE \(table) FORCE ROW LEVEL SECURITY",
            ]
            var policies: [(name: String, body: String)] = [
                ("minsky_read", "FOR SELECT TO \(viewer), \(member) USING (true)"),
                ("minsky_owner", "FOR ALL TO \(owner) USING (true) WITH CHECK (true)"),
            ]
            for op in memberWrites[t] ?? [] {
                out.append("GRANT \(op) ON \(table) TO \(member)")
                switch op {
                case "INSERT":
                    // History is written as oneself: a member cannot record a change in another's name.
                    // (Notes keep their author when a replica's sync brings them, so they are not checked.)
                    let check = t == "task_events" ? "actor = current_user" : "true"
                    policies.append(("minsky_member_insert", "FOR INSERT TO \(member) WITH CHECK (\(check))"))
                case "UPDATE":
                    policies.append(("minsky_member_update", "FOR UPDATE TO \(member) USING (true) WITH CHECK (true)"))
                default:
                    policies.append(("minsky_member_delete", "FOR DELETE TO \(member) USING (true)"))
                }
            }
            for p in policies {
                out.append("DROP POLICY IF EXISTS \(p.name) ON \(table)")
                out.append("CREATE POLICY \(p.name) ON \(table) \(p.body)")
            }
        }
        out.append("ALTER FUNCTION minsky_notify_events() OWNER TO \(owner)")
        return out
    }

    /// Whether each of the store's tables has row-level security forced, for `doctor`.
    public static func forcedRowSecurity(_ s: PostgresSession) throws -> [String: Bool] {
        let names = try existingTables(s)
        var out: [String: Bool] = [:]
        for row in try s.query(
            "SELECT relname, relforcerowsecurity AND relrowsecurity FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
        ) where names.contains(row[0].text ?? "") {
            out[row[0].text ?? ""] = row[1].text == "t"
        }
        return out
    }

    /// A valid login name: lowercase letters, digits and underscores, not a group role's.
    static func checkName(_ name: String, _ r: TeamRoles) throws {
        let ok =
            !name.isEmpty && name.count <= 63 && name.first.map { $0.isLetter || $0 == "_" } == true
            && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }
        guard ok else {
            throw MinskyError.invalid(
                "name",
                "'\(name.prefix(70))' is not a valid member name; use lowercase letters, digits and _ (at most 63)")
        }
        if name.hasPrefix("pg_") || name == "postgres" || r.all.contains(name) {
            throw MinskyError.invalid("name", "'\(name)' is reserved; choose another member name")
        }
    }

    static func requireTeam(_ s: PostgresSession, _ r: TeamRoles) throws {
        guard try roleExists(s, r.group(.member)) else {
            throw MinskyError(
                .notConfigured,
                "this store is not set up for a team (no role \(r.group(.member))); run `minsky team init` as the database owner first"
            )
        }
    }

    /// Creates a login role with `role`'s rights. Admins may create and drop team members
    /// (CREATEROLE, ADMIN OPTION on the groups); the password is sent as a SCRAM verifier only.
    public static func add(url: String, name: String, role: TeamRole, password: String) throws {
        let s = try PostgresSession(url: url)
        let r = try roles(s)
        try checkName(name, r)
        try requireTeam(s, r)
        guard password.count >= 8 else {
            throw MinskyError.invalid("password", "the password must have at least 8 characters")
        }
        if try roleExists(s, name) {
            throw MinskyError.invalid(
                "name", "a role named \(name) already exists; choose another name or `minsky team remove \(name)` first"
            )
        }
        let verifier = try scram(s, user: name, password: password)
        try s.execute("BEGIN")
        do {
            let attrs = role == .admin ? "LOGIN CREATEROLE" : "LOGIN"
            try s.execute("CREATE ROLE \(quote(name)) \(attrs) PASSWORD \(literal(verifier))")
            try s.execute(
                "GRANT \(quote(r.group(role))) TO \(quote(name))\(role == .admin ? " WITH ADMIN OPTION" : "")")
            if role != .admin, try (s.query("SHOW server_version_num").first?[0].text).flatMap(Int.init) ?? 0 >= 160000
            {
                // Every admin may later remove this member (PostgreSQL 16+ asks for ADMIN OPTION).
                // Not for an admin, who is a member of the admin group: that grant would be circular.
                try s.execute(
                    "GRANT \(quote(name)) TO \(quote(r.group(.admin))) WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
            }
            if r.schema != "public" {
                try s.execute("ALTER ROLE \(quote(name)) SET search_path = \(quote(r.schema))")
            }
            try s.execute("COMMIT")
        } catch {
            _ = try? s.execute("ROLLBACK")
            throw error
        }
    }

    /// The SCRAM-SHA-256 verifier libpq computes for `password`: the clear text never reaches
    /// the server, its logs or our error messages.
    static func scram(_ s: PostgresSession, user: String, password: String) throws -> String {
        guard let p = PQencryptPasswordConn(s.conn.raw, password, user, "scram-sha-256") else {
            throw MinskyError(.internal, "libpq could not encrypt the password")
        }
        defer { PQfreemem(p) }
        return String(cString: p)
    }

    public static func list(url: String) throws -> [TeamMember] {
        let s = try PostgresSession(url: url)
        let r = try roles(s)
        try requireTeam(s, r)
        let rows = try s.query(
            """
            SELECT m.rolname, g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid \
            JOIN pg_roles m ON m.oid = am.member WHERE m.rolcanlogin AND g.rolname = ANY($1::text[]) ORDER BY 1
            """, [.text("{" + TeamRole.allCases.map(r.group).joined(separator: ",") + "}")])
        var best: [String: TeamRole] = [:]
        for row in rows {
            guard let name = row[0].text, let g = row[1].text,
                let role = TeamRole.allCases.first(where: { r.group($0) == g })
            else { continue }
            if best[name].map({ $0.right < role.right }) ?? true { best[name] = role }
        }
        return best.keys.sorted().map { TeamMember(name: $0, role: best[$0]!) }
    }

    /// Drops a member's login role. Their history stays (events keep the name as text).
    public static func remove(url: String, name: String) throws {
        let s = try PostgresSession(url: url)
        let r = try roles(s)
        try checkName(name, r)
        guard try list(url: url).contains(where: { $0.name == name }) else {
            throw MinskyError(.notFound, "\(name) is not a member of this team; `minsky team list` shows who is")
        }
        guard try s.query("SELECT current_user").first?[0].text != name else {
            throw MinskyError.invalid("name", "you cannot remove yourself; ask another admin")
        }
        try s.execute("DROP ROLE \(quote(name))")
    }
}
