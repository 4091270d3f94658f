import ArgumentParser
import Foundation
import MinskyAI
import MinskyApp
import MinskyCore

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Turn a requirements document into a tree of tasks (priorities, dependencies, acceptance criteria).",
        discussion: """
            The configured model reads the document (a long one in parts of \(Planner.partCharacters) characters, split at
            headings: nothing is cut) and proposes epics and tasks. The plan hangs under a new task named after the
            document's first heading (or under --parent). With --dry-run it is stored as a proposal to review and
            apply later, whole or in part: `minsky tasks proposals apply ID [--only 0,3]`.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The requirements document (markdown; '-' reads stdin).") var file: String
    @Option(
        name: .customLong("max"), parsing: .unconditional,
        help: "At most this many tasks (1-\(Planner.maxItems), default \(Planner.defaultMax)).")
    var maxItems: Int = Planner.defaultMax
    @Option(name: .long, help: "Put the plan under this task instead of a new one.") var parent: String?
    @Option(name: .long, help: "Extra guidance for the model.") var guidance: String?
    @Flag(name: .long, help: "Store the plan as a proposal to review; create no tasks but the root.") var dryRun = false

    func validate() throws { try checkRange(maxItems, 1...Planner.maxItems, option: "--max", json: global.json) }

    func run() async throws {
        try await global.withStore { store, out, project in
            let document: String
            if file == "-" {
                document = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw MinskyError.invalid("file", "cannot read \(file); check the path")
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    throw MinskyError.invalid("file", "\(file) is not UTF-8 text")
                }
                document = text
            }
            guard let config = try resolveProvider(project: project) else {
                throw MinskyError(
                    .notConfigured,
                    "no AI provider configured: run `minsky config set ai.provider openai` (or anthropic) and `minsky config set ai.apiKey …`, set OPENAI_API_KEY / ANTHROPIC_API_KEY, or OLLAMA_HOST for a local Ollama"
                )
            }
            let parent: TaskItem?
            if let id = self.parent {
                parent = try await store.get(try parseID(id, field: "parent"))
            } else {
                parent = nil
            }
            let name = file == "-" ? "Plan" : URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            let title = Planner.title(of: document, fallback: name)
            let plan = try await Planner.plan(
                document: document, title: title, maxItems: maxItems, guidance: guidance,
                provider: Providers.make(config).recording(to: store, purpose: "plan", taskId: parent?.id),
                progress: { part, count in
                    if !out.json {
                        FileHandle.standardError.write(Data("planning part \(part) of \(count)…\n".utf8))
                    }
                })
            let (root, proposal, created) = try await Planner.store(
                plan, document: document, source: file == "-" ? "stdin" : file, root: parent, apply: !dryRun, in: store)
            if dryRun {
                if out.json {
                    try out.emit(proposal)
                    return
                }
                out.line(
                    "Proposal \(proposal.id) from \(plan.model): \(plan.subtasks.count) tasks under \(root.id) \(root.title)"
                )
                for (i, s) in plan.subtasks.enumerated() {
                    var depth = 0
                    var p = s.parent
                    while let q = p, depth < 20 {
                        depth += 1
                        p = plan.subtasks[q].parent
                    }
                    let after =
                        s.dependsOn.isEmpty ? "" : "  after " + s.dependsOn.map(String.init).joined(separator: ", ")
                    out.line(
                        "  \(String(repeating: "  ", count: depth))\(i). \(s.title)  [P\(s.priority ?? 2)]" + after)
                    for c in s.acceptance ?? [] { out.line("  \(String(repeating: "  ", count: depth))     ☐ \(c)") }
                }
                out.line("Apply it with: minsky tasks proposals apply \(proposal.id) [--only 0,2]")
                return
            }
            if out.json {
                out.emit(
                    DecomposeResult.json(
                        parent: root, subtasks: created.map { TaskJSON.full($0) }, model: plan.model,
                        attempts: plan.attempts))
                return
            }
            out.line(
                "Planned \(created.count) tasks under \(root.id) \(root.title) (\(plan.model), \(plan.attempts) call(s)):"
            )
            out.tree(try await store.tree(root: root.id))
        }
    }
}
