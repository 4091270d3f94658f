import Foundation
import MinskyApp
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import MinskyTestSupport
import Synchronization
import Testing

/// The sync engine against its specification: three SQLite replicas and one real PostgreSQL,
/// random operations on each replica, syncs in random order, and outages with the server
/// really stopped and started. After a final full sync every replica equals PostgreSQL field by
/// field; under merge_fields the value of every field is its latest write; under manual no write
/// is lost unless a later write replaced it or it was listed as a conflict; under every strategy
/// a metadata key that one replica set survives another replica's edit of another key, and a
/// key both set ends with one of their values. Conflicts are settled either way mid-run (while
/// the remote keeps changing), `minsky sync now` processes are killed with SIGKILL mid-flight,
/// and the dependency graph stays acyclic everywhere.
@Suite(.serialized) struct SyncPropertyTests {
    static let seeds = Int(ProcessInfo.processInfo.environment["MINSKY_SYNC_SEEDS"] ?? "") ?? 100
    static let replay = ProcessInfo.processInfo.environment["MINSKY_SYNC_SEED"].flatMap { UInt64($0) }

    /// One write to one field, with the stamp it got and the stamp of the value it replaced.
    struct Write: Hashable {
        var replica: Int
        var task: String
        var field: String
        var value: JSONValue
        var stamp: SyncStamp
        var base: SyncStamp
    }

    @Test func replicasConvergeOnEverySeed() async throws {
        let server = try ScratchPostgres()
        let seeds: [UInt64] = Self.replay.map { [$0] } ?? (1...UInt64(Self.seeds)).map { $0 }
        for seed in seeds {
            do {
                try await run(seed: seed, server: server)
            } catch {
                Issue.record(
                    "seed \(seed) failed (replay: MINSKY_SYNC_SEED=\(seed) swift test --filter SyncPropertyTests): \(error)"
                )
                try? server.start()
                return
            }
        }
    }

    func run(seed: UInt64, server: ScratchPostgres) async throws {
        // Every other seed, the remote writes even a few rows through its scratch-table upsert
        // (which a push of 64 rows or more takes); other suites running meanwhile may take it too,
        // which must change nothing.
        PostgresDriver.stagedUpsertRows.store(seed % 2 == 0 ? 1 : 64, ordering: .relaxed)
        defer { PostgresDriver.stagedUpsertRows.store(64, ordering: .relaxed) }
        var rng = SplitMix64(seed: seed)
        let strategy = SyncStrategy.allCases[Int(seed % UInt64(SyncStrategy.allCases.count))]
        let schema = "s\(seed)_\(UInt32.random(in: 0..<UInt32.max))"
        try await PostgresAdmin.execute(url: server.url, "CREATE SCHEMA \(schema)")
        let url = server.url + "?options=-csearch_path%3D\(schema)"
        let dir = try TestEnvironment.tempDirectory("sync-prop")
        defer { try? FileManager.default.removeItem(at: dir) }
        var stores: [SQLiteTaskStore] = []
        var engines: [SyncEngine] = []
        for i in 0..<3 {
            let s = try SQLiteTaskStore(path: dir.appendingPathComponent("r\(i).db").path, create: true, actor: "r\(i)")
            stores.append(s)
            let e = SyncEngine(local: s, batch: Int(rng.next() % 7) + 2, openRemote: SyncEngine.openRemote)
            engines.append(e)
            _ = try await e.enable(remoteURL: url, strategy: strategy, interval: nil)
        }
        var writes: [Write] = []
        /// (task, metadata key) → the values written to it.
        var metaWrites: [String: [JSONValue]] = [:]
        var listed: Set<SyncStamp> = []
        var down = false
        var outageLeft = 0
        let steps = 30 + Int(rng.next() % 20)
        let outageAt = rng.next() % 3 == 0 ? Int(rng.next() % UInt64(steps)) : -1

        func collectConflicts(_ r: Int) async throws {
            // Both sides of a listed conflict are seen by whoever settles it.
            for k in try await stores[r].syncConflicts() { listed.formUnion([k.localStamp, k.remoteStamp]) }
        }
        // An agent working on PostgreSQL directly: its edits are logged field by field (partial
        // entries), which is what a replica's listed conflict must survive.
        let direct = try await PostgresTaskStore.connect(url: url)
        func record(_ r: Int, _ id: TaskID, _ fields: [String: JSONValue], before: [String: SyncStamp]) async throws {
            let after =
                r == 3
                ? try await direct.syncStampsOf(.task, id.rawValue)
                : try await stores[r].syncStampsOf(.task, id.rawValue)
            for (f, v) in fields {
                guard let s = after[f] else { continue }
                writes.append(
                    Write(replica: r, task: id.rawValue, field: f, value: v, stamp: s, base: before[f] ?? .zero))
            }
        }

        for step in 0..<steps {
            if step == outageAt {
                try server.stop()
                down = true
                outageLeft = 3 + Int(rng.next() % 8)
            } else if down {
                outageLeft -= 1
                if outageLeft <= 0 {
                    try server.start()
                    down = false
                }
            }
            let r = Int(rng.next() % 3)
            let store = stores[r]
            let tasks = try await store.listAll()
            let pick = tasks.isEmpty ? nil : tasks[Int(rng.next() % UInt64(tasks.count))]
            let op = rng.next() % 18
            if op >= 15 {
                // Sync and its edges: errors here are the engine's and fail the run, except an
                // unreachable remote while it is really down.
                let e = engines[r]
                do {
                    switch op {
                    case 15:
                        // Settle this replica's open conflicts, either way, while others keep editing.
                        for k in try await store.syncConflicts() {
                            _ = try await store.syncResolve(
                                entity: k.entity, key: k.key, takeLocal: [k.field: rng.next() % 2 == 0])
                        }
                    case 16:
                        // A `minsky sync now` process on this replica's file, killed at a random moment.
                        // Whatever it had done survives; whatever it had not is done by a later sync.
                        let p = Process()
                        p.executableURL = Binaries.minsky
                        p.arguments = ["sync", "now", "--db", dir.appendingPathComponent("r\(r).db").path]
                        p.standardOutput = FileHandle.nullDevice
                        p.standardError = FileHandle.nullDevice
                        try p.run()
                        try await Task.sleep(nanoseconds: (rng.next() % 300) * 1_000_000)
                        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
                        p.waitUntilExit()
                    default:
                        switch rng.next() % 3 {
                        case 0: _ = try await e.push()
                        case 1: _ = try await e.pull()
                        default: _ = try await e.syncNow()
                        }
                    }
                } catch let err as MinskyError where down && err.code == .storeUnavailable {
                    // The remote is down: the replica keeps everything for later.
                }
                try await collectConflicts(r)
                continue
            }
            do {
                switch op {
                case 0, 1:
                    let t = try await store.create(
                        NewTask(title: "t\(seed)-\(step)", priority: try Priority(Int(rng.next() % 5))))
                    try await record(
                        r, t.id,
                        [
                            "title": .string(t.title), "description": .string(""),
                            "priority": .int(Int64(t.priority.value)), "status": .string("TODO"), "tags": .array([]),
                        ],
                        before: [:])
                case 2, 3:
                    guard let p = pick else { continue }
                    let before = try await store.syncStampsOf(.task, p.id.rawValue)
                    let title = "edit-\(r)-\(step)"
                    _ = try await store.update(p.id, TaskPatch(title: title), expectedVersion: nil)
                    try await record(r, p.id, ["title": .string(title)], before: before)
                case 4:
                    guard let p = pick else { continue }
                    let before = try await store.syncStampsOf(.task, p.id.rawValue)
                    let status = [TaskStatus.todo, .inProgress, .done, .blocked][Int(rng.next() % 4)]
                    let next = try await store.update(p.id, TaskPatch(status: status), expectedVersion: nil)
                    if next.version != p.version {
                        try await record(r, p.id, ["status": .string(status.rawValue)], before: before)
                    }
                case 5:
                    guard let p = pick else { continue }
                    let before = try await store.syncStampsOf(.task, p.id.rawValue)
                    let prio = Int(rng.next() % 5)
                    let desc = "d\(step)"
                    _ = try await store.update(
                        p.id, TaskPatch(description: desc, priority: try Priority(prio)), expectedVersion: nil)
                    try await record(
                        r, p.id, ["description": .string(desc), "priority": .int(Int64(prio))], before: before)
                case 6:
                    guard let p = pick, rng.next() % 2 == 0 else { continue }
                    _ = try await store.delete(p.id, cascade: true)
                case 7:
                    guard tasks.count >= 2 else { continue }
                    let a = tasks[Int(rng.next() % UInt64(tasks.count))]
                    let b = tasks[Int(rng.next() % UInt64(tasks.count))]
                    guard a.id != b.id else { continue }
                    _ = try await store.addDependency(a.id, dependsOn: b.id)
                case 8:
                    guard let p = pick, let dep = try await store.dependencies(of: p.id).blockedBy.first else {
                        continue
                    }
                    try await store.removeDependency(p.id, dependsOn: dep.id)
                case 9:
                    guard let p = pick else { continue }
                    // Values that only survive bit for bit: subnormals, negative zero, NaN-free extremes.
                    let v: [Float] = [
                        Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x807F_FFFF), -0.0,
                        .greatestFiniteMagnitude, Float(step),
                    ]
                    try await store.saveEmbeddings([
                        TaskEmbedding(taskId: p.id, model: "m", contentHash: "h\(step)", vector: v)
                    ])
                case 10:
                    // Proposals (a decomposition kept for review) and complexity data (in metadata).
                    guard let p = pick else { continue }
                    if rng.next() % 2 == 0,
                        let open = try await store.proposals(for: p.id).first(where: { $0.appliedAt == nil })
                    {
                        try await store.markProposalApplied(open.id)
                    } else {
                        try await store.saveProposal(
                            Proposal(
                                id: Proposal.newID(), taskId: p.id, kind: "decompose", model: "m", promptHash: "h",
                                body: ["subtasks": [["title": .string("s\(step)")]]], createdAt: .now()))
                        _ = try await store.update(
                            p.id, TaskPatch(metadata: ["complexity": ["score": .int(Int64(rng.next() % 10))]]),
                            expectedVersion: nil)
                    }
                case 14:
                    guard !down else { continue }
                    let remoteTasks = try await direct.listAll()
                    guard !remoteTasks.isEmpty else { continue }
                    var p = remoteTasks[Int(rng.next() % UInt64(remoteTasks.count))]
                    // Most often: a task this replica lists a conflict on, edited on the remote in
                    // another field, then pulled here and settled either way at once.
                    var target: (replica: Int, conflict: SyncConflict)?
                    for (i, s) in stores.enumerated() where target == nil {
                        if let k = try await s.syncConflicts().first(where: {
                            $0.entity == .task && $0.field != "description"
                        }) {
                            target = (i, k)
                        }
                    }
                    if let (i, k) = target, let t = remoteTasks.first(where: { $0.id.rawValue == k.key }),
                        rng.next() % 4 != 0
                    {
                        p = t
                        let desc = "direct-\(step)"
                        let before = try await direct.syncStampsOf(.task, p.id.rawValue)
                        _ = try await direct.update(p.id, TaskPatch(description: desc), expectedVersion: nil)
                        try await record(3, p.id, ["description": .string(desc)], before: before)
                        _ = try await engines[i].pull()
                        for k in try await stores[i].syncConflicts() {
                            _ = try await stores[i].syncResolve(
                                entity: k.entity, key: k.key, takeLocal: [k.field: rng.next() % 2 == 0])
                        }
                        continue
                    }
                    let before = try await direct.syncStampsOf(.task, p.id.rawValue)
                    if rng.next() % 2 == 0 {
                        let desc = "direct-\(step)"
                        _ = try await direct.update(p.id, TaskPatch(description: desc), expectedVersion: nil)
                        try await record(3, p.id, ["description": .string(desc)], before: before)
                    } else {
                        let title = "direct-title-\(step)"
                        _ = try await direct.update(p.id, TaskPatch(title: title), expectedVersion: nil)
                        try await record(3, p.id, ["title": .string(title)], before: before)
                    }
                case 12, 13:
                    // Metadata keys (a merge patch of one key): replicas setting different keys
                    // concurrently must all keep theirs.
                    guard let p = pick else { continue }
                    let key = "k\(rng.next() % 4)"
                    let v = JSONValue.string("\(r)-\(step)")
                    _ = try await store.update(p.id, TaskPatch(metadata: [key: v]), expectedVersion: nil)
                    metaWrites["\(p.id.rawValue)/\(key)", default: []].append(v)
                case 11:
                    // Notes (their own rows: concurrent notes all survive) and acceptance criteria.
                    guard let p = pick else { continue }
                    switch rng.next() % 5 {
                    case 0: _ = try await store.addNote(p.id, body: "note \(r)-\(step)")
                    case 3:
                        // Paths and evidence travel like every other field.
                        var patch = TaskPatch()
                        patch.addPaths = ["src/r\(r)/f\(step % 5).swift"]
                        _ = try await store.update(p.id, patch, expectedVersion: nil)
                    case 4:
                        var patch = TaskPatch()
                        patch.evidence = Evidence(commits: [String(format: "%07x", step * 7919 + r)], tokens: 10)
                        _ = try await store.update(p.id, patch, expectedVersion: nil)
                    case 1:
                        var patch = TaskPatch()
                        patch.addAcceptance = ["ac \(step)"]
                        _ = try await store.update(p.id, patch, expectedVersion: nil)
                    default:
                        guard !p.acceptance.isEmpty else { continue }
                        var patch = TaskPatch()
                        patch.check = [1 + Int(rng.next() % UInt64(p.acceptance.count)): rng.next() % 2 == 0]
                        _ = try await store.update(p.id, patch, expectedVersion: nil)
                    }
                default:
                    continue
                }
            } catch let err as MinskyError where [.invalidInput, .cycle, .notFound, .conflict].contains(err.code) {
                // A local edit the rules refuse (a cycle, a task deleted meanwhile): nothing to sync.
                continue
            } catch let err as MinskyError where op == 14 && err.code == .storeUnavailable {
                // The direct agent's kept connection died with a restart; its next edit reconnects.
                continue
            }
        }
        if down { try server.start() }

        // Final full sync: everyone pushes and pulls twice (the second round brings what others pushed).
        for _ in 0..<2 {
            for (i, e) in engines.enumerated() {
                _ = try await e.syncNow()
                try await collectConflicts(i)
            }
        }
        if strategy == .manual {
            // Settling a conflict may meet another replica's settlement of the same field (a new
            // true conflict, listed again); after a few rounds everyone takes the remote's value.
            for round in 0..<8 {
                var open = 0
                for (i, s) in stores.enumerated() {
                    let conflicts = try await s.syncConflicts()
                    open += conflicts.count
                    for k in conflicts {
                        let keep = round < 3 && rng.next() % 2 == 0
                        _ = try await s.syncResolve(entity: k.entity, key: k.key, takeLocal: [k.field: keep])
                    }
                    _ = try await engines[i].syncNow()
                    try await collectConflicts(i)
                }
                if open == 0 { break }
            }
            for e in engines { _ = try await e.syncNow() }
            for s in stores {
                #expect(try await s.syncConflicts().isEmpty, "seed \(seed): conflicts left after resolving")
            }
        }

        let remote = try await SyncEngine.openRemote(url)
        let truth = try await remote.syncSnapshot()
        let tasks = truth.filter { $0.key.hasPrefix("task/") }
        for (i, s) in stores.enumerated() {
            let mine = try await s.syncSnapshot()
            if mine != truth {
                let keys = Set(mine.keys).union(truth.keys).filter { mine[$0] != truth[$0] }.sorted().prefix(5)
                let detail = keys.map {
                    "\($0): replica \(mine[$0].map { "\($0)" } ?? "absent") remote \(truth[$0].map { "\($0)" } ?? "absent")"
                }
                Issue.record(
                    "seed \(seed) (\(strategy.rawValue)): replica \(i) differs from PostgreSQL in \(keys.count)+ rows: \(detail.joined(separator: "; "))"
                )
            }
            #expect(try await s.syncPendingCount() == 0, "seed \(seed): replica \(i) still has changes to push")
        }
        // The dependency graph is acyclic on the remote and on every replica, however the
        // replicas' edges interleaved (two halves of a cycle pushed from two replicas).
        for (i, s) in ([remote as any TaskStore] + stores.map { $0 as any TaskStore }).enumerated() {
            let edges = try await s.dependencyEdges(among: nil)
            var next: [TaskID: [TaskID]] = [:]
            for e in edges { next[e.taskId, default: []].append(e.dependsOn) }
            var state: [TaskID: Int] = [:]  // 1 visiting, 2 done
            func cyclic(_ n: TaskID) -> Bool {
                if state[n] == 1 { return true }
                if state[n] == 2 { return false }
                state[n] = 1
                defer { state[n] = 2 }
                return (next[n] ?? []).contains(where: cyclic)
            }
            #expect(!next.keys.contains(where: cyclic), "seed \(seed): store \(i) (0 = remote) has a dependency cycle")
        }
        // Metadata: a key only one write set is there; a key several replicas set holds one of their values.
        for (k, values) in metaWrites {
            let parts = k.split(separator: "/", maxSplits: 1).map(String.init)
            guard let row = tasks["task/" + parts[0]] else { continue }  // the task was deleted
            let final = row["metadata"]?[parts[1]]
            if strategy == .manual && final.map({ !values.contains($0) }) ?? true && !listed.isEmpty { continue }
            #expect(
                final.map(values.contains) == true,
                "seed \(seed) (\(strategy.rawValue)): metadata \(k) is \(final.map { "\($0)" } ?? "missing") after writes of \(values)"
            )
        }
        // Readiness counters are rebuilt from what arrived, equal to a recount.
        for s in stores {
            let ready = Set(try await s.nextReady(limit: 500).map(\.id))
            let edges = try await s.dependencyEdges(among: nil)
            let all = try await s.listAll()
            let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
            let expected = Set(
                all.filter { t in
                    t.status == .todo
                        && !edges.contains { $0.taskId == t.id && !(byID[$0.dependsOn]?.status.isResolved ?? true) }
                }.map(\.id))
            #expect(ready == expected, "seed \(seed): next-ready differs from a recount")
        }

        // The strategies' promises about writes.
        let grouped = Dictionary(grouping: writes) { "\($0.task)/\($0.field)" }
        for (key, ws) in grouped {
            guard let row = tasks["task/" + ws[0].task], let final = row[ws[0].field] else { continue }
            switch strategy {
            case .mergeFields:
                let latest = ws.max { $0.stamp < $1.stamp }!
                if final != latest.value {
                    Issue.record(
                        "seed \(seed) merge_fields: \(key) is \(final) but its latest write (\(latest.stamp)) was \(latest.value)"
                    )
                }
            case .manual:
                for w in ws where final != w.value && !listed.contains(w.stamp) {
                    let sameValue = Set(ws.filter { $0.value == w.value }.map(\.stamp))
                    let replaced = ws.contains { sameValue.contains($0.base) && $0.stamp > w.stamp }
                    if !replaced {
                        Issue.record(
                            "seed \(seed) manual: the write of \(w.value) to \(key) (\(w.stamp)) was lost without a conflict"
                        )
                    }
                }
            default:
                break
            }
        }
        for e in engines { await e.close() }
        for s in stores { await s.close() }
        await remote.close()
        await direct.close()
        try? await PostgresAdmin.execute(url: server.url, "DROP SCHEMA \(schema) CASCADE")
    }
}

/// The exact sequences that lost values on an earlier build, each through real stores: a SQLite
/// replica, PostgreSQL, and an agent writing to PostgreSQL directly.
@Suite(.serialized) struct SyncRegressionTests {
    func replicas(_ n: Int, strategy: SyncStrategy, url: String, dir: URL) async throws -> (
        [SQLiteTaskStore], [SyncEngine]
    ) {
        var stores: [SQLiteTaskStore] = []
        var engines: [SyncEngine] = []
        for i in 0..<n {
            let s = try SQLiteTaskStore(path: dir.appendingPathComponent("r\(i).db").path, create: true, actor: "r\(i)")
            let e = SyncEngine(local: s, openRemote: SyncEngine.openRemote)
            _ = try await e.enable(remoteURL: url, strategy: strategy, interval: nil)
            stores.append(s)
            engines.append(e)
        }
        return (stores, engines)
    }

    @Test(arguments: [false, true])
    func aListedConflictKeepsTheRemoteValueThroughLaterEditsOfOtherFields(takeLocal: Bool) async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let dir = try TestEnvironment.tempDirectory("sync-manual")
            defer { try? FileManager.default.removeItem(at: dir) }
            let (stores, engines) = try await replicas(1, strategy: .manual, url: url, dir: dir)
            let replica = stores[0]
            let direct = try await PostgresTaskStore.connect(url: url)
            let t = try await replica.create(NewTask(title: "original", description: "d0"))
            _ = try await engines[0].syncNow()
            // Both sides change the title: a conflict is listed on the replica.
            _ = try await direct.update(t.id, TaskPatch(title: "remote title"), expectedVersion: nil)
            _ = try await replica.update(t.id, TaskPatch(title: "local title"), expectedVersion: nil)
            _ = try await engines[0].syncNow()
            let listed = try await replica.syncConflicts()
            #expect(listed.map(\.field) == ["title"] && listed.first?.remote == "remote title", "\(listed)")
            // The remote edits another field (a partial log entry); the conflict keeps its value.
            _ = try await direct.update(t.id, TaskPatch(description: "d1"), expectedVersion: nil)
            _ = try await engines[0].syncNow()
            #expect(try await replica.syncConflicts().first?.remote == "remote title")
            #expect(try await replica.get(t.id).description == "d1")
            _ = try await replica.syncResolve(entity: .task, key: t.id.rawValue, takeLocal: ["title": takeLocal])
            _ = try await engines[0].syncNow()
            let expected = takeLocal ? "local title" : "remote title"
            #expect(try await replica.get(t.id).title == expected)
            #expect(try await direct.get(t.id).title == expected)
            #expect(try await replica.syncSnapshot() == (try await direct.syncSnapshot()))
            #expect(try await replica.syncConflicts().isEmpty)
            await direct.close()
            for e in engines { await e.close() }
        }
    }

    @Test(arguments: SyncStrategy.allCases)
    func twoReplicasSettingDifferentMetadataKeysKeepBoth(strategy: SyncStrategy) async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let dir = try TestEnvironment.tempDirectory("sync-meta")
            defer { try? FileManager.default.removeItem(at: dir) }
            let (stores, engines) = try await replicas(2, strategy: strategy, url: url, dir: dir)
            let t = try await stores[0].create(NewTask(title: "estimate me", metadata: ["kept": "yes"]))
            _ = try await engines[0].syncNow()
            _ = try await engines[1].syncNow()
            _ = try await stores[0].update(t.id, TaskPatch(metadata: ["owner": "alice"]), expectedVersion: nil)
            _ = try await stores[1].update(t.id, TaskPatch(metadata: ["estimate": 3]), expectedVersion: nil)
            for _ in 0..<2 { for e in engines { _ = try await e.syncNow() } }
            let want: JSONValue = ["kept": "yes", "owner": "alice", "estimate": 3]
            for s in stores { #expect(try await s.get(t.id).metadata == want, "\(strategy)") }
            for s in stores { #expect(try await s.syncConflicts().isEmpty, "\(strategy)") }
            // The same key set to different values: one of them wins, or (manual) it is listed.
            _ = try await stores[0].update(t.id, TaskPatch(metadata: ["owner": "bob"]), expectedVersion: nil)
            _ = try await stores[1].update(t.id, TaskPatch(metadata: ["owner": "carol"]), expectedVersion: nil)
            for _ in 0..<2 { for e in engines { _ = try await e.syncNow() } }
            let owners = try await stores.asyncMap { try await $0.get(t.id).metadata["owner"] }
            if strategy == .manual {
                #expect(try await stores[1].syncConflicts().map(\.field) == ["metadata"])
            } else {
                #expect(
                    owners[0] == owners[1] && ["bob", "carol"].contains(owners[0] ?? .null), "\(strategy): \(owners)")
            }
            for e in engines { await e.close() }
        }
    }

    @Test func twoReplicasEachAddingHalfACycleEndAcyclic() async throws {
        try await TestEnvironment.withPostgresSchema { url, _ in
            let dir = try TestEnvironment.tempDirectory("sync-cycle")
            defer { try? FileManager.default.removeItem(at: dir) }
            let (stores, engines) = try await replicas(2, strategy: .mergeFields, url: url, dir: dir)
            let a = try await stores[0].create(NewTask(title: "a"))
            let b = try await stores[0].create(NewTask(title: "b"))
            _ = try await engines[0].syncNow()
            _ = try await engines[1].syncNow()
            _ = try await stores[0].addDependency(a.id, dependsOn: b.id)
            _ = try await stores[1].addDependency(b.id, dependsOn: a.id)
            var refused: [SyncConflict] = []
            for _ in 0..<2 {
                for e in engines { refused += try await e.syncNow().push.conflicts }
            }
            #expect(refused.contains { $0.kind == .refused && $0.entity == .dependency }, "\(refused)")
            let remote = try await SyncEngine.openRemote(url)
            let truth = try await remote.dependencyEdges(among: nil)
            #expect(truth.count == 1, "\(truth)")
            for s in stores {
                #expect(try await s.dependencyEdges(among: nil).map(\.taskId) == truth.map(\.taskId))
            }
            await remote.close()
            for e in engines { await e.close() }
        }
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
