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
            document's first heading (or under --parent); that root holds the document itself. With --dry-run nothing but
            a proposal is written (no root either): review it with `minsky tasks proposals show ID`, apply it whole or in
            part (`minsky tasks proposals apply ID [--only 0,3]`, the rest later), or `discard` it.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The requirements document (markdown; '-' reads stdin).") var file: String
    @Option(
        name: .customLong("max"), parsing: .unconditional,
        help: "At most this many tasks (1-\(Planner.maxItems), default \(Planner.defaultMax)).")
    var maxItems: Int = Planner.defaultMax
    @Option(name: .long, help: "Put the plan under this task instead of a new one.") var parent: String?
    @Option(name: .long, help: "Extra guidance for the model.") var guidance: String?
    @Flag(name: .long, help: "Store the plan as a proposal to review; create no task at all.") var dryRun = false

    func validate() throws { try checkRange(maxItems, 1...Planner.maxItems, option: "--max", json: global.json) }

    func run() async throws {
        try await global.withStore { store, out, project in
            let document = try readText(file, option: "file")
            _ = try TaskRules.checkGuidance(guidance)
            let config = try requireProvider(project: project)
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
            guard let root, !dryRun else {
                if out.json {
                    try out.emit(proposal)
                    return
                }
                let under =
                    root.map { "under \($0.id) \($0.title)" } ?? "under a new root \"\(title)\" (made when applied)"
                out.proposal(plan, id: proposal.id, header: "(\(plan.subtasks.count) tasks) \(under)")
                return
            }
            if out.json {
                out.emit(
                    DecomposeResult.json(
                        parent: root, subtasks: created.map { TaskJSON.full($0) }, plan: plan))
                return
            }
            out.line(
                "Planned \(created.count) tasks under \(root.id) \(root.title) (\(plan.model), \(plan.attempts) call(s)):"
            )
            out.tree(try await store.tree(root: root.id))
            out.repairs(plan)
        }
    }
}
