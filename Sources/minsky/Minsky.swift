import ArgumentParser
import Foundation
import Logging
import MinskyApp
import MinskyCore
import MinskyUpgrade

@main
struct Minsky: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minsky",
        abstract: "A durable task list that AI coding agents and people plan on together.",
        discussion: """
            Start with `minsky init` (creates .minsky/tasks.db), then `minsky tasks create "…"`.
            The store is chosen by --db, then MINSKY_DB, then the nearest .minsky/config.json.
            Exit codes: 0 ok, 1 internal error, 2 invalid input, 3 not found, 4 conflict (version,
            claim or cycle), 5 store unavailable or not configured, 6 model server unavailable,
            7 permission denied (a team role's missing right), 64 bad command line. Shell completions: minsky --generate-completion-script bash|zsh|fish.
            """,
        version: MinskyVersion.description,
        subcommands: [
            InitCommand.self, QuickstartCommand.self, TasksCommand.self, DepsCommand.self, BackupCommand.self,
            UpgradeCommand.self, MigrateCommand.self, ConfigCommand.self, UsageCommand.self, DoctorCommand.self,
            TeamCommand.self, SyncCommand.self, BoardCommand.self, PlanCommand.self, SetupCommand.self, MCPCommand.self,
            JobsCommand.self, ServeCommand.self,
        ]
    )

    static func main() async {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel =
                Logger.Level(rawValue: ProcessInfo.processInfo.environment["MINSKY_LOG_LEVEL"] ?? "") ?? .warning
            return h
        }
        installFaultPoints()
        // `minsky mcp [--db URL]` is started by agents for every session: skip the general
        // argument parser (a measurable part of start-up) for exactly that shape.
        if let db = MCPCommand.fastPathDatabase(CommandLine.arguments) {
            await MCPCommand.Serve.serve(db: db.isEmpty ? nil : db)
            return
        }
        let json = CommandLine.arguments.contains("--json")
        do {
            try checkArgumentsAreUTF8()
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let e as MinskyError {
            // Checks in validate() and before parsing: the same message and exit code as in run().
            Output(json: json).error(e)
            Foundation.exit(e.code.exitCode)
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .failure, !(error is ValidationError) {
                // Not a usage error and not one of ours: never print the value's dump (it may be
                // huge, or hold data); the detail goes to the debug log.
                Logger(label: "minsky").debug("internal error: \(String(reflecting: error))")
                let e = MinskyError(
                    .internal, "internal error (\(type(of: error))); run again with MINSKY_LOG_LEVEL=debug for details")
                Output(json: json).error(e)
                Foundation.exit(1)
            }
            if code == .success || !json {
                exit(withError: error)  // help, version, completion scripts, and usage errors as usual
            }
            let message = fullMessage(for: error)
            Output(json: true).error(MinskyError(.invalidInput, message, field: Self.argumentName(in: message)))
            Foundation.exit(code.rawValue)
        }
    }

    /// The argument a parser message is about: `status` in "… is invalid for '<status>'" or
    /// "… for '--status <status>'".
    static func argumentName(in message: String) -> String? {
        guard let r = message.range(of: "for '") else { return nil }
        let name = message[r.upperBound...].drop { $0 == "-" || $0 == "<" }.prefix { $0.isLetter || $0 == "-" }
        return name.isEmpty ? nil : String(name)
    }

    /// Arguments must be valid UTF-8: a title or description with broken bytes is refused rather
    /// than stored with U+FFFD in their place (as `--description-file` already refuses them).
    static func checkArgumentsAreUTF8() throws {
        for i in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            if String(validatingCString: p) == nil {
                let shown = String(
                    decoding: UnsafeBufferPointer(
                        start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)), as: UTF8.self
                )
                throw MinskyError.invalid(
                    "argument",
                    "argument \(i) (\"\(shown.prefix(40))\") is not valid UTF-8 text; nothing was written. Check the terminal's encoding, or pass the text with --description-file"
                )
            }
        }
    }
}

/// Options every store command shares.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Store location: a SQLite path, sqlite:PATH or postgresql://user@host/db (overrides MINSKY_DB and .minsky/config.json).",
            valueName: "url"))
    var db: String?

    @Flag(name: .long, help: "Print machine-readable JSON on stdout.")
    var json = false

    @Flag(name: .long, help: "On an error, also print the database's own words (SQL state, statement).")
    var verbose = false

    func selection() throws -> StoreSelection {
        try StoreSelection.resolve(
            flag: db, environment: ProcessInfo.processInfo.environment,
            cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    }

    /// Opens the store, runs `body`, closes the store, and turns errors into messages and exit codes.
    func withStore(_ body: (any MinskyStore, Output) async throws -> Void) async throws {
        try await withStore { store, out, _ in try await body(store, out) }
    }

    /// The same, also handing over the project found while choosing the store (its AI settings).
    func withStore(_ body: (any MinskyStore, Output, Project?) async throws -> Void) async throws {
        let out = Output(json: json)
        try await out.reportingErrors {
            let sel = try selection()
            let store = try await sel.open()
            do {
                try await body(store, out, sel.project)
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        }
    }
}

extension MinskyError.Code {
    var exitCode: Int32 {
        switch self {
        case .invalidInput: 2
        case .notFound: 3
        case .conflict, .alreadyClaimed, .cycle: 4
        case .storeUnavailable, .storeIncompatible, .notConfigured, .storeMoved: 5
        case .modelUnavailable: 6
        case .permissionDenied: 7
        case .declined: 8
        case .internal: 1
        }
    }
}

/// Default owner for claims: MINSKY_OWNER, else user@host.
func defaultOwner() -> String {
    let env = ProcessInfo.processInfo.environment
    if let o = env["MINSKY_OWNER"], !o.isEmpty { return o }
    return "\(env["USER"] ?? "user")@\(ProcessInfo.processInfo.hostName)"
}

func parseID(_ raw: String, field: String = "id") throws -> TaskID {
    do { return try TaskID(validating: raw) } catch var e as MinskyError {
        e.field = field
        throw e
    }
}

/// Test-only fault injection for upgrades: `MINSKY_FAULT=<point>:kill` sends SIGKILL to this
/// process at that point, `<point>:sleep=<seconds>` pauses there, and `<point>:wait=<file>`
/// creates `<file>.reached` and waits until `<file>` exists (a handshake: a test acts while the
/// process is known to be at the point). Points: after-backup, copy, validate, switch.
/// `MINSKY_COPY_CHUNK=<bytes>` makes the upgrade's COPY chunks small, so a small store is split
/// between its connections.
func installFaultPoints() {
    if let n = Int(ProcessInfo.processInfo.environment["MINSKY_COPY_CHUNK"] ?? "") { Faults.setCopyChunkBytes(n) }
    guard let spec = ProcessInfo.processInfo.environment["MINSKY_FAULT"] else { return }
    Faults.install { name in
        guard spec.hasPrefix(name + ":") else { return }
        let action = spec.dropFirst(name.count + 1)
        FileHandle.standardError.write(Data("minsky: fault point \(name) reached\n".utf8))
        if action == "kill" { kill(getpid(), SIGKILL) }
        if action.hasPrefix("sleep="), let s = Double(action.dropFirst(6)) { usleep(UInt32(s * 1_000_000)) }
        if action.hasPrefix("wait=") {
            let file = String(action.dropFirst(5))
            _ = FileManager.default.createFile(atPath: file + ".reached", contents: nil)
            for _ in 0..<6_000 where !FileManager.default.fileExists(atPath: file) { usleep(10_000) }
        }
    }
}
