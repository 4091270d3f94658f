import Foundation
import MinskyCore

/// A model's proposal for splitting a task, validated before anything is written.
public struct DecompositionPlan: Sendable, Codable, Equatable {
    public struct Subtask: Sendable, Codable, Equatable {
        public var title: String
        public var description: String
        public var complexity: Int
        /// Indices of earlier subtasks this one waits for.
        public var dependsOn: [Int]
        /// Plans from a document (`Planner`) also carry a priority, acceptance criteria and the
        /// index of an earlier item that is this one's parent (nil: directly under the root).
        public var priority: Int? = nil
        public var acceptance: [String]? = nil
        public var parent: Int? = nil
        /// The repository paths the item will touch, as the model proposes them (kept when valid).
        public var paths: [String]? = nil
        /// Links of the model's answer that could not hold (a dependency on itself, a later
        /// item or its own parent; a parent that is not earlier), dropped and said here rather
        /// than refusing a plan whose content is sound: small local models number items loosely.
        public var repairs: [String]? = nil
    }
    public var subtasks: [Subtask]
    public var model: String
    public var attempts: Int
    public var usage: [LLMUsage]

    /// Every link dropped from the answer, as "item N: …" lines for people to read.
    public var repairs: [String] {
        subtasks.enumerated().flatMap { i, s in (s.repairs ?? []).map { "item \(i): \($0)" } }
    }

    public init(subtasks: [Subtask], model: String, attempts: Int, usage: [LLMUsage]) {
        self.subtasks = subtasks
        self.model = model
        self.attempts = attempts
        self.usage = usage
    }
}

/// `decompose`: ask the model for subtasks matching a JSON schema; an invalid answer gets one
/// repair attempt that quotes the validation error; then the subtasks and their dependencies are
/// inserted in one transaction under the parent.
/// What a finished decomposition answers, in the CLI and over MCP.
public enum DecomposeResult {
    /// `repairs` lists the links of the answer that could not hold and were dropped (omitted when none).
    public static func json(parent: TaskItem, subtasks: [JSONValue], plan: DecompositionPlan) -> JSONValue {
        var o: [String: JSONValue] = [
            "needsAnswer": false, "parentId": .string(parent.id.rawValue), "subtasks": .array(subtasks),
            "model": .string(plan.model), "attempts": .int(Int64(plan.attempts)),
        ]
        if !plan.repairs.isEmpty { o["repairs"] = .array(plan.repairs.map(JSONValue.string)) }
        return .object(o)
    }
}

public enum Decomposer {
    /// The properties a planned item may have; `schema` and `Planner.schema` pick from them.
    static let itemProperties: [String: JSONValue] = [
        // Every string and list is bounded: a grammar-constrained model otherwise writes one
        // endless description until its context is full, and the request's max_tokens is derived
        // from these bounds (`LLMRequest.answerTokens`).
        "title": ["type": "string", "minLength": 1, "maxLength": 120],
        "description": ["type": "string", "maxLength": 1000],
        "complexity": ["type": "integer", "minimum": 1, "maximum": 10],
        "dependsOn": ["type": "array", "maxItems": 8, "items": ["type": "integer", "minimum": 0]],
        "priority": ["type": "integer", "minimum": 0, "maximum": 4],
        "acceptance": ["type": "array", "maxItems": 10, "items": ["type": "string", "maxLength": 200]],
        "parent": ["type": ["integer", "null"], "minimum": 0],
        "paths": ["type": "array", "maxItems": 16, "items": ["type": "string", "maxLength": 200]],
    ]

    /// `{subtasks: [item]}` with 1 to `max` items of the named properties, `required` of them required.
    static func subtasksSchema(max: Int, properties: [String], required: [String]) -> JSONValue {
        [
            "type": "object", "additionalProperties": false, "required": ["subtasks"],
            "properties": [
                "subtasks": [
                    "type": "array", "minItems": 1, "maxItems": .int(Int64(max)),
                    "items": [
                        "type": "object", "additionalProperties": false,
                        "required": .array(required.map { .string($0) }),
                        "properties": .object(itemProperties.filter { properties.contains($0.key) }),
                    ],
                ]
            ],
        ]
    }

    public static func schema(max: Int) -> JSONValue {
        let fields = ["title", "description", "complexity", "dependsOn"]
        return subtasksSchema(max: max, properties: fields + ["paths"], required: fields)
    }

    /// The paths of an answer's item that are valid patterns (others are left out).
    static func paths(_ item: JSONValue) -> [String]? {
        let list = (item["paths"]?.arrayValue ?? []).compactMap(\.stringValue).compactMap {
            try? TaskPaths.normalize([$0]).first
        }
        return list.isEmpty ? nil : list
    }

    public static let system =
        "You are a senior engineer planning work for coding agents. Answer only with JSON matching the given schema."

    /// `existing` are the task's current subtasks: the model is told them so that a proposal
    /// adds what is missing instead of overlapping them. A stored complexity review's
    /// decomposition prompt is passed on as it was written.
    static func prompt(
        _ task: TaskItem, max: Int, guidance: String?, existing: [TaskItem], examples: [String] = []
    ) -> String {
        var p = """
            Break this task into at most \(max) concrete subtasks that can each be done and reviewed on their own.
            For each give a short imperative title, a markdown description with acceptance criteria, a complexity from 1 (trivial) to 10 (very hard),
            and dependsOn: the indices (0-based) of EARLIER subtasks in your list that must be done first.
            Where you can tell, add paths: the repository files or globs (like Sources/App/**) each subtask will change, so parallel agents keep clear of each other.

            Task: \(task.title)
            """
        if !task.description.isEmpty { p += "\n\nDescription:\n\(task.description)" }
        if let how = task.metadata["complexity"]?["decompositionPrompt"]?.stringValue, !how.isEmpty {
            p += "\n\nHow to split it (from its complexity review): \(how)"
        }
        if !existing.isEmpty {
            p += "\n\nIt already has these subtasks; do not repeat them, propose only the work they leave out:"
            for t in existing.prefix(50) { p += "\n- \(t.title) [\(t.status)]" }
        }
        if let guidance, !guidance.isEmpty { p += "\n\nGuidance: \(guidance)" }
        if !examples.isEmpty {
            p += "\n\nFor scale, tasks this project already finished (what each really took):"
            for e in examples { p += "\n- \(e)" }
        }
        return p
    }

    /// How many subtasks to ask for: the caller's number, else the count a complexity review
    /// recommended, else 6.
    public static func maxSubtasks(requested: Int?, for task: TaskItem) -> Int {
        requested ?? ComplexityScorer.recommendedSubtasks(task) ?? 6
    }

    /// Checks an answer given directly (an agent's own plan, through MCP).
    public static func checkAnswer(_ value: JSONValue, max: Int) throws -> [DecompositionPlan.Subtask] {
        switch check(value.canonicalJSON(), max: max) {
        case .success(let s): return s
        case .failure(let e): throw e
        }
    }

    public static func instructions(
        _ task: TaskItem, max: Int, guidance: String?, existing: [TaskItem] = [], examples: [String] = []
    ) -> String {
        system + "\n\n" + prompt(task, max: max, guidance: guidance, existing: existing, examples: examples)
    }

    /// Parses and checks an answer; returns the subtasks or a message for the repair prompt.
    static func check(_ text: String, max: Int) -> Result<[DecompositionPlan.Subtask], MinskyError> {
        let value: JSONValue
        do { value = try JSONValue.parse(text, field: "answer") } catch {
            return .failure(MinskyError.invalid("answer", "the answer is not valid JSON"))
        }
        if let problem = JSONSchema.firstError(value, schema(max: max)) {
            return .failure(MinskyError.invalid("answer", problem))
        }
        var out: [DecompositionPlan.Subtask] = []
        for (i, s) in (value["subtasks"]?.arrayValue ?? []).enumerated() {
            let title = s["title"]?.stringValue ?? ""
            do { try TaskRules.checkTitle(title) } catch let e as MinskyError {
                return .failure(MinskyError.invalid("answer", "subtasks[\(i)].title: \(e.message)"))
            } catch {}
            let links = DecompositionPlan.keepableLinks(
                dependsOn: (s["dependsOn"]?.arrayValue ?? []).compactMap { $0.intValue.map(Int.init) }, parent: nil,
                number: i)
            out.append(
                .init(
                    title: title, description: s["description"]?.stringValue ?? "",
                    complexity: Int(s["complexity"]?.intValue ?? 5), dependsOn: links.dependsOn,
                    paths: paths(s), repairs: links.repairs.isEmpty ? nil : links.repairs))
        }
        return .success(out)
    }

    /// `progress` hears how many characters of the answer have arrived while the model streams.
    public static func plan(
        task: TaskItem, maxSubtasks: Int, guidance: String?, existing: [TaskItem] = [], examples: [String] = [],
        provider: any LLMProvider, progress: (@Sendable (Int) -> Void)? = nil
    ) async throws -> DecompositionPlan {
        guard (1...50).contains(maxSubtasks) else { throw MinskyError.invalid("max", "max subtasks must be 1 to 50") }
        let base = LLMRequest(
            system: system,
            prompt: prompt(task, max: maxSubtasks, guidance: guidance, existing: existing, examples: examples),
            schemaName: "decomposition",
            schema: schema(max: maxSubtasks),
            onProgress: progress)
        let answer = try await provider.completeChecked(base, what: "answer") { check($0, max: maxSubtasks) }
        return DecompositionPlan(
            subtasks: answer.value, model: answer.model, attempts: answer.attempts, usage: answer.usage)
    }

    /// The plan as a proposal body, and back.
    public static func body(_ plan: DecompositionPlan) throws -> JSONValue {
        try JSONValue.parse(String(decoding: JSONEncoder().encode(plan), as: UTF8.self))
    }

    public static func plan(fromBody body: JSONValue) throws -> DecompositionPlan {
        do { return try JSONDecoder().decode(DecompositionPlan.self, from: Data(body.canonicalJSON().utf8)) } catch {
            throw MinskyError(.internal, "the stored proposal is not a decomposition")
        }
    }

    /// Keeps only the subtasks at `indices` (in their original order); dependencies on subtasks
    /// left out are dropped, the others renumbered.
    public static func subset(_ plan: DecompositionPlan, only indices: [Int]) throws -> DecompositionPlan {
        let keep = Array(Set(indices)).sorted()
        if let bad = keep.first(where: { !(0..<plan.subtasks.count).contains($0) }) {
            throw MinskyError.invalid(
                "only", "the proposal has subtasks 0…\(plan.subtasks.count - 1); there is no \(bad)")
        }
        let renumber = Dictionary(uniqueKeysWithValues: keep.enumerated().map { ($1, $0) })
        var out = plan
        out.subtasks = keep.map { i in
            var s = plan.subtasks[i]
            s.dependsOn = s.dependsOn.compactMap { renumber[$0] }
            // An item whose parent is left out goes directly under the root.
            s.parent = s.parent.flatMap { renumber[$0] }
            return s
        }
        return out
    }

    /// The plan without subtasks whose title (ignoring case and surrounding space) the parent
    /// already has as a subtask, so applying a proposal twice, or after subtasks were added by
    /// hand, does not create overlapping children.
    public static func withoutExisting(_ plan: DecompositionPlan, existing: [TaskItem]) throws -> DecompositionPlan {
        func key(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        let have = Set(existing.map { key($0.title) })
        // Only direct children are compared (and not those the plan nests others under).
        let parents = Set(plan.subtasks.compactMap(\.parent))
        let keep = plan.subtasks.indices.filter {
            plan.subtasks[$0].parent != nil || parents.contains($0) || !have.contains(key(plan.subtasks[$0].title))
        }
        return keep.count == plan.subtasks.count ? plan : try subset(plan, only: keep)
    }

    /// Inserts the plan under `parent` in one transaction, leaving out subtasks it already has;
    /// returns the new subtasks.
    public static func apply(_ plan: DecompositionPlan, to parent: TaskItem, store: any MinskyStore) async throws
        -> [TaskItem]
    {
        let existing = try await store.listAll(TaskQuery(parent: .task(parent.id), limit: TaskQuery.maxLimit))
        let plan = try withoutExisting(plan, existing: existing)
        if plan.subtasks.isEmpty { return [] }
        let drafts = plan.subtasks.map { s in
            var d = draft(s, under: parent, model: plan.model)
            d.parentId = s.parent == nil ? parent.id : nil
            d.batchParent = s.parent
            d.batchDependsOn = s.dependsOn
            return d
        }
        return try await store.createMany(drafts, progress: nil, isCancelled: { false })
    }

    /// A planned subtask as a new task under `parent` (links set by the caller).
    static func draft(_ s: DecompositionPlan.Subtask, under parent: TaskItem, model: String) -> NewTask {
        var meta: [String: JSONValue] = ["decomposedBy": .string(model)]
        if s.complexity > 0 { meta["complexity"] = .int(Int64(s.complexity)) }
        var d = NewTask(
            title: s.title, description: s.description,
            priority: s.priority.flatMap { try? Priority($0) } ?? parent.priority, tags: parent.tags,
            metadata: .object(meta))
        d.acceptance = s.acceptance ?? []
        d.paths = s.paths ?? []
        return d
    }
}

extension DecompositionPlan {
    /// The links of item `number` that can hold: dependencies on earlier items only (not itself,
    /// a later one or its own parent, which its tasks finish), a parent that is earlier. What is
    /// dropped is said, once per link.
    static func keepableLinks(dependsOn: [Int], parent: Int?, number: Int) -> (
        dependsOn: [Int], parent: Int?, repairs: [String]
    ) {
        var repairs: [String] = []
        var keptParent = parent
        if let p = parent, p >= number || p < 0 {
            repairs.append("parent \(p) dropped (not an earlier item); it goes directly under the root")
            keptParent = nil
        }
        var kept: [Int] = []
        for d in dependsOn {
            if d == number {
                repairs.append("dependsOn \(d) dropped (an item cannot wait for itself)")
            } else if d > number || d < 0 {
                repairs.append("dependsOn \(d) dropped (not an earlier item)")
            } else if d == keptParent {
                repairs.append("dependsOn \(d) dropped (its own parent, which its tasks finish)")
            } else if !kept.contains(d) {
                kept.append(d)
            }
        }
        return (kept, keptParent, repairs)
    }
}
