import Foundation

extension TaskStore where Self: HistoryStore & NoteStore {
    /// Everything an agent needs to start on a task, in one answer cut to `budgetTokens` (about
    /// 4 characters each): the task and its acceptance criteria, its unfinished blockers, claims
    /// of others on its paths, the newest notes, and recent changes to it and around it (parent,
    /// blockers, subtasks). What does not fit is counted under `omitted`, with how to read it.
    public func brief(
        _ id: TaskID, budgetTokens: Int = ChangeDigest.defaultBudgetTokens, now: Timestamp = .now()
    ) async throws -> JSONValue {
        guard (200...50_000).contains(budgetTokens) else {
            throw MinskyError.invalid("budgetTokens", "budgetTokens \(budgetTokens) is out of range; use 200 to 50000")
        }
        let budget = budgetTokens * 4
        let (t, deps) = try await details(id)
        var task: [String: JSONValue] = [
            "id": .string(t.id.rawValue), "title": .string(t.title), "status": .string(t.status.rawValue),
            "priority": .int(Int64(t.priority.value)), "version": .int(t.version),
        ]
        if !t.tags.isEmpty { task["tags"] = .array(t.tags.map { .string($0) }) }
        if let a = t.assignee { task["assignee"] = .string(a) }
        if let e = t.claimExpiresAt { task["claimExpiresAt"] = .string(e.iso8601) }
        if !t.paths.isEmpty { task["paths"] = .array(t.paths.map { .string($0) }) }
        if !t.acceptance.isEmpty { task["acceptance"] = AcceptanceCriterion.json(t.acceptance) }
        if !t.evidence.isEmpty { task["evidence"] = .string(t.evidence.summary) }
        if let p = t.parentId, let parent = try? await get(p) {
            task["parent"] = ["id": .string(p.rawValue), "title": .string(parent.title)]
        }
        var out: [String: JSONValue] = ["task": .object(task)]
        var omitted: [String: JSONValue] = [:]
        // Room kept for `omitted` and the budget itself, added last.
        func size() -> Int { JSONValue.object(out).canonicalJSON().count + 450 }

        // Each section gets a share of the budget, so one long part cannot crowd out the rest:
        // the description 35%, blockers and others' claims 15% each, notes 30%, recent changes
        // what is left.
        let room = max(0, min(budget * 35 / 100, budget - size()))
        if !t.description.isEmpty {
            if t.description.count <= room {
                task["description"] = .string(t.description)
            } else {
                task["description"] = .string(String(t.description.prefix(room)) + "…")
                omitted["descriptionCharacters"] = .int(Int64(t.description.count - room))
            }
            out["task"] = .object(task)
        }

        // Unfinished blockers, then others' claims on its paths: short, and what blocks work.
        var blockers: [JSONValue] = []
        for e in deps.blockedBy where !e.status.isResolved {
            var b: [String: JSONValue] = [
                "id": .string(e.id.rawValue), "title": .string(e.title), "status": .string(e.status.rawValue),
            ]
            if let a = (try? await get(e.id))?.assignee { b["assignee"] = .string(a) }
            blockers.append(.object(b))
        }
        func fill(_ key: String, _ items: [JSONValue], omittedKey: String, share: Int = 100) {
            var kept: [JSONValue] = []
            let limit = min(budget, size() + budget * share / 100)
            for (n, item) in items.enumerated() {
                out[key] = .array(kept + [item])
                if size() > limit {
                    out[key] = kept.isEmpty ? nil : .array(kept)
                    omitted[omittedKey] = .int(Int64(items.count - n))
                    return
                }
                kept.append(item)
            }
        }
        fill("blockers", blockers, omittedKey: "blockers", share: 15)
        let leases = PathLease.conflicts(of: t.paths, task: t.id, owner: t.assignee, among: try await pathLeases())
        fill(
            "pathsHeldByOthers",
            leases.map(\.json), omittedKey: "pathsHeldByOthers", share: 15)

        // Notes, newest first.
        let notes = try await self.notes(of: id).reversed().map { n -> JSONValue in
            ["author": .string(n.author), "at": .string(n.createdAt.iso8601), "body": .string(n.body)]
        }
        fill("notes", Array(notes), omittedKey: "notes", share: 30)

        // Recent changes to it and around it, newest first.
        var around: [TaskID] = [id]
        if let p = t.parentId { around.append(p) }
        around += deps.blockedBy.filter { !$0.status.isResolved }.map(\.id)
        around += try await subtree(root: id).dropFirst().filter { !$0.status.isResolved }.prefix(10).map(\.id)
        var events: [TaskEvent] = []
        for a in around { events += try await latestHistory(of: a, limit: 10) }
        events.sort { ($0.at, $0.id) > ($1.at, $1.id) }
        fill(
            "recentChanges",
            events.filter { $0.kind != "heartbeat" }.map { e in
                .string("\(e.at.iso8601.prefix(19))Z \(e.actor) \(e.taskId == id ? "" : "[\(e.taskId)] ")\(e.words)")
            }, omittedKey: "recentChanges")

        if !omitted.isEmpty {
            omitted["read"] = .string(
                "get_task \(id) (full description, notes), task_history \(id) (every change); CLI: minsky tasks get \(id), minsky tasks history \(id)"
            )
            out["omitted"] = .object(omitted)
        }
        out["budgetTokens"] = .int(Int64(budgetTokens))
        return .object(out)
    }
}
