import Foundation
import MinskyApp
import MinskyCore
import MinskyTestSupport
import Synchronization
import Testing

/// Many agents at once: 32 `minsky mcp` processes, 200 operations each, on the same 20 tasks
/// (creates, updates with expected versions, claims, heartbeats and releases of one-second
/// leases, so claims lapse and are taken over during the run). Afterwards, from the store and its
/// history: every acknowledged create exists, no task ever had two live owners, every task's
/// version is one plus the changes recorded for it, and no caller saw anything but the domain's
/// own refusals (no "database is locked", serialization failure or deadlock).
@Suite("Stress: 32 agents on one store")
struct StressTests {
    static let processes = 32
    static let operations = 200
    static let sharedTasks = 20

    struct Outcome: Sendable {
        var created: [String] = []
        var ok = 0
        var refused: [String: Int] = [:]
        var failures: [String] = []
    }

    @Test(arguments: StoreKind.allCases)
    func manyAgentsNeverOverwriteEachOther(kind: StoreKind) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-stress")
        defer { try? FileManager.default.removeItem(at: dir) }
        switch kind {
        case .sqlite:
            let r = try await runProcess(Binaries.minsky, ["init"], cwd: dir)
            #expect(r.status == 0, "\(r.stderr)")
            try await storm(dir: dir, env: [:], location: dir.appendingPathComponent(".minsky/tasks.db").path)
        case .postgres:
            try await TestEnvironment.withPostgresSchema { url, _ in
                try await storm(dir: dir, env: ["MINSKY_DB": url], location: url)
            }
        }
    }

    func storm(dir: URL, env: [String: String], location: String) async throws {
        let servers = try (0..<Self.processes).map { _ in try MCPProcess(cwd: dir, env: env) }
        defer { for s in servers { s.terminate() } }
        for s in servers { _ = s.initialize() }
        let titles: [JSONValue] = (0..<Self.sharedTasks).map { ["title": .string("shared \($0)")] }
        let made = servers[0].call("create_tasks", ["tasks": .array(titles)])
        let shared = made?["structuredContent"]?["created"]?.arrayValue?.compactMap { $0.stringValue } ?? []
        #expect(shared.count == Self.sharedTasks)

        // One thread per agent process (the calls block on pipes; none runs on the cooperative pool).
        let outcomes = Mutex([Outcome](repeating: Outcome(), count: Self.processes))
        let started = Date()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for (i, server) in servers.enumerated() {
                group.enter()
                let t = Thread {
                    let o = Self.agent(i, server, shared: shared)
                    outcomes.withLock { $0[i] = o }
                    group.leave()
                }
                t.stackSize = 1 << 20
                t.start()
            }
            group.notify(queue: .global()) { done.resume() }
        }
        let seconds = Date().timeIntervalSince(started)
        let all = outcomes.withLock { $0 }
        let failures = all.flatMap(\.failures)
        #expect(failures.isEmpty, "\(failures.count) calls failed unexpectedly, e.g. \(failures.prefix(3))")
        let ok = all.map(\.ok).reduce(0, +)
        let refused = all.reduce(into: [String: Int]()) { acc, o in acc.merge(o.refused, uniquingKeysWith: +) }
        print(
            "stress \(location.hasPrefix("postgres") ? "postgres" : "sqlite"): \(Self.processes)×\(Self.operations) in \(String(format: "%.1f", seconds)) s, \(ok) succeeded, refused \(refused)"
        )
        #expect(ok > Self.processes * Self.operations / 4, "too little succeeded: \(ok), refused \(refused)")

        // The store afterwards, read directly.
        let store = try await StoreSelection.resolve(flag: location, environment: [:], cwd: dir).open()
        try await cleaningUp({ await store.close() }) {
            let created = all.flatMap(\.created)
            for id in created { _ = try await store.get(try TaskID(validating: id)) }
            #expect(try await store.count() == Self.sharedTasks + created.count)
            var takeovers = 0
            for id in shared {
                let task = try await store.get(try TaskID(validating: id))
                var events: [TaskEvent] = []
                var cursor: String?
                repeat {
                    let page = try await store.history(of: task.id, limit: 500, cursor: cursor)
                    events += page.events
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(events.first?.kind == "created")
                // Versions add up: every later event is exactly one new version.
                #expect(task.version == Int64(events.count), "\(id): version \(task.version), \(events.count) events")
                // Never two live owners: a claim only ever replaced a claim that had lapsed.
                for e in events where e.kind == "claimed" {
                    let before = e.changes["assignee"]?["before"]?.stringValue
                    let after = e.changes["assignee"]?["after"]?.stringValue
                    guard let before, let after, before != after else { continue }
                    let expiry = e.changes["claimExpiresAt"]?["before"]?.stringValue.flatMap(Timestamp.init(iso8601:))
                    takeovers += 1
                    #expect(
                        expiry.map { $0 <= e.at } ?? false,
                        "\(id): \(after) took a claim \(before) held until \(expiry?.iso8601 ?? "forever") at \(e.at.iso8601)"
                    )
                }
            }
            // Leases of one second lapse during the run: the check above really ran.
            #expect(takeovers > 0)
            print("stress: \(takeovers) lapsed claims taken over, none live")
        }
    }

    /// One agent's 200 operations; the choices are seeded by its number, so a run can be replayed.
    static func agent(_ i: Int, _ server: MCPProcess, shared: [String]) -> Outcome {
        var rng = SplitMix64(seed: UInt64(i + 1) * 0x9E37_79B9)
        var o = Outcome()
        let owner = JSONValue.string("agent-\(i)")
        func record(_ what: String, _ result: JSONValue?, allowed: Set<String>) -> JSONValue? {
            guard let result, result["isError"] != nil else {
                o.failures.append("\(what): no result \(result?.canonicalJSON().prefix(200) ?? "nil")")
                return nil
            }
            if result["isError"] == false {
                o.ok += 1
                return result["structuredContent"]
            }
            let text = result["content"]?.arrayValue?.first?["text"]?.stringValue ?? ""
            let code = String(text.prefix { $0 != ":" })
            if allowed.contains(code) {
                o.refused[code, default: 0] += 1
            } else {
                o.failures.append("\(what): \(text.prefix(200))")
            }
            return nil
        }
        for n in 0..<operations {
            let id = JSONValue.string(shared[Int(rng.next() % UInt64(shared.count))])
            switch rng.next() % 20 {
            case 0..<3:
                if let made = record(
                    "create", server.call("create_task", ["title": .string("agent \(i) task \(n)")]), allowed: [])
                {
                    o.created.append(made["id"]?.stringValue ?? "")
                }
            case 3..<8:
                guard let current = record("get", server.call("get_task", ["id": id]), allowed: []) else { continue }
                let version = current["task"]?["version"] ?? .null
                _ = record(
                    "update",
                    server.call(
                        "update_task",
                        ["id": id, "title": .string("edited by agent \(i) at \(n)"), "expectedVersion": version]),
                    allowed: ["conflict"])
            case 8..<13:
                _ = record(
                    "claim", server.call("claim_task", ["id": id, "owner": owner, "ttlSeconds": 1]),
                    allowed: ["already_claimed"])
            case 13..<16:
                _ = record(
                    "heartbeat",
                    server.call("claim_task", ["id": id, "owner": owner, "action": "heartbeat", "ttlSeconds": 1]),
                    allowed: ["conflict"])
            default:
                _ = record(
                    "release", server.call("claim_task", ["id": id, "owner": owner, "action": "release"]),
                    allowed: ["conflict"])
            }
        }
        return o
    }
}
