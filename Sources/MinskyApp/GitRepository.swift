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

    static func run(_ args: [String], in root: URL?, input: String? = nil) throws -> Result {
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
        let stdin = input.map { _ in Pipe() }
        p.standardInput = stdin ?? FileHandle.nullDevice
        try p.run()
        if let stdin, let input {
            // Written from another thread while this one reads the answer (no pipe dead-lock).
            let writer = Thread {
                try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
                try? stdin.fileHandleForWriting.close()
            }
            writer.start()
        }
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

    /// The full ids of many commits in one call (`git cat-file --batch-check`): nil for those
    /// the repository does not have.
    public func resolveAll(_ commits: [String]) -> [String: String] {
        guard !commits.isEmpty,
            let r = try? Self.run(
                ["cat-file", "--batch-check=%(objectname) %(objecttype)"], in: root,
                input: commits.map { $0 + "^{commit}\n" }.joined()),
            r.status == 0
        else { return [:] }
        var out: [String: String] = [:]
        for (c, line) in zip(commits, r.output.split(separator: "\n", omittingEmptySubsequences: false)) {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[1] == "commit" { out[c] = String(parts[0]) }
        }
        return out
    }

    /// The commits of HEAD's history after `time`, newest first, with their commit time and
    /// the files each changed (one `git log`).
    public func history(after time: Timestamp) -> [(id: String, at: Int64, files: [String])] {
        let since = "@\(time.microseconds / 1_000_000)"
        guard
            let r = git(["log", "--no-renames", "--format=%x01%H %ct", "--name-only", "--since=\(since)", "HEAD"]),
            r.status == 0
        else { return [] }
        return r.output.split(separator: "\u{1}").compactMap { block in
            let lines = block.split(separator: "\n").map(String.init)
            guard let head = lines.first?.split(separator: " "), head.count == 2, let at = Int64(head[1]) else {
                return nil
            }
            return (String(head[0]), at, Array(lines.dropFirst()).filter { !$0.isEmpty })
        }
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
        let done = try await store.recentlyDone(limit: limit)
            .filter { !$0.evidence.commits.isEmpty || !$0.paths.isEmpty }
        // Two calls to git for every task together: the commits named, and the history since
        // the earliest closing (with the files each commit changed).
        let named = Array(Set(done.flatMap(\.evidence.commits))).sorted()
        let resolved = git.resolveAll(named)
        var inHistory: [String: Bool] = [:]
        for full in Set(resolved.values) { inHistory[full] = git.inHistory(full) }
        let earliest = done.map { $0.evidence.recordedAt ?? $0.updatedAt }.min() ?? .now()
        let later = done.contains { !$0.paths.isEmpty } ? git.history(after: earliest) : []
        var out: [StaleTask] = []
        for t in done {
            var s = StaleTask(task: t)
            var own = Set<String>()
            for c in t.evidence.commits {
                if let full = resolved[c] {
                    own.insert(full)
                    if inHistory[full] != true { s.commitsNotInHistory.append(c) }
                } else {
                    s.missingCommits.append(c)
                }
            }
            // Commits made after it closed (to the second) that touched one of its paths.
            let closedAt = (t.evidence.recordedAt ?? t.updatedAt).microseconds / 1_000_000
            s.changedAfter = later.filter { c in
                c.at > closedAt && !own.contains(c.id)
                    && c.files.contains { f in t.paths.contains { TaskPaths.covers($0, path: f) } }
            }.map(\.id)
            if !s.reasons.isEmpty { out.append(s) }
        }
        return out
    }
}
