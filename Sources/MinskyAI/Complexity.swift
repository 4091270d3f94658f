import Foundation
import MinskyCore

/// A complexity score stored on the task (metadata.complexity) with the model and time.
public struct ComplexityScore: Sendable, Codable, Equatable {
    public var score: Int
    public var reasoning: String
    public var recommendedSubtasks: Int
    public var decompositionPrompt: String
    public var model: String
    public var scoredAt: String
}

public enum ComplexityScorer {
    /// A scored task as the CLI and `score_complexity` print it.
    public static func json(_ s: ComplexityScore, taskId: TaskID) -> JSONValue {
        [
            "id": .string(taskId.rawValue), "score": .int(Int64(s.score)),
            "recommendedSubtasks": .int(Int64(s.recommendedSubtasks)),
            "reasoning": .string(s.reasoning), "model": .string(s.model),
        ]
    }

    /// The shape of `json`.
    public static let resultSchema: JSONValue = [
        "type": "object", "required": ["id", "score", "recommendedSubtasks", "reasoning"],
        "properties": [
            "id": ["type": "string"], "score": ["type": "integer", "minimum": 1, "maximum": 10],
            "recommendedSubtasks": ["type": "integer"],
            "reasoning": ["type": "string"], "model": ["type": "string"], "needsAnswer": ["type": "boolean"],
        ],
    ]

    public static let schema: JSONValue = [
        "type": "object", "additionalProperties": false,
        "required": ["score", "reasoning", "recommendedSubtasks", "decompositionPrompt"],
        "properties": [
            "score": ["type": "integer", "minimum": 1, "maximum": 10],
            "reasoning": ["type": "string", "minLength": 1, "maxLength": 800],
            "recommendedSubtasks": ["type": "integer", "minimum": 1, "maximum": 20],
            "decompositionPrompt": ["type": "string", "maxLength": 800],
        ],
    ]

    /// `examples` are closed tasks of the project with what they took (`Calibration.examples`).
    public static func prompt(_ task: TaskItem, examples: [String] = []) -> String {
        var p = """
            Rate how complex this task is for a coding agent, from 1 (trivial, minutes) to 10 (very hard, days, risky).
            Explain briefly, recommend how many subtasks it should be split into, and write a one-paragraph prompt that would guide that split.

            Task: \(task.title)
            """
        if !task.description.isEmpty { p += "\n\nDescription:\n\(task.description)" }
        if !examples.isEmpty {
            p += "\n\nFor scale, tasks this project already finished (what each really took):"
            for e in examples { p += "\n- \(e)" }
        }
        return p
    }

    /// Validates an answer (a model's or an agent's own).
    public static func check(_ value: JSONValue, model: String) throws -> ComplexityScore {
        if let problem = JSONSchema.firstError(value, schema) { throw MinskyError.invalid("answer", problem) }
        return ComplexityScore(
            score: Int(value["score"]?.intValue ?? 0), reasoning: value["reasoning"]?.stringValue ?? "",
            recommendedSubtasks: Int(value["recommendedSubtasks"]?.intValue ?? 1),
            decompositionPrompt: value["decompositionPrompt"]?.stringValue ?? "", model: model,
            scoredAt: Timestamp.now().iso8601)
    }

    public static func score(_ task: TaskItem, examples: [String] = [], provider: any LLMProvider) async throws
        -> ComplexityScore
    {
        let req = LLMRequest(
            system: Decomposer.system, prompt: prompt(task, examples: examples), schemaName: "complexity",
            schema: schema)
        let answer = try await provider.completeChecked(req, what: "complexity answer") { text in
            do { return .success(try check(JSONValue.parse(text, field: "answer"), model: "")) } catch let e
                as MinskyError
            {
                return .failure(e)
            } catch { return .failure(MinskyError.invalid("answer", "\(error)")) }
        }
        var score = answer.value
        score.model = answer.model
        return score
    }

    /// Stores the score on the task (metadata.complexity), as one update.
    public static func store(_ s: ComplexityScore, on id: TaskID, in store: any MinskyStore) async throws -> TaskItem {
        let value: JSONValue = [
            "score": .int(Int64(s.score)), "reasoning": .string(s.reasoning),
            "recommendedSubtasks": .int(Int64(s.recommendedSubtasks)),
            "decompositionPrompt": .string(s.decompositionPrompt), "model": .string(s.model),
            "scoredAt": .string(s.scoredAt),
            "contentHash": .string(TaskEmbedding.contentHash(try await store.get(id))),
        ]
        return try await store.update(id, TaskPatch(metadata: ["complexity": value]), expectedVersion: nil)
    }

    /// The score stored on `task` when its title and description have not changed since it was
    /// scored (what `complexity --all` reuses instead of asking the model again).
    public static func current(_ task: TaskItem) -> ComplexityScore? {
        let c = task.metadata["complexity"]
        guard let hash = c?["contentHash"]?.stringValue, hash == TaskEmbedding.contentHash(task),
            let score = c?["score"]?.intValue, let n = c?["recommendedSubtasks"]?.intValue
        else { return nil }
        return ComplexityScore(
            score: Int(score), reasoning: c?["reasoning"]?.stringValue ?? "", recommendedSubtasks: Int(n),
            decompositionPrompt: c?["decompositionPrompt"]?.stringValue ?? "", model: c?["model"]?.stringValue ?? "",
            scoredAt: c?["scoredAt"]?.stringValue ?? "")
    }

    /// The recommended subtask count stored by an earlier score, if any.
    public static func recommendedSubtasks(_ task: TaskItem) -> Int? {
        task.metadata["complexity"]?["recommendedSubtasks"]?.intValue.map(Int.init)
    }
}
