import ArgumentParser
import Foundation
import MinskyCore
import MinskyMCP

/// `minsky jobs`: the long operations MCP clients started as tasks (Tasks extension), read from
/// the store, so what any server runs (or ran before a restart) is seen here.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List and follow the long operations agents started as MCP tasks (decompose, upgrade …).",
        discussion:
            "A job whose server stopped is shown failed with the reason. Jobs are kept for a day.",
        subcommands: [List.self, Show.self, Follow.self, Cancel.self], defaultSubcommand: List.self)

    static func line(_ j: Job) -> String {
        let message = j.message.map { "  \($0.prefix(100))" } ?? ""
        return
            "\(j.id)  \(j.status.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0))  \(j.tool)  \(j.createdAt.iso8601)\(message)"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "The newest jobs first.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, parsing: .unconditional, help: "How many (1-1000).") var limit: Int = 20

        func validate() throws { try checkRange(limit, 1...TaskQuery.maxLimit, option: "--limit", json: global.json) }

        func run() async throws {
            try await global.withStore { store, out in
                var jobs: [Job] = []
                for j in try await store.jobs(limit: limit) {
                    jobs.append(await JobControl.reapIfDead(j, store: store))
                }
                if out.json { return out.emit(["jobs": .array(jobs.map(JobControl.json))]) }
                if jobs.isEmpty {
                    out.line("No jobs: agents start them for long MCP calls (decompose, upgrade_store …).")
                }
                for j in jobs { out.line(JobsCommand.line(j)) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "One job with its result, error or questions.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job id (job-…).") var id: String

        func run() async throws {
            try await global.withStore { store, out in
                let j = try await JobControl.load(id, store: store)
                if out.json { return out.emit(JobControl.json(j)) }
                out.line(JobsCommand.line(j))
                out.line("arguments: \(j.arguments.canonicalJSON())")
                if let r = j.result { out.line("result: \(r.canonicalJSON().prefix(2000))") }
                if let e = j.error { out.line("error: \(e["message"]?.stringValue ?? e.canonicalJSON())") }
                if let q = j.inputRequests?.objectValue {
                    out.line("waiting for the client's answers to: \(q.keys.sorted().joined(separator: ", "))")
                }
            }
        }
    }

    struct Follow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "follow",
            abstract: "Print each change of a job until it finishes (exit 0 when completed, 1 otherwise).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job id (job-…).") var id: String

        func run() async throws {
            var finished: Job.Status?
            try await global.withStore { store, out in
                var last: Timestamp?
                while true {
                    let j = try await JobControl.load(id, store: store)
                    if j.updatedAt != last {
                        last = j.updatedAt
                        if out.json { out.emit(JobControl.json(j)) } else { out.line(JobsCommand.line(j)) }
                    }
                    if j.status.isTerminal || j.status == .inputRequired {
                        finished = j.status
                        return
                    }
                    try await Task.sleep(for: .milliseconds(Int(JobControl.pollIntervalMs)))
                }
            }
            if finished != .completed { throw ExitCode(1) }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Ask a job to stop (its server stops it at its next heartbeat).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job id (job-…).") var id: String

        func run() async throws {
            try await global.withStore { store, out in
                let j = try await JobControl.cancel(id, store: store)
                if out.json { return out.emit(JobControl.json(j)) }
                out.line(
                    j.status.isTerminal
                        ? JobsCommand.line(j)
                        : "Asked \(j.id) to stop; `minsky jobs follow \(j.id)` shows when it does.")
            }
        }
    }
}
