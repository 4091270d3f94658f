import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskyUpgrade

/// Prints finished steps as "✓ …"; progress bars go to stderr, and only on a terminal.
struct ConsoleReporter: TransferReporter {
    var quiet: Bool
    let tty = isatty(2) == 1

    func step(_ text: String) {
        guard !quiet else { return }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardOutput.write(Data("✓ \(text)\n".utf8))  // unbuffered: steps appear as they finish
    }

    func note(_ text: String) {
        guard !quiet else { return }
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardOutput.write(Data("  note: \(text)\n".utf8))
    }

    func progress(_ done: Int, of total: Int, _ what: String) {
        guard tty, !quiet, total > 0 else { return }
        let width = 30
        let filled = min(width, done * width / total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        // The line is cleared before each redraw, and the finished bar ends its own line, so the
        // next output starts on a fresh one.
        FileHandle.standardError.write(
            Data("\r\u{1B}[K\(bar) \(min(done, total))/\(total) \(what)\(done >= total ? "\n" : "")".utf8))
    }
}

func currentProject() throws -> Project {
    guard let p = try Project.find(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) else {
        throw MinskyError(.notConfigured, "no .minsky/ here or above; run `minsky init` first")
    }
    return p
}

struct UpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Move this project's store from SQLite to PostgreSQL, validated, with a backup.",
        subcommands: [ToPostgres.self, Team.self])

    struct ToPostgres: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "to-postgres",
            abstract: "Back up, copy every table in one transaction, validate, then switch the config.",
            discussion: "The password (if the URL has one) is kept in ~/.pgpass, never in .minsky/config.json.")
        @Option(name: .long, help: "Target database, e.g. postgresql://me@db.internal:5432/tasks") var dbUrl: String
        @Flag(name: .long, help: "Do everything (copy and validate) but commit nothing and switch nothing.")
        var dryRun = false
        @Flag(name: .long, help: "Replace minsky data already in the target database.") var force = false
        @Flag(
            name: .long,
            help: "Zero downtime: capture changes, copy, replay, then hold writers only for the final moment.")
        var live = false
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                let options = UpgradeOptions(dbURL: dbUrl, dryRun: dryRun, force: force)
                let r =
                    live
                    ? try await LiveUpgrade.run(
                        project: try currentProject(), options: options, reporter: ConsoleReporter(quiet: json))
                    : try await Upgrader.toPostgres(
                        project: try currentProject(), options: options, reporter: ConsoleReporter(quiet: json))
                if json {
                    try out.emit(r)
                    return
                }
                for t in r.tables { out.line("  \(t.table): \(t.rows) rows, checksum \(t.checksum) on both sides") }
                if r.dryRun { out.line("Dry run: validated, nothing committed, config unchanged.") }
                if let b = r.backup { out.line("Old SQLite database backed up to: \(b)") }
            }
        }
    }

    struct Team: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "team",
            abstract: "Upgrade for a team on a hosted or own PostgreSQL, with the provider's settings.")
        @Option(name: .long, help: "Where the database runs.") var provider: TeamProvider
        @Option(name: .long, help: "The provider's connection URL (TLS is added where the provider requires it).")
        var dbUrl: String?
        @Flag(name: .long, help: "Do everything (copy and validate) but commit nothing and switch nothing.")
        var dryRun = false
        @Flag(name: .long, help: "Replace minsky data already in the target database.") var force = false
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                let preset = try ProviderPreset.named(provider.rawValue)
                guard let dbUrl else {
                    throw MinskyError.invalid(
                        "db-url", "pass --db-url with the connection string from \(preset.name): \(preset.whereToFind)")
                }
                let url = preset.apply(to: dbUrl)
                if !json { for note in preset.notes { out.line("• \(note)") } }
                let r = try await Upgrader.toPostgres(
                    project: try currentProject(), options: UpgradeOptions(dbURL: url, dryRun: dryRun, force: force),
                    reporter: ConsoleReporter(quiet: json))
                // What semantic search will use there, read from the database after the move (not assumed).
                let store = try await StoreFactory.open(
                    try StoreLocation(parsing: url).withoutPassword, idPrefix: TaskID.defaultPrefix)
                let search = await store.vectorSearchMethod()
                await store.close()
                // Last step: the roles and row-level security (`minsky team init`), unless nothing moved.
                var team: Result<TeamSetup, MinskyError>?
                if !r.dryRun {
                    do {
                        team = .success(try await Blocking.run { try PostgresTeam.initialize(url: url) })
                    } catch let e as MinskyError {
                        team = .failure(
                            MinskyError(
                                e.code,
                                "the store moved and works, but the team set-up failed: \(e.message); run `minsky team init` as the database owner"
                            ))
                    }
                }
                if json {
                    var v = try JSONValue.encoding(r).objectValue ?? [:]
                    v["provider"] = .string(provider.rawValue)
                    v["semanticSearch"] = .string(search)
                    if case .success(let setup)? = team { v["team"] = try JSONValue.encoding(setup) }
                    out.emit(.object(v))
                } else {
                    for t in r.tables { out.line("  \(t.table): \(t.rows) rows, checksum \(t.checksum) on both sides") }
                    if r.dryRun { out.line("Dry run: validated, nothing committed, config unchanged.") }
                    if let b = r.backup { out.line("Old SQLite database backed up to: \(b)") }
                    out.line("Semantic search there: \(search)")
                    if case .success(let setup)? = team {
                        out.line(
                            "✓ Team set up: roles \(TeamRole.allCases.compactMap { setup.roles[$0.rawValue] }.joined(separator: ", ")), row-level security forced; add people with `minsky team add NAME --role member`"
                        )
                    }
                }
                if case .failure(let e)? = team { throw e }
            }
        }
    }
}

/// Settings that hosted PostgreSQL providers need.
struct ProviderPreset {
    var name: String
    var requireTLS: Bool
    var whereToFind: String
    var notes: [String]

    static func named(_ raw: String) throws -> ProviderPreset {
        switch raw.lowercased() {
        case "supabase":
            return ProviderPreset(
                name: "Supabase", requireTLS: true,
                whereToFind: "Project Settings → Database → Connection string (session pooler, port 5432)",
                notes: [
                    "TLS required (sslmode=require).",
                    "Use the session pooler (port 5432), not the transaction pooler (6543): minsky holds transactions and advisory locks.",
                ])
        case "neon":
            return ProviderPreset(
                name: "Neon", requireTLS: true,
                whereToFind: "Dashboard → Connection Details (the direct, non -pooler host)",
                notes: [
                    "TLS required (sslmode=require).",
                    "Prefer the direct host: the -pooler endpoint runs PgBouncer in transaction mode.",
                ])
        case "postgres", "postgresql":
            return ProviderPreset(
                name: "PostgreSQL", requireTLS: false, whereToFind: "your server's postgresql://user@host:5432/db",
                notes: [])
        default:
            throw MinskyError.invalid("provider", "unknown provider '\(raw)'; use supabase, neon or postgres")
        }
    }

    func apply(to url: String) -> String {
        guard requireTLS, !url.contains("sslmode=") else { return url }
        return url + (url.contains("?") ? "&" : "?") + "sslmode=require"
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Undo an upgrade.", subcommands: [RollbackCommand.self])

    struct RollbackCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract:
                "Back to SQLite: copy PostgreSQL's current contents into a fresh, validated SQLite store (PostgreSQL is left untouched)."
        )
        @Flag(
            name: .long,
            help: "Restore .minsky/pre-migration-backup.db instead (loses what was written since the upgrade).")
        var fromBackup = false
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                let r = try await Rollback.run(
                    project: try currentProject(), fromBackup: fromBackup, reporter: ConsoleReporter(quiet: json))
                if json {
                    try out.emit(r)
                    return
                }
                for t in r.tables { out.line("  \(t.table): \(t.rows) rows, checksum \(t.checksum)") }
                out.line(
                    "Now on \(r.database)\(r.previousFile.map { "; the previous SQLite file is kept at \($0)" } ?? "")")
            }
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Portable SQLite snapshots of either store, with manifests.",
        subcommands: [Create.self, List.self, Verify.self, Restore.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Snapshot the store (writers keep going) into .minsky/backups/ or --out.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Where to write the backup file.") var out: String?

        func run() async throws {
            let o = Output(json: global.json)
            try await o.reportingErrors {
                let sel = try global.selection()
                let fallback = Backups.userDirectory(environment: ProcessInfo.processInfo.environment)
                let m = try await Backups.create(
                    location: sel.location, out: out, project: sel.project, fallbackDirectory: fallback,
                    reporter: ConsoleReporter(quiet: true))
                if global.json {
                    try o.emit(m)
                } else {
                    let dir = sel.project.map(Backups.directory) ?? fallback
                    o.line(
                        "Backed up \(m.tables.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")) to \(out ?? dir.appendingPathComponent(m.file).path)"
                    )
                    o.line("  sha256 \(m.sha256)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Backups in .minsky/backups/.")
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

        func run() async throws {
            let o = Output(json: json)
            try await o.reportingErrors {
                let all = try Backups.list(try currentProject())
                if json {
                    try o.emit(all)
                    return
                }
                if all.isEmpty { o.line("No backups yet: minsky backup create") }
                for m in all { o.line("\(m.file)  \(m.createdAt)  \(m.tables["tasks"] ?? 0) tasks  from \(m.source)") }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Integrity check plus the manifest's hash, row counts and checksums.")
        @Argument(help: "The backup file (.db with its .json manifest beside it).") var file: String
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

        func run() async throws {
            let o = Output(json: json)
            try await o.reportingErrors {
                let m = try Backups.verify(file)
                if json {
                    try o.emit(m)
                } else {
                    o.line(
                        "✓ \(file) is intact: \(m.tables.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))"
                    )
                }
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore a verified backup into the current store or --to URL.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file (.db with its .json manifest beside it).") var file: String
        @Option(name: .long, help: "Target store (sqlite:PATH or postgresql://…); default: the current store.") var to:
            String?
        @Flag(name: .long, help: "Replace a target that already holds tasks (what it holds is backed up first).")
        var force = false

        func run() async throws {
            let o = Output(json: global.json)
            try await o.reportingErrors {
                let sel = try? global.selection()
                let target = try to.map(StoreLocation.init(parsing:)) ?? sel?.location ?? global.selection().location
                let env = ProcessInfo.processInfo.environment
                let safetyDir = sel?.project.map(Backups.directory) ?? Backups.userDirectory(environment: env)
                let r = try await Backups.restore(
                    file, to: target, force: force, safetyDirectory: safetyDir, reporter: ConsoleReporter(quiet: true))
                if global.json {
                    try o.emit(r)
                    return
                }
                if let s = r.safetyBackup {
                    o.line("Saved what the target held to \(s) (restore it with `minsky backup restore \(s) --force`)")
                }
                o.line(
                    "Restored \(r.tables.map { "\($0.rows) \($0.table)" }.joined(separator: ", ")) into \(target.redacted)"
                )
            }
        }
    }
}
