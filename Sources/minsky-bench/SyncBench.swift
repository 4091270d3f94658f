import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import Synchronization

/// `minsky-bench sync --postgres URL [--changes 10000]`: push and pull of N changes through the
/// real engine, the cost of change tracking on local writes, and how long local calls wait
/// while a background sync pulls.
enum SyncBench {
    static func seconds(_ body: () async throws -> Void) async throws -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try await body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s[min(s.count - 1, Int(Double(s.count) * p))]
    }

    static func run(pgURL: String, changes: Int) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "minsky-sync-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let schema = "sync_bench_\(UInt32.random(in: 0..<UInt32.max))"
        try await PostgresAdmin.execute(url: pgURL, "CREATE SCHEMA \(schema)")
        defer { Task { try? await PostgresAdmin.execute(url: pgURL, "DROP SCHEMA \(schema) CASCADE") } }
        let url = pgURL + (pgURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        print("| Sync (\(changes) changes) | Result |")
        print("|---|---|")

        // Push: one replica made `changes` changes (creates) while tracking.
        let a = try SQLiteTaskStore(path: dir.appendingPathComponent("a.db").path, create: true)
        let engineA = SyncEngine(
            local: a,
            batch: Int(ProcessInfo.processInfo.environment["MINSKY_SYNC_BATCH"] ?? "") ?? SyncEngine.defaultBatch,
            openRemote: SyncEngine.openRemote)
        _ = try await engineA.enable(remoteURL: url, strategy: .mergeFields, interval: nil)
        for start in stride(from: 0, to: changes, by: 1000) {
            _ = try await a.createMany(
                (start..<min(changes, start + 1000)).map { NewTask(title: "sync bench task \($0)", tags: ["bench"]) },
                progress: nil, isCancelled: { false })
        }
        let readLog = try await seconds { _ = try await a.syncLocalChanges(after: 0, limit: changes) }
        let push = try await seconds { _ = try await engineA.push() }
        print(String(format: "| (reading the local log alone) | %.2f s |", readLog))
        print(String(format: "| push %d changes (SQLite → PostgreSQL) | %.2f s |", changes, push))

        if ProcessInfo.processInfo.environment["MINSKY_BENCH_ONLY"] == "push" { return }
        // Pull: a fresh replica takes them all.
        let b = try SQLiteTaskStore(path: dir.appendingPathComponent("b.db").path, create: true)
        let engineB = SyncEngine(local: b, openRemote: SyncEngine.openRemote)
        _ = try await engineB.enable(remoteURL: url, strategy: .mergeFields, interval: nil)
        let pull = try await seconds { _ = try await engineB.pull() }
        print(String(format: "| pull %d changes (PostgreSQL → SQLite) | %.2f s |", try await b.count(), pull))

        // Tracking overhead: the same creates and updates, on a store with and without sync.
        /// Per-operation times of `n` creates, then `n` updates of them.
        func writes(_ s: SQLiteTaskStore, _ n: Int) async throws -> (create: [Double], update: [Double]) {
            var ids: [TaskID] = []
            var c: [Double] = []
            var u: [Double] = []
            for i in 0..<n {
                c.append(
                    try await seconds { ids.append(try await s.create(NewTask(title: "overhead \(i)")).id) } * 1000)
            }
            for (i, id) in ids.enumerated() {
                u.append(
                    try await seconds {
                        _ = try await s.update(id, TaskPatch(title: "renamed \(i)"), expectedVersion: nil)
                    } * 1000)
            }
            return (c, u)
        }
        let plain = try SQLiteTaskStore(path: dir.appendingPathComponent("plain.db").path, create: true)
        let tracked = try SQLiteTaskStore(path: dir.appendingPathComponent("tracked.db").path, create: true)
        _ = try await tracked.syncStartTracking(remote: nil, strategy: nil)
        _ = try await writes(plain, 300)  // warm-up
        _ = try await writes(tracked, 300)
        // Alternating rounds, so both stores see the same machine; medians, so a WAL checkpoint
        // landing in one round does not decide the ratio.
        var p: (create: [Double], update: [Double]) = ([], [])
        var t: (create: [Double], update: [Double]) = ([], [])
        for _ in 0..<5 {
            let a = try await writes(plain, 400)
            let b = try await writes(tracked, 400)
            p.create += a.create
            p.update += a.update
            t.create += b.create
            t.update += b.update
        }
        for (name, x, y) in [("create", p.create, t.create), ("update", p.update, t.update)] {
            let (mx, my) = (percentile(x, 0.5), percentile(y, 0.5))
            let (ax, ay) = (x.reduce(0, +) / Double(x.count), y.reduce(0, +) / Double(y.count))
            print(
                String(
                    format:
                        "| %@ without / with tracking: median (mean) | %.3f / %.3f ms (%.3f / %.3f): ×%.2f (×%.2f) |",
                    name, mx, my, ax, ay, my / mx, ay / ax))
        }

        // Local calls while a background sync pulls everything into a third replica: reads (WAL)
        // never wait; writes wait at most one pull batch.
        // As in `minsky mcp`: the background engine and the agent's calls share one store.
        let c = try SQLiteTaskStore(path: dir.appendingPathComponent("c.db").path, create: true)
        let engineC = SyncEngine(local: c, batch: SyncEngine.backgroundBatch, openRemote: SyncEngine.openRemote)
        _ = try await engineC.enable(remoteURL: url, strategy: .mergeFields, interval: nil)
        let agent = c
        let probe = try await agent.create(NewTask(title: "probe"))
        func sample(_ n: Int) async throws -> (read: [Double], write: [Double]) {
            var r: [Double] = []
            var w: [Double] = []
            for i in 0..<n {
                r.append(try await seconds { _ = try await agent.get(probe.id) } * 1000)
                w.append(
                    try await seconds {
                        _ = try await agent.update(probe.id, TaskPatch(description: "\(i)"), expectedVersion: nil)
                    } * 1000)
            }
            return (r, w)
        }
        let idle = try await sample(2000)
        let finished = Flag()
        let syncing = Task {
            defer { finished.set() }
            return try await engineC.pull()
        }
        var busy: (read: [Double], write: [Double]) = ([], [])
        while !finished.isSet {
            let s = try await sample(20)
            busy.read += s.read
            busy.write += s.write
        }
        _ = try await syncing.value
        func row(_ name: String, _ xs: [Double]) {
            print(
                String(
                    format: "| %@ | %.3f / %.3f / %.3f ms |", name, percentile(xs, 0.5), percentile(xs, 0.99),
                    xs.max() ?? 0))
        }
        row("get p50 / p99 / max, idle", idle.read)
        row("get p50 / p99 / max, during a background pull", busy.read)
        row("update p50 / p99 / max, idle", idle.write)
        row("update p50 / p99 / max, during a background pull", busy.write)
        print("| samples during the pull | \(busy.read.count) |")
        for e in [engineA, engineB, engineC] { await e.close() }
        for s in [a, b, plain, tracked, c] { await s.close() }
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
