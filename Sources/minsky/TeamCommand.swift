import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres

extension TeamRole: ExpressibleByArgument {
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team",
        abstract: "Team mode on PostgreSQL: roles the database enforces (viewer, member, admin).",
        discussion: """
            viewer reads; member also creates and updates tasks, claims, dependencies and AI proposals; \
            admin also deletes, manages the team, and runs upgrades and backups. PostgreSQL enforces it \
            (grants and FORCE ROW LEVEL SECURITY), for minsky and for plain psql alike. A SQLite store has \
            one user: move it first with `minsky upgrade team --provider postgres --db-url URL`.
            """,
        subcommands: [Init.self, Add.self, List.self, Remove.self, Token.self])

    /// The PostgreSQL URL of the selected store, or the error that says team mode needs one.
    static func postgresURL(_ global: GlobalOptions) throws -> String {
        let sel = try global.selection()
        guard let url = sel.location.postgresConninfo else {
            throw MinskyError(
                .storeIncompatible,
                "team commands need a PostgreSQL store; this one is SQLite (one user, \(sel.location)). Move it with `minsky upgrade team --provider postgres --db-url postgresql://user@host:5432/db`, which also sets the team up"
            )
        }
        return url
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract:
                "Set the store up for a team (idempotent): owner, admin, member and viewer roles, grants, forced row-level security. Run as the database owner or a superuser."
        )
        @OptionGroup var global: GlobalOptions
        @Option(
            name: .long,
            help:
                "Prefix of the team's role names (default minsky_<database>[_<schema>]): roles belong to the whole server, so each database's team has its own."
        ) var prefix: String?

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                let url = try TeamCommand.postgresURL(global)
                // Opening the store first applies pending migrations, so every table exists.
                await (try await global.selection().open()).close()
                let prefix = prefix
                let setup = try await Blocking.run { try PostgresTeam.initialize(url: url, prefix: prefix) }
                if out.json { return try out.emit(setup) }
                out.line(
                    "✓ team set up in schema \(setup.schema): \(setup.tables.count) tables owned by \(setup.owner), row-level security forced"
                )
                for role in TeamRole.allCases { out.line("  \(role.rawValue): \(setup.roles[role.rawValue] ?? "")") }
                out.line("Add people and agents with `minsky team add NAME --role viewer|member|admin`.")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Create a login role for a person or an agent; the password is printed once.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Login name (lowercase letters, digits, _).") var name: String
        @Option(name: .long, help: "What they may do.") var role: TeamRole = .member
        @Flag(name: .long, help: "Read the password from stdin instead of generating one.") var passwordStdin = false

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                let url = try TeamCommand.postgresURL(global)
                var password: String
                if passwordStdin {
                    password = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                    while password.last?.isNewline == true { password.removeLast() }
                } else {
                    password = Self.generatePassword()
                }
                let (name, role, pw) = (name, role, password)
                try await Blocking.run { try PostgresTeam.add(url: url, name: name, role: role, password: pw) }
                let target = try PGTarget(conninfo: url)
                let login = "postgresql://\(name)@\(target.hostPort)/\(target.database)"
                var result: [String: JSONValue] = [
                    "name": .string(name), "role": .string(role.rawValue), "url": .string(login),
                ]
                if !passwordStdin { result["password"] = .string(password) }
                if out.json { return out.emit(.object(result)) }
                out.line("✓ \(name) added as \(role.rawValue)")
                out.line("  connect: \(login)")
                if !passwordStdin {
                    out.line("  password: \(password)   (shown once: store it, e.g. in ~/.pgpass)")
                }
            }
        }

        static func generatePassword() -> String {
            let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            var g = SystemRandomNumberGenerator()
            return String((0..<24).map { _ in alphabet[Int(g.next(upperBound: UInt(alphabet.count)))] })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "The team's members and their roles.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                let url = try TeamCommand.postgresURL(global)
                let members = try await Blocking.run { try PostgresTeam.list(url: url) }
                if out.json { return try out.emit(["members": members]) }
                if members.isEmpty { out.line("no members yet: `minsky team add NAME --role member`") }
                for m in members { out.line("\(m.name)  \(m.role.rawValue)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a member's login (their history stays, under their name).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Login name.") var name: String

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                let url = try TeamCommand.postgresURL(global)
                let name = name
                try await Blocking.run { try PostgresTeam.remove(url: url, name: name) }
                if out.json { return out.emit(["removed": .string(name)]) }
                out.line("✓ \(name) removed")
            }
        }
    }

    /// Bearer tokens for `minsky serve`.
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token",
            abstract: "Bearer tokens for `minsky serve` (MCP over HTTP): create, list, revoke.",
            discussion: """
                A token is shown once, when made; the store keeps only a hash of it. On PostgreSQL each \
                token acts as a database role (by default the member of the same name), so the role's \
                grants and row-level security bind its requests; on SQLite a token acts as the store's \
                one owner. Only the store's owner (the role that owns its tables) or a superuser manages \
                tokens, not a team admin: whoever can write the token table can mint a token for any role.
                """,
            subcommands: [Create.self, List.self, Revoke.self])

        /// Runs a token command; the database's refusal becomes what it means here: tokens are
        /// the owner's (or a superuser's) to manage, whatever the caller's team role.
        static func ownerOnly(_ body: () async throws -> Void) async throws {
            do { try await body() } catch let e as MinskyError where e.code == .permissionDenied {
                throw MinskyError(
                    .permissionDenied,
                    "tokens are managed by the store's owner (the role that owns its tables, which ran `minsky upgrade team`) or a superuser, not by team admins: a role that could write the token table could mint a token for any role. Ask the owner to run this command",
                    field: "role", detail: e.detail)
            }
        }

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "create", abstract: "Make a token for NAME (printed once).")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "Who holds it (on PostgreSQL, also the role it acts as unless --role says).")
            var name: String
            @Option(name: .long, help: "PostgreSQL: the database role its requests run as (default: NAME).")
            var role: String?
            @Option(name: .long, help: "Lifetime such as 12h, 30d (default: 90d).") var expires: String = "90d"

            func run() async throws {
                try await global.withStore { store, out in
                    try await Token.ownerOnly {
                        let now = Timestamp.now()
                        let seconds = try Duration.seconds(parsing: expires, field: "expires")
                        let sel = try global.selection()
                        var role: String?
                        if let url = sel.location.postgresConninfo {
                            let r = self.role ?? name
                            try await Blocking.run { try PostgresTeam.allowServing(url: url, role: r) }
                            role = r
                        } else if self.role != nil {
                            throw MinskyError.invalid(
                                "role",
                                "a SQLite store has no database roles: its tokens act as its one owner; drop --role"
                            )
                        }
                        let made = try ServerTokens.mint(
                            name: name, role: role, expiresAt: now.adding(seconds: seconds), now: now)
                        try await store.saveToken(made.token, secretHash: made.secretHash)
                        if out.json {
                            var j = made.token.json
                            if case .object(var o) = j {
                                o["token"] = .string(made.text)
                                j = .object(o)
                            }
                            return out.emit(j)
                        }
                        out.line(
                            "Token for \(made.token.name)\(role.map { " (acts as role \($0))" } ?? ""), expires \(made.token.expiresAt!.iso8601):"
                        )
                        out.line("  \(made.text)")
                        out.line(
                            "It is shown only now; send it as `Authorization: Bearer …` to `minsky serve`. Revoke: minsky team token revoke \(made.token.id)"
                        )
                    }
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "list", abstract: "Tokens (never their secrets), with their state.")
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                try await global.withStore { store, out in
                    try await Token.ownerOnly {
                        let all = try await store.tokens()
                        if out.json { return out.emit(["tokens": .array(all.map(\.json))]) }
                        if all.isEmpty { out.line("no tokens yet: `minsky team token create NAME`") }
                        let now = Timestamp.now()
                        for t in all {
                            let state =
                                t.refusal(at: now).map { "(\($0.replacingOccurrences(of: "the token ", with: "")))" }
                                ?? "active"
                            out.line(
                                "\(t.id)  \(t.name)  \(t.role ?? "owner")  expires \(t.expiresAt?.iso8601 ?? "never")  \(state)"
                            )
                        }
                    }
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "revoke", abstract: "Revoke a token: its next request is refused.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The token's id (`minsky team token list`).") var id: String

            func run() async throws {
                try await global.withStore { store, out in
                    try await Token.ownerOnly {
                        guard try await store.revokeToken(id: id, at: .now()) else {
                            throw MinskyError(
                                .notFound, "no active token \(id.prefix(40)); `minsky team token list` shows them",
                                field: "id")
                        }
                        if out.json { return out.emit(["revoked": .string(id)]) }
                        out.line("✓ token \(id) revoked")
                    }
                }
            }
        }
    }
}
