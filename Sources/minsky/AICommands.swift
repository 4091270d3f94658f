import ArgumentParser
import Foundation
import MinskyAI
import MinskyApp
import MinskyCore

/// `minsky config set|get|list|unset KEY [VALUE]` for the ai.* settings.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract:
            "Project settings: ai.provider (openai|anthropic), ai.model, ai.baseURL, ai.embeddingModel, ai.embeddingBaseURL, ai.stream (true|false), ai.apiKey, ai.embeddingApiKey; done.requires (evidence|criteria|none: what DONE needs, default criteria).",
        discussion:
            "Keys (ai.apiKey, ai.embeddingApiKey) go to the per-user credentials file (0600), never to .minsky/config.json; OPENAI_API_KEY, ANTHROPIC_API_KEY and OLLAMA_HOST are honoured. ai.embeddingBaseURL sends embeddings to another OpenAI-compatible server than chat (e.g. Anthropic for chat, Ollama for embeddings).",
        subcommands: [Set.self, Get.self, List.self, Unset.self])

    static let keys = [
        "ai.provider", "ai.model", "ai.baseURL", "ai.embeddingModel", "ai.embeddingBaseURL", "ai.stream", "ai.apiKey",
        "ai.embeddingApiKey", "done.requires",
    ]
    static let secrets: Swift.Set<String> = ["ai.apiKey", "ai.embeddingApiKey"]

    static func checkKey(_ key: String) throws {
        guard keys.contains(key) else {
            throw MinskyError.invalid("key", "unknown setting '\(key)'; use one of \(keys.joined(separator: ", "))")
        }
    }

    static func value(_ key: String, project: Project?, env: [String: String]) -> String? {
        switch key {
        case "ai.apiKey", "ai.embeddingApiKey":
            return (UserCredentials(environment: env).load()[key]).map(UserCredentials.mask)
        case "ai.embeddingBaseURL": return project?.config.ai?.embeddingBaseURL
        case "ai.provider": return project?.config.ai?.provider
        case "ai.model": return project?.config.ai?.model
        case "ai.baseURL": return project?.config.ai?.baseURL
        case "ai.stream": return project?.config.ai?.stream
        case "done.requires": return project?.config.done?.requires
        default: return project?.config.ai?.embeddingModel
        }
    }

    static func update(_ key: String, _ value: String?) throws {
        let env = ProcessInfo.processInfo.environment
        if secrets.contains(key) {
            let creds = UserCredentials(environment: env)
            var all = creds.load()
            all[key] = value
            try creds.save(all)
            return
        }
        var project = try currentProject()
        if key == "done.requires" {
            var done = project.config.done ?? DoneSettings()
            done.requires = try value.map { try DoneRequirement.parse($0).rawValue }
            project.config.done = done.requires == nil ? nil : done
            try project.save()
            return
        }
        var ai = project.config.ai ?? AISettings()
        switch key {
        case "ai.provider":
            if let v = value, ProviderConfig.Kind(rawValue: v) == nil {
                throw MinskyError.invalid(
                    "ai.provider",
                    "unknown provider '\(v)'; use openai (any OpenAI-compatible server, Ollama included) or anthropic")
            }
            ai.provider = value
        case "ai.model": ai.model = value
        case "ai.baseURL", "ai.embeddingBaseURL":
            if let v = value, URL(string: v)?.scheme?.hasPrefix("http") != true {
                throw MinskyError.invalid(key, "'\(v)' is not an http(s) URL, e.g. http://localhost:11434/v1")
            }
            if key == "ai.baseURL" { ai.baseURL = value } else { ai.embeddingBaseURL = value }
        case "ai.stream":
            if let v = value, v != "true", v != "false" {
                throw MinskyError.invalid("ai.stream", "'\(v)' is not true or false")
            }
            ai.stream = value
        default: ai.embeddingModel = value
        }
        project.config.ai = ai
        try project.save()
    }

    /// Setting names, offered in completions.
    struct Key: ExpressibleByArgument {
        var name: String
        init?(argument: String) { name = argument }
        static var allValueStrings: [String] { ConfigCommand.keys }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set one setting (keys go to the 0600 credentials file).")
        @Argument(help: "The setting.") var key: Key
        @Argument(help: "Its value.") var value: String
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false
        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                try ConfigCommand.checkKey(key.name)
                try ConfigCommand.update(key.name, value)
                let shown =
                    ConfigCommand.value(
                        key.name, project: try? currentProject(), env: ProcessInfo.processInfo.environment) ?? ""
                if json {
                    out.emit(["key": .string(key.name), "value": .string(shown)])
                    return
                }
                print(
                    ConfigCommand.secrets.contains(key.name)
                        ? "\(key.name) saved to \(UserCredentials(environment: ProcessInfo.processInfo.environment).path) (mode 0600)"
                        : "\(key.name) = \(value)")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get", abstract: "Print one setting (keys masked).")
        @Argument(help: "The setting.") var key: Key
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false
        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                try ConfigCommand.checkKey(key.name)
                let project = try Project.find(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                guard let v = ConfigCommand.value(key.name, project: project, env: ProcessInfo.processInfo.environment)
                else {
                    throw MinskyError(
                        .notFound, "\(key.name) is not set; `minsky config set \(key.name) VALUE` sets it")
                }
                if json { out.emit(["key": .string(key.name), "value": .string(v)]) } else { print(v) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Print every setting (keys masked).")
        @Flag(name: .long, help: "Print machine-readable JSON.") var json = false
        func run() async throws {
            let out = Output(json: json)
            try await out.reportingErrors {
                let project = try Project.find(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                let env = ProcessInfo.processInfo.environment
                if json {
                    out.emit([
                        "settings": .object(
                            Dictionary(
                                uniqueKeysWithValues: ConfigCommand.keys.map { k in
                                    (
                                        k,
                                        ConfigCommand.value(k, project: project, env: env).map { JSONValue.string($0) }
                                            ?? .null
                                    )
                                }))
                    ])
                    return
                }
                for k in ConfigCommand.keys {
                    print("\(k) = \(ConfigCommand.value(k, project: project, env: env) ?? "(not set)")")
                }
            }
        }
    }

    struct Unset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unset", abstract: "Remove one setting.")
        @Argument(help: "The setting.") var key: Key
        func run() async throws {
            try await Output(json: false).reportingErrors {
                try ConfigCommand.checkKey(key.name)
                try ConfigCommand.update(key.name, nil)
                print("\(key.name) unset")
            }
        }
    }
}

extension Output {
    /// A stored proposal for review: its items numbered as `--only` takes them, nested under
    /// their parents, with priority or complexity, what each waits for and its criteria.
    func proposal(_ plan: DecompositionPlan, id: String, header: String) {
        line("Proposal \(id) from \(plan.model) \(header):")
        for (i, s) in plan.subtasks.enumerated() {
            var depth = 0
            var p = s.parent
            while let q = p, depth < plan.subtasks.count {
                depth += 1
                p = plan.subtasks[q].parent
            }
            let indent = String(repeating: "  ", count: depth)
            let rank = s.priority.map { "P\($0)" } ?? "complexity \(s.complexity)"
            let after = s.dependsOn.isEmpty ? "" : "  after " + s.dependsOn.map(String.init).joined(separator: ", ")
            line("  \(indent)\(i). \(s.title)  [\(rank)]" + after)
            for c in s.acceptance ?? [] { line("  \(indent)     ☐ \(c)") }
        }
        repairs(plan)
        line("Apply it with: minsky tasks proposals apply \(id) [--only 0,2]")
    }

    /// The links of the model's answer that were dropped because they could not hold.
    func repairs(_ plan: DecompositionPlan) {
        for r in plan.repairs { line("  ! \(r)") }
    }
}

/// The configured provider, or an error that says how to configure one.
func requireProvider(project: Project?) throws -> ProviderConfig {
    guard let config = try resolveProvider(project: project) else {
        throw MinskyError(
            .notConfigured,
            "no AI provider configured: run `minsky config set ai.provider openai` (or anthropic) and `minsky config set ai.apiKey …`, set OPENAI_API_KEY / ANTHROPIC_API_KEY, or OLLAMA_HOST for a local Ollama. Agents need none of it: over MCP, decompose_task plans with the agent's own model"
        )
    }
    // A hosted service without a key would only fail after a network round trip (or a DNS
    // timeout offline): say what is missing at once. Local servers (Ollama, llama.cpp) need none.
    if config.apiKey?.isEmpty ?? true, let host = config.baseURL.host?.lowercased(), !isLocalHost(host) {
        let variable = config.kind == .openai ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY"
        throw MinskyError(
            .notConfigured,
            "the \(config.kind.rawValue) provider at \(host) needs an API key and none is set: run `minsky config set ai.apiKey …` or set \(variable); for a local model point ai.baseURL at it (e.g. http://127.0.0.1:11434/v1). Over MCP, decompose_task can plan with the agent's own model",
            field: "ai.apiKey")
    }
    return config
}

/// Loopback, a private network or a `.local`/`.internal` name: a server of one's own.
func isLocalHost(_ host: String) -> Bool {
    if ["localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "host.docker.internal"].contains(host) { return true }
    if host.hasSuffix(".local") || host.hasSuffix(".internal") || host.hasSuffix(".lan") || !host.contains(".") {
        return true
    }
    let parts = host.split(separator: ".").compactMap { Int($0) }
    guard parts.count == 4 else { return false }
    return parts[0] == 10 || parts[0] == 127 || (parts[0] == 192 && parts[1] == 168)
        || (parts[0] == 172 && (16...31).contains(parts[1])) || (parts[0] == 100 && (64...127).contains(parts[1]))
}

/// The provider from project settings, the credentials file and the environment; nil when none is configured.
func resolveProvider(project: Project?) throws -> ProviderConfig? {
    // An empty variable (OPENAI_API_KEY= …) counts as unset.
    let env = ProcessInfo.processInfo.environment.filter { !$0.value.isEmpty }
    let ai = project?.config.ai
    var kind: ProviderConfig.Kind?
    if let p = ai?.provider {
        kind = ProviderConfig.Kind(rawValue: p)
    } else if env["OPENAI_API_KEY"] != nil || env["OLLAMA_HOST"] != nil {
        kind = .openai
    } else if env["ANTHROPIC_API_KEY"] != nil {
        kind = .anthropic
    }
    guard let kind else { return nil }
    var base = ai?.baseURL.flatMap(URL.init(string:)) ?? ProviderConfig.defaultBaseURL(kind)
    if ai?.baseURL == nil, kind == .openai, let host = env["OLLAMA_HOST"],
        let u = URL(string: (host.hasPrefix("http") ? host : "http://" + host) + "/v1")
    {
        base = u
    }
    let key =
        UserCredentials(environment: env).load()["ai.apiKey"]
        ?? env[kind == .openai ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY"]
    var config = ProviderConfig(
        kind: kind, model: ai?.model ?? ProviderConfig.defaultModel(kind), baseURL: base, apiKey: key)
    if let t = env["MINSKY_AI_TIMEOUT"].flatMap(Double.init), t > 0 { config.timeout = t }
    config.stream = ai?.stream != "false"
    return config
}

extension TasksCommand {
    struct Decompose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decompose",
            abstract:
                "Split a task (an id, or the title of a new task) into subtasks with an AI model, in one transaction.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A task id, or a title for a new parent task.") var target: String
        @Option(
            name: .customLong("max"), parsing: .unconditional,
            help: "At most this many subtasks (1-50; default: the count a complexity score recommended, else 6).")
        var maxSubtasks: Int?
        @Option(name: .long, help: "Extra guidance for the model.") var guidance: String?
        @Flag(name: .long, help: "Show the proposal; write nothing.") var dryRun = false

        func validate() throws { try checkRange(maxSubtasks, 1...50, option: "--max", json: global.json) }

        func run() async throws {
            try await global.withStore { store, out, project in
                try await decompose(store: store, out: out, project: project)
            }
        }

        func decompose(store: any MinskyStore, out: Output, project: Project?) async throws {
            _ = try TaskRules.checkGuidance(guidance)
            let config = try requireProvider(project: project)
            var parent: TaskItem
            let existing: TaskItem? = await {
                guard let id = try? TaskID(validating: target) else { return nil }
                return try? await store.get(id)
            }()
            if let existing {
                parent = existing
            } else {
                try TaskRules.checkTitle(target)
                let now = Timestamp.now()
                parent = TaskItem(id: "mk-new", title: target, createdAt: now, updatedAt: now)
            }
            let maxSubtasks = Decomposer.maxSubtasks(requested: maxSubtasks, for: parent)
            let siblings =
                existing == nil
                ? [] : try await store.listAll(TaskQuery(parent: .task(parent.id), limit: TaskQuery.maxLimit))
            let examples = try await store.calibration(limit: Calibration.promptSample).examples()
            let plan = try await Decomposer.plan(
                task: parent, maxSubtasks: maxSubtasks, guidance: guidance, existing: siblings, examples: examples,
                provider: Providers.make(config).recording(to: store, purpose: "decompose", taskId: existing?.id))
            if dryRun {
                // Keep the proposal for review (it needs a parent to hang on).
                if existing == nil { parent = try await store.create(NewTask(title: target)) }
                let promptHash = SHA256.hex(
                    Array(
                        (Decomposer.instructions(
                            parent, max: maxSubtasks, guidance: guidance, existing: siblings, examples: examples)).utf8
                    ))
                let proposal = Proposal(
                    id: Proposal.newID(), taskId: parent.id, kind: "decomposition", model: plan.model,
                    promptHash: promptHash,
                    body: try Decomposer.body(plan), createdAt: .now())
                try await store.saveProposal(proposal)
                if out.json {
                    try out.emit(proposal)
                    return
                }
                out.proposal(plan, id: proposal.id, header: "for \(parent.id) \(parent.title)")
                return
            }
            if existing == nil { parent = try await store.create(NewTask(title: target)) }
            let created = try await Decomposer.apply(plan, to: parent, store: store)
            if out.json {
                out.emit(
                    DecomposeResult.json(
                        parent: parent, subtasks: created.map { TaskJSON.full($0) }, plan: plan))
                return
            }
            out.line(
                "Decomposed \(parent.id) \(parent.title) into \(created.count) subtasks (\(plan.model), attempts: \(plan.attempts)):"
            )
            out.table(created)
            out.repairs(plan)
        }
    }
}

extension TasksCommand {
    struct Complexity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "complexity",
            abstract: "Score tasks 1-10 with an AI model (stored on each task) and print a report sorted by score.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id (or --all).") var id: String?
        @Flag(name: .long, help: "Score every open task (tasks unchanged since their last score keep it).") var all =
            false
        @Flag(name: .long, help: "With --all, score unchanged tasks again too.") var force = false
        @Option(
            name: .long, parsing: .unconditional, help: "With --all, only report tasks scoring at least this (1-10).")
        var threshold: Int = 1

        func validate() throws {
            try checkRange(threshold, 1...10, option: "--threshold", json: global.json)
            if all == (id != nil) {
                throw refuse(MinskyError.invalid("id", "give a task id or --all (one of them)"), json: global.json)
            }
        }

        func run() async throws {
            try await global.withStore { store, out, project in
                let config = try requireProvider(project: project)
                let provider = Providers.make(config)
                var targets: [TaskItem]
                if let id {
                    targets = [try await store.get(try parseID(id))]
                } else {
                    targets = try await store.listAll().filter { !$0.status.isResolved }
                }
                var report: [(TaskItem, ComplexityScore)] = []
                let progress = ConsoleReporter(quiet: out.json)
                var reused = 0
                let examples = try await store.calibration(limit: Calibration.promptSample).examples()
                for (i, t) in targets.enumerated() {
                    if all && !force, let kept = ComplexityScorer.current(t) {
                        report.append((t, kept))
                        reused += 1
                        continue
                    }
                    progress.progress(i, of: targets.count, "scoring \(Output.clip(t.title, 40))")
                    let s = try await ComplexityScorer.score(
                        t, examples: examples,
                        provider: provider.recording(to: store, purpose: "complexity", taskId: t.id))
                    report.append((try await ComplexityScorer.store(s, on: t.id, in: store), s))
                }
                progress.progress(targets.count, of: targets.count, "scored")
                report = report.filter { $0.1.score >= threshold }.sorted { $0.1.score > $1.1.score }
                if out.json {
                    out.emit([
                        "scores": .array(report.map { ComplexityScorer.json($0.1, taskId: $0.0.id) }),
                        "unchanged": .int(Int64(reused)),
                    ])
                    return
                }
                for (t, s) in report {
                    out.line(
                        "\(s.score)/10  \(t.id)  \(Output.clip(t.title, 50))  → \(s.recommendedSubtasks) subtasks: \(Output.clip(s.reasoning, 60))"
                    )
                }
                if reused > 0 {
                    out.line("(\(reused) task(s) unchanged since their last score kept it; --force scores them again)")
                }
            }
        }
    }
}

extension TasksCommand {
    struct InsightsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "insights",
            abstract:
                "Facts about the plan (status counts, blocked chains, the longest dependency path, stale claims, complex tasks never split), then the model's short narrative if one is configured."
        )
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.withStore { store, out, project in
                let tasks = try await store.listAll()
                let facts = Insights.compute(
                    tasks: tasks, edges: try await store.dependencyEdges(among: nil), now: .now())
                var narrative: (summary: String, recommendations: [String])?
                var note: String?
                if let config = try resolveProvider(project: project) {
                    do {
                        narrative = try await Narrative.write(
                            facts, provider: Providers.make(config).recording(to: store, purpose: "insights"))
                    } catch let e as MinskyError { note = "no narrative: \(e.message)" }
                } else {
                    note = "no AI provider configured: facts only (minsky config set ai.provider …)"
                }
                if out.json {
                    try out.emit(
                        InsightsOutput(
                            facts: facts, summary: narrative?.summary, recommendations: narrative?.recommendations,
                            note: note))
                    return
                }
                out.line(
                    "\(facts.total) tasks: "
                        + facts.byStatus.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(
                            separator: ", "))
                if !facts.longestPath.isEmpty {
                    out.line(
                        "Longest dependency path (\(facts.longestPath.count)): "
                            + facts.longestPath.map(\.rawValue).joined(separator: " → "))
                }
                for (label, items) in [
                    ("Blocked", facts.blocked), ("Stale claims", facts.staleClaims),
                    ("Complex, never decomposed", facts.complexNotDecomposed),
                ] where !items.isEmpty {
                    out.line("\(label):")
                    for i in items.prefix(10) { out.line("  \(i.id)  \(Output.clip(i.title, 50))  — \(i.detail)") }
                }
                if let narrative {
                    out.line()
                    out.line(narrative.summary)
                    for r in narrative.recommendations { out.line("  • \(r)") }
                } else if let note {
                    out.line()
                    out.line(note)
                }
            }
        }
    }

    struct InsightsOutput: Encodable {
        var facts: Insights
        var summary: String?
        var recommendations: [String]?
        var note: String?
    }
}

extension TasksCommand {
    struct Proposals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "proposals",
            abstract: "Stored AI proposals (decompose or plan --dry-run): list, show, apply whole or in part, discard.",
            subcommands: [ListProposals.self, Show.self, Apply.self, Discard.self],
            defaultSubcommand: ListProposals.self)

        struct ListProposals: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Proposals, newest first.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "Only proposals for this task.") var task: String?

            func run() async throws {
                try await global.withStore { store, out in
                    let all = try await store.proposals(for: try task.map { try parseID($0) })
                    if out.json {
                        try out.emit(all)
                        return
                    }
                    if all.isEmpty { out.line("No proposals. `minsky tasks decompose ID --dry-run` makes one.") }
                    for p in all {
                        let n = p.body["subtasks"]?.arrayValue?.count ?? 0
                        let target = p.taskId?.rawValue ?? "(new root: \(p.body["root"]?["title"]?.stringValue ?? "?"))"
                        out.line(
                            "\(p.id)  \(target)  \(p.kind)  \(n) items  \(p.model)  \(p.createdAt)\(p.appliedAt.map { "  applied \($0)" } ?? "")"
                        )
                    }
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "show",
                abstract: "A proposal's items by number, with their parents, blockers and whether each is applied.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "Proposal id (pr-…).") var proposal: String

            func run() async throws {
                try await global.withStore { store, out in
                    let p = try await store.proposal(proposal)
                    let plan = try Decomposer.plan(fromBody: p.body)
                    let state = try await ProposalApplier.state(p, plan: plan, store: store)
                    if out.json {
                        let items: [JSONValue] = plan.subtasks.enumerated().map { i, s in
                            var o: [String: JSONValue] = [
                                "number": .int(Int64(i)), "title": .string(s.title),
                                "dependsOn": .array(s.dependsOn.map { .int(Int64($0)) }),
                            ]
                            if let parent = s.parent { o["parent"] = .int(Int64(parent)) }
                            if let t = state[i] { o["appliedAs"] = .string(t.id.rawValue) }
                            return .object(o)
                        }
                        return try out.emit([
                            "id": .string(p.id), "taskId": p.taskId.map { .string($0.rawValue) } ?? .null,
                            "root": p.body["root"] ?? .null, "applied": .bool(p.appliedAt != nil),
                            "items": .array(items),
                        ])
                    }
                    out.line(
                        "\(p.id)  \(p.kind) by \(p.model)  for \(p.taskId?.rawValue ?? "a new root: " + (p.body["root"]?["title"]?.stringValue ?? "?"))"
                    )
                    for (i, s) in plan.subtasks.enumerated() {
                        var line = "  \(i). \(s.title)"
                        if let parent = s.parent { line += "  (under \(parent))" }
                        if !s.dependsOn.isEmpty {
                            line += "  waits for " + s.dependsOn.map(String.init).joined(separator: ", ")
                        }
                        line += state[i].map { "  ✓ applied as \($0.id)" } ?? ""
                        out.line(line)
                    }
                }
            }
        }

        struct Apply: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "apply",
                abstract:
                    "Create the proposal's items (one transaction), all or only some; the rest can be applied later.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "Proposal id (pr-…).") var proposal: String
            @Option(name: .long, help: "Only these items, by number as `show` lists them, e.g. 0,2.") var only: String?

            func run() async throws {
                try await global.withStore { store, out in
                    let p = try await store.proposal(proposal)
                    let picks = try only.map { text in
                        try text.split(separator: ",").map { part -> Int in
                            guard let n = Int(part.trimmingCharacters(in: .whitespaces)) else {
                                throw MinskyError.invalid("only", "--only takes item numbers like 0,2")
                            }
                            return n
                        }
                    }
                    let r = try await ProposalApplier.apply(p, only: picks, store: store)
                    if out.json {
                        var o =
                            DecomposeResult.json(
                                parent: r.root, subtasks: r.created.map { TaskJSON.full($0) },
                                plan: DecompositionPlan(subtasks: [], model: p.model, attempts: 1, usage: [])
                            ).objectValue ?? [:]
                        o["unkept"] = .array(r.unkept.map { .string($0) })
                        o["remaining"] = .array(r.remaining.map { .int(Int64($0)) })
                        return out.emit(.object(o))
                    }
                    out.line("Applied \(p.id): \(r.created.count) tasks under \(r.root.id) \(r.root.title)")
                    out.table(r.created)
                    for u in r.unkept { out.line("  ! \(u)") }
                    if !r.remaining.isEmpty {
                        out.line(
                            "Still to apply: items \(r.remaining.map(String.init).joined(separator: ", ")) (`minsky tasks proposals apply \(p.id)`)"
                        )
                    }
                }
            }
        }

        struct Discard: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "discard",
                abstract: "Remove a proposal (tasks already made from it stay).")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "Proposal id (pr-…).") var proposal: String

            func run() async throws {
                try await global.withStore { store, out in
                    try await store.deleteProposal(proposal)
                    if out.json { return out.emit(["discarded": .string(proposal)]) }
                    out.line("Discarded \(proposal)")
                }
            }
        }
    }
}

/// The embeddings endpoint: the OpenAI-compatible provider's server and key, ai.embeddingModel.
/// With ai.embeddingBaseURL, that server (key: ai.embeddingApiKey, else OPENAI_API_KEY, else
/// ai.apiKey when the chat provider is OpenAI-compatible too).
func resolveEmbeddings(project: Project?) throws -> EmbeddingClient {
    let model = project?.config.ai?.embeddingModel ?? "text-embedding-3-small"
    let chat = try resolveProvider(project: project)
    if let base = project?.config.ai?.embeddingBaseURL, let url = URL(string: base) {
        let env = ProcessInfo.processInfo.environment
        let key =
            UserCredentials(environment: env).load()["ai.embeddingApiKey"] ?? env["OPENAI_API_KEY"]
            ?? (chat?.kind == .openai ? chat?.apiKey : nil)
        var config = ProviderConfig(kind: .openai, model: model, baseURL: url, apiKey: key)
        config.timeout = chat?.timeout ?? config.timeout
        return EmbeddingClient(config: config, model: model)
    }
    guard let config = chat, config.kind == .openai else {
        throw MinskyError(
            .notConfigured,
            "embeddings need an OpenAI-compatible server: `minsky config set ai.provider openai` and ai.baseURL, or keep your chat provider and `minsky config set ai.embeddingBaseURL http://localhost:11434/v1` (Ollama, llama.cpp, vLLM or OpenAI)"
        )
    }
    return EmbeddingClient(config: config, model: model)
}

extension TasksCommand {
    struct Embed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "embed",
            abstract: "Embed tasks whose title or description changed (all with --all), in batches.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long, help: "Embed every task again.") var all = false

        func run() async throws {
            try await global.withStore { store, out, project in
                let client = try resolveEmbeddings(project: project)
                let reporter = ConsoleReporter(quiet: out.json)
                let n = try await client.embedChanged(store: store, all: all) {
                    reporter.progress($0, of: $1, "embedding")
                }
                if out.json {
                    try out.emit(["embedded": n])
                } else {
                    out.line("Embedded \(n) task(s) with \(client.model)")
                }
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Find tasks by words, or by meaning with --similar (needs `minsky tasks embed`).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "What to look for.") var text: String
        @Flag(name: .long, help: "Rank by meaning (embeddings) instead of matching words.") var similar = false
        @Option(name: .long, parsing: .unconditional, help: "How many results (1-1000).") var limit: Int = 10

        func validate() throws { try checkRange(limit, 1...TaskQuery.maxLimit, option: "--limit", json: global.json) }

        func run() async throws {
            try await global.withStore { store, out, project in
                guard similar else {
                    let page = try await store.list(TaskQuery(text: text, limit: limit))
                    if out.json { out.emit(TaskJSON.page(page, full: true)) } else { out.table(page.tasks) }
                    return
                }
                let hits = try await resolveEmbeddings(project: project).similar(to: text, store: store, k: limit)
                var tasks: [TaskItem] = []
                for h in hits { tasks.append(try await store.get(h.id)) }
                if out.json {
                    out.emit(
                        TaskJSON.page(
                            tasks, full: true, scores: Dictionary(hits.map { ($0.id, $0.score) }, uniquingKeysWith: max)
                        ))
                    return
                }
                if tasks.isEmpty { out.line("No embedded tasks yet: run `minsky tasks embed`.") }
                for (h, t) in zip(hits, tasks) {
                    out.line(String(format: "%.3f  ", h.score) + "\(t.id)  \(Output.clip(t.title, 70))")
                }
            }
        }
    }
}

/// `minsky usage`: what the model calls cost, from the records every call leaves in the store.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract:
            "Model calls and tokens used, per provider, model and purpose (every AI call is recorded in the store).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, parsing: .unconditional, help: "Also list the last N calls (0-10000).") var calls: Int = 0

    func validate() throws { try checkRange(calls, 0...10_000, option: "--calls", json: global.json) }

    func run() async throws {
        guard calls >= 0 else { throw MinskyError.invalid("calls", "--calls must be 0 or more") }
        try await global.withStore { store, out, _ in
            let usage = try await store.aiUsage()
            let recent = calls > 0 ? try await store.aiCalls(limit: calls) : []
            if out.json {
                try out.emit(UsageOutput(usage: usage, calls: calls > 0 ? recent : nil))
                return
            }
            if usage.isEmpty {
                out.line("no model calls recorded yet")
                return
            }
            out.line("calls  failed  input tokens  output tokens  provider/model · purpose")
            for u in usage {
                out.line(
                    String(format: "%5d  %6d  %12d  %13d  ", u.calls, u.failed, u.inputTokens, u.outputTokens)
                        + "\(u.provider)/\(u.model) · \(u.purpose)")
            }
            out.line(
                String(
                    format: "%5d  %6d  %12d  %13d  total", usage.map(\.calls).reduce(0, +),
                    usage.map(\.failed).reduce(0, +),
                    usage.map(\.inputTokens).reduce(0, +), usage.map(\.outputTokens).reduce(0, +)))
            for c in recent {
                let tokens = c.inputTokens.map { "\($0) in / \(c.outputTokens ?? 0) out" } ?? "tokens not reported"
                out.line(
                    "\(c.at.iso8601)  \(c.purpose)  \(c.provider)/\(c.model)  \(tokens)  \(c.durationMs) ms  \(c.outcome)\(c.taskId.map { "  \($0)" } ?? "")"
                )
            }
        }
    }

    struct UsageOutput: Encodable {
        var usage: [AIUsage]
        var calls: [AICall]?
    }
}
