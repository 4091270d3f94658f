/// What the connected identity may do with a store. On PostgreSQL the database decides (grants
/// and row-level security set up by `minsky team init`); this is only how minsky learns the
/// answer, so that it can offer a role only what it may use and explain a refusal.
public enum AccessRight: String, Sendable, Codable, CaseIterable, Comparable {
    /// List, read, search, history.
    case read
    /// Create and update tasks, claims, dependencies, AI proposals.
    case write
    /// Delete tasks, manage the team, upgrades and backups.
    case admin

    public static func < (a: AccessRight, b: AccessRight) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The team role that carries this right (`minsky team add NAME --role …`).
    public var teamRole: String {
        switch self {
        case .read: "viewer"
        case .write: "member"
        case .admin: "admin"
        }
    }
}

/// Who is connected and the highest right they hold.
public struct StoreAccess: Sendable, Equatable {
    /// The database role (PostgreSQL) or the configured user (SQLite).
    public var identity: String
    public var right: AccessRight
    /// True when the database checks this identity's rights (PostgreSQL, not a superuser);
    /// false for a superuser, who bypasses row-level security, and for SQLite, where whoever can
    /// open the file may do everything.
    public var enforced: Bool

    public init(identity: String, right: AccessRight, enforced: Bool) {
        self.identity = identity
        self.right = right
        self.enforced = enforced
    }

    public func allows(_ needed: AccessRight) -> Bool { right >= needed }

    /// The refusal for an operation that needs `needed`, naming the missing right and the fix.
    public func refusal(_ operation: String, needs needed: AccessRight) -> MinskyError {
        MinskyError(
            .permissionDenied,
            "\(identity) holds the \(right.rawValue) right (team role \(right.teamRole)) and may not \(operation): that needs the \(needed.rawValue) right (team role \(needed.teamRole)); ask an admin for it",
            field: "role")
    }
}

/// A store that can say what the connected identity may do.
public protocol AccessReporting: Sendable {
    func access() async throws -> StoreAccess
}
