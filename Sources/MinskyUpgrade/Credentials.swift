import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres

/// PostgreSQL passwords live in the per-user `~/.pgpass` (mode 0600), which libpq reads by
/// itself, never in `.minsky/config.json`, which teams commit.
public enum Credentials {
    public static var pgpassPath: String {
        ProcessInfo.processInfo.environment["PGPASSFILE"]
            ?? (UserPaths.home() as NSString).appendingPathComponent(".pgpass")
    }

    /// Saves the URL's password (if any) to ~/.pgpass for its host, port, database and user.
    /// Returns the URL to store in config: the same URL without the password.
    @discardableResult
    public static func store(url: String) throws -> String {
        let target = try PGTarget(conninfo: url)
        guard let pw = target.secret, !pw.isEmpty else { return url }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        }
        let line = [target.host, target.port, target.database, target.user, pw].map(esc).joined(separator: ":")
        let path = pgpassPath
        var existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let prefix = [target.host, target.port, target.database, target.user].map(esc).joined(separator: ":") + ":"
        var lines = existing.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).filter {
            !$0.hasPrefix(prefix)
        }
        lines.insert(line, at: 0)  // libpq uses the first match
        existing = lines.joined(separator: "\n") + "\n"
        try AtomicFile.write(Data(existing.utf8), to: URL(fileURLWithPath: path), permissions: 0o600)
        return try StoreLocation(parsing: url).withoutPassword.connectionString
    }
}
