import Foundation
import MinskyCore

/// `.minsky/config.json`: what a project commits so every clone uses the same store settings.
/// It never holds secrets: PostgreSQL passwords belong in ~/.pgpass or PGPASSWORD.
public struct ProjectConfig: Codable, Sendable, Equatable {
    public var version: Int
    /// `sqlite:tasks.db` (relative to `.minsky/`), `sqlite:/abs/path.db` or `postgresql://user@host/db`.
    public var database: String
    public var idPrefix: String
    /// Model settings (never the API key, which lives in the per-user credentials file).
    public var ai: AISettings?
    /// What DONE needs (`done.requires`: evidence, criteria, none; default criteria).
    public var done: DoneSettings?

    /// The project's `done.requires` (criteria when unset or unreadable).
    public var doneRequires: DoneRequirement {
        done?.requires.flatMap { DoneRequirement(rawValue: $0) } ?? .criteria
    }

    public init(version: Int = 1, database: String = "sqlite:tasks.db", idPrefix: String = TaskID.defaultPrefix) {
        self.version = version
        self.database = database
        self.idPrefix = idPrefix
    }
}

public struct DoneSettings: Codable, Sendable, Equatable {
    public var requires: String?
    public init() {}
}

public struct AISettings: Codable, Sendable, Equatable {
    public var provider: String?
    public var model: String?
    public var baseURL: String?
    public var embeddingModel: String?
    /// Another OpenAI-compatible server for embeddings only (e.g. Ollama beside Anthropic chat).
    public var embeddingBaseURL: String?
    /// "false" turns streamed answers off (default on).
    public var stream: String?
    public init() {}
}

/// Per-user secrets (`ai.apiKey`), in `$XDG_CONFIG_HOME/minsky/credentials.json` (or
/// `MINSKY_CREDENTIALS_FILE`), created with mode 0600 and never printed in full.
public struct UserCredentials: Sendable {
    public let path: String

    public init(environment: [String: String]) {
        if let f = environment["MINSKY_CREDENTIALS_FILE"], !f.isEmpty {
            path = f
        } else {
            let base =
                environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (UserPaths.home(environment) as NSString).appendingPathComponent(".config")
            path = (base as NSString).appendingPathComponent("minsky/credentials.json")
        }
    }

    public func load() -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path), case .object(let o)? = try? JSONParser.parse(data)
        else { return [:] }
        return o.compactMapValues(\.stringValue)
    }

    public func save(_ values: [String: String]) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let text = JSONValue.object(values.mapValues { .string($0) }).prettyJSON() + "\n"
        try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path), permissions: 0o600)
    }

    /// `sk-…1234` style: enough to recognise a key, not enough to use it.
    public static func mask(_ secret: String) -> String {
        secret.count <= 8 ? "****" : String(secret.prefix(3)) + "…" + String(secret.suffix(4))
    }
}

/// A directory holding `.minsky/`, found by walking up from the working directory like git.
public struct Project: Sendable {
    public static let dirName = ".minsky"
    public static let configName = "config.json"

    public var root: URL
    public var config: ProjectConfig

    public init(root: URL, config: ProjectConfig) {
        self.root = root
        self.config = config
    }
    public var dir: URL { root.appendingPathComponent(Self.dirName) }
    public var configURL: URL { dir.appendingPathComponent(Self.configName) }

    /// The nearest `.minsky/config.json` at or above `start`.
    public static func find(from start: URL) throws -> Project? {
        var cur = start.standardizedFileURL
        while true {
            let dir = cur.appendingPathComponent(dirName)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue {
                // A .minsky/ without its config is a failed or half-made init: never skip past it
                // to some other project's store further up.
                guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(configName).path) else {
                    throw MinskyError(
                        .notConfigured,
                        "\(dir.path) has no \(configName) (a failed or unfinished `minsky init`?); run `minsky init` in \(cur.path), or remove that folder"
                    )
                }
                return try load(root: cur)
            }
            let parent = cur.deletingLastPathComponent()
            if parent.path == cur.path { return nil }
            cur = parent
        }
    }

    public static func load(root: URL) throws -> Project {
        let url = root.appendingPathComponent(dirName).appendingPathComponent(configName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MinskyError(.notConfigured, "cannot read \(url.path): \(error.localizedDescription)")
        }
        do {
            let cfg = try JSONDecoder().decode(ProjectConfig.self, from: data)
            return Project(root: root, config: cfg)
        } catch {
            throw MinskyError(
                .notConfigured,
                "\(url.path) is not a valid minsky config (\(error)); fix it or re-run `minsky init --force`")
        }
    }

    /// Writes the config atomically (temporary file, then rename).
    public func save() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(config) + Data("\n".utf8)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: configURL)
    }

    /// What `.minsky/.gitignore` keeps out of git: the store, its backups and the files upgrades
    /// and rollbacks leave beside it. config.json is meant to be committed.
    public static let ignoredFiles = [
        "tasks.db", "tasks.db-wal", "tasks.db-shm", "backups/", "pre-migration-backup.db", "pre-migration-backup.db-*",
        "*.before-rollback-*", "*.minsky-tmp", "*.tmp",
    ]

    /// Writes `.minsky/.gitignore`, or adds the patterns an older one lacks (keeping the user's lines).
    public func ensureGitignore() throws {
        let url = dir.appendingPathComponent(".gitignore")
        let existing = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let have = Set(existing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        let missing = Self.ignoredFiles.filter { !have.contains($0) }
        guard !missing.isEmpty else { return }
        var text =
            existing.isEmpty
            ? "# The store, its backups and upgrade leftovers stay local; config.json is meant to be committed.\n"
            : existing
        if !text.hasSuffix("\n") { text += "\n" }
        text += missing.joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(text.utf8), to: url)
    }

    /// The configured store, a relative SQLite path resolved against `.minsky/`.
    public func location() throws -> StoreLocation {
        try StoreLocation(parsing: config.database).resolved(relativeTo: dir.path)
    }
}
