import Foundation
import MinskyCore

/// Any OpenAI-compatible server: OpenAI, Ollama (`http://localhost:11434/v1`), llama.cpp,
/// vLLM, LM Studio, OpenRouter. Asks for structured output with a JSON schema response format;
/// the answer is validated by the caller either way.
struct OpenAIProvider: LLMProvider {
    let config: ProviderConfig
    var name: String { "openai(\(config.model))" }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let body: JSONValue = [
            "model": .string(config.model),
            "messages": [["role": "system", "content": .string(r.system)], ["role": "user", "content": .string(r.prompt)]],
            "response_format": ["type": "json_schema", "json_schema": ["name": .string(r.schemaName), "schema": r.schema, "strict": false]],
            "temperature": 0.2,
        ]
        var headers: [String: String] = [:]
        if let key = config.apiKey, !key.isEmpty { headers["Authorization"] = "Bearer \(key)" }
        let json = try await HTTP.postJSON(url: config.baseURL.appendingPathComponent("chat/completions"), headers: headers, body: body, config: config)
        guard let text = json["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue else {
            throw MinskyError(.internal, "the model server's answer has no choices[0].message.content")
        }
        let usage = json["usage"].map { LLMUsage(inputTokens: Int($0["prompt_tokens"]?.intValue ?? 0), outputTokens: Int($0["completion_tokens"]?.intValue ?? 0)) }
        return LLMResponse(text: text, usage: usage, model: json["model"]?.stringValue ?? config.model)
    }
}

/// Anthropic's Messages API; structured output through a tool the model must call.
struct AnthropicProvider: LLMProvider {
    let config: ProviderConfig
    var name: String { "anthropic(\(config.model))" }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let body: JSONValue = [
            "model": .string(config.model), "max_tokens": 4096, "system": .string(r.system),
            "messages": [["role": "user", "content": .string(r.prompt)]],
            "tools": [["name": .string(r.schemaName), "description": "Give the answer.", "input_schema": r.schema]],
            "tool_choice": ["type": "tool", "name": .string(r.schemaName)],
        ]
        var headers = ["anthropic-version": "2023-06-01"]
        if let key = config.apiKey, !key.isEmpty { headers["x-api-key"] = key }
        let json = try await HTTP.postJSON(url: config.baseURL.appendingPathComponent("v1/messages"), headers: headers, body: body, config: config)
        guard let input = json["content"]?.arrayValue?.first(where: { $0["type"] == "tool_use" })?["input"] else {
            throw MinskyError(.internal, "the Anthropic answer has no tool_use block")
        }
        let usage = json["usage"].map { LLMUsage(inputTokens: Int($0["input_tokens"]?.intValue ?? 0), outputTokens: Int($0["output_tokens"]?.intValue ?? 0)) }
        return LLMResponse(text: input.canonicalJSON(), usage: usage, model: json["model"]?.stringValue ?? config.model)
    }
}
