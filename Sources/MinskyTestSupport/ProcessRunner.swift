import Foundation

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

public func runProcess(_ executable: URL, _ args: [String], cwd: URL? = nil, env: [String: String] = [:],
                       stdin: Data? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    if let cwd { p.currentDirectoryURL = cwd }
    var environment = ProcessInfo.processInfo.environment
    environment["MINSKY_DB"] = nil
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe(), inp = Pipe()
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
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    g.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}
