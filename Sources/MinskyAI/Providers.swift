import Foundation
import MinskyCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Any OpenAI-compatible server: OpenAI, Ollama (`http://localhost:11434/v1`), llama.cpp,
/// vLLM, LM Studio, OpenRouter. Asks for structured output with a JSON schema response format;
/// the answer is validated by the caller either way.
struct OpenAIProvider: LLMProvider {
    let config: ProviderConfig
    var name: String { "openai(\(config.model))" }
    var kind: String { "openai" }
    var model: String { config.model }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let body: [String: JSONValue] = [
            "model": .string(config.model),
            "messages": [
                ["role": "system", "content": .string(r.system)], ["role": "user", "content": .string(r.prompt)],
            ],
            "response_format": [
                "type": "json_schema",
                "json_schema": ["name": .string(r.schemaName), "schema": r.schema, "strict": false],
            ],
            "temperature": 0.2, "max_tokens": .int(Int64(r.maxTokens)),
        ]
        return try await exchange(
            url: config.baseURL.appendingPathComponent("chat/completions"), headers: config.bearerHeaders, body: body,
            streamFields: ["stream": true, "stream_options": ["include_usage": true]], config: config,
            onProgress: r.onProgress, parse: { $0.openAI($1) }, decode: { try Self.decode($0, config: config) })
    }

    static func decode(_ json: JSONValue, config: ProviderConfig) throws -> LLMResponse {
        guard let text = json["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue else {
            throw MinskyError(.internal, "the model server's answer has no choices[0].message.content")
        }
        let usage = json["usage"].map {
            LLMUsage(
                inputTokens: Int($0["prompt_tokens"]?.intValue ?? 0),
                outputTokens: Int($0["completion_tokens"]?.intValue ?? 0))
        }
        return LLMResponse(
            text: text, usage: usage, model: json["model"]?.stringValue ?? config.model,
            truncated: json["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue == "length")
    }
}

/// Anthropic's Messages API; structured output through a tool the model must call.
struct AnthropicProvider: LLMProvider {
    let config: ProviderConfig
    var name: String { "anthropic(\(config.model))" }
    var kind: String { "anthropic" }
    var model: String { config.model }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let body: [String: JSONValue] = [
            "model": .string(config.model), "max_tokens": .int(Int64(r.maxTokens)), "system": .string(r.system),
            "messages": [["role": "user", "content": .string(r.prompt)]],
            "tools": [["name": .string(r.schemaName), "description": "Give the answer.", "input_schema": r.schema]],
            "tool_choice": ["type": "tool", "name": .string(r.schemaName)],
        ]
        var headers = ["anthropic-version": "2023-06-01"]
        if let key = config.apiKey, !key.isEmpty { headers["x-api-key"] = key }
        return try await exchange(
            url: config.baseURL.appendingPathComponent("v1/messages"), headers: headers, body: body,
            streamFields: ["stream": true], config: config,
            onProgress: r.onProgress, parse: { $0.anthropic($1) }, decode: { try Self.decode($0, config: config) })
    }

    static func decode(_ json: JSONValue, config: ProviderConfig) throws -> LLMResponse {
        guard let input = json["content"]?.arrayValue?.first(where: { $0["type"] == "tool_use" })?["input"] else {
            throw MinskyError(.internal, "the Anthropic answer has no tool_use block")
        }
        let usage = json["usage"].map {
            LLMUsage(
                inputTokens: Int($0["input_tokens"]?.intValue ?? 0),
                outputTokens: Int($0["output_tokens"]?.intValue ?? 0))
        }
        return LLMResponse(
            text: input.canonicalJSON(), usage: usage, model: json["model"]?.stringValue ?? config.model,
            truncated: json["stop_reason"]?.stringValue == "max_tokens")
    }
}

/// One chat exchange for either provider: streamed when the config asks (`streamFields` added to
/// the body, each event given to `parse`), else — or when the server answers all at once
/// anyway — the whole JSON answer given to `decode`.
func exchange(
    url: URL, headers: [String: String], body: [String: JSONValue], streamFields: [String: JSONValue],
    config: ProviderConfig,
    onProgress: (@Sendable (Int) -> Void)?, parse: @escaping @Sendable (StreamAccumulator, String) -> Bool,
    decode: (JSONValue) throws -> LLMResponse
) async throws -> LLMResponse {
    let response: LLMResponse
    if !config.stream {
        response = try decode(try await HTTP.postJSON(url: url, headers: headers, body: .object(body), config: config))
    } else {
        let acc = StreamAccumulator(onProgress: onProgress)
        let streamed = body.merging(streamFields) { _, new in new }
        if let json = try await HTTP.post(
            url: url, headers: headers, body: .object(streamed), config: config, onEvent: { parse(acc, $0) })
        {
            response = try decode(json)
        } else {
            response = try acc.response(defaultModel: config.model, server: url)
        }
    }
    if response.truncated {
        // The answer is cut: it cannot be valid. Said at once, not as "invalid JSON" later.
        let room = body["max_tokens"]?.intValue.map { " (\($0) tokens)" } ?? ""
        throw MinskyError(
            .modelUnavailable,
            "the model \(response.model) ran out of room before finishing its answer\(room): ask for less (a smaller --max), or use a model with a larger context; nothing was written"
        )
    }
    return response
}

/// Builds one answer from streamed events (OpenAI chat chunks or Anthropic message events),
/// reporting progress as characters arrive.
final class StreamAccumulator: Sendable {
    struct State {
        var text = ""
        var inputTokens: Int?
        var outputTokens: Int?
        var model: String?
        var error: String?
        var finished = false
        var truncated = false
    }

    let state = Mutex(State())
    let onProgress: (@Sendable (Int) -> Void)?

    init(onProgress: (@Sendable (Int) -> Void)?) { self.onProgress = onProgress }

    /// Returns true at the last event.
    func openAI(_ payload: String) -> Bool {
        if payload == "[DONE]" {
            state.withLock { $0.finished = true }
            return true
        }
        guard let json = try? JSONParser.parse(payload.utf8) else {
            state.withLock { $0.error = $0.error ?? "a streamed chunk is not JSON" }
            return false
        }
        let count = state.withLock { s -> Int in
            if let message = json["error"]?["message"]?.stringValue { s.error = message }
            if let m = json["model"]?.stringValue { s.model = m }
            if let piece = json["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue { s.text += piece }
            if json["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue == "length" { s.truncated = true }
            if let u = json["usage"], let p = u["prompt_tokens"]?.intValue {
                s.inputTokens = Int(p)
                s.outputTokens = Int(u["completion_tokens"]?.intValue ?? 0)
            }
            return s.text.count
        }
        onProgress?(count)
        return false
    }

    /// Returns true at the last event.
    func anthropic(_ payload: String) -> Bool {
        guard let json = try? JSONParser.parse(payload.utf8) else {
            state.withLock { $0.error = $0.error ?? "a streamed event is not JSON" }
            return false
        }
        let count = state.withLock { s -> Int in
            switch json["type"]?.stringValue {
            case "message_start":
                s.model = json["message"]?["model"]?.stringValue
                s.inputTokens = json["message"]?["usage"]?["input_tokens"]?.intValue.map(Int.init)
            case "content_block_delta":
                if let piece = json["delta"]?["partial_json"]?.stringValue { s.text += piece }
            case "message_delta":
                if let out = json["usage"]?["output_tokens"]?.intValue { s.outputTokens = Int(out) }
                if json["delta"]?["stop_reason"]?.stringValue == "max_tokens" { s.truncated = true }
            case "message_stop": s.finished = true
            case "error": s.error = json["error"]?["message"]?.stringValue ?? "error event"
            default: break
            }
            return s.text.count
        }
        onProgress?(count)
        return state.withLock { $0.finished }
    }

    func response(defaultModel: String, server: URL) throws -> LLMResponse {
        let s = state.withLock { $0 }
        let where_ = "\(server.host ?? "?")\(server.port.map { ":\($0)" } ?? "")"
        if let e = s.error {
            throw MinskyError(
                .modelUnavailable, "the model server at \(where_) reported an error while streaming: \(e)")
        }
        guard !s.text.isEmpty else { throw MinskyError(.internal, "the model server at \(where_) streamed no answer") }
        let usage = s.inputTokens.map { LLMUsage(inputTokens: $0, outputTokens: s.outputTokens ?? 0) }
        return LLMResponse(text: s.text, usage: usage, model: s.model ?? defaultModel, truncated: s.truncated)
    }
}

extension Providers {
    /// One cheap request (the server's model list: no tokens spent) that proves the server is
    /// reachable, the key accepted and the configured model offered. Returns what it found.
    public static func check(_ config: ProviderConfig) async throws -> String {
        var headers: [String: String]
        let url: URL
        switch config.kind {
        case .openai:
            headers = config.bearerHeaders
            url = config.baseURL.appendingPathComponent("models")
        case .anthropic:
            headers = ["anthropic-version": "2023-06-01"]
            if let key = config.apiKey, !key.isEmpty { headers["x-api-key"] = key }
            url = config.baseURL.appendingPathComponent("v1/models")
        }
        var req = URLRequest(url: url)
        req.timeoutInterval = min(config.timeout, 15)
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let where_ = "\(url.host ?? "?")\(url.port.map { ":\($0)" } ?? "")"
        let data: Data
        let response: HTTPURLResponse
        do { (data, response) = try await HTTP.send(req) } catch let e as MinskyError { throw e } catch {
            throw MinskyError(
                .modelUnavailable,
                "cannot reach the model server at \(where_): \((error as NSError).localizedDescription)")
        }
        switch response.statusCode {
        case 200..<300: break
        case 401, 403:
            throw MinskyError(
                .invalidInput,
                "the model server at \(where_) refused the key (HTTP \(response.statusCode)); check ai.apiKey")
        default:
            throw MinskyError(
                .modelUnavailable,
                "the model server at \(where_) answered HTTP \(response.statusCode) to a model list request")
        }
        let ids = ((try? JSONParser.parse(data))?["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        if ids.isEmpty { return "reachable at \(where_)" }
        guard ids.contains(config.model) else {
            throw MinskyError.invalid(
                "ai.model",
                "the model server at \(where_) does not offer \(config.model); it offers \(ids.prefix(8).joined(separator: ", "))\(ids.count > 8 ? ", …" : "")"
            )
        }
        return "reachable at \(where_), \(config.model) offered"
    }
}
