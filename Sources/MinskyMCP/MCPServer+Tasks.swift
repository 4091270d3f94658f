import Dispatch
import Foundation
import MinskyCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663): a long tool call of a client
/// that declares the extension answers a task handle at once (`resultType: "task"`), runs in the
/// background, and is followed with `tasks/get`, moved on with `tasks/update` (answers to its
/// questions) and stopped with `tasks/cancel`. The job lives in the store (`JobStore`), so any
/// server on the same store answers for it, after a restart too; a job whose runner died is
/// reported failed (its heartbeat stopped, or its process is gone), never `working` forever.
extension MCPServer {
    static let tasksExtension = "io.modelcontextprotocol/tasks"

    /// Starts `tool` as a job: stored first (so `tasks/get` finds it the moment the handle is
    /// answered), then run in the background. Returns the `CreateTaskResult`.
    func startJob(_ tool: Tool, _ args: [String: JSONValue], caller: Caller) async throws -> JSONValue {
        let store = try await storeProvider()
        _ = try? await store.deleteExpiredJobs(now: .now())
        var job = Job(
            id: Job.newID(), tool: tool.name, arguments: .object(args), message: "started", createdAt: .now())
        job.client = [
            "name": .string(caller.clientName), "sampling": .bool(caller.canSample),
            "elicitation": .bool(caller.canElicit),
        ]
        job.runner = JobControl.runnerID
        job.heartbeatAt = job.createdAt
        do { try await store.createJob(job) } catch let e as MinskyError {
            throw RPCError(code: .internalError, message: "the task could not be stored: \(e.message)")
        }
        run(job, fresh: [:])
        var o = JobControl.json(job).objectValue ?? [:]
        o["resultType"] = "task"
        return .object(o)
    }

    /// Runs a job in the background of this process: heartbeats (which also pick up a
    /// cancellation requested through any server), progress as the status message, and the
    /// outcome written back only while the job is still this runner's and still working.
    func run(_ job: Job, fresh: [String: JSONValue]) {
        guard let tool = toolIndex[job.tool] else { return }
        let caller = Caller(
            modern: true, protocolVersion: Self.modernProtocolVersions[0],
            clientName: job.client["name"]?.stringValue ?? "agent", canSample: job.client["sampling"] == true,
            canElicit: job.client["elicitation"] == true, logLevel: nil)
        var earlier = job.inputResponses?.objectValue ?? [:]
        for k in fresh.keys { earlier[k] = nil }
        let trip = RoundTrip(earlier: earlier, fresh: fresh)
        let latest = LatestMessage()
        let progress: @Sendable (Double, Double?, String?) -> Void = { done, total, message in
            let text = message ?? "working"
            latest.value.withLock { $0 = total.map { "\(text) (\(Int(done)) of \(Int($0)))" } ?? text }
        }
        jobGroup.enter()
        let work = Task { [self] () -> Void in
            defer { jobGroup.leave() }
            let store: any MinskyStore
            do { store = try await storeProvider() } catch { return }
            let runner = Task {
                try await execute(
                    tool, job.arguments.objectValue ?? [:], caller: caller, trip: trip, progress: progress)
            }
            state.withLock { $0.runningJobs[job.id] = runner }
            // The heartbeat: every couple of seconds, with the latest progress; a cancellation
            // requested anywhere stops the work.
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(JobControl.heartbeatSeconds))
                    if Task.isCancelled { break }
                    let message = latest.value.withLock { m -> String? in
                        defer { m = nil }
                        return m
                    }
                    if (try? await store.touchJob(job.id, runner: JobControl.runnerID, message: message)) == true {
                        runner.cancel()
                    }
                }
            }
            var next = job
            next.runner = nil
            next.heartbeatAt = .now()
            next.updatedAt = .now()
            next.inputResponses = .object(trip.answers)
            do {
                switch try await runner.value {
                case .result(let r):
                    next.status = .completed
                    next.result = Self.complete(r)
                    next.message = r["isError"] == true ? "finished with an error" : "completed"
                case .inputRequired(let asked):
                    next.status = .inputRequired
                    next.inputRequests = .object(asked)
                    next.message = "waiting for the client's answers (tasks/update)"
                }
            } catch is CancellationError {
                next.status = .cancelled
                next.message = "cancelled"
            } catch let e as RPCError {
                next.status = .failed
                next.error = ["code": .int(e.code.rawValue), "message": .string(e.message)]
                next.message = e.message
            } catch {
                next.status = .failed
                next.error = ["code": .int(RPCCode.internalError.rawValue), "message": "internal error"]
                next.message = "internal error"
            }
            beat.cancel()
            state.withLock { _ = $0.runningJobs.removeValue(forKey: job.id) }
            _ = try? await store.saveJob(next, expecting: .working)
        }
        _ = work
    }

    func jobParam(_ params: [String: JSONValue], _ method: String) throws -> String {
        guard let id = params["taskId"]?.stringValue, !id.isEmpty else {
            throw RPCError(code: .invalidParams, message: "\(method) needs taskId (the string a task handle gave)")
        }
        return id
    }

    func loadJob(_ id: String) async throws -> (Job, any MinskyStore) {
        let store = try await storeProvider()
        do { return (try await JobControl.load(id, store: store), store) } catch let e as MinskyError
            where e.code == .notFound
        {
            throw RPCError(
                code: .invalidParams, message: "unknown task \(id.prefix(60))", data: ["taskId": .string(id)])
        }
    }

    func tasksGet(_ params: [String: JSONValue]) async throws -> JSONValue {
        let (job, _) = try await loadJob(try jobParam(params, "tasks/get"))
        return JobControl.json(job)
    }

    /// Answers to a job's questions: kept with it, and once none is outstanding the job runs
    /// again (here, whichever server took the update), from the start with every answer.
    func tasksUpdate(_ params: [String: JSONValue]) async throws -> JSONValue {
        let id = try jobParam(params, "tasks/update")
        let answers = try Self.inputResponses(params)
        let (job, store) = try await loadJob(id)
        guard job.status == .inputRequired else { return .object([:]) }  // nothing outstanding: ignored
        let outstanding = job.inputRequests?.objectValue ?? [:]
        let useful = answers.filter { outstanding[$0.key] != nil }
        guard !useful.isEmpty else { return .object([:]) }
        var next = job
        var all = job.inputResponses?.objectValue ?? [:]
        all.merge(useful) { _, b in b }
        next.inputResponses = .object(all)
        let left = outstanding.filter { all[$0.key] == nil }
        if left.isEmpty {
            next.status = .working
            next.inputRequests = nil
            next.message = "resumed with the client's answers"
            next.runner = JobControl.runnerID
            next.heartbeatAt = .now()
        } else {
            next.inputRequests = .object(left)
        }
        next.updatedAt = .now()
        if try await store.saveJob(next, expecting: .inputRequired), next.status == .working {
            run(next, fresh: useful)
        }
        return .object([:])
    }

    /// Cancellation is cooperative: the request is stored; a job this process runs stops now,
    /// one elsewhere at its runner's next heartbeat; one waiting for answers ends at once.
    func tasksCancel(_ params: [String: JSONValue]) async throws -> JSONValue {
        let id = try jobParam(params, "tasks/cancel")
        let (_, store) = try await loadJob(id)
        _ = try await JobControl.cancel(id, store: store)
        if let running = state.withLock({ $0.runningJobs[id] }) { running.cancel() }
        return .object([:])
    }

    /// Jobs still running here when the server stops: given a moment, then stopped and reported.
    func stopJobs() async {
        let running = state.withLock { $0.runningJobs }
        guard !running.isEmpty, let store = try? await storeProvider() else { return }
        for (id, task) in running {
            task.cancel()
            guard var job = try? await store.job(id), job.status == .working else { continue }
            job.status = .failed
            job.message = "the server stopped (end of input or a signal) before this task finished; call the tool again"
            job.error = ["code": .int(RPCCode.internalError.rawValue), "message": .string(job.message ?? "")]
            job.runner = nil
            job.updatedAt = .now()
            _ = try? await store.saveJob(job, expecting: .working)
        }
    }

    /// `notifications/tasks` to every subscription that asked for this task (sent by the job
    /// watcher, which sees every change wherever it was made).
    func announceJob(_ job: Job) async {
        let listeners = state.withLock { $0.listeners.values.filter { $0.taskIds.contains(job.id) } }
        for l in listeners {
            var p = JobControl.json(job).objectValue ?? [:]
            p["_meta"] = [Meta.subscriptionId: l.id]
            sendOnListener(l, "notifications/tasks", .object(p))
        }
    }

    /// Follows the jobs subscriptions asked for, wherever they run: a change of status or
    /// message (read from the store, so another server's work shows too) is announced.
    func startWatchingJobs() {
        let start = state.withLock { s -> Bool in
            if s.watchingJobs { return false }
            s.watchingJobs = true
            return true
        }
        guard start else { return }
        Task { [self] in
            var seen: [String: Timestamp] = [:]
            while true {
                let ids = state.withLock { s in Set(s.listeners.values.flatMap(\.taskIds)) }
                if ids.isEmpty || state.withLock({ $0.shuttingDown }) {
                    state.withLock { $0.watchingJobs = false }
                    return
                }
                if let store = try? await storeProvider() {
                    for id in ids {
                        guard let j2 = try? await JobControl.load(id, store: store) else { continue }
                        if seen[id] != j2.updatedAt {
                            if seen[id] != nil { await announceJob(j2) }
                            seen[id] = j2.updatedAt
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(Int(JobControl.pollIntervalMs) / 2))
            }
        }
    }
}

/// The latest progress of a job, kept until its next heartbeat writes it.
final class LatestMessage: Sendable {
    let value = Mutex<String?>(nil)
}

/// What every server and the CLI do with a job: read it (a dead runner's job reported failed),
/// cancel it, show it the way the Tasks extension does.
public enum JobControl {
    /// How often clients are asked to poll, and how often a runner says it is alive.
    public static let pollIntervalMs: Int64 = 1000
    static let heartbeatSeconds: Double = 2
    /// A working job whose runner has not been heard of for this long is reported failed.
    static let staleAfterMs: Int64 = 15_000

    /// This process as a job runner: host, pid, and a token that tells two lives of a pid apart.
    static let runnerID: String = {
        var g = SystemRandomNumberGenerator()
        return
            "\(ProcessInfo.processInfo.hostName):\(getpid()):\(String(UInt32.random(in: 0...UInt32.max, using: &g), radix: 36))"
    }()

    /// The task as the extension shows it (`DetailedTask`: with its result, error or questions).
    public static func json(_ j: Job) -> JSONValue {
        var o: [String: JSONValue] = [
            "taskId": .string(j.id), "status": .string(j.status.rawValue), "createdAt": .string(j.createdAt.iso8601),
            "lastUpdatedAt": .string(j.updatedAt.iso8601), "ttlMs": .int(j.ttlMs),
            "pollIntervalMs": .int(pollIntervalMs),
        ]
        if let m = j.message { o["statusMessage"] = .string(m) }
        switch j.status {
        case .completed: o["result"] = j.result ?? .object([:])
        case .failed: o["error"] = j.error ?? ["code": -32603, "message": "failed"]
        case .inputRequired: o["inputRequests"] = j.inputRequests ?? .object([:])
        case .working, .cancelled: break
        }
        return .object(o)
    }

    /// The job as it stands: a working one whose runner is gone is stored and returned as failed.
    public static func load(_ id: String, store: any MinskyStore) async throws -> Job {
        await reapIfDead(try await store.job(id), store: store)
    }

    /// A working job whose runner is gone (its process no longer exists on this host, or its
    /// heartbeat stopped), reported as failed with the reason.
    public static func reapIfDead(_ j: Job, store: any MinskyStore) async -> Job {
        guard j.status == .working, let runner = j.runner, runner != runnerID else { return j }
        let parts = runner.split(separator: ":")
        var dead: String?
        if parts.count == 3, String(parts[0]) == ProcessInfo.processInfo.hostName, let pid = Int32(parts[1]),
            kill(pid, 0) != 0 && errno == ESRCH
        {
            dead = "the server running this task (process \(pid)) stopped before it finished"
        } else if let beat = j.heartbeatAt, Timestamp.now().microseconds - beat.microseconds > staleAfterMs * 1000 {
            dead =
                "the server running this task (\(parts.prefix(2).joined(separator: " pid "))) has not been heard from since \(beat.iso8601)"
        }
        guard let dead else { return j }
        var failed = j
        failed.status = .failed
        failed.message = dead + "; call the tool again"
        failed.error = [
            "code": .int(RPCCode.internalError.rawValue), "message": .string(dead + "; call the tool again"),
        ]
        failed.runner = nil
        failed.updatedAt = .now()
        if (try? await store.saveJob(failed, expecting: .working)) == true { return failed }
        return (try? await store.job(j.id)) ?? j
    }

    /// Asks the job to stop (its runner stops at its next heartbeat, wherever it runs); a job
    /// waiting for answers ends at once. Returns the job as it stands after.
    @discardableResult
    public static func cancel(_ id: String, store: any MinskyStore) async throws -> Job {
        let job = try await load(id, store: store)
        guard !job.status.isTerminal else { return job }
        try await store.requestJobCancel(id)
        if job.status == .inputRequired {
            var next = job
            next.status = .cancelled
            next.message = "cancelled"
            next.inputRequests = nil
            next.updatedAt = .now()
            if try await store.saveJob(next, expecting: .inputRequired) { return next }
        }
        return try await store.job(id)
    }
}
