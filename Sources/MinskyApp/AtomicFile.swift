import Foundation
import MinskyCore

/// Files written whole or not at all: a temporary file beside the target, then `rename`, whose
/// result is checked (a failed rename is an error, never a silently stale file).
public enum AtomicFile {
    /// Writes `data` to `url` atomically; `permissions` (e.g. 0o600 for secrets) is set before the
    /// content can be read by anyone else.
    public static func write(_ data: Data, to url: URL, permissions: Int? = nil) throws {
        let path = url.path
        let dir = url.deletingLastPathComponent().path
        let tmp = path + ".minsky-tmp"
        var attributes: [FileAttributeKey: Any] = [:]
        if let permissions { attributes[.posixPermissions] = permissions }
        try? FileManager.default.removeItem(atPath: tmp)
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: attributes) else {
            throw MinskyError(
                .storeUnavailable, "cannot write \(path); check that \(dir) exists and is writable", field: "path")
        }
        try rename(tmp, to: path)
    }

    /// `rename(2)` with its result checked: replaces `to` in one step.
    public static func rename(_ from: String, to: String) throws {
        if Foundation.rename(from, to) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: from)
            throw MinskyError(
                .storeUnavailable,
                "cannot replace \(to) (\(reason)); check the permissions of \((to as NSString).deletingLastPathComponent)",
                field: "path")
        }
    }
}

/// The per-user directories, honouring `HOME` (and the XDG variables) as every Unix tool does,
/// rather than the password database's home, so tests and sandboxes can redirect them.
public enum UserPaths {
    public static func home(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let h = environment["HOME"], !h.isEmpty { return h }
        return NSHomeDirectory()
    }
}
