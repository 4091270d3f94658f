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

/// The group roles of one store's team. Roles belong to the whole server, so every team has
/// role names of its own: `BASE_owner`, `BASE_admin`, `BASE_member`, `BASE_viewer`, where BASE is
/// chosen at `team init` (`--prefix`) or derived from the database and schema
/// (`minsky_<database>` for `public`, `minsky_<database>_<schema>` otherwise). Whether a store is
/// a team store, and which team, is read from the database itself: the owner of its `tasks`
/// table (see `PostgresTeam.detect`), never from the mere existence of a role somewhere on the server.
public struct TeamRoles: Sendable, Equatable {
    public let schema: String
    public let base: String

    public init(schema: String, base: String) {
        self.schema = schema
        self.base = base
    }

    /// The role-name prefix a new team gets when none is chosen: lowercase letters, digits and
    /// `_`, short enough that `_viewer` fits PostgreSQL's 63-byte names (long names end in a hash).
    public static func defaultBase(database: String, schema: String) -> String {
        let raw = "minsky_" + database + (schema == "public" ? "" : "_" + schema)
        var clean = String(
            raw.lowercased().map { c -> Character in
                (c.isASCII && (c.isLetter || c.isNumber)) || c == "_" ? c : "_"
            })
        if clean.utf8.count > 48 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in raw.utf8 {
                h ^= UInt64(b)
                h = h &* 0x100_0000_01b3
            }
            clean = String(clean.prefix(39)) + "_" + String(String(h, radix: 16).prefix(8))
        }
        return clean
    }

    /// NOLOGIN: owns the tables, so no person owns them (and FORCE ROW LEVEL SECURITY binds
    /// even the owner). Nobody is a member of it: only a superuser can act as it.
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

/// Team mode on PostgreSQL: roles, grants, row-level security and a few triggers that the
/// database enforces, for minsky and plain psql alike.
///
/// - viewer reads everything.
/// - member also creates and updates tasks, claims, dependencies, notes and AI proposals, and
///   appends history and sync changes, always as itself: policies check `actor = current_user`,
///   and triggers set the author and time of notes and events from the database.
/// - admin also deletes tasks (and their rows), manages the team's people, runs backups, and
///   compacts the sync log. An admin is not a member of the owner role: no DDL, no policy or
///   trigger changes, no TRUNCATE.
/// - the owner (NOLOGIN, no members) owns the tables; schema migrations run as it, started by
///   the database owner or a superuser after a check that nothing foreign is attached.
/// History (`task_events`) is append-only for everyone. None is a superuser or has BYPASSRLS.
/// Every call blocks: run it off the cooperative pool.
public enum PostgresTeam {
    /// The tables minsky keeps on PostgreSQL, besides the catalog's.
    static let bookkeepingTables = ["minsky_migrations", "store_moved", "mcp_jobs"] + Schema.syncTables

    /// What a member may do to each table besides reading it, with the check each write must pass
    /// (`ADMIN` in a check stands for the team's admin group).
    static let memberWrites: [String: [(op: String, check: String)]] = [
        "tasks": [("INSERT", "true"), ("UPDATE", "true")],
        "task_dependencies": [("INSERT", "true"), ("DELETE", "true")],
        "proposals": [("INSERT", "true"), ("UPDATE", "true")],
        // The author is the database's (a trigger sets it); only an admin's replica may assert another's.
        "task_notes": [("INSERT", "author = current_user OR pg_has_role(current_user, 'ADMIN', 'MEMBER')")],
        "task_embeddings": [("INSERT", "true"), ("UPDATE", "true")],
        // History is written as oneself, and only an admin records a deletion.
        "task_events": [
            ("INSERT", "actor = current_user AND (kind <> 'deleted' OR pg_has_role(current_user, 'ADMIN', 'MEMBER'))")
        ],
        "ai_calls": [("INSERT", "true")],
        // A member starts and moves on jobs in their own name only: another member could
        // otherwise write a forged result into a job whose answer someone else's agent reads.
        "mcp_jobs": [("INSERT", "actor = current_user"), ("UPDATE", "actor = current_user")],
        // Sync: a member's writes are tracked, its replica pushes and pulls, and it may start
        // tracking on a store nobody synced yet (the replica id only). Every log entry, applied
        // record and replica position carries the role that wrote it.
        "sync_state": [("INSERT", "name = 'replica'")],
        "sync_rows": [("INSERT", "true"), ("UPDATE", "true")],
        "sync_log": [("INSERT", "actor = current_user")],
        "sync_applied": [("INSERT", "actor = current_user")],
        "sync_replicas": [("INSERT", "actor = current_user"), ("UPDATE", "actor = current_user")],
    ]

    /// What an admin may do besides what a member may: delete (tasks and what hangs off them,
    /// AI call records, sync compaction) and manage sync on the store.
    static let adminWrites: [String: [String]] = [
        "tasks": ["DELETE"], "proposals": ["DELETE"], "task_notes": ["DELETE"], "task_embeddings": ["DELETE"],
        "ai_calls": ["DELETE"], "mcp_jobs": ["DELETE"], "sync_log": ["DELETE"], "sync_rows": ["DELETE"],
        "sync_applied": ["DELETE"],
        "sync_replicas": ["DELETE"], "sync_state": ["INSERT", "UPDATE", "DELETE"],
    ]

    /// The triggers and functions minsky itself attaches to a team store; anything else is foreign.
    static let ownTriggers = [
        "task_events_notify", "task_events_append_only", "task_events_truncate", "task_events_stamp",
        "task_notes_stamp",
    ]
    static let ownFunctions = ["minsky_notify_events", "minsky_append_only", "minsky_stamp_event", "minsky_stamp_note"]

    public static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    /// The team of the current schema, from the database's own state: the owner of its `tasks`
    /// table, when that is a NOLOGIN `BASE_owner` with `BASE_member` beside it. Nil for a plain store.
    public static func detect(query: (String) throws -> [[SQLValue]]) throws -> TeamRoles? {
        guard
            let row = try query(
                """
                SELECT n.nspname, left(r.rolname, -6) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                JOIN pg_roles r ON r.oid = c.relowner WHERE c.relname = 'tasks' AND c.relkind = 'r' \
                AND n.nspname = current_schema() AND NOT r.rolcanlogin AND r.rolname LIKE '%\\_owner' \
                AND EXISTS (SELECT 1 FROM pg_roles m WHERE m.rolname = left(r.rolname, -6) || '_member')
                """
            ).first, let schema = row[0].text, let base = row[1].text
        else { return nil }
        return TeamRoles(schema: schema, base: base)
    }

    static func detect(_ s: PostgresSession) throws -> TeamRoles? { try detect(query: { try s.query($0) }) }

    /// The store's team, or the error that says it has none.
    public static func roles(_ s: PostgresSession) throws -> TeamRoles {
        guard let r = try detect(s) else {
            let schema = try s.query("SELECT current_schema()").first?[0].text ?? "public"
            throw MinskyError(
                .notConfigured,
                "the store in schema \(schema) of \(s.target.safeDescription) is not set up for a team; run `minsky team init` as the database owner or a superuser first"
            )
        }
        return r
    }

    static func roleExists(_ s: PostgresSession, _ name: String) throws -> Bool {
        try !s.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(name)]).isEmpty
    }

    /// Triggers, rules and functions attached to the store that minsky did not create, described:
    /// a trigger runs with the rights of whoever writes, so a superuser must never write to a
    /// store that has one it does not know. Extension functions and a superuser's own count as known.
    public static func foreignObjects(query: (String) throws -> [[SQLValue]]) throws -> [String] {
        let triggers = "{" + ownTriggers.joined(separator: ",") + "}"
        let functions = "{" + ownFunctions.joined(separator: ",") + "}"
        return try query(
            """
            SELECT 'trigger ' || t.tgname || ' on ' || c.relname || ' (function ' || p.proname || ', owned by ' \
            || pg_get_userbyid(p.proowner) || ')' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
            JOIN pg_proc p ON p.oid = t.tgfoid WHERE c.relnamespace = current_schema()::regnamespace \
            AND NOT t.tgisinternal AND (t.tgname <> ALL('\(triggers)'::text[]) OR p.proname <> ALL('\(functions)'::text[]) \
            OR p.prosecdef OR p.pronamespace <> current_schema()::regnamespace) \
            UNION ALL SELECT 'rule ' || r.rulename || ' on ' || c.relname FROM pg_rewrite r \
            JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = current_schema()::regnamespace \
            AND c.relkind = 'r' AND r.rulename <> '_RETURN' \
            UNION ALL SELECT 'function ' || p.proname || ' owned by ' || pg_get_userbyid(p.proowner) FROM pg_proc p \
            WHERE p.pronamespace = current_schema()::regnamespace AND p.proname <> ALL('\(functions)'::text[]) \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
            AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = p.proowner) ORDER BY 1
            """
        ).compactMap { $0[0].text }
    }

    /// Refuses to go on as a superuser when something foreign is attached to the store.
    public static func checkSafeForSuperuser(user: String, query: (String) throws -> [[SQLValue]]) throws {
        let foreign = try foreignObjects(query: query)
        guard !foreign.isEmpty else { return }
        throw MinskyError(
            .permissionDenied,
            "refusing to write to this team store as superuser \(user): \(foreign.joined(separator: "; ")) was not created by minsky, and it would run with a superuser's rights. Inspect it and drop it (psql as a superuser: DROP TRIGGER/FUNCTION …), then run the command again; day-to-day work belongs to team roles (`minsky team add NAME --role admin`), not to a superuser",
            field: "role")
    }

    /// Sets the store up for a team, idempotently, in one transaction: the group roles (named
    /// for this database, or `prefix`), the tables handed to the owner role, grants, triggers,
    /// and row-level security forced on every table. Needs a superuser (or the tables' owner
    /// with CREATEROLE); refuses a store with foreign triggers or functions attached.
    public static func initialize(url: String, prefix: String? = nil) throws -> TeamSetup {
        let s = try PostgresSession(url: url)
        try s.execute("BEGIN")
        do {
            try s.execute(AdvisoryLock.migrations.transactionLock)
            let info = try s.query("SELECT current_schema(), current_database(), current_user").first ?? []
            let schema = info.first?.text ?? "public"
            let tables = try existingTables(s)
            guard tables.contains("tasks") else {
                throw MinskyError(
                    .notConfigured,
                    "no minsky store in schema \(schema) of \(s.target.safeDescription); create it first (`minsky upgrade team` or `minsky init --db URL`)"
                )
            }
            if try s.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").first?[0].text == "t" {
                try checkSafeForSuperuser(user: info[2].text ?? "", query: { try s.query($0) })
            }
            let existing = try detect(s)
            if let existing, let prefix, prefix != existing.base {
                throw MinskyError.invalid(
                    "prefix",
                    "this store's team already uses the prefix \(existing.base); team roles cannot be renamed (leave --prefix out)"
                )
            }
            let base =
                try existing?.base ?? prefix.map { try checkPrefix($0) }
                ?? TeamRoles.defaultBase(database: info[1].text ?? "minsky", schema: schema)
            let r = TeamRoles(schema: schema, base: base)
            for name in r.all {
                if try !roleExists(s, name) {
                    try s.execute("CREATE ROLE \(quote(name)) NOLOGIN")
                } else if existing == nil, try usedElsewhere(s, name) {
                    throw MinskyError.invalid(
                        "prefix",
                        "the role \(name) already belongs to another database's team on this server; choose another prefix with `minsky team init --prefix NAME`"
                    )
                }
            }
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

    /// A role-name prefix someone chose: the rules of member names, room for `_viewer`.
    static func checkPrefix(_ p: String) throws -> String {
        let ok =
            !p.isEmpty && p.utf8.count <= 48 && p.first.map { $0.isLetter || $0 == "_" } == true
            && p.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" } && !p.hasPrefix("pg_")
        guard ok else {
            throw MinskyError.invalid(
                "prefix",
                "'\(p.prefix(60))' is not a valid role prefix; use lowercase letters, digits and _ (at most 48)")
        }
        return p
    }

    /// Whether a role owns something or holds a grant in another database of the server.
    static func usedElsewhere(_ s: PostgresSession, _ role: String) throws -> Bool {
        try !s.query(
            """
            SELECT 1 FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid WHERE r.rolname = $1 \
            AND d.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database()) AND d.dbid <> 0 LIMIT 1
            """, [.text(role)]
        ).isEmpty
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

    /// The role memberships and schema grants, then the grants and policies for `tables`; every
    /// statement may run again (policies and functions are replaced). An admin of a store set up
    /// by an older minsky loses its membership in the owner role here.
    static func grants(_ r: TeamRoles, tables: [String]) -> [String] {
        let owner = quote(r.owner)
        let admin = quote(r.group(.admin))
        return [
            "REVOKE \(owner) FROM \(admin)",
            "GRANT \(quote(r.group(.member))) TO \(admin) WITH ADMIN OPTION",
            "GRANT \(quote(r.group(.viewer))) TO \(admin) WITH ADMIN OPTION",
            "GRANT USAGE ON SCHEMA \(quote(r.schema)) TO \(r.all.map(quote).joined(separator: ", "))",
            "REVOKE CREATE ON SCHEMA \(quote(r.schema)) FROM PUBLIC",
            "GRANT CREATE ON SCHEMA \(quote(r.schema)) TO \(owner)",
        ] + tableGrants(r, tables: tables)
    }

    /// What the owner role itself may re-apply: migrations run as the owner on a team store and
    /// call this for every table, so a table a newer minsky adds is protected like the others.
    public static func tableGrants(_ r: TeamRoles, tables: [String]) -> [String] {
        let owner = quote(r.owner)
        let viewer = quote(r.group(.viewer))
        let member = quote(r.group(.member))
        let admin = quote(r.group(.admin))
        let adminName = literal(r.group(.admin))
        var out: [String] = []
        for t in tables {
            let table = quote(t)
            out += [
                "ALTER TABLE \(table) OWNER TO \(owner)",
                "REVOKE ALL ON \(table) FROM PUBLIC, \(viewer), \(member), \(admin)",
                "GRANT SELECT ON \(table) TO \(viewer), \(member)",
                "ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY",
                "ALTER TABLE \(table) FORCE ROW LEVEL SECURITY",
            ]
            var policies: [(name: String, body: String)] = [
                ("minsky_read", "FOR SELECT TO \(viewer), \(member) USING (true)"),
                ("minsky_owner", "FOR ALL TO \(owner) USING (true) WITH CHECK (true)"),
            ]
            for (op, rawCheck) in memberWrites[t] ?? [] {
                let check = rawCheck.replacingOccurrences(of: "'ADMIN'", with: adminName)
                out.append("GRANT \(op) ON \(table) TO \(member)")
                switch op {
                case "INSERT":
                    policies.append(("minsky_member_insert", "FOR INSERT TO \(member) WITH CHECK (\(check))"))
                case "UPDATE":
                    policies.append(
                        ("minsky_member_update", "FOR UPDATE TO \(member) USING (\(check)) WITH CHECK (\(check))"))
                default: policies.append(("minsky_member_delete", "FOR DELETE TO \(member) USING (\(check))"))
                }
            }
            for op in adminWrites[t] ?? [] {
                out.append("GRANT \(op) ON \(table) TO \(admin)")
                switch op {
                case "INSERT": policies.append(("minsky_admin_insert", "FOR INSERT TO \(admin) WITH CHECK (true)"))
                case "UPDATE":
                    policies.append(("minsky_admin_update", "FOR UPDATE TO \(admin) USING (true) WITH CHECK (true)"))
                default: policies.append(("minsky_admin_delete", "FOR DELETE TO \(admin) USING (true)"))
                }
            }
            out.append(
                "DO $$ DECLARE p record; BEGIN FOR p IN SELECT policyname FROM pg_policies WHERE schemaname = current_schema() AND tablename = \(literal(t)) LOOP EXECUTE format('DROP POLICY %I ON %I', p.policyname, \(literal(t))); END LOOP; END $$"
            )
            for p in policies { out.append("CREATE POLICY \(p.name) ON \(table) \(p.body)") }
        }
        out.append("ALTER FUNCTION minsky_notify_events() OWNER TO \(owner)")
        out += integrityTriggers(r, tables: Set(tables))
        return out
    }

    /// The database's own author and time on notes and history, and history that no role can
    /// rewrite or delete (an UPDATE, DELETE or TRUNCATE of `task_events` raises).
    static func integrityTriggers(_ r: TeamRoles, tables: Set<String>) -> [String] {
        let owner = quote(r.owner)
        let admin = literal(r.group(.admin))
        var out = [
            """
            CREATE OR REPLACE FUNCTION minsky_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
            RAISE EXCEPTION 'the history of a minsky store is append-only: % on % is refused', TG_OP, TG_TABLE_NAME \
            USING ERRCODE = '42501'; END $$
            """,
            """
            CREATE OR REPLACE FUNCTION minsky_stamp_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
            NEW.at := clock_timestamp(); RETURN NEW; END $$
            """,
            """
            CREATE OR REPLACE FUNCTION minsky_stamp_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
            IF NOT pg_has_role(current_user, \(admin), 'MEMBER') OR NEW.author IS NULL OR NEW.author = '' THEN \
            NEW.author := current_user; NEW.created_at := clock_timestamp(); END IF; RETURN NEW; END $$
            """,
        ]
        out += ["minsky_append_only()", "minsky_stamp_event()", "minsky_stamp_note()"].map {
            "ALTER FUNCTION \($0) OWNER TO \(owner)"
        }
        if tables.contains("task_events") {
            out += [
                "DROP TRIGGER IF EXISTS task_events_append_only ON task_events",
                "CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE ON task_events FOR EACH ROW EXECUTE FUNCTION minsky_append_only()",
                "DROP TRIGGER IF EXISTS task_events_truncate ON task_events",
                "CREATE TRIGGER task_events_truncate BEFORE TRUNCATE ON task_events FOR EACH STATEMENT EXECUTE FUNCTION minsky_append_only()",
                "DROP TRIGGER IF EXISTS task_events_stamp ON task_events",
                "CREATE TRIGGER task_events_stamp BEFORE INSERT ON task_events FOR EACH ROW EXECUTE FUNCTION minsky_stamp_event()",
            ]
        }
        if tables.contains("task_notes") {
            out += [
                "DROP TRIGGER IF EXISTS task_notes_stamp ON task_notes",
                "CREATE TRIGGER task_notes_stamp BEFORE INSERT ON task_notes FOR EACH ROW EXECUTE FUNCTION minsky_stamp_note()",
            ]
        }
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

    /// Creates a login role with `role`'s rights. Admins may create and drop team members
    /// (CREATEROLE, ADMIN OPTION on the groups); the password is sent as a SCRAM verifier only.
    public static func add(url: String, name: String, role: TeamRole, password: String) throws {
        let s = try PostgresSession(url: url)
        let r = try roles(s)
        try checkName(name, r)
        guard password.count >= 8 else {
            throw MinskyError.invalid("password", "the password must have at least 8 characters")
        }
        if try roleExists(s, name) {
            throw MinskyError.invalid(
                "name", "a role named \(name) already exists; choose another name or `minsky team remove \(name)` first"
            )
        }
        let me =
            try s.query(
                "SELECT rolsuper, rolcreaterole, current_setting('server_version_num')::int >= 160000 FROM pg_roles WHERE rolname = current_user"
            ).first?.map { $0.text == "t" } ?? []
        if me.count == 3, !me[0], !me[1] {
            throw MinskyError(
                .permissionDenied,
                me[2]
                    ? "\(s.target.user) may not create roles; only an admin or the database owner adds people"
                    : "\(s.target.user) may not create roles: before PostgreSQL 16, the right to create roles also let one grant any role (pg_execute_server_program among them), so minsky's admins do not get it there; ask the database owner or a superuser to add people",
                field: "role")
        }
        let verifier = try scram(s, user: name, password: password)
        try s.execute("BEGIN")
        do {
            // PostgreSQL 16 bounds CREATEROLE to the roles one holds ADMIN OPTION on; before it,
            // CREATEROLE could grant any non-superuser role (pg_execute_server_program among
            // them), so an admin there gets no CREATEROLE and people are managed by the owner.
            let v16 = try (s.query("SHOW server_version_num").first?[0].text).flatMap(Int.init) ?? 0 >= 160000
            let attrs = role == .admin && v16 ? "LOGIN CREATEROLE" : "LOGIN"
            try s.execute("CREATE ROLE \(quote(name)) \(attrs) PASSWORD \(literal(verifier))")
            try s.execute(
                "GRANT \(quote(r.group(role))) TO \(quote(name))\(role == .admin ? " WITH ADMIN OPTION" : "")")
            if role != .admin, v16 {
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

extension PostgresTeam {
    /// Makes sure the login of `url` can act as `role` for `minsky serve` (which connects as
    /// that login and takes the role at connection start): the role must exist, and the login
    /// must be allowed to SET it; if it is not yet, it is granted the role without inheriting
    /// its rights (`WITH INHERIT FALSE, SET TRUE` where PostgreSQL has them, 16+), which the
    /// store's owner and admins may do. Says what to run when the database refuses.
    public static func allowServing(url: String, role: String) throws {
        let s = try PostgresSession(url: url)
        guard try roleExists(s, role) else {
            throw MinskyError.invalid(
                "role", "there is no database role \(role); `minsky team add \(role) --role member` creates one")
        }
        func canSet() -> Bool {
            do {
                _ = try s.execute("BEGIN")
                _ = try s.execute("SET LOCAL ROLE \(quote(role))")
                _ = try s.execute("ROLLBACK")
                return true
            } catch {
                _ = try? s.execute("ROLLBACK")
                return false
            }
        }
        if canSet() { return }
        let v16 = try (s.query("SHOW server_version_num").first?[0].text).flatMap(Int.init) ?? 0 >= 160000
        do {
            _ = try s.execute("GRANT \(quote(role)) TO CURRENT_USER\(v16 ? " WITH INHERIT FALSE, SET TRUE" : "")")
        } catch {}
        guard canSet() else {
            throw MinskyError(
                .permissionDenied,
                "\(s.target.user) may not act as \(role), which `minsky serve` needs to run \(role)'s requests as \(role); run `GRANT \(quote(role)) TO \(quote(s.target.user))` as the database owner, or make the token as the owner",
                field: "role")
        }
    }
}
