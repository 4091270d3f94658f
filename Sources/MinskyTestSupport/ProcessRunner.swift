import Foundation
import MinskyCore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the built executables over real pipes, as users and agents do.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Binaries {
    /// The directory holding the built products (`.build/debug`), next to the test bundle.
    public static var productsDirectory: URL {
        if let d = ProcessInfo.processInfo.environment["MINSKY_BUILD_DIR"] { return URL(fileURLWithPath: d) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("minsky").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug")
    }

    public static var minsky: URL { productsDirectory.appendingPathComponent("minsky") }
}

/// Runs a command whose descendants may outlive it (a server started by `pg_ctl`): output goes
/// to a file, so no pipe is left open waiting for them, and the child is reaped with waitpid.
public func runDetached(_ executable: URL, _ args: [String]) throws -> ProcessResult {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("minsky-detached-\(UUID().uuidString).log")
        .path
    defer { try? FileManager.default.removeItem(atPath: log) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([executable.path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable.path, &actions, nil, argv, environ)
    guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc)) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ProcessResult(status: code, stdout: text, stderr: text)
}

/// Runs the executable to its end and returns what it printed. Async: the wait happens on a
/// blocking-work thread, so tests awaiting children never hold Swift's cooperative pool.
public func runProcess(
    _ executable: URL, _ args: [String], cwd: URL? = nil, env: [String: String] = [:],
    stdin: Data? = nil
) async throws -> ProcessResult {
    try await Blocking.run { try runProcessBlocking(executable, args, cwd: cwd, env: env, stdin: stdin) }
}

/// The same, on the calling thread, for code that is not async (set-up of a scratch server).
public func runProcessBlocking(
    _ executable: URL, _ args: [String], cwd: URL? = nil, env: [String: String] = [:],
    stdin: Data? = nil
) throws -> ProcessResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let cwd { p.currentDirectoryURL = cwd }
    var environment = ProcessInfo.processInfo.environment
    environment["MINSKY_DB"] = nil
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe()
    let err = Pipe()
    let inp = Pipe()
    closeOnExec(out, err, inp)
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let stdin { inp.fileHandleForWriting.write(stdin) }
    try? inp.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child never blocks on a full pipe.
    nonisolated(unsafe) var errData = Data()
    let g = DispatchGroup()
    g.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        g.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    g.wait()
    p.waitUntilExit()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// The repository's root folder (this file is Sources/MinskyTestSupport/ProcessRunner.swift).
public func repositoryRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// Marks both ends of each pipe close-on-exec. Tests run in parallel and spawn processes: a
/// pipe end inherited by another test's child (a long-lived server, a browser) would keep the
/// pipe open for as long as that child lives, so a server would never see EOF on its stdin and a
/// reader never see EOF on a child's stdout. The spawned child still gets its own ends, as its
/// 0, 1 and 2 (dup2 clears the flag on the copy).
public func closeOnExec(_ pipes: Pipe...) {
    for p in pipes {
        for fd in [p.fileHandleForReading.fileDescriptor, p.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
    }
}
