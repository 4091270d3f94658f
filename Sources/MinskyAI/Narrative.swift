import Foundation
import MinskyCore

/// A short narrative grounded on computed insights: the model sees only the facts.
public enum Narrative {
    public static let schema: JSONValue = [
        "type": "object", "additionalProperties": false, "required": ["summary", "recommendations"],
        "properties": [
            "summary": ["type": "string", "maxLength": 800],
            "recommendations": ["type": "array", "items": ["type": "string", "maxLength": 300], "maxItems": 5],
        ],
    ]

    public static func write(_ insights: Insights, provider: any LLMProvider) async throws -> (
        summary: String, recommendations: [String]
    ) {
        let facts = String(decoding: try JSONEncoder().encode(insights), as: UTF8.self)
        let req = LLMRequest(
            system: Decomposer.system,
            prompt: """
                Here are computed facts about a team's task list, as JSON. In three sentences at most, say where the plan stands and what blocks it,
                then give up to five concrete recommendations. Use only these facts; name tasks by id.

                \(facts)
                """, schemaName: "insights", schema: schema)
        let r = try await provider.complete(req)
        let v = try JSONValue.parse(r.text, field: "answer")
        if let problem = JSONSchema.firstError(v, schema) {
            throw MinskyError.invalid("answer", "the model's narrative did not match the schema: \(problem)")
        }
        return (v["summary"]?.stringValue ?? "", v["recommendations"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}
