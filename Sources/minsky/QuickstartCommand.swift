import ArgumentParser
import Foundation
import MinskyApp
import MinskyCore

/// The README's first command: a store, a small plan with dependencies, and the next ready task.
struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Create a demo project with a few dependent tasks and show what is ready next.")

    @Option(name: .long, help: "Directory for the demo project (default: a new temporary directory).") var dir: String?
    @Flag(name: .long, help: "Print machine-readable JSON: the project and the tasks ready at the end.") var json =
        false

    func run() async throws {
        let out = Output(json: json)
        try await out.reportingErrors {
            let root: URL
            if let dir {
                root = URL(fileURLWithPath: dir)
            } else {
                root = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "minsky-quickstart-\(UUID().uuidString.prefix(8).lowercased())")
            }
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let r = try await InitCommand.initialize(at: root, dbURL: nil, prefix: TaskID.defaultPrefix, force: false)
            if !json { out.line("1. minsky init → \(r.store)") }
            let store = try await StoreFactory.open(Project.load(root: root).location())

            let epic = try await store.create(
                NewTask(
                    title: "Build user authentication", description: "Sign-up, login and sessions.",
                    priority: try Priority(1), tags: ["auth"]))
            let schema = try await store.create(
                NewTask(title: "Design the users table", priority: try Priority(1), tags: ["db"], parentId: epic.id))
            let hash = try await store.create(
                NewTask(
                    title: "Hash passwords with Argon2", tags: ["security"], parentId: epic.id, dependsOn: [schema.id]))
            let login = try await store.create(
                NewTask(title: "Login endpoint", parentId: epic.id, dependsOn: [schema.id, hash.id]))
            _ = try await store.create(NewTask(title: "Write the README", priority: try Priority(3), tags: ["docs"]))
            let firstReady = try await store.nextReady(limit: 1)
            // The tree as step 2 describes it: before anything is claimed or done.
            let treeBefore = try await store.tree(root: nil)
            let claimed = try await store.claim(schema.id, owner: "quickstart-agent", ttl: 1800)
            _ = try await store.update(claimed.id, TaskPatch(status: .done), expectedVersion: claimed.version)
            if json {
                var page = TaskJSON.page(try await store.nextReady(limit: 5), full: true).objectValue ?? [:]
                page["directory"] = .string(root.path)
                page["store"] = .string(r.store)
                out.emit(.object(page))
                await store.close()
                return
            }
            out.line("2. created 5 tasks; \(login.id) waits for \(schema.id) and \(hash.id)")
            out.line()
            out.tree(treeBefore)
            out.line()
            out.line("3. next ready task:")
            out.table(firstReady)
            out.line()
            out.line("4. \(schema.id) claimed and done; ready now:")
            out.table(try await store.nextReady(limit: 5))
            out.line()
            out.tree(try await store.tree(root: nil))
            await store.close()
            out.line()
            out.line("Explore it:  cd \(root.path) && minsky tasks tree   (or watch it live: minsky board)")
        }
    }
}
