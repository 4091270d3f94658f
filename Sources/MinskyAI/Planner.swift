import Foundation
import MinskyCore

/// `minsky plan FILE.md`: a requirements document becomes a tree of tasks with priorities,
/// dependencies and acceptance criteria. A long document is split into parts at headings (then
/// paragraphs); every character goes into exactly one part, each part is one model call that
/// sees the document's outline and what earlier parts planned, so nothing is silently cut.
/// The result is a `DecompositionPlan` whose items may nest (`parent`): stored as a proposal of
/// kind "plan", applied whole or in part like a decomposition.
public enum Planner {
    /// Characters per part (≈ 3k tokens): small enough for local models' context windows.
    public static let partCharacters = 12_000
    public static let defaultMax = 30
    public static let maxItems = 200

    /// Splits `text` into parts of at most `limit` characters, at headings where it can, then
    /// at blank lines, then anywhere; the parts joined are exactly `text`.
    public static func parts(_ text: String, limit: Int = partCharacters) -> [String] {
        guard text.count > limit else { return [text] }
        // Sections: each starts at a heading line.
        var sections: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map({
            $0.offset == 0 ? String($0.element) : "\n" + $0.element
        }) {
            if line.hasPrefix("\n#"), !current.isEmpty {
                sections.append(current)
                current = ""
            }
            current += line
        }
        sections.append(current)
        // Pieces no longer than the limit: long sections by paragraph, long paragraphs by length.
        var pieces: [String] = []
        for section in sections {
            if section.count <= limit {
                pieces.append(section)
                continue
            }
            for para in section.components(separatedBy: "\n\n").enumerated().map({
                $0.offset == 0 ? $0.element : "\n\n" + $0.element
            }) {
                var rest = Substring(para)
                while rest.count > limit {
                    pieces.append(String(rest.prefix(limit)))
                    rest = rest.dropFirst(limit)
                }
                pieces.append(String(rest))
            }
        }
        // Pack pieces greedily into parts.
        var out: [String] = []
        var part = ""
        for piece in pieces where !piece.isEmpty {
            if part.count + piece.count > limit, !part.isEmpty {
                out.append(part)
                part = ""
            }
            part += piece
        }
        if !part.isEmpty { out.append(part) }
        return out
    }

    /// The document's title: its first `# ` heading, else `fallback`.
    public static func title(of text: String, fallback: String) -> String {
        for line in text.split(separator: "\n") where line.hasPrefix("# ") {
            let t = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            if !t.isEmpty { return String(t.prefix(TaskRules.maxTitleCharacters)) }
        }
        return fallback
    }

    static func outline(_ text: String) -> [String] {
        text.split(separator: "\n").filter { $0.hasPrefix("#") }.map { String($0.prefix(120)) }
    }

    /// The answer's schema: items with priority, criteria, dependencies and parent (complexity optional).
    public static func schema(max: Int) -> JSONValue {
        Decomposer.subtasksSchema(
            max: max,
            properties: [
                "title", "description", "priority", "acceptance", "dependsOn", "parent", "complexity", "paths",
            ],
            required: ["title", "description", "priority", "acceptance", "dependsOn"])
    }

    public static let system =
        "You are a senior engineer turning requirements into a plan of tasks for coding agents. Answer only with JSON matching the given schema."

    static func rules(max: Int, offset: Int) -> String {
        """
        Propose at most \(max) tasks for the part below. Group related work: an epic first, then its tasks with "parent" set to the epic's number.
        Number your items from \(offset) in the order you list them. For each give a short imperative title, a markdown description,
        a priority (0 critical, 1 high, 2 medium, 3 low, 4 backlog), acceptance criteria (short checkable statements),
        dependsOn (numbers of EARLIER items that must be done first) and parent (the number of an EARLIER item it belongs under, or null for top level).
        Where the document tells, add paths: the repository files or globs (like Sources/App/**) a task will change.
        A task must not depend on its own parent. Cover everything the part asks for; do not invent work it does not ask for.
        """
    }

    static func prompt(
        document title: String, part: String, index: Int, of count: Int, outline: [String], planned: [String],
        max: Int, guidance: String?
    ) -> String {
        var p = rules(max: max, offset: planned.count)
        p += "\n\nDocument: \(title)"
        if count > 1 {
            p +=
                "\nThe document is long; this is part \(index + 1) of \(count). Its outline:\n"
                + outline.prefix(80).joined(separator: "\n")
        }
        if !planned.isEmpty {
            p += "\n\nAlready planned from earlier parts (you may name them in dependsOn and parent):\n"
            p += planned.enumerated().map { "\($0.offset). \($0.element)" }.joined(separator: "\n")
        }
        if let guidance, !guidance.isEmpty { p += "\n\nGuidance: \(guidance)" }
        p += "\n\n----- \(count > 1 ? "part \(index + 1)" : "document") -----\n" + part
        return p
    }

    /// What an agent answering itself (MCP, no model) is told: the rules and the schema; the
    /// document is the one it sent.
    public static func instructions(max: Int, guidance: String?) -> String {
        system + "\n\n" + rules(max: max, offset: 0)
            + "\n\nPlan the requirements document you sent (document); answer by calling again with document and plan."
            + (guidance.map { "\n\nGuidance: \($0)" } ?? "")
    }

    /// Checks one part's answer: the schema, then titles, criteria and that every reference
    /// points to an earlier item (and no item waits for its own parent).
    static func check(_ value: JSONValue, max: Int, offset: Int) -> Result<[DecompositionPlan.Subtask], MinskyError> {
        if let problem = JSONSchema.firstError(value, schema(max: max)) {
            return .failure(MinskyError.invalid("answer", problem))
        }
        var out: [DecompositionPlan.Subtask] = []
        for (i, s) in (value["subtasks"]?.arrayValue ?? []).enumerated() {
            let number = offset + i
            func fail(_ m: String) -> Result<[DecompositionPlan.Subtask], MinskyError> {
                .failure(MinskyError.invalid("answer", "item \(number): \(m)"))
            }
            let title = s["title"]?.stringValue ?? ""
            let criteria = s["acceptance"]?.arrayValue?.compactMap(\.stringValue) ?? []
            do {
                try TaskRules.checkTitle(title)
                try TaskRules.checkAcceptance(criteria)
            } catch let e as MinskyError { return fail(e.message) } catch {}
            let links = DecompositionPlan.keepableLinks(
                dependsOn: (s["dependsOn"]?.arrayValue ?? []).compactMap { $0.intValue.map(Int.init) },
                parent: s["parent"]?.intValue.map(Int.init), number: number)
            out.append(
                .init(
                    title: title, description: s["description"]?.stringValue ?? "",
                    complexity: Int(s["complexity"]?.intValue ?? 0), dependsOn: links.dependsOn,
                    priority: Int(s["priority"]?.intValue ?? 2), acceptance: criteria, parent: links.parent,
                    paths: Decomposer.paths(s),
                    repairs: links.repairs.isEmpty ? nil : links.repairs))
        }
        return .success(out)
    }

    /// Checks an agent's own answer for a whole document.
    public static func checkAnswer(_ value: JSONValue, max: Int) throws -> [DecompositionPlan.Subtask] {
        switch check(value, max: max, offset: 0) {
        case .success(let s): return s
        case .failure(let e): throw e
        }
    }

    /// Plans the document part by part. `progress(part, parts)` hears when each part starts.
    public static func plan(
        document: String, title: String, maxItems: Int, guidance: String?, provider: any LLMProvider,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) async throws -> DecompositionPlan {
        guard (1...Self.maxItems).contains(maxItems) else {
            throw MinskyError.invalid("max", "max must be 1 to \(Self.maxItems)")
        }
        if document.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw MinskyError.invalid("document", "the document is empty; give a markdown file with the requirements")
        }
        let parts = parts(document)
        if parts.count > maxItems {
            throw MinskyError.invalid(
                "max",
                "the document has \(parts.count) parts of up to \(partCharacters) characters; --max \(maxItems) cannot cover them all: raise it to at least \(parts.count)"
            )
        }
        let outline = outline(document)
        var items: [DecompositionPlan.Subtask] = []
        var usage: [LLMUsage] = []
        var attempts = 0
        var model = provider.name
        var leftChars = document.count
        for (i, part) in parts.enumerated() {
            progress?(i + 1, parts.count)
            // Items are shared out by length, at least one per part still to come.
            let left = maxItems - items.count
            let budget = Swift.max(
                1,
                Swift.min(
                    left - (parts.count - i - 1),
                    Int((Double(left) * Double(part.count) / Double(leftChars)).rounded(.up))))
            leftChars -= part.count
            let offset = items.count
            let request = LLMRequest(
                system: system,
                prompt: prompt(
                    document: title, part: part, index: i, of: parts.count, outline: outline,
                    planned: items.map(\.title), max: budget, guidance: guidance),
                schemaName: "plan", schema: schema(max: budget))
            let answer = try await provider.completeChecked(
                request, what: "answer for part \(i + 1) of \(parts.count)"
            ) { text -> Result<[DecompositionPlan.Subtask], MinskyError> in
                guard let v = try? JSONValue.parse(text) else {
                    return .failure(MinskyError.invalid("answer", "the answer is not valid JSON"))
                }
                return check(v, max: budget, offset: offset)
            }
            attempts += answer.attempts
            model = answer.model
            usage += answer.usage
            items += answer.value
        }
        return DecompositionPlan(subtasks: items, model: model, attempts: attempts, usage: usage)
    }

    /// Stores a finished plan: the root task (`root`, or a new one named after the document
    /// and saying where it came from), the plan as a proposal of kind "plan", and, unless
    /// `apply` is false (a dry run), its tasks under the root, the proposal marked applied.
    public static func store(
        _ plan: DecompositionPlan, document: String, source: String, root: TaskItem?, apply: Bool,
        in store: any MinskyStore
    ) async throws -> (root: TaskItem?, proposal: Proposal, created: [TaskItem]) {
        let hash = SHA256.hex(Array(document.utf8))
        var body = try Decomposer.body(plan)
        if root == nil, var o = body.objectValue {
            // No task is made here: the root waits in the proposal until it is first applied.
            let draft = rootDraft(plan, document: document, source: source, hash: hash)
            o["root"] = ["title": .string(draft.title), "description": .string(draft.description)]
            body = .object(o)
        }
        let proposal = Proposal(
            id: Proposal.newID(), taskId: root?.id, kind: "plan", model: plan.model, promptHash: hash, body: body,
            createdAt: .now())
        try await store.saveProposal(proposal)
        guard apply else { return (root, proposal, []) }
        let r = try await ProposalApplier.apply(proposal, only: nil, store: store)
        return (r.root, proposal, r.created)
    }

    /// The root a plan makes: named after the document's first heading, holding the document
    /// itself (its source, hash and size first), so what was planned from stays with the plan.
    static func rootDraft(_ plan: DecompositionPlan, document: String, source: String, hash: String) -> NewTask {
        let parts = parts(document).count
        var draft = NewTask(title: title(of: document, fallback: "Plan"))
        let header =
            "Planned from \(source) (sha256 \(hash.prefix(16)), \(document.count) characters\(parts > 1 ? ", \(parts) parts" : "")) by \(plan.model)."
        let room = TaskRules.maxDescriptionBytes - header.utf8.count - 16
        draft.description =
            document.utf8.count <= room
            ? header + "\n\n---\n\n" + document
            : header + " The document is larger than a description holds; keep it at \(source)."
        return draft
    }
}
