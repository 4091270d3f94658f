import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore

struct TasksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Create, list, read, update and claim tasks.",
        subcommands: [
            Create.self, Import.self, Export.self, Decompose.self, Proposals.self, Complexity.self,
            InsightsCommand.self, Embed.self, Search.self, List.self, Get.self, Update.self, Status.self, Delete.self,
            Next.self, Claim.self, Heartbeat.self, Release.self, Note.self, Check.self, Uncheck.self, Done.self,
            StaleCommand.self, ChangesCommand.self, BriefCommand.self, CalibrationCommand.self, Tree.self, History.self,
            Watch.self,
        ]
    )
}

/// Metadata given as repeated `--meta key=value` (value parsed as JSON when it is JSON) and/or `--metadata '{…}'`.
func parseMetadata(pairs: [String], json: String?) throws -> JSONValue? {
    var obj: [String: JSONValue] = [:]
    if let json {
        let v = try JSONValue.parse(json, field: "metadata")
        guard case .object(let o) = v else {
            throw MinskyError.invalid("metadata", "--metadata must be a JSON object like {\"key\":\"value\"}")
        }
        obj = o
    }
    for p in pairs {
        guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
            throw MinskyError.invalid("meta", "--meta '\(p.prefix(40))' must be key=value, e.g. --meta estimate=3")
        }
        let raw = String(p[p.index(after: eq)...])
        obj[String(p[..<eq])] = (try? JSONValue.parse(raw)) ?? .string(raw)
    }
    return pairs.isEmpty && json == nil ? nil : .object(obj)
}

/// Tags from repeated `--tag a --tag b` or comma lists `--tag a,b`.
func splitTags(_ raw: [String]) -> [String] {
    raw.flatMap { $0.split(separator: ",").map(String.init) }
}

func readDescription(_ text: String?, file: String?) throws -> String? {
    guard let file else { return text }
    if text != nil {
        throw MinskyError.invalid("description", "pass either --description or --description-file, not both")
    }
    return try readText(file, option: "description-file")
}

/// A UTF-8 text file, or stdin for "-"; errors name `option`.
func readText(_ file: String, option: String) throws -> String {
    if file == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
    guard let data = FileManager.default.contents(atPath: file) else {
        throw MinskyError.invalid(option, "cannot read \(file); check the path")
    }
    guard let s = String(data: data, encoding: .utf8) else {
        throw MinskyError.invalid(option, "\(file) is not UTF-8 text")
    }
    return s
}

extension TasksCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a task.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Short title.") var title: String
        @Option(name: [.short, .long], help: "Markdown description.") var description: String?
        @Option(name: .long, help: "Read the description from a file ('-' for stdin).") var descriptionFile: String?
        @Option(name: [.short, .long], help: "0 (critical) to 4 (backlog), P0-P4 or a name; default 2.") var priority:
            Priority?
        @Option(name: .long, help: "Initial status (default TODO).") var status: TaskStatus?
        @Option(name: [.short, .long], help: "Tag (repeatable, or comma-separated).") var tag: [String] = []
        @Option(name: .long, help: "Parent task id: make this a subtask.") var parent: String?
        @Option(name: .long, help: "Id of a task this one waits for (repeatable).") var dependsOn: [String] = []
        @Option(name: .long, help: "Metadata key=value (repeatable).") var meta: [String] = []
        @Option(name: .long, help: "Metadata as a JSON object.") var metadata: String?
        @Option(name: .customLong("ac"), help: "An acceptance criterion (repeatable).") var acceptance: [String] = []
        @Option(name: .customLong("path"), help: "A path or glob the task touches (repeatable), e.g. 'Sources/App/**'.")
        var paths: [String] = []

        func run() async throws {
            try await global.withStore { store, out, project in
                var draft = NewTask(title: title)
                draft.acceptance = acceptance
                draft.paths = paths
                draft.description = try readDescription(description, file: descriptionFile) ?? ""
                if let priority { draft.priority = priority }
                if let status { draft.status = status }
                draft.tags = splitTags(tag)
                if let parent { draft.parentId = try parseID(parent, field: "parent") }
                draft.dependsOn = try dependsOn.map { try parseID($0, field: "dependsOn") }
                if let m = try parseMetadata(pairs: meta, json: metadata) { draft.metadata = m }
                let t = try await store.create(draft)
                if out.json { out.emit(TaskJSON.full(t)) } else { out.line("Created \(t.id): \(t.title)") }
                try await warnAboutDuplicates(of: t, store: store, project: project)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Create tasks from JSON Lines (what `tasks export` writes), all or none.",
            discussion: """
                One task object per line. Only "title" is required; the other keys are \(TaskRecord.keys.joined(separator: ", ")).
                Unknown keys are refused with their line number. A line with an "id" keeps it (it must be new to the
                store); parentId and dependsOn may name tasks of the file, in any order, or tasks already stored.
                Every line is checked first, then everything is written in one transaction: nothing is stored unless
                all of it is.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "JSONL file, or - for stdin.") var file: String

        func run() async throws {
            try await global.withStore { store, out in
                let source = try file == "-" ? JSONLinesRecords.spoolingStandardInput() : JSONLinesRecords(path: file)
                defer { if file == "-" { source.discard() } }
                let created = try await store.importRecords(from: source)
                if out.json {
                    out.emit(TaskJSON.created(ids: created))
                } else {
                    out.line("Imported \(created.count) task(s)")
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract:
                "Write every task as JSON Lines (every field, its dependencies and its notes), for `tasks import`.")
        @OptionGroup var global: GlobalOptions
        @Option(name: [.short, .long], help: "Write to this file (default: stdout).") var output: String?

        func run() async throws {
            try await global.withStore { store, out in
                let tasks = try await store.listAll()
                var blockers: [TaskID: [TaskID]] = [:]
                for e in try await store.dependencyEdges(among: nil) {
                    blockers[e.taskId, default: []].append(e.dependsOn)
                }
                var notes: [TaskID: [TaskNote]] = [:]
                for n in try await store.allNotes() { notes[n.taskId, default: []].append(n) }
                var text = ""
                for t in tasks {
                    TaskRecord(t, dependsOn: (blockers[t.id] ?? []).sorted(), notes: notes[t.id] ?? []).json.write(
                        to: &text)
                    text += "\n"
                }
                if let output {
                    try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: output))
                    FileHandle.standardError.write(Data("Exported \(tasks.count) task(s) to \(output)\n".utf8))
                } else {
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List tasks (oldest first), with filters and paging.")
        @OptionGroup var global: GlobalOptions
        @Option(name: [.short, .long], help: "Only these statuses (repeatable or comma-separated).") var status:
            [StatusList] = []
        @Option(name: .long, help: "Only subtasks of this task.") var parent: String?
        @Flag(name: .long, help: "Only top-level tasks.") var root = false
        @Option(name: [.short, .long], help: "Only tasks with this tag.") var tag: String?
        @Option(name: .long, help: "Only tasks claimed by / assigned to this owner.") var assignee: String?
        @Option(name: [.short, .long], help: "Words to find in title or description.") var query: String?
        @Option(name: .long, parsing: .unconditional, help: "Page size (1-1000).") var limit: Int = TaskQuery
            .defaultLimit
        @Option(name: .long, help: "Continue after a previous page (its nextCursor).") var cursor: String?
        @Flag(name: .long, help: "Every matching task, following all pages.") var all = false

        func validate() throws {
            try checkRange(limit, 1...TaskQuery.maxLimit, option: "--limit", json: global.json)
            if root && parent != nil {
                throw refuse(MinskyError.invalid("parent", "--root and --parent exclude each other"), json: global.json)
            }
        }

        func run() async throws {
            try await global.withStore { store, out in
                var q = TaskQuery(limit: limit)
                q.statuses = Set(status.flatMap(\.statuses))
                if let parent {
                    q.parent = .task(try parseID(parent, field: "parent"))
                } else if root {
                    q.parent = .root
                }
                q.tag = tag
                q.assignee = assignee
                q.text = query
                if let cursor { q.cursor = try PageCursor(token: cursor) }
                let page: TaskPage =
                    all ? TaskPage(tasks: try await store.listAll(q), nextCursor: nil) : try await store.list(q)
                if out.json {
                    out.emit(TaskJSON.page(page, full: true))
                } else {
                    out.table(page.tasks)
                    if let c = page.nextCursor { out.line("… more: --cursor \(c.token)") }
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get", abstract: "Show one task with its dependencies.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String

        func run() async throws {
            try await global.withStore { store, out in
                let (t, deps) = try await store.details(try parseID(id))
                let notes = try await store.notes(of: t.id)
                if out.json {
                    out.emit(TaskJSON.detail(t, deps, notes: notes))
                } else {
                    out.detail(t, deps: deps, notes: notes)
                }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Change fields of a task; --expect-version refuses stale writes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Option(name: .long, help: "New title.") var title: String?
        @Option(name: [.short, .long], help: "New markdown description.") var description: String?
        @Option(name: .long, help: "Read the description from a file ('-' for stdin).") var descriptionFile: String?
        @Option(name: [.short, .long], help: "New priority: 0 (critical) to 4 (backlog), P0-P4 or a name.")
        var priority: Priority?
        @Option(name: .long, help: "New status.") var status: TaskStatus?
        @Option(name: .long, help: "Replace all tags (repeatable or comma-separated; '' clears).") var setTags:
            [String] = []
        @Option(name: .long, help: "Add a tag (repeatable).") var addTag: [String] = []
        @Option(name: .long, help: "Remove a tag (repeatable).") var removeTag: [String] = []
        @Option(name: .long, help: "Move under this parent task.") var parent: String?
        @Flag(name: .long, help: "Make it a top-level task.") var noParent = false
        @Option(name: .long, help: "Set metadata key=value (repeatable; value null removes the key).") var meta:
            [String] = []
        @Option(name: .long, help: "JSON merge patch for metadata.") var metadata: String?
        @Option(name: .long, help: "Assign to an owner ('' clears).") var assignee: String?
        @Option(name: .customLong("ac"), help: "Add an acceptance criterion (repeatable).") var acceptance: [String] =
            []
        @Flag(name: .long, help: "Remove every acceptance criterion (before adding --ac ones).") var clearAc = false
        @Option(name: .customLong("path"), help: "Add a path or glob the task touches (repeatable).")
        var paths: [String] = []
        @Flag(name: .long, help: "Remove every path (before adding --path ones).") var clearPaths = false
        @Flag(name: .long, help: "With --status DONE: allow unchecked acceptance criteria.") var force = false
        @Option(name: .long, parsing: .unconditional, help: "Fail with a conflict unless the task is at this version.")
        var expectVersion: Int64?

        func validate() throws {
            try checkMinimum(expectVersion, 1, option: "--expect-version", json: global.json)
            if parent != nil && noParent {
                throw refuse(
                    MinskyError.invalid("parent", "--parent and --no-parent exclude each other"), json: global.json)
            }
        }

        func run() async throws {
            try await global.withStore { store, out in
                var patch = TaskPatch()
                patch.title = title
                patch.description = try readDescription(description, file: descriptionFile)
                patch.priority = priority
                patch.status = status
                if !setTags.isEmpty { patch.tags = splitTags(setTags).filter { !$0.isEmpty } }
                patch.addTags = splitTags(addTag)
                patch.removeTags = splitTags(removeTag)
                if let parent {
                    patch.parent = .set(try parseID(parent, field: "parent"))
                } else if noParent {
                    patch.parent = .clear
                }
                patch.metadata = try parseMetadata(pairs: meta, json: metadata)
                patch.assignee = assignee
                if clearAc {
                    patch.acceptance = acceptance.map { AcceptanceCriterion($0) }
                } else {
                    patch.addAcceptance = acceptance
                }
                if clearPaths { patch.paths = paths } else { patch.addPaths = paths }
                patch.force = force
                patch.doneRequires = (try? currentProject())?.config.doneRequires ?? .criteria
                let t = try await store.update(try parseID(id), patch, expectedVersion: expectVersion)
                if out.json {
                    out.emit(TaskJSON.full(t))
                } else {
                    out.line("Updated \(t.id) (version \(t.version)): \(t.title) [\(t.status)]")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Set a task's status (TODO, IN-PROGRESS, IN-REVIEW, DONE, BLOCKED, CLOSED).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Argument(help: "New status.") var status: TaskStatus
        @OptionGroup var change: StatusChangeOptions

        func validate() throws { try change.check(json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in try await change.apply(status, to: id, store, out) }
        }
    }

    /// `tasks done ID [evidence]`: `tasks status ID DONE` with the evidence options.
    struct Done: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "done",
            abstract: "Mark a task DONE, with the evidence that shows it (commits, the command run, tests, links).",
            discussion:
                "What DONE needs is the project's done.requires (minsky config set done.requires evidence|criteria|none). Commits given with --commit are looked up in the git repository here: the files they changed become the task's paths."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @OptionGroup var change: StatusChangeOptions

        func validate() throws { try change.check(json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in try await change.apply(.done, to: id, store, out) }
        }
    }

    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "note",
            abstract: "Append a note to a task (with its author and time; `tasks get` shows them).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Argument(help: "The note's text (markdown; '-' reads stdin).") var text: String

        func run() async throws {
            try await global.withStore { store, out in
                let body = text == "-" ? try readText("-", option: "text") : text
                let n = try await store.addNote(try parseID(id), body: body)
                if out.json { out.emit(n.json) } else { out.line("Noted on \(n.taskId) by \(n.author)") }
            }
        }
    }

    /// What `tasks check` and `tasks uncheck` take.
    struct CriteriaArguments: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Argument(help: "Criterion numbers, from 1 (as `tasks get` lists them).") var numbers: [Int]
        @Option(name: .long, parsing: .unconditional, help: "Fail with a conflict unless the task is at this version.")
        var expectVersion: Int64?

        func validate() throws {
            try checkMinimum(expectVersion, 1, option: "--expect-version", json: global.json)
        }

        func set(done: Bool) async throws {
            try await global.withStore { store, out in
                var patch = TaskPatch()
                for n in numbers { patch.check[n] = done }
                let t = try await store.update(try parseID(id), patch, expectedVersion: expectVersion)
                if out.json {
                    out.emit(TaskJSON.full(t))
                } else {
                    let open = t.uncheckedCriteria.count
                    out.line(
                        "\(t.id): \(t.acceptance.count - open) of \(t.acceptance.count) acceptance criteria checked (version \(t.version))"
                    )
                }
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Check acceptance criteria of a task by number.")
        @OptionGroup var arguments: CriteriaArguments
        func run() async throws { try await arguments.set(done: true) }
    }

    struct Uncheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "uncheck", abstract: "Uncheck acceptance criteria of a task by number.")
        @OptionGroup var arguments: CriteriaArguments
        func run() async throws { try await arguments.set(done: false) }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete", abstract: "Delete a task and its dependency links.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Flag(name: .long, help: "Also delete all its subtasks.") var cascade = false

        func run() async throws {
            try await global.withStore { store, out in
                let ids = try await store.delete(try parseID(id), cascade: cascade)
                if out.json {
                    out.emit(["deleted": .array(ids.map { .string($0.rawValue) })])
                } else {
                    out.line("Deleted \(ids.map(\.rawValue).joined(separator: ", "))")
                }
            }
        }
    }

    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Show the next ready task: TODO, every blocker done, no open subtasks; most urgent, then oldest.",
            discussion: "When nothing is ready it says why: all claimed (by whom), blocked (by what), or nothing open.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, parsing: .unconditional, help: "How many ready tasks to show (1-1000).") var limit: Int = 1
        @Option(name: [.short, .long], help: "Only tasks with this tag.") var tag: String?
        @Option(name: .long, help: "Only tasks under this task (its whole subtree).") var parent: String?
        @Option(name: .long, help: "Only tasks assigned to this owner.") var assignee: String?
        @Flag(name: .long, help: "Only tasks nobody holds (no assignee, or a lapsed claim).") var unassigned = false
        @Flag(name: .long, help: "Atomically claim the first ready task nobody else holds.") var claim = false
        @Option(
            name: .long,
            help:
                "Who asks (default MINSKY_OWNER or user@host): tasks touching paths others hold are skipped; the owner for --claim."
        ) var owner: String?
        @Option(name: .long, help: "Claim lifetime for --claim: 90s, 30m, 2h, 1d (default: no expiry).") var ttl:
            ClaimTTL?

        func validate() throws {
            try checkRange(limit, 1...TaskQuery.maxLimit, option: "--limit", json: global.json)
            if assignee != nil && unassigned {
                throw refuse(
                    MinskyError.invalid("assignee", "--assignee and --unassigned exclude each other"), json: global.json
                )
            }
        }

        func run() async throws {
            try await global.withStore { store, out in
                let filter = ReadyFilter(
                    tag: tag, parent: try parent.map { try parseID($0, field: "parent") }, assignee: assignee,
                    unassigned: unassigned, owner: owner ?? defaultOwner())
                let ready: [TaskItem]
                if claim {
                    ready =
                        try await store.claimNext(owner: owner ?? defaultOwner(), ttl: ttl?.seconds, filter: filter)
                        .map { [$0] } ?? []
                } else {
                    ready = try await store.nextReady(limit: limit, filter: filter)
                }
                let why = ready.isEmpty ? try await store.notReadyReport(filter: filter) : nil
                if out.json {
                    var page = TaskJSON.page(ready, full: true).objectValue ?? [:]
                    if let why { page["why"] = why.json }
                    out.emit(.object(page))
                } else if let why {
                    out.line(why.summary)
                } else if claim, let t = ready.first {
                    out.line("Claimed \(t.id): \(t.title)")
                } else {
                    out.table(ready)
                }
            }
        }
    }

    struct Claim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "claim", abstract: "Atomically mark a task IN-PROGRESS for an owner.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Option(name: .long, help: "Who claims it (default MINSKY_OWNER or user@host).") var owner: String?
        @Option(name: .long, help: "Claim lifetime: 90s, 30m, 2h, 1d (default: no expiry).") var ttl: ClaimTTL?
        @Flag(name: .long, help: "Claim it even while its blockers are open.") var force = false

        func run() async throws {
            try await global.withStore { store, out in
                let t = try await store.claim(
                    try parseID(id), owner: owner ?? defaultOwner(), ttl: ttl?.seconds, force: force)
                if out.json {
                    out.emit(TaskJSON.full(t))
                } else {
                    out.line("Claimed \(t.id) for \(t.assignee ?? "")\(t.claimExpiresAt.map { " until \($0)" } ?? "")")
                }
            }
        }
    }

    struct Heartbeat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "heartbeat",
            abstract:
                "Extend a claim you hold; fails with a conflict (exit 4) naming the holder if it lapsed and was taken.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Option(name: .long, help: "Who holds the claim (default MINSKY_OWNER or user@host).") var owner: String?
        @Option(name: .long, help: "New lifetime from now: 90s, 30m, 2h, 1d (default 30m).") var ttl: ClaimTTL?

        func run() async throws {
            try await global.withStore { store, out in
                let t = try await store.heartbeat(
                    try parseID(id), owner: owner ?? defaultOwner(), ttl: ttl?.seconds ?? 1800)
                if out.json {
                    out.emit(TaskJSON.full(t))
                } else {
                    out.line("\(t.id) still claimed by \(t.assignee ?? ""), until \(t.claimExpiresAt?.iso8601 ?? "?")")
                }
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release",
            abstract: "Give back a claim you hold: the task is TODO again, unassigned.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var id: String
        @Option(name: .long, help: "Who holds the claim (default MINSKY_OWNER or user@host).") var owner: String?

        func run() async throws {
            try await global.withStore { store, out in
                let t = try await store.release(try parseID(id), owner: owner ?? defaultOwner())
                if out.json {
                    out.emit(TaskJSON.full(t))
                } else {
                    out.line("Released \(t.id); it is \(t.status) again")
                }
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Every change to a task, oldest first: who, when, what, and the fields before and after.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id (a deleted task's history remains).") var id: String
        @Option(name: .long, parsing: .unconditional, help: "Events per page (1-1000).") var limit: Int = 50
        @Option(name: .long, help: "Continue after a previous page (its nextCursor).") var cursor: String?

        func validate() throws { try checkRange(limit, 1...TaskQuery.maxLimit, option: "--limit", json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in
                let page = try await store.history(of: try parseID(id), limit: limit, cursor: cursor)
                if out.json {
                    out.emit(page.json)
                    return
                }
                if page.events.isEmpty { out.line("No recorded changes to \(id).") }
                for e in page.events { out.line("\(e.at.iso8601)  \(e.actor)  \(e.words)") }
                if let c = page.nextCursor { out.line("… more: --cursor \(c)") }
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Print every change as it happens, one line each (who, what, which fields), until interrupted.",
            discussion: "PostgreSQL wakes watchers by LISTEN/NOTIFY; SQLite by noticing other processes' commits.")
        @OptionGroup var global: GlobalOptions
        @Option(
            name: .long,
            help:
                "Start from this time instead of now and catch up first: ISO 8601 (2026-12-02T17:00:00Z) or a duration ago (90s, 10m, 2h, 1d), as --ttl takes."
        )
        var since: String?

        /// `--since` as a time: an ISO 8601 time, or now minus a duration.
        static func start(_ since: String?, now: Timestamp = .now()) -> Timestamp? {
            guard let since else { return now }
            if let t = Timestamp(iso8601: since) { return t }
            if let s = try? Duration.seconds(parsing: since), s >= 0 { return now.adding(seconds: -s) }
            return nil
        }

        func validate() throws {
            if Self.start(since) == nil {
                throw refuse(
                    MinskyError.invalid(
                        "since",
                        "--since '\((since ?? "").prefix(40))' is neither an ISO 8601 time like 2026-12-02T17:00:00Z nor a duration like 10m"
                    ),
                    json: global.json)
            }
        }

        func run() async throws {
            let out = Output(json: global.json)
            try await out.reportingErrors {
                let start = Self.start(since) ?? .now()
                var titles: [TaskID: String] = [:]
                try await ChangeFeed.watch(try global.selection(), since: start, stop: { false }) { events, store in
                    for e in events {
                        if out.json {
                            FileHandle.standardOutput.write(Data((e.json.canonicalJSON() + "\n").utf8))
                            continue
                        }
                        // Written at once (not through stdout's buffer): a pipe reader sees each change as it happens.
                        // The task's title: from the event when it carries one, else read once.
                        if let t = (e.changes["title"]?["after"] ?? e.changes["title"]?["before"])?.stringValue {
                            titles[e.taskId] = t
                        } else if titles[e.taskId] == nil {
                            titles[e.taskId] = (try? await store.get(e.taskId))?.title ?? ""
                        }
                        let title = Output.clip(titles[e.taskId] ?? "", 40)
                        FileHandle.standardOutput.write(
                            Data("\(e.at.iso8601)  \(e.actor)  \(e.taskId) “\(title)”  \(e.words)\n".utf8))
                    }
                }
            }
        }
    }

    struct Tree: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tree",
            abstract: "Show tasks as a tree of subtasks with their blockers.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Root task id (default: the whole store).") var id: String?

        func run() async throws {
            try await global.withStore { store, out in
                let tree = try await store.tree(root: try id.map { try parseID($0) })
                if out.json { out.emit(TaskJSON.tree(tree, full: true)) } else { out.tree(tree) }
            }
        }
    }
}

/// After a create: when an embedding model is configured (ai.embeddingModel), embed the new task
/// and warn on stderr about a likely duplicate (cosine ≥ 0.9). Never fails the create.
func warnAboutDuplicates(of task: TaskItem, store: any MinskyStore, project: Project?) async throws {
    guard project?.config.ai?.embeddingModel != nil, let client = try? resolveEmbeddings(project: project) else {
        return
    }
    do {
        _ = try await client.embedChanged(store: store, all: false)
        let hits = try await client.similar(to: task.title + "\n" + task.description, store: store, k: 2)
        if let dup = hits.first(where: { $0.id != task.id && $0.score >= 0.9 }) {
            let other = try await store.get(dup.id)
            FileHandle.standardError.write(
                Data(
                    "warning: \(task.id) looks like \(other.id) \"\(Output.clip(other.title, 60))\" (similarity \(String(format: "%.2f", dup.score)))\n"
                        .utf8))
        }
    } catch {
        FileHandle.standardError.write(
            Data(
                "note: duplicate check skipped (\((error as? MinskyError)?.message ?? "the embeddings server failed"))\n"
                    .utf8))
    }
}
