import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore

/// What shows a task done, as options of `tasks done` and `tasks status`.
struct EvidenceOptions: ParsableArguments {
    @Option(name: .customLong("commit"), help: "A commit that did the work (repeatable).") var commits: [String] = []
    @Option(name: .customLong("run"), help: "The command that shows it works, e.g. 'swift test'.") var command: String?
    @Option(name: .customLong("exit"), parsing: .unconditional, help: "The command's exit status.") var exitStatus: Int?
    @Option(name: .long, help: "A test summary, e.g. '239 passed'.") var tests: String?
    @Option(name: .customLong("link"), help: "A link (pull request, CI run; repeatable).") var links: [String] = []
    @Option(name: .customLong("changed"), help: "A path the work changed (repeatable).") var changed: [String] = []
    @Option(name: .long, parsing: .unconditional, help: "Tokens the work cost.") var tokens: Int?
    @Option(name: .long, parsing: .unconditional, help: "Minutes the work took.") var minutes: Double?

    var isEmpty: Bool {
        commits.isEmpty && command == nil && exitStatus == nil && tests == nil && links.isEmpty && changed.isEmpty
            && tokens == nil && minutes == nil
    }

    /// The evidence, with the files each commit changed when the commit is in the repository
    /// the working directory is in (nil when no option was given).
    func evidence(_ out: Output) throws -> Evidence? {
        guard !isEmpty else { return nil }
        var files = changed
        if !commits.isEmpty,
            let git = GitRepository.containing(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        {
            for c in commits {
                if git.resolve(c) == nil {
                    out.warn("commit \(c) is not in the repository at \(git.root.path); recorded as given")
                } else {
                    // The project's own settings are not work the task touches.
                    files += git.changedFiles(c).filter { !files.contains($0) && !$0.hasPrefix(".minsky/") }
                }
            }
        }
        let given = Evidence(
            commits: commits, command: command, exitStatus: exitStatus, tests: tests, links: links,
            changed: Array(files.prefix(Evidence.maxItems)), tokens: tokens, minutes: minutes)
        // Checked (and normalised) the way every other caller's evidence is.
        return try Evidence.parse(given.json)
    }
}

/// What `tasks status` and `tasks done` share: forcing, the evidence, the expected version; the
/// project's `done.requires` decides what DONE needs.
struct StatusChangeOptions: ParsableArguments {
    @Flag(name: .long, help: "Mark DONE even with unchecked criteria or without the evidence the project requires.")
    var force = false
    @OptionGroup var evidence: EvidenceOptions
    @Option(name: .long, parsing: .unconditional, help: "Fail with a conflict unless the task is at this version.")
    var expectVersion: Int64?

    func check(json: Bool) throws { try checkMinimum(expectVersion, 1, option: "--expect-version", json: json) }

    func apply(_ status: TaskStatus, to id: String, _ store: any MinskyStore, _ out: Output) async throws {
        var patch = TaskPatch(status: status)
        patch.force = force
        patch.evidence = try evidence.evidence(out)
        patch.doneRequires = (try? currentProject())?.config.doneRequires ?? .criteria
        let t = try await store.update(try parseID(id), patch, expectedVersion: expectVersion)
        if force, !out.json, status == .done, !t.uncheckedCriteria.isEmpty {
            out.warn("\(t.id) is DONE with \(t.uncheckedCriteria.count) acceptance criteria unchecked (--force)")
        }
        if out.json {
            out.emit(TaskJSON.full(t))
        } else {
            out.line("\(t.id) is now \(t.status) (version \(t.version))")
            if !t.evidence.isEmpty { out.line("  evidence: \(t.evidence.summary)") }
        }
    }
}

/// How many of the most recently closed tasks `tasks stale` and `tasks calibration` read.
struct RecentClosedOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Read the N most recently closed tasks (default 500).")
    var limit: Int = 500

    func check(json: Bool) throws { try checkRange(limit, 1...100_000, option: "--limit", json: json) }
}

extension TasksCommand {
    struct StaleCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stale",
            abstract: "DONE tasks that may have drifted: commits gone from the repository, or paths changed since.",
            discussion:
                "Reads the git repository the working directory is in with git itself. A task is listed when a commit its evidence names is not in the repository or not in HEAD's history, or when a commit after it closed touched one of its paths."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var recent: RecentClosedOptions

        func validate() throws { try recent.check(json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in
                guard
                    let git = GitRepository.containing(
                        URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                else {
                    throw MinskyError(
                        .notConfigured,
                        "\(FileManager.default.currentDirectoryPath) is not in a git repository; run tasks stale where the project's code is"
                    )
                }
                let stale = try await StaleTask.find(in: store, repository: git, limit: recent.limit)
                if out.json {
                    out.emit(["stale": .array(stale.map(\.json))])
                } else if stale.isEmpty {
                    out.line(
                        "No DONE task has drifted: every commit they name is in HEAD's history and their paths are unchanged since they closed."
                    )
                } else {
                    for s in stale {
                        out.line("\(s.task.id)  \(s.task.title)")
                        for r in s.reasons { out.line("  - \(r)") }
                    }
                }
            }
        }
    }

    struct ChangesCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "changes",
            abstract: "What changed since a cursor, grouped by task, within a token budget.",
            discussion:
                "Prints the next cursor last: pass it as --since next time to read only what changed after. Without --since, the last 24 hours. Events of the last 5 seconds are reported once they are sure to have committed, or at once when there are few."
        )
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "A cursor from the previous call, an ISO 8601 time, or 30m / 2h / 1d.")
        var since: String?
        @Option(name: .long, help: "Only this task and its subtasks.") var parent: String?
        @Option(name: [.short, .long], help: "Only tasks with this tag.") var tag: String?
        @Option(name: .long, help: "Only tasks assigned to this owner.") var assignee: String?
        @Option(name: .long, parsing: .unconditional, help: "Answer size in tokens (about 4 characters each).")
        var budget: Int = ChangeDigest.defaultBudgetTokens

        func run() async throws {
            try await global.withStore { store, out in
                let now = Timestamp.now()
                let digest = try await store.changes(
                    since: try since.map { try ChangeCursor.parse($0, now: now) },
                    filter: ChangeFilter(
                        parent: try parent.map { try parseID($0, field: "parent") }, tag: tag, assignee: assignee),
                    budgetTokens: budget, now: now)
                if out.json {
                    out.emit(digest.json)
                    return
                }
                if digest.tasks.isEmpty { out.line("Nothing changed.") }
                for e in digest.tasks {
                    out.line(
                        "\(e.id)  \(e.title)  [\(e.status?.rawValue ?? "deleted")\(e.assignee.map { ", \($0)" } ?? "")]  \(e.what.joined(separator: ", "))"
                    )
                    if e.events > e.lines.count { out.line("    … \(e.events - e.lines.count) earlier change(s)") }
                    for l in e.lines { out.line("    \(l)") }
                }
                if let note = digest.json["note"]?.stringValue { out.line("(\(note))") }
                out.line("next: minsky tasks changes --since \(digest.cursor.token)")
            }
        }
    }

    struct BriefCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "brief",
            abstract: "Everything to start on a task, cut to a token budget (JSON).",
            discussion:
                "The task and its acceptance criteria, unfinished blockers, claims of others on its paths, the newest notes and recent changes around it; what did not fit is counted under 'omitted'."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Option(name: .long, parsing: .unconditional, help: "Answer size in tokens (about 4 characters each).")
        var budget: Int = ChangeDigest.defaultBudgetTokens

        func run() async throws {
            try await global.withStore { store, out in
                out.line(try await store.brief(try parseID(id), budgetTokens: budget).prettyJSON())
            }
        }
    }

    struct CalibrationCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calibration",
            abstract: "How complexity scores compared with what happened to closed tasks.",
            discussion:
                "For each DONE task: hours in progress (from its history, or the minutes its evidence records), how often it was reopened, how many subtasks it has. Shows the median hours per score and the rank correlation of scores with hours; complexity scoring and decomposition are shown a few of these tasks as examples."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var recent: RecentClosedOptions

        func validate() throws { try recent.check(json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in
                let c = try await store.calibration(limit: recent.limit)
                if out.json {
                    out.emit(c.json)
                    return
                }
                let scored = c.outcomes.filter { $0.score != nil }.count
                out.line("\(c.outcomes.count) closed task(s), \(scored) with a complexity score.")
                if !c.rows.isEmpty {
                    out.line("score  tasks  median hours  reopened  median subtasks")
                    for r in c.rows {
                        func pad(_ s: String, _ n: Int) -> String {
                            String(repeating: " ", count: max(0, n - s.count)) + s
                        }
                        out.line(
                            [
                                pad(String(r.score), 5), pad(String(r.tasks), 5),
                                pad(r.medianHours.map { String(format: "%.2f", $0) } ?? "–", 12),
                                pad(String(r.reopened), 8),
                                pad(String(format: "%.1f", r.medianSubtasks), 15),
                            ].joined(separator: "  "))
                    }
                }
                if let r = c.rankCorrelation {
                    out.line(String(format: "rank correlation of score with hours: %.2f", r))
                } else {
                    out.line("rank correlation: needs at least 3 scored tasks with a known time")
                }
                let ex = c.examples()
                if !ex.isEmpty {
                    out.line("examples given to the model:")
                    for e in ex { out.line("  \(e)") }
                }
            }
        }
    }
}
