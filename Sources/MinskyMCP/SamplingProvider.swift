import MinskyAI
import MinskyCore

/// The calling agent's own model, asked through MCP `sampling/createMessage`: no API key at all.
/// The schema goes into the prompt; the answer is validated by the caller like any model's.
struct SamplingProvider: LLMProvider {
    let server: MCPServer
    var name: String { "the client's model (sampling)" }
    var kind: String { "sampling" }
    var model: String { "client model" }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let text =
            r.prompt + "\n\nAnswer with only a JSON value matching this JSON Schema, no prose:\n"
            + r.schema.canonicalJSON()
        let result = try await server.requestFromClient(
            "sampling/createMessage",
            [
                "messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]],
                "systemPrompt": .string(r.system), "maxTokens": 4000, "includeContext": "none",
            ])
        let content = result["content"]
        let answer =
            content?["text"]?.stringValue
            ?? content?.arrayValue?.first(where: { $0["type"] == "text" })?["text"]?.stringValue
        guard var answer else { throw MinskyError(.internal, "the client's sampling answer has no text content") }
        // Models often wrap JSON in a fenced block.
        if let start = answer.range(of: "```"), let end = answer.range(of: "```", options: .backwards),
            start.lowerBound != end.lowerBound
        {
            answer = String(answer[start.upperBound..<end.lowerBound]).drop { $0 != "{" && $0 != "[" }.description
        }
        return LLMResponse(text: answer, usage: nil, model: result["model"]?.stringValue ?? "client model")
    }
}
