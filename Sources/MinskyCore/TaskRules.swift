import Foundation

/// Domain rules every store applies the same way: validation of input and how a patch changes a task.
public enum TaskRules {
    public static let maxTitleCharacters = 500
    public static let maxDescriptionBytes = 4 * 1024 * 1024
    public static let maxTags = 64
    public static let maxTagCharacters = 64
    public static let maxMetadataBytes = 256 * 1024
    public static let maxAssigneeCharacters = 200
    public static let maxCriteria = 100
    public static let maxCriterionCharacters = 1_000
    public static let maxNoteBytes = 64 * 1024
    /// Claims last at most a year; longer is almost certainly a unit mistake.
    public static let maxClaimSeconds: Double = 366 * 86_400

    /// Text may hold any Unicode except NUL, which PostgreSQL text cannot store; refusing it
    /// on every store keeps both stores byte-identical.
    public static func checkText(_ s: String, field: String, max bytes: Int) throws {
        if s.utf8.contains(0) {
            throw MinskyError.invalid(
                field, "\(field) contains a NUL character (U+0000), which cannot be stored; remove it")
        }
        if s.utf8.count > bytes {
            throw MinskyError.invalid(field, "\(field) is \(s.utf8.count) bytes; the limit is \(bytes) bytes")
        }
    }

    public static func checkTitle(_ title: String) throws {
        try checkText(title, field: "title", max: maxTitleCharacters * 4)
        if title.trimmingWhitespace().isEmpty {
            throw MinskyError.invalid("title", "title is empty; give the task a short title")
        }
        if title.count > maxTitleCharacters {
            throw MinskyError.invalid(
                "title",
                "title is \(title.count) characters; the limit is \(maxTitleCharacters): put details in the description"
            )
        }
    }

    /// Trims, refuses empty or malformed tags, drops duplicates (keeping first order).
    public static func normalizeTags(_ tags: [String]) throws -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for raw in tags {
            let t = raw.trimmingWhitespace()
            try checkText(t, field: "tags", max: maxTagCharacters * 4)
            guard !t.isEmpty else {
                throw MinskyError.invalid("tags", "a tag is empty; tags are short words like backend")
            }
            guard t.count <= maxTagCharacters else {
                throw MinskyError.invalid(
                    "tags", "tag '\(t.prefix(20))…' is longer than \(maxTagCharacters) characters")
            }
            guard !t.contains(where: { $0.isWhitespace || $0 == "," }) else {
                throw MinskyError.invalid(
                    "tags", "tag '\(t)' contains a space or comma; use one word per tag, e.g. ui-polish")
            }
            if seen.insert(t).inserted { out.append(t) }
        }
        guard out.count <= maxTags else {
            throw MinskyError.invalid("tags", "\(out.count) tags; the limit is \(maxTags)")
        }
        return out
    }

    public static func checkMetadata(_ metadata: JSONValue) throws {
        guard case .object = metadata else {
            throw MinskyError.invalid(
                "metadata", "metadata must be a JSON object like {\"key\":\"value\"}, not \(metadata.typeName)")
        }
        let text = metadata.canonicalJSON()
        if text.utf8.count > maxMetadataBytes {
            throw MinskyError.invalid(
                "metadata", "metadata is \(text.utf8.count) bytes as JSON; the limit is \(maxMetadataBytes)")
        }
        if containsNUL(metadata) {
            throw MinskyError.invalid(
                "metadata", "metadata contains a NUL character (U+0000), which cannot be stored; remove it")
        }
    }

    static func containsNUL(_ v: JSONValue) -> Bool {
        switch v {
        case .string(let s): return s.utf8.contains(0)
        case .array(let a): return a.contains(where: containsNUL)
        case .object(let o): return o.contains { $0.key.utf8.contains(0) || containsNUL($0.value) }
        default: return false
        }
    }

    public static func checkAssignee(_ a: String) throws {
        try checkText(a, field: "owner", max: maxAssigneeCharacters * 4)
        guard !a.trimmingWhitespace().isEmpty, a.count <= maxAssigneeCharacters else {
            throw MinskyError.invalid(
                "owner", "owner must be 1-\(maxAssigneeCharacters) characters, e.g. claude@laptop")
        }
    }

    /// Validates a new task; returns it with tags normalized.
    /// Acceptance criteria: each a non-empty line of at most `maxCriterionCharacters`, at most `maxCriteria`.
    public static func checkAcceptance(_ list: [String]) throws {
        if list.count > maxCriteria {
            throw MinskyError.invalid(
                "acceptance", "\(list.count) acceptance criteria is too many; keep at most \(maxCriteria)")
        }
        for (i, text) in list.enumerated() {
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw MinskyError.invalid("acceptance", "acceptance criterion \(i + 1) is empty; write what must hold")
            }
            if text.count > maxCriterionCharacters {
                throw MinskyError.invalid(
                    "acceptance",
                    "acceptance criterion \(i + 1) has \(text.count) characters; keep it under \(maxCriterionCharacters) (details belong in the description)"
                )
            }
            try checkText(text, field: "acceptance", max: maxCriterionCharacters * 4)
        }
    }

    /// Guidance for a model (decompose, plan): it is repeated in prompts and in the instructions
    /// returned to an agent, so it is bounded like every other echoed input.
    public static let maxGuidanceCharacters = 4000

    /// The guidance, checked (nil stays nil).
    public static func checkGuidance(_ g: String?) throws -> String? {
        guard let g else { return nil }
        if g.count > maxGuidanceCharacters {
            throw MinskyError.invalid(
                "guidance",
                "guidance is \(g.count) characters; the limit is \(maxGuidanceCharacters): say what matters in fewer words, or put a long text in the task's description"
            )
        }
        return g
    }

    /// A note's text: not empty, at most `maxNoteBytes`.
    public static func checkNote(_ body: String) throws {
        if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw MinskyError.invalid(
                "note", "the note is empty; write its text, e.g. tasks note mk-1 \"found the cause\"")
        }
        try checkText(body, field: "note", max: maxNoteBytes)
    }

    /// The error for marking a task DONE while criteria are unchecked (the CLI, MCP and board
    /// refuse it unless forced), or nil when every criterion is checked.
    public static func uncheckedCriteriaError(_ t: TaskItem, status: TaskStatus) -> MinskyError? {
        let open = t.uncheckedCriteria
        guard status == .done, t.status != .done, !open.isEmpty else { return nil }
        let list = open.prefix(5).map { "\($0.number). \($0.text)" }.joined(separator: "; ")
        return MinskyError.invalid(
            "force",
            "task \(t.id) has \(open.count) unchecked acceptance criteri\(open.count == 1 ? "on" : "a") (\(list)\(open.count > 5 ? "; …" : "")); check them first (tasks check \(t.id) N) or force it (--force, force: true)"
        )
    }

    /// The error for marking `t` DONE when `requires` is not met (criteria unchecked, or no
    /// evidence that can be checked), or nil when it may be closed.
    public static func doneRefusal(_ t: TaskItem, status: TaskStatus, requires: DoneRequirement) -> MinskyError? {
        guard status == .done, t.status != .done, requires != .none else { return nil }
        if let e = uncheckedCriteriaError(t, status: status) { return e }
        guard requires == .evidence else { return nil }
        if !t.evidence.hasProof {
            return MinskyError.invalid(
                "evidence",
                "task \(t.id) has no evidence, and this project requires it for DONE (done.requires = evidence); close it with what shows the work: tasks done \(t.id) --commit SHA, --run \"swift test\" --exit 0, --tests \"239 passed\" or --link URL (MCP: set_status with evidence {commits, command, exitStatus, tests, links}), or force it (--force, force: true)"
            )
        }
        if t.evidence.failedCommand {
            return MinskyError.invalid(
                "evidence.exitStatus",
                "task \(t.id)'s evidence says `\(t.evidence.command ?? "the command")` exited \(t.evidence.exitStatus ?? 0), which does not show it done; record a run that exits 0 or force it (--force, force: true)"
            )
        }
        return nil
    }

    public static func validate(_ draft: NewTask) throws -> NewTask {
        var d = draft
        try checkTitle(d.title)
        try checkAcceptance(d.acceptance)
        d.paths = try TaskPaths.normalize(d.paths)
        try checkText(d.description, field: "description", max: maxDescriptionBytes)
        d.tags = try normalizeTags(d.tags)
        try checkMetadata(d.metadata)
        if let p = d.parentId, d.dependsOn.contains(p) {
            throw MinskyError.invalid(
                "dependsOn", "a subtask cannot depend on its own parent \(p); the parent is finished by its subtasks")
        }
        var seen = Set<TaskID>()
        d.dependsOn = d.dependsOn.filter { seen.insert($0).inserted }
        d.batchDependsOn = Array(Set(d.batchDependsOn)).sorted()
        return d
    }

    /// Validates a batch: every draft, and batch references that point only backwards.
    public static func validateBatch(_ drafts: [NewTask]) throws -> [NewTask] {
        try drafts.enumerated().map { i, raw in
            let d: NewTask
            do { d = try validate(raw) } catch var e as MinskyError {
                e.message = "task #\(i): \(e.message)"
                e.field = "tasks[\(i)].\(e.field ?? "")"
                throw e
            }
            for j in d.batchDependsOn + [d.batchParent].compactMap({ $0 }) where !(0..<i).contains(j) {
                throw MinskyError.invalid(
                    "tasks[\(i)]",
                    "task #\(i) refers to #\(j); batch references must point to an earlier task of the batch (0…\(i - 1))"
                )
            }
            if let p = d.batchParent, d.batchDependsOn.contains(p) {
                throw MinskyError.invalid(
                    "tasks[\(i)]",
                    "task #\(i) cannot wait for its own parent #\(p): the parent is finished by its subtasks")
            }
            if d.batchParent != nil && d.parentId != nil {
                throw MinskyError.invalid("tasks[\(i)]", "task #\(i) has both a parent id and a batch parent; give one")
            }
            return d
        }
    }

    /// Applies a validated patch to `task`. Status changes keep claims coherent: back to TODO
    /// releases the claim; DONE/CLOSED keep the assignee but end the claim's expiry.
    public static func apply(_ patch: TaskPatch, to task: TaskItem, now: Timestamp) throws -> TaskItem {
        guard !patch.isEmpty else {
            throw MinskyError.invalid("patch", "nothing to update; pass at least one field to change")
        }
        var t = task
        if let title = patch.title {
            try checkTitle(title)
            t.title = title
        }
        if let d = patch.description {
            try checkText(d, field: "description", max: maxDescriptionBytes)
            t.description = d
        }
        if let p = patch.priority { t.priority = p }
        if let tags = patch.tags { t.tags = try normalizeTags(tags) }
        if !patch.addTags.isEmpty { t.tags = try normalizeTags(t.tags + patch.addTags) }
        if !patch.removeTags.isEmpty {
            let remove = Set(try normalizeTags(patch.removeTags))
            t.tags.removeAll { remove.contains($0) }
        }
        if let m = patch.metadata {
            guard case .object = m else {
                throw MinskyError.invalid(
                    "metadata", "metadata must be a JSON object (a merge patch), not \(m.typeName)")
            }
            t.metadata = t.metadata.merging(patch: m)
            try checkMetadata(t.metadata)
        }
        switch patch.parent {
        case .set(let p):
            if p == t.id { throw MinskyError(.cycle, "task \(t.id) cannot be its own parent", field: "parent") }
            t.parentId = p
        case .clear: t.parentId = nil
        case nil: break
        }
        if let list = patch.acceptance {
            try checkAcceptance(list.map(\.text))
            t.acceptance = list
        }
        if !patch.addAcceptance.isEmpty {
            try checkAcceptance(t.acceptance.map(\.text) + patch.addAcceptance)
            t.acceptance += patch.addAcceptance.map { AcceptanceCriterion($0) }
        }
        for (n, done) in patch.check.sorted(by: { $0.key < $1.key }) {
            guard (1...max(1, t.acceptance.count)).contains(n), n <= t.acceptance.count else {
                throw MinskyError.invalid(
                    "number",
                    t.acceptance.isEmpty
                        ? "task \(t.id) has no acceptance criteria; add some with --ac \"…\""
                        : "task \(t.id) has \(t.acceptance.count) acceptance criteri\(t.acceptance.count == 1 ? "on" : "a"); number \(n) is not one of 1…\(t.acceptance.count)"
                )
            }
            t.acceptance[n - 1].done = done
        }
        if let a = patch.assignee {
            if a.isEmpty {
                t.assignee = nil
                t.claimExpiresAt = nil
            } else {
                try checkAssignee(a)
                t.assignee = a
                t.claimExpiresAt = nil
            }
        }
        if let list = patch.paths { t.paths = try TaskPaths.normalize(list) }
        if !patch.addPaths.isEmpty { t.paths = try TaskPaths.normalize(t.paths + patch.addPaths) }
        if let given = patch.evidence {
            let more = try Evidence.parse(given.json)
            // The evidence as it will be stored, checked whole (lists added over several calls
            // stay within their bounds).
            t.evidence = try Evidence.parse(t.evidence.adding(more).json)
            t.evidence.recordedAt = now
            // What the work changed is what the task touches: later claims keep clear of it
            // (as many as the task may name; learned paths never make the change fail).
            let learned = more.changed.filter { !t.paths.contains($0) }
            if !learned.isEmpty {
                t.paths = try TaskPaths.normalize(t.paths + learned.prefix(max(0, TaskPaths.maxPaths - t.paths.count)))
            }
        }
        if let s = patch.status, !patch.force, let refusal = doneRefusal(t, status: s, requires: patch.doneRequires) {
            throw refusal
        }
        if let s = patch.status, s != t.status {
            t.status = s
            switch s {
            case .todo:
                if patch.assignee == nil { t.assignee = nil }
                t.claimExpiresAt = nil
            case .done, .closed: t.claimExpiresAt = nil
            default: break
            }
        }
        t.updatedAt = max(now, t.updatedAt)
        t.version += 1
        return t
    }
}
