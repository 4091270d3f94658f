import MinskyCore

/// Applies a stored proposal whole or in part. Items already applied (found by title in the
/// root's subtree) are kept and linked to, so a proposal applied in parts ends with the same
/// structure as one applied at once; what a part cannot keep (a parent or blocker not applied
/// yet) is said. The proposal is marked applied once every item is.
public enum ProposalApplier {
    public struct Outcome: Sendable {
        public var root: TaskItem
        public var created: [TaskItem]
        /// What this part could not keep, in words.
        public var unkept: [String]
        /// Items of the proposal still to apply (0-based).
        public var remaining: [Int]
    }

    /// Each item's state: the task it was applied as, or nil.
    public static func state(_ p: Proposal, plan: DecompositionPlan, store: any MinskyStore) async throws -> [TaskItem?]
    {
        guard let root = p.taskId else { return Array(repeating: nil, count: plan.subtasks.count) }
        func key(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        var byTitle: [String: TaskItem] = [:]
        for t in try await store.subtree(root: root) where t.id != root && byTitle[key(t.title)] == nil {
            byTitle[key(t.title)] = t
        }
        return plan.subtasks.map { byTitle[key($0.title)] }
    }

    public static func apply(_ p: Proposal, only: [Int]?, store: any MinskyStore) async throws -> Outcome {
        if p.appliedAt != nil {
            throw MinskyError(.conflict, "proposal \(p.id) was already applied in full", field: "proposal")
        }
        let plan = try Decomposer.plan(fromBody: p.body)
        let n = plan.subtasks.count
        var applied = try await state(p, plan: plan, store: store)
        if let bad = only?.first(where: { !(0..<n).contains($0) }) {
            throw MinskyError.invalid("only", "the proposal has items 0…\(n - 1); there is no \(bad)")
        }
        if let only, let again = only.first(where: { applied[$0] != nil }), let t = applied[again] {
            throw MinskyError.invalid(
                "only", "item \(again) was already applied as \(t.id); leave it out (`tasks proposals show \(p.id)`)")
        }
        let chosen = (only.map { Array(Set($0)) } ?? Array(0..<n)).filter { applied[$0] == nil }.sorted()
        // The root: the task the proposal is for, or (a plan stored by a dry run) made now.
        let root: TaskItem
        if let id = p.taskId {
            root = try await store.get(id)
        } else {
            guard let title = p.body["root"]?["title"]?.stringValue else {
                throw MinskyError(.internal, "proposal \(p.id) has neither a task nor a root to make")
            }
            root = try await store.create(
                NewTask(title: title, description: p.body["root"]?["description"]?.stringValue ?? ""))
            try await store.attachProposal(p.id, to: root.id)
            applied = Array(repeating: nil, count: n)
        }
        let index = Dictionary(uniqueKeysWithValues: chosen.enumerated().map { ($1, $0) })
        var unkept: [String] = []
        let drafts = chosen.map { i -> NewTask in
            let s = plan.subtasks[i]
            var d = Decomposer.draft(s, under: root, model: plan.model)
            if let pi = s.parent {
                if let k = index[pi] {
                    d.batchParent = k
                } else if let t = applied[pi] {
                    d.parentId = t.id
                } else {
                    d.parentId = root.id
                    unkept.append("item \(i) goes under the root: its parent, item \(pi), is not applied yet")
                }
            } else {
                d.parentId = root.id
            }
            for di in s.dependsOn {
                if let k = index[di] {
                    d.batchDependsOn.append(k)
                } else if let t = applied[di] {
                    d.dependsOn.append(t.id)
                } else {
                    unkept.append("item \(i) does not wait for item \(di), which is not applied yet")
                }
            }
            return d
        }
        let created = drafts.isEmpty ? [] : try await store.createMany(drafts, progress: nil, isCancelled: { false })
        let before = applied
        for (k, i) in chosen.enumerated() where k < created.count { applied[i] = created[k] }
        // Items applied earlier get the links to what exists now: their blockers and parent.
        for (j, earlier) in before.enumerated() {
            guard let earlier else { continue }
            for di in plan.subtasks[j].dependsOn {
                if let k = index[di] { _ = try await store.addDependency(earlier.id, dependsOn: created[k].id) }
            }
            if let pi = plan.subtasks[j].parent, let k = index[pi] {
                _ = try await store.update(earlier.id, TaskPatch(parent: .set(created[k].id)), expectedVersion: nil)
            }
        }
        let remaining = applied.indices.filter { applied[$0] == nil }
        if remaining.isEmpty { try await store.markProposalApplied(p.id) }
        return Outcome(root: root, created: created, unkept: unkept, remaining: remaining)
    }
}
