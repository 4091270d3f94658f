import Foundation
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite

/// Opens the store a location names. The executables call this; nothing else picks a backend.
public enum StoreFactory {
    public static func open(
        _ location: StoreLocation, idPrefix: String = TaskID.defaultPrefix, create: Bool = false,
        actor: String = StoreSelection.defaultActor()
    )
        async throws -> any SyncableStore
    {
        switch location.kind {
        case .sqlite(let path):
            // Opening reads and may migrate the file: blocking work, off the cooperative pool.
            return try await Blocking.run {
                try SQLiteTaskStore(path: path, idPrefix: idPrefix, create: create, actor: actor)
            }
        case .postgres(let conninfo):
            return try await PostgresTaskStore.connect(url: conninfo, idPrefix: idPrefix)
        }
    }
}

/// Where the store comes from for one command: `--db`, then `MINSKY_DB`, then the nearest
/// `.minsky/config.json` above the working directory (or above `MINSKY_PROJECT`, a folder given
/// by a client that cannot choose the working directory, such as a Claude Desktop extension).
public struct StoreSelection: Sendable {
    public var location: StoreLocation
    public var idPrefix: String
    public var project: Project?

    public static let environmentVariable = "MINSKY_DB"

    /// Who this process's changes are recorded as on stores that do not know the user themselves
    /// (SQLite): MINSKY_OWNER, else user@host.
    public static func defaultActor(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let o = environment["MINSKY_OWNER"], !o.isEmpty { return o }
        return "\(environment["USER"] ?? "user")@\(ProcessInfo.processInfo.hostName)"
    }

    public static let projectVariable = "MINSKY_PROJECT"

    public static func resolve(flag: String?, environment: [String: String], cwd: URL) throws -> StoreSelection {
        let cwd = environment[projectVariable].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) } ?? cwd
        let project = try Project.find(from: cwd)
        let prefix = project?.config.idPrefix ?? environment["MINSKY_ID_PREFIX"] ?? TaskID.defaultPrefix
        if let f = flag, !f.isEmpty {
            return StoreSelection(location: try StoreLocation(parsing: f), idPrefix: prefix, project: project)
        }
        if let e = environment[environmentVariable], !e.isEmpty {
            return StoreSelection(location: try StoreLocation(parsing: e), idPrefix: prefix, project: project)
        }
        if let p = project { return StoreSelection(location: try p.location(), idPrefix: prefix, project: p) }
        throw MinskyError(
            .notConfigured,
            "no minsky store in \(cwd.path) or any parent directory; run `minsky init` here, or pass --db (or set \(environmentVariable))"
        )
    }

    /// Opens the store, wrapped so that it follows an upgrade made while it is open.
    public func open() async throws -> FollowingStore {
        FollowingStore(try await StoreFactory.open(location, idPrefix: idPrefix, create: false), idPrefix: idPrefix)
    }
}
