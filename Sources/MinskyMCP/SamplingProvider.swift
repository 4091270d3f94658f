import MinskyAI
import MinskyCore
import Synchronization

/// A model request as MCP `sampling/createMessage` asks it, and the client's answer back. The
/// schema goes into the prompt; the answer is validated by the caller like any model's.
enum Sampling {
    static func params(_ r: LLMRequest) -> JSONValue {
        let text =
            r.prompt + "\n\nAnswer with only a JSON value matching this JSON Schema, no prose:\n"
            + r.schema.canonicalJSON()
        return [
            "messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]],
            "systemPrompt": .string(r.system), "maxTokens": 4000, "includeContext": "none",
        ]
    }

    static func response(_ result: JSONValue) throws -> LLMResponse {
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

/// The calling agent's own model, asked through MCP sampling: no API key at all. In the
/// handshake era the server sends `sampling/createMessage` and waits for the answer.
struct SamplingProvider: LLMProvider {
    let server: MCPServer
    var name: String { "the client's model (sampling)" }
    var kind: String { "sampling" }
    var model: String { "client model" }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        try Sampling.response(try await server.requestFromClient("sampling/createMessage", Sampling.params(r)))
    }
}

/// The same in the 2026-07-28 era, where a server never sends requests (multi round-trip
/// requests): the n-th model call of a tool call is answered from `inputResponses["sample-n"]`
/// (or, for earlier rounds, from the signed `requestState`); one not answered yet is recorded
/// in `asked` and ends the call with `LLMInputRequired`, so the server answers an
/// `InputRequiredResult` and the client retries with the answer. A tool call replays from the
/// start each round, so its model calls come in the same order with the same prompts.
final class RoundTripSampling: LLMProvider, Sendable {
    /// Answers from earlier rounds (restored from the request state) and from this retry.
    let earlier: [String: JSONValue]
    let fresh: [String: JSONValue]
    let counter = Mutex(0)
    let asked = Mutex<[String: JSONValue]>([:])
    var name: String { "the client's model (sampling)" }
    var kind: String { "sampling" }
    var model: String { "client model" }

    init(earlier: [String: JSONValue], fresh: [String: JSONValue]) {
        self.earlier = earlier
        self.fresh = fresh
    }

    /// Every answer this round can pass on to the next: what came before and what came now.
    var answers: [String: JSONValue] { earlier.merging(fresh) { a, _ in a } }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let key = counter.withLock { n -> String in
            defer { n += 1 }
            return "sample-\(n)"
        }
        if let a = earlier[key] {
            var response = try Sampling.response(a)
            response.replayed = true
            return response
        }
        if let a = fresh[key] { return try Sampling.response(a) }
        asked.withLock { $0[key] = ["method": "sampling/createMessage", "params": Sampling.params(r)] }
        throw LLMInputRequired()
    }
}
