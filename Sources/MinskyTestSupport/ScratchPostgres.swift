import Foundation

/// A PostgreSQL server of the test's own (for tests that stop the server), started from the
/// binaries scripts/test installs (MINSKY_TEST_PGBIN) or Debian's postgresql-15.
public final class ScratchPostgres: @unchecked Sendable {  // immutable after init
    public let dataDir: String
    public private(set) var port: Int
    public let bin: String
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    public static var binDir: String {
        if let b = ProcessInfo.processInfo.environment["MINSKY_TEST_PGBIN"], !b.isEmpty { return b }
        return "/usr/lib/postgresql/15/bin"
    }

    static func asPostgres(_ args: [String]) throws -> ProcessResult {
        if getuid() == 0 {
            return try runDetached(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", "postgres", "--"] + args)
        }
        return try runDetached(URL(fileURLWithPath: args[0]), Array(args.dropFirst()))
    }

    /// `bin` picks other server binaries (e.g. Debian's postgresql-15, which has no pgvector).
    /// `passwords`: every role but `postgres` must log in over TCP with its SCRAM password.
    public init(bin binDir: String? = nil, passwords: Bool = false) throws {
        bin = binDir ?? Self.binDir
        let dir = try TestEnvironment.tempDirectory("minsky-pg")
        dataDir = dir.appendingPathComponent("data").path
        if getuid() == 0 {
            _ = try runProcessBlocking(URL(fileURLWithPath: "/bin/chown"), ["-R", "postgres", dir.path])
        }
        // Below the kernel's ephemeral range (32768-60999), where clients' own ports would collide.
        port = Int.random(in: 20_000..<32_000)
        let initdb = try Self.asPostgres([
            "\(bin)/initdb", "-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
        ])
        guard initdb.status == 0 else {
            throw NSError(
                domain: "initdb", code: Int(initdb.status), userInfo: [NSLocalizedDescriptionKey: initdb.stderr])
        }
        if passwords {
            try """
            local all all trust
            host all postgres 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256

            """.write(toFile: dataDir + "/pg_hba.conf", atomically: false, encoding: .utf8)
        }
        // A port another test's server (or a client) took meanwhile: try another, a few times.
        for attempt in 1...5 {
            do {
                try start()
                return
            } catch  where attempt < 5 {
                port = Int.random(in: 20_000..<32_000)
            }
        }
    }

    public func start() throws {
        let r = try Self.asPostgres([
            "\(bin)/pg_ctl", "-D", dataDir, "-l", dataDir + "/../log", "-w", "-o",
            "-p \(port) -k \(dataDir)/.. -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        ])
        guard r.status == 0 else {
            let log = (try? String(contentsOfFile: dataDir + "/../log", encoding: .utf8)) ?? ""
            throw NSError(
                domain: "pg_ctl", code: Int(r.status),
                userInfo: [
                    NSLocalizedDescriptionKey: r.stderr + r.stdout + "\nserver log (end):\n" + String(log.suffix(1500))
                ])
        }
    }

    public func stop() throws {
        _ = try Self.asPostgres(["\(bin)/pg_ctl", "-D", dataDir, "-m", "immediate", "-w", "stop"])
    }

    deinit {
        _ = try? stop()
        try? FileManager.default.removeItem(atPath: (dataDir as NSString).deletingLastPathComponent)
    }
}
