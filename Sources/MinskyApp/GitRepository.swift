import Foundation
import MinskyCore

/// The git repository a project lives in, read with git itself (no network): whether commits
/// exist and are in HEAD's history, which files they changed, and which commits touched paths
/// after a time.
public struct GitRepository: Sendable {
    public let root: URL

    /// The repository containing `dir`, or nil when there is none (or git is not installed).
    public static func containing(_ dir: URL) -> GitRepository? {
        guard let r = try? run(["-C", dir.path, "rev-parse", "--show-toplevel"], in: nil), r.status == 0 else {
            return nil
        }
        let top = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return top.isEmpty ? nil : GitRepository(root: URL(fileURLWithPath: top))
    }

    struct Result {
        var status: Int32
        var output: String
    }

    static func run(_ args: [String], in root: URL?) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + (root.map { ["-C", $0.path] } ?? []) + args
        var env = ProcessInfo.processInfo.environment
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["LC_ALL"] = "C"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    func git(_ args: [String]) -> Result? { try? Self.run(args, in: root) }

    /// The full id of a commit, or nil when the repository does not have it.
    public func resolve(_ commit: String) -> String? {
        guard let r = git(["rev-parse", "--verify", "--quiet", commit + "^{commit}"]), r.status == 0 else { return nil }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True when `commit` is HEAD or one of its ancestors.
    public func inHistory(_ commit: String) -> Bool {
        git(["merge-base", "--is-ancestor", commit, "HEAD"])?.status == 0
    }

    /// The files a commit changed (relative to the root).
    public func changedFiles(_ commit: String) -> [String] {
        guard let r = git(["show", "--no-renames", "--format=", "--name-only", commit]), r.status == 0 else {
            return []
        }
        return r.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// Commits of HEAD's history after `time` that touched any of `patterns`, newest first.
    public func commits(touching patterns: [String], after time: Timestamp) -> [String] {
        guard !patterns.isEmpty else { return [] }
        let specs = patterns.map { ":(glob)" + $0 }
        let since = "@\(time.microseconds / 1_000_000 + 1)"
        guard let r = git(["log", "--format=%H", "--since=\(since)", "HEAD", "--"] + specs), r.status == 0 else {
            return []
        }
        return r.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
}

/// A DONE task that may have drifted: its evidence names commits the repository no longer has
/// (or that left HEAD's history), or its paths changed after it closed.
public struct StaleTask: Sendable {
    public var task: TaskItem
    public var missingCommits: [String] = []
    public var commitsNotInHistory: [String] = []
    public var changedAfter: [String] = []

    public var reasons: [String] {
        var r: [String] = []
        if !missingCommits.isEmpty {
            r.append("commits not in the repository: " + missingCommits.joined(separator: ", "))
        }
        if !commitsNotInHistory.isEmpty {
            r.append("commits not in HEAD's history: " + commitsNotInHistory.joined(separator: ", "))
        }
        if !changedAfter.isEmpty {
            r.append(
                "its paths changed after it closed in \(changedAfter.count) commit\(changedAfter.count == 1 ? "" : "s") ("
                    + changedAfter.prefix(3).map { String($0.prefix(10)) }.joined(separator: ", ")
                    + (changedAfter.count > 3 ? ", …" : "") + ")")
        }
        return r
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(task.id.rawValue), "title": .string(task.title),
            "reasons": .array(reasons.map { .string($0) }),
        ]
        if !missingCommits.isEmpty { o["missingCommits"] = .array(missingCommits.map { .string($0) }) }
        if !commitsNotInHistory.isEmpty { o["commitsNotInHistory"] = .array(commitsNotInHistory.map { .string($0) }) }
        if !changedAfter.isEmpty { o["changedAfter"] = .array(changedAfter.map { .string($0) }) }
        return .object(o)
    }

    /// Checks the most recently closed DONE tasks that carry commits or paths.
    public static func find(in store: any MinskyStore, repository git: GitRepository, limit: Int) async throws
        -> [StaleTask]
    {
        let done = try await store.listAll(TaskQuery(statuses: [.done], limit: TaskQuery.maxLimit))
            .filter { !$0.evidence.commits.isEmpty || !$0.paths.isEmpty }
            .sorted { $0.updatedAt > $1.updatedAt }.prefix(limit)
        var out: [StaleTask] = []
        for t in done {
            var s = StaleTask(task: t)
            var own: [String] = []
            for c in t.evidence.commits {
                if let full = git.resolve(c) {
                    own.append(full)
                    if !git.inHistory(full) { s.commitsNotInHistory.append(c) }
                } else {
                    s.missingCommits.append(c)
                }
            }
            let closedAt = t.evidence.recordedAt ?? t.updatedAt
            s.changedAfter = git.commits(touching: t.paths, after: closedAt).filter { !own.contains($0) }
            if !s.reasons.isEmpty { out.append(s) }
        }
        return out
    }
}
