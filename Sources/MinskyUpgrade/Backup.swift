import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

/// What a backup holds, written next to it as `<file>.json`.
public struct BackupManifest: Codable, Sendable, Equatable {
    public var file: String
    public var sha256: String
    public var createdAt: String
    public var source: String
    public var schema: [String]
    public var tables: [String: Int]
    public var checksums: [String: String]
}

/// One backup format for both stores: a SQLite file in the store's own schema, plus a manifest.
public enum Backups {
    public static func directory(_ project: Project) -> URL { project.dir.appendingPathComponent("backups") }

    static func manifestURL(_ file: String) -> URL { URL(fileURLWithPath: file + ".json") }

    static func fileSHA256(_ path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw MinskyError(.storeUnavailable, "cannot read \(path)")
        }
        defer { try? h.close() }
        var sha = SHA256()
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty { sha.update(chunk) }
        return Hex.encode(sha.finalize())
    }

    /// Describes a finished backup file: counts and checksums per table, file hash, schema.
    static func describe(_ path: String, source: String) throws -> BackupManifest {
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        defer { try? q.close() }
        let (exports, schema) = try q.read { db in
            (
                try Transfer.exportSQLite(db, reporter: nil),
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
            )
        }
        return BackupManifest(
            file: (path as NSString).lastPathComponent, sha256: try fileSHA256(path),
            createdAt: Timestamp.now().iso8601, source: source, schema: schema,
            tables: Dictionary(uniqueKeysWithValues: exports.map { ($0.table.name, $0.digest.count) }),
            checksums: Dictionary(uniqueKeysWithValues: exports.map { ($0.table.name, $0.checksum) }))
    }

    static func writeManifest(_ m: BackupManifest, for path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(m).write(to: manifestURL(path), options: .atomic)
    }

    /// `minsky backup create`: a consistent snapshot while writers keep going.
    /// Where backups go when the store has no project directory (a store given by URL).
    public static func userDirectory(environment: [String: String]) -> URL {
        if let d = environment["MINSKY_BACKUP_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        let base =
            // An empty XDG variable counts as unset (as the XDG spec says).
            environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: UserPaths.home(environment)).appendingPathComponent(".local/share")
        return base.appendingPathComponent("minsky/backups")
    }

    public static func create(
        location: StoreLocation, out: String?, project: Project?, fallbackDirectory: URL? = nil,
        reporter: (any TransferReporter)?
    ) async throws -> BackupManifest {
        let stamp = Timestamp.now().iso8601.replacingOccurrences(of: ":", with: "").replacingOccurrences(
            of: "-", with: ""
        ).prefix(15)
        let dest: String
        if let out {
            dest = out
        } else if let dir = project.map(directory) ?? fallbackDirectory {
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw MinskyError(
                    .storeUnavailable,
                    "cannot create \(dir.path) for the backup (no permission?); make it writable or pass --out PATH",
                    field: "out")
            }
            dest = dir.appendingPathComponent("minsky-\(stamp).db").path
        } else {
            throw MinskyError.invalid("out", "no project here to hold .minsky/backups; pass --out PATH")
        }
        if FileManager.default.fileExists(atPath: dest) {
            throw MinskyError.invalid("out", "\(dest) already exists; choose another --out")
        }
        let destDir = (dest as NSString).deletingLastPathComponent
        if !FileManager.default.isWritableFile(atPath: destDir.isEmpty ? "." : destDir) {
            throw MinskyError(
                .storeUnavailable,
                "cannot write the backup into \(destDir.isEmpty ? "." : destDir): permission denied; choose a writable place with --out PATH",
                field: "out")
        }
        return try await Upgrader.offload {
            let tmp = dest + ".tmp"
            try? FileManager.default.removeItem(atPath: tmp)
            switch location.kind {
            case .sqlite(let path):
                try SQLiteDriver.preflight(path: path)
                // Like every command, a store this build does not understand is refused, read-only.
                try SQLiteDriver.checkSchemaKnown(path: path)
                // VACUUM INTO reads one snapshot: writers are not blocked and nothing is half-copied.
                try SQLiteDriver.snapshot(path: path, to: tmp)
            case .postgres(let url):
                let pg = try PostgresSession(url: url)
                let applied = try pg.query("SELECT name FROM minsky_migrations").compactMap { $0[0].text }
                _ = try MigrationRunner.pending(recorded: Set(applied), location: location.redacted)
                let target = try SQLiteDriver(path: tmp, create: true)
                _ = try Transfer.postgresToSQLite(pg: pg, into: target.databasePool, reporter: reporter)
                try target.closeAsSingleFile()
            }
            try AtomicFile.rename(tmp, to: dest)
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp + suffix) }
            let m = try describe(dest, source: location.redacted)
            try writeManifest(m, for: dest)
            return m
        }
    }

    public static func list(_ project: Project) throws -> [BackupManifest] {
        let dir = directory(project)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".db") }.sorted().compactMap { f in
            guard let data = try? Data(contentsOf: manifestURL(dir.appendingPathComponent(f).path)) else { return nil }
            return try? JSONDecoder().decode(BackupManifest.self, from: data)
        }
    }

    /// Integrity check plus manifest: the file hash, schema, row counts and checksums all match.
    public static func verify(_ path: String) throws -> BackupManifest {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MinskyError.invalid("file", "no backup at \(path)")
        }
        guard let data = try? Data(contentsOf: manifestURL(path)),
            let m = try? JSONDecoder().decode(BackupManifest.self, from: data)
        else {
            throw MinskyError.invalid(
                "file", "\(path) has no readable manifest (\(path).json); it is not a minsky backup")
        }
        let sha = try fileSHA256(path)
        guard sha == m.sha256 else {
            throw MinskyError(
                .storeIncompatible, "\(path) changed since it was written (SHA-256 \(sha), manifest says \(m.sha256))")
        }
        var config = Configuration()
        config.readonly = true
        let q: DatabaseQueue
        do { q = try DatabaseQueue(path: path, configuration: config) } catch {
            throw MinskyError(.storeIncompatible, "\(path) is not a readable SQLite database")
        }
        defer { try? q.close() }
        let integrity = try q.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") }
        guard integrity == ["ok"] else {
            throw MinskyError(
                .storeIncompatible, "\(path) fails the integrity check: \(integrity.prefix(3).joined(separator: "; "))")
        }
        let unknown = Set(m.schema).subtracting(Schema.migrationNames)
        if !unknown.isEmpty { throw Schema.newerSchemaError(unknown: Array(unknown), location: path) }
        let exports = try q.read { try Transfer.exportSQLite($0, reporter: nil) }
        for e in exports where m.tables[e.table.name] != e.digest.count || m.checksums[e.table.name] != e.checksum {
            throw MinskyError(
                .storeIncompatible,
                "\(path): table \(e.table.name) holds \(e.digest.count) rows (checksum \(e.checksum)) but the manifest says \(m.tables[e.table.name] ?? 0) (\(m.checksums[e.table.name] ?? "?"))"
            )
        }
        return m
    }

    public struct RestoreResult: Codable, Sendable {
        public var tables: [TableReport]
        /// Where what the target held before was saved (a `--force` over a store with tasks).
        public var safetyBackup: String?
    }

    /// How many tasks a store holds, without migrating or creating anything (0 when it is absent).
    static func taskCount(_ location: StoreLocation) throws -> Int {
        switch location.kind {
        case .sqlite(let path):
            guard FileManager.default.fileExists(atPath: path) else { return 0 }
            var config = Configuration()
            config.readonly = true
            let q = try DatabaseQueue(path: path, configuration: config)
            defer { try? q.close() }
            return try q.read { db in
                try db.tableExists("tasks") ? Int.fetchOne(db, sql: "SELECT count(*) FROM tasks") ?? 0 : 0
            }
        case .postgres(let url):
            let pg = try PostgresSession(url: url)
            guard try pg.query("SELECT to_regclass('tasks') IS NOT NULL").first?[0].text == "t" else { return 0 }
            return Int(try pg.query("SELECT count(*) FROM tasks").first?[0].int ?? 0)
        }
    }

    /// Restores a verified backup into a SQLite path or a PostgreSQL database. A target that holds
    /// tasks is refused unless `force`, and then first saved whole to `safetyDirectory`.
    public static func restore(
        _ file: String, to location: StoreLocation, force: Bool, safetyDirectory: URL,
        reporter: (any TransferReporter)?
    ) async throws -> RestoreResult {
        _ = try verify(file)
        let existing = try await Upgrader.offload { try taskCount(location) }
        if existing > 0 && !force {
            throw MinskyError.invalid(
                "to",
                "\(location.redacted) already holds \(existing) tasks; pass --force to replace it (a safety backup is taken first)"
            )
        }
        var safety: String?
        if existing > 0 {
            let stamp = Timestamp.now().iso8601.replacingOccurrences(of: ":", with: "").replacingOccurrences(
                of: "-", with: ""
            ).prefix(15)
            let out = safetyDirectory.appendingPathComponent("minsky-before-restore-\(stamp).db").path
            do { try FileManager.default.createDirectory(at: safetyDirectory, withIntermediateDirectories: true) } catch
            {
                throw MinskyError(
                    .storeUnavailable,
                    "cannot create \(safetyDirectory.path) for the safety backup; nothing was restored")
            }
            _ = try await create(location: location, out: out, project: nil, reporter: nil)
            reporter?.step("Saved what \(location.redacted) held to \(out)")
            safety = out
        }
        let tables: [TableReport] = try await Upgrader.offload {
            switch location.kind {
            case .sqlite(let path):
                let tmp = path + ".restore-tmp"
                try? FileManager.default.removeItem(atPath: tmp)
                try FileManager.default.copyItem(atPath: file, toPath: tmp)
                for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                try AtomicFile.rename(tmp, to: path)
                let driver = try SQLiteDriver(path: path, create: false)  // applies newer migrations, if any
                defer { try? driver.databasePool.close() }
                let exports = try driver.databasePool.read { try Transfer.exportSQLite($0, reporter: nil) }
                reporter?.step(
                    "Restored \(exports.map { "\($0.digest.count) \($0.table.name)" }.joined(separator: ", "))")
                return exports.map { TableReport($0) }
            case .postgres(let url):
                var config = Configuration()
                config.readonly = true
                let q = try DatabaseQueue(path: file, configuration: config)
                defer { try? q.close() }
                let exports = try q.read { try Transfer.exportSQLite($0, reporter: reporter) }
                return try Transfer.sqliteToPostgres(
                    exports: exports, pg: try PostgresSession(url: url), force: force, dryRun: false, reporter: reporter
                ).reports
            }
        }
        return RestoreResult(tables: tables, safetyBackup: safety)
    }
}

/// `minsky migrate rollback`: back to SQLite without losing what was written on PostgreSQL.
public enum Rollback {
    public struct Result: Codable, Sendable {
        public var tables: [TableReport]
        public var database: String
        public var previousFile: String?
    }

    public static func run(project: Project, fromBackup: Bool, reporter: (any TransferReporter)?) async throws -> Result
    {
        guard let url = try project.location().postgresConninfo else {
            throw MinskyError.invalid(
                "db", "this project already uses SQLite (\(project.config.database)); nothing to roll back")
        }
        let live = project.dir.appendingPathComponent("tasks.db").path
        let tmp = live + ".rollback-tmp"
        return try await Upgrader.offload {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp + suffix) }
            var reports: [TableReport]
            if fromBackup {
                let backup = project.dir.appendingPathComponent(Upgrader.backupName).path
                guard FileManager.default.fileExists(atPath: backup) else {
                    throw MinskyError.invalid(
                        "from-backup",
                        "no \(backup); roll back without --from-backup to copy PostgreSQL's current contents")
                }
                try FileManager.default.copyItem(atPath: backup, toPath: tmp)
                let driver = try SQLiteDriver(path: tmp, create: false)
                reports = try driver.databasePool.read { try Transfer.exportSQLite($0, reporter: nil) }.map {
                    TableReport($0)
                }
                try driver.closeAsSingleFile()
                reporter?.step("Restored the pre-migration backup")
            } else {
                let pg = try PostgresSession(url: url)
                let driver = try SQLiteDriver(path: tmp, create: true)
                reports = try Transfer.postgresToSQLite(pg: pg, into: driver.databasePool, reporter: reporter)
                try driver.closeAsSingleFile()
            }
            // Keep the store the upgrade left behind, then put the new one in its place.
            var previous: String?
            if FileManager.default.fileExists(atPath: live) {
                let aside = live + ".before-rollback-" + String(Timestamp.now().microseconds)
                // The file travels with its WAL so nothing committed to it is lost.
                for suffix in ["-wal", "-shm", ""] where FileManager.default.fileExists(atPath: live + suffix) {
                    try AtomicFile.rename(live + suffix, to: aside + suffix)
                }
                previous = aside
            }
            try AtomicFile.rename(tmp, to: live)
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp + suffix) }
            var next = project
            next.config.database = "sqlite:tasks.db"
            try next.save()
            reporter?.step("Switching backend configuration...")
            return Result(tables: reports, database: "sqlite:" + live, previousFile: previous)
        }
    }
}
