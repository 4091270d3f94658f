import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import MinskyUpgrade

/// `minsky-bench upgrade --postgres URL [--tasks 100000]`: builds a SQLite store of N tasks and
/// 2N dependencies, then times our upgrade (validation included) into a fresh database. The
/// comparison runs (pgloader, psql \copy) are driven by scripts/bench-upgrade.sh on the same file.
enum UpgradeBench {
    /// The same server URL naming another database: the path after host:port replaced.
    static func database(_ db: String, on url: String) -> String {
        // a URL with user@host/db
        let slash = url.range(of: "/", options: .backwards, range: url.range(of: "@")!.upperBound..<url.endIndex)!
        return String(url[..<slash.upperBound]) + db
    }

    /// Prints each finished step with the seconds since the start, to stderr.
    struct TimingReporter: TransferReporter {
        let start = DispatchTime.now().uptimeNanoseconds
        func step(_ text: String) {
            FileHandle.standardError.write(
                Data(
                    String(format: "  %6.2f s  %@\n", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, text)
                        .utf8))
        }
        func progress(_ done: Int, of total: Int, _ what: String) {}
    }

    static func run(pgURL: String, tasks: Int, keep: String?, embeddingDims: Int = 0) async throws {
        let dir =
            keep.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "minsky-upgrade-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent(".minsky"), withIntermediateDirectories: true)
        let project = Project(root: dir, config: ProjectConfig())
        try project.save()
        let path = dir.appendingPathComponent(".minsky/tasks.db").path
        if !FileManager.default.fileExists(atPath: path) {
            let store = try SQLiteTaskStore(path: path)
            let t0 = Date()
            let ids = try await Bench.populate(store, tasks: tasks, deps: tasks * 2)
            if embeddingDims > 0 {
                var gen = SplitMix64(seed: 7)
                for start in stride(from: 0, to: ids.count, by: 1000) {
                    try await store.saveEmbeddings(
                        ids[start..<min(ids.count, start + 1000)].map { id in
                            TaskEmbedding(
                                taskId: id, model: "bench", contentHash: "h",
                                vector: (0..<embeddingDims).map { _ in gen.nextSigned() })
                        })
                }
            }
            await store.close()
            FileHandle.standardError.write(
                Data(
                    "generated \(tasks) tasks, \(tasks * 2) dependencies in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s at \(path)\n"
                        .utf8))
        }
        // A pristine copy, so the benchmark can be rerun on the same data.
        let pristine = path + ".pristine"
        if !FileManager.default.fileExists(atPath: pristine) {
            try FileManager.default.copyItem(atPath: path, toPath: pristine)
        }
        let db = "upgrade_bench_\(UUID().uuidString.prefix(6).lowercased())"
        try await PostgresAdmin.execute(url: pgURL, "CREATE DATABASE \(db)")
        let target = Self.database(db, on: pgURL)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try await Upgrader.toPostgres(
            project: project, options: UpgradeOptions(dbURL: target), reporter: TimingReporter())
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        print(
            "minsky upgrade (validated): \(String(format: "%.2f", seconds)) s — "
                + r.tables.map { "\($0.rows) \($0.table)" }.joined(separator: ", "))
        try await PostgresAdmin.execute(url: pgURL, "DROP DATABASE \(db)")
        // Leave the store as it was for the next run.
        try? FileManager.default.removeItem(atPath: path)
        for s in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) }
        try FileManager.default.copyItem(atPath: pristine, toPath: path)
        try project.save()
    }
}
