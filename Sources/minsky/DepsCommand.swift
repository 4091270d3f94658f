import ArgumentParser
import MinskyCore

struct DepsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deps",
        abstract: "Manage dependencies: TASK is blocked by BLOCKER.",
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Make TASK wait for BLOCKER (cycles are refused).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task that waits.") var task: String
        @Argument(help: "The task it waits for.") var blocker: String

        func run() async throws {
            try await global.withStore { store, out in
                let d = try await store.addDependency(
                    try parseID(task), dependsOn: try parseID(blocker, field: "dependsOn"))
                if out.json { try out.emit(d) } else { out.line("\(d.taskId) now waits for \(d.dependsOn)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove the dependency of TASK on BLOCKER.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task that waits.") var task: String
        @Argument(help: "The task it waits for.") var blocker: String

        func run() async throws {
            try await global.withStore { store, out in
                let t = try parseID(task)
                let b = try parseID(blocker, field: "dependsOn")
                try await store.removeDependency(t, dependsOn: b)
                if out.json {
                    try out.emit(["removed": ["taskId": t.rawValue, "dependsOn": b.rawValue]])
                } else {
                    out.line("\(t) no longer waits for \(b)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Show what TASK waits for and what waits for it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Task id.") var task: String

        func run() async throws {
            try await global.withStore { store, out in
                let deps = try await store.dependencies(of: try parseID(task))
                if out.json {
                    try out.emit(deps)
                    return
                }
                if deps.blockedBy.isEmpty && deps.blocks.isEmpty { out.line("\(task) has no dependencies.") }
                for e in deps.blockedBy { out.line("blocked by  \(e.id)  [\(e.status)]  \(Output.clip(e.title, 60))") }
                for e in deps.blocks { out.line("blocks      \(e.id)  [\(e.status)]  \(Output.clip(e.title, 60))") }
            }
        }
    }
}
