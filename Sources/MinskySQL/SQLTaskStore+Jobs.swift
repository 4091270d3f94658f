import MinskyCore

extension SQLTaskStore {
    var jobColumns: String {
        [
            "id", "tool", d.select("arguments", as: .json), d.select("client", as: .json), "status", "message",
            d.select("result", as: .json),
            d.select("error", as: .json), d.select("input_requests", as: .json), d.select("input_responses", as: .json),
            "runner", d.select("heartbeat_at", as: .timestamp), "cancel_requested", "actor",
            d.select("created_at", as: .timestamp), d.select("updated_at", as: .timestamp), "ttl_ms",
        ].joined(separator: ", ")
    }

    static func decodeJob(_ r: SQLRow) throws -> Job {
        func json(_ name: String) throws -> JSONValue? {
            let v = try r.value(name)
            if v.isNull { return nil }  // (a ternary's nil would be JSON null)
            return try r.json(name)
        }
        guard let status = Job.Status(rawValue: try r.text("status")) else {
            throw MinskyError(.internal, "a stored job has an unknown status '\(try r.text("status"))'")
        }
        var j = Job(
            id: try r.text("id"), tool: try r.text("tool"), arguments: try r.json("arguments"), status: status,
            message: try r.optionalText("message"), actor: try r.text("actor"),
            createdAt: try r.timestamp("created_at"),
            ttlMs: try r.int("ttl_ms"))
        j.client = try r.json("client")
        j.result = try json("result")
        j.error = try json("error")
        j.inputRequests = try json("input_requests")
        j.inputResponses = try json("input_responses")
        j.runner = try r.optionalText("runner")
        j.heartbeatAt = try r.optionalTimestamp("heartbeat_at")
        j.cancelRequested = try r.int("cancel_requested") != 0
        j.updatedAt = try r.timestamp("updated_at")
        return j
    }

    func optionalJSON(_ v: JSONValue?) -> SQL {
        v.map { "\(json: $0)" } ?? "\(SQLValue.null, as: .json)"
    }

    public func createJob(_ job: Job) async throws {
        try await write { [self] c in
            let who: SQL = d.databaseActor.map { SQL(raw: $0) } ?? "\(text: job.actor.isEmpty ? actor : job.actor)"
            try c.execute(
                """
                INSERT INTO mcp_jobs (id, tool, arguments, client, status, message, runner, heartbeat_at, actor, created_at, \
                updated_at, ttl_ms) VALUES (\(text: job.id), \(text: job.tool), \(json: job.arguments), \(json: job.client), \
                \(text: job.status.rawValue), \(text: job.message), \(text: job.runner), \(job.heartbeatAt), \(who), \
                \(job.createdAt), \(job.updatedAt), \(int: job.ttlMs))
                """)
        }
    }

    public func job(_ id: String) async throws -> Job {
        try await boundedRead { [self] c in
            guard let row = try c.query("SELECT \(raw: jobColumns) FROM mcp_jobs WHERE id = \(text: id)").first else {
                throw MinskyError(.notFound, "no job \(id.prefix(60)); `minsky jobs` lists them", field: "taskId")
            }
            return try Self.decodeJob(row)
        }
    }

    public func jobs(limit: Int) async throws -> [Job] {
        try await read { [self] c in
            try c.query(
                "SELECT \(raw: jobColumns) FROM mcp_jobs ORDER BY created_at DESC, id DESC LIMIT \(raw: String(max(1, limit)))"
            ).map(Self.decodeJob)
        }
    }

    /// (A cancellation requested meanwhile is kept: the writer's copy may predate it.)
    public func saveJob(_ job: Job, expecting: Job.Status) async throws -> Bool {
        let now = now()
        return try await write { [self] c in
            try c.execute(
                """
                UPDATE mcp_jobs SET status = \(text: job.status.rawValue), message = \(text: job.message), \
                result = \(optionalJSON(job.result)), error = \(optionalJSON(job.error)), \
                input_requests = \(optionalJSON(job.inputRequests)), input_responses = \(optionalJSON(job.inputResponses)), \
                runner = \(text: job.runner), heartbeat_at = \(job.heartbeatAt), \
                cancel_requested = \(raw: job.cancelRequested ? "1" : "cancel_requested"), updated_at = \(max(now, job.updatedAt)) \
                WHERE id = \(text: job.id) AND status = \(text: expecting.rawValue)
                """) == 1
        }
    }

    public func touchJob(_ id: String, runner: String, message: String?) async throws -> Bool {
        let now = now()
        return try await write { c in
            let keep: SQL = message == nil ? "message" : "\(text: message)"
            try c.execute(
                """
                UPDATE mcp_jobs SET heartbeat_at = \(now), message = \(keep), updated_at = \(now) \
                WHERE id = \(text: id) AND runner = \(text: runner) AND status = 'working'
                """)
            return try c.query("SELECT cancel_requested FROM mcp_jobs WHERE id = \(text: id)").first?[0].int == 1
        }
    }

    public func requestJobCancel(_ id: String) async throws {
        let now = now()
        try await write { c in
            let n = try c.execute(
                "UPDATE mcp_jobs SET cancel_requested = 1, updated_at = \(now) WHERE id = \(text: id)")
            if n == 0 {
                throw MinskyError(.notFound, "no job \(id.prefix(60)); `minsky jobs` lists them", field: "taskId")
            }
        }
    }

    @discardableResult
    public func deleteExpiredJobs(now: Timestamp) async throws -> Int {
        // A job's time to live counts from its creation (kept as microseconds since the epoch).
        let horizon = Timestamp(microseconds: now.microseconds - Job.defaultTTLMs * 1000)
        return try await write { c in
            try c.execute("DELETE FROM mcp_jobs WHERE created_at < \(horizon)")
        }
    }
}
