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

/// What one tool call of the 2026-07-28 era may ask the client, where a server never sends
/// requests (multi round-trip requests): the n-th question of a kind is answered from
/// `inputResponses["KIND-n"]` of this retry, or, for earlier rounds, from the sealed
/// `requestState`; one not answered yet is recorded in `asked` and ends the call with
/// `InputRequired`, so the server answers an `InputRequiredResult` and the client retries with
/// the answer. A tool call replays from the start each round, so its questions come in the same
/// order with the same content.
final class RoundTrip: Sendable {
    let earlier: [String: JSONValue]
    let fresh: [String: JSONValue]
    let counters = Mutex<[String: Int]>([:])
    let asked = Mutex<[String: JSONValue]>([:])

    init(earlier: [String: JSONValue], fresh: [String: JSONValue]) {
        self.earlier = earlier
        self.fresh = fresh
    }

    /// Every answer this round can pass on to the next: what came before and what came now.
    var answers: [String: JSONValue] { earlier.merging(fresh) { a, _ in a } }

    /// The answer to the next question of `kind`, and whether an earlier round already had it;
    /// otherwise the question is recorded and `InputRequired` thrown.
    func ask(_ kind: String, _ method: String, _ params: JSONValue) throws -> (JSONValue, replayed: Bool) {
        let key = counters.withLock { c -> String in
            defer { c[kind, default: 0] += 1 }
            return "\(kind)-\(c[kind, default: 0])"
        }
        if let a = earlier[key] { return (a, true) }
        if let a = fresh[key] { return (a, false) }
        asked.withLock { $0[key] = ["method": .string(method), "params": params] }
        throw InputRequired()
    }
}

/// The client's model over a round trip.
struct RoundTripSampling: LLMProvider {
    let trip: RoundTrip
    var name: String { "the client's model (sampling)" }
    var kind: String { "sampling" }
    var model: String { "client model" }

    func complete(_ r: LLMRequest) async throws -> LLMResponse {
        let (answer, replayed) = try trip.ask("sample", "sampling/createMessage", Sampling.params(r))
        var response = try Sampling.response(answer)
        response.replayed = replayed  // recorded when it first arrived
        return response
    }
}

/// A yes/no question to the person, as MCP elicitation asks it (a form with one boolean).
enum Confirmation {
    static func params(_ message: String, action: String, modern: Bool) -> JSONValue {
        var p: [String: JSONValue] = [
            "message": .string(message),
            "requestedSchema": [
                "type": "object",
                "properties": [
                    "confirm": ["type": "boolean", "title": .string(action), "default": false]
                ],
                "required": ["confirm"],
            ],
        ]
        if modern { p["mode"] = "form" }
        return .object(p)
    }

    /// Only an accepted form that says yes confirms; declining, cancelling or "no" does not.
    static func accepted(_ result: JSONValue) -> Bool {
        result["action"] == "accept" && result["content"]?["confirm"] == true
    }

    /// Whether declared capabilities include form elicitation (`{}` means form).
    static func supported(_ capabilities: JSONValue?) -> Bool {
        guard case .object(let e)? = capabilities?["elicitation"] else { return false }
        return e["form"] != nil || e["url"] == nil
    }
}
