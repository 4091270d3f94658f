import CBuildInfo

/// The one place the version lives: `minsky --version`, the MCP server's identity, and the
/// release artifacts' names (scripts/release reads `number` from this file).
public enum MinskyVersion {
    public static let number = "0.2.0"
    /// The commit the binary was built from (set by scripts/release), or "unknown".
    public static var commit: String { String(cString: minsky_build_commit()) }
    /// What `minsky --version` prints: `0.2.0 (commit 1a2b3c4d5e6f)`.
    public static var description: String { "\(number) (commit \(commit))" }
}
