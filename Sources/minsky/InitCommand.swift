import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create .minsky/ here: a SQLite store (tasks.db) and config.json.")

    @Option(
        name: .customLong("db"),
        help: ArgumentHelp(
            "Use this store instead of .minsky/tasks.db (e.g. postgresql://user@host/db), like every command's --db. Passwords belong in ~/.pgpass or PGPASSWORD, not here.",
            valueName: "url"))
    var db: String?
    /// The option's earlier name, still accepted.
    @Option(name: .customLong("db-url"), help: ArgumentHelp("The earlier name of --db.", visibility: .hidden))
    var dbUrlAlias: String?
    var dbUrl: String? { db ?? dbUrlAlias }
    @Option(name: .long, help: "Prefix of new task ids (default mk).") var prefix: String = TaskID.defaultPrefix
    @Flag(name: .long, help: "Rewrite an existing config.json.") var force = false
    @Flag(name: .long, help: "Print machine-readable JSON.") var json = false

    func run() async throws {
        let out = Output(json: json)
        try await out.reportingErrors {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let result = try await Self.initialize(at: cwd, dbURL: dbUrl, prefix: prefix, force: force)
            if json {
                try out.emit(result)
            } else {
                out.line(
                    result.created
                        ? "Initialized minsky in \(result.directory)"
                        : "minsky is already initialized in \(result.directory)")
                out.line("  store: \(result.store)")
                out.line("Next: minsky tasks create \"My first task\"")
            }
        }
    }

    struct Result: Encodable {
        var directory: String
        var store: String
        var created: Bool
    }

    /// Creates the project directory, config and store; re-running is harmless.
    static func initialize(at root: URL, dbURL: String?, prefix: String, force: Bool) async throws -> Result {
        let prefix = try TaskID.validatePrefix(prefix)
        var project = Project(root: root, config: ProjectConfig(idPrefix: prefix))
        if let dbURL {
            let location = try StoreLocation(parsing: dbURL)
            if location.hasPassword {
                throw MinskyError.invalid(
                    "db",
                    "the URL holds a password, and .minsky/config.json is meant to be committed; drop it from the URL (\(location)) and put it in ~/.pgpass or PGPASSWORD"
                )
            }
            project.config.database = dbURL
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: project.configURL.path) && !force {
            let existing = try Project.load(root: root)
            if let dbURL, dbURL != existing.config.database {
                throw MinskyError.invalid(
                    "db",
                    "\(project.configURL.path) already uses \(existing.config.database); pass --force to switch it to \(dbURL)"
                )
            }
            let store = try await StoreFactory.open(
                try existing.location(), idPrefix: existing.config.idPrefix, create: true)
            await store.close()
            return Result(directory: existing.dir.path, store: store.location, created: false)
        }
        let dirExisted = fm.fileExists(atPath: project.dir.path)
        do {
            try fm.createDirectory(at: project.dir, withIntermediateDirectories: true)
        } catch {
            throw MinskyError(.storeUnavailable, "cannot create \(project.dir.path): \(error.localizedDescription)")
        }
        do {
            // Open (and so create and migrate) the store before writing the config that points at it.
            let store = try await StoreFactory.open(try project.location(), idPrefix: prefix, create: true)
            await store.close()
            try project.ensureGitignore()
            try project.save()
            return Result(directory: project.dir.path, store: store.location, created: true)
        } catch {
            // A failed init leaves nothing behind: a half-made .minsky/ would hide the projects above it.
            if !dirExisted { try? fm.removeItem(at: project.dir) }
            throw error
        }
    }
}
