import Foundation
import MinskyCore

/// Which model server to talk to. Built by the executable from project config, the per-user
/// credentials file and the environment; the key is a secret and never printed.
public struct ProviderConfig: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case openai, anthropic }
    public var kind: Kind
    public var model: String
    public var baseURL: URL
    public var apiKey: String?
    /// Longest silence allowed from the server; a streamed answer may take longer in total.
    public var timeout: TimeInterval = 120
    /// Ask for a streamed answer (progress while the model writes; servers that cannot stream
    /// answer all at once and that works too). `ai.stream false` turns it off.
    public var stream = true
    public var maxRetries = 3

    public init(kind: Kind, model: String, baseURL: URL, apiKey: String?) {
        self.kind = kind
        self.model = model
        self.baseURL = baseURL
        self.apiKey = apiKey
    }

    /// `Authorization: Bearer …` for OpenAI-compatible servers, none without a key.
    var bearerHeaders: [String: String] {
        guard let key = apiKey, !key.isEmpty else { return [:] }
        return ["Authorization": "Bearer \(key)"]
    }

    public static func defaultBaseURL(_ kind: Kind) -> URL {
        switch kind {
        case .openai: URL(string: "https://api.openai.com/v1")!  // constant, valid
        case .anthropic: URL(string: "https://api.anthropic.com")!  // constant, valid
        }
    }

    public static func defaultModel(_ kind: Kind) -> String {
        kind == .openai ? "gpt-4o-mini" : "claude-3-5-haiku-latest"
    }
}

/// A request for a JSON answer matching `schema`.
public struct LLMRequest: Sendable {
    public var system: String
    public var prompt: String
    public var schemaName: String
    public var schema: JSONValue
    /// Called with the number of characters of the answer received so far, while it streams.
    public var onProgress: (@Sendable (Int) -> Void)? = nil
    /// What the caller will check the answer for: the problem, or nil when it is usable. Lets a
    /// call's record say `invalid_answer` instead of `ok` when the model answered wrongly.
    public var check: (@Sendable (String) -> String?)? = nil

    /// The answer's room in tokens (the request's `max_tokens`): the largest JSON the schema
    /// admits, at about three characters a token, with a margin.
    public var maxTokens: Int { Self.answerTokens(schema) }

    public static func answerTokens(_ schema: JSONValue) -> Int {
        guard let chars = maxCharacters(schema) else { return 4096 }
        return Swift.min(16_384, Swift.max(256, chars / 3 + 128))
    }

    /// The longest JSON text `schema` admits, in characters, or nil when it bounds nothing.
    static func maxCharacters(_ schema: JSONValue) -> Int? {
        let types = schema["type"]?.arrayValue?.compactMap(\.stringValue) ?? [schema["type"]?.stringValue ?? ""]
        var best = 0
        for type in types {
            let n: Int?
            switch type {
            case "string": n = schema["maxLength"]?.intValue.map { Int($0) * 2 + 2 }  // escapes
            case "integer": n = 20
            case "number": n = 32
            case "boolean", "null": n = 5
            case "array":
                if let items = schema["maxItems"]?.intValue, let each = maxCharacters(schema["items"] ?? .object([:])) {
                    n = Int(items) * (each + 2) + 2
                } else {
                    n = nil
                }
            case "object":
                var sum = 2
                for (key, sub) in schema["properties"]?.objectValue ?? [:] {
                    guard let each = maxCharacters(sub) else { return nil }
                    sum += key.count + 4 + each
                }
                n = sum
            default: n = nil
            }
            guard let n else { return nil }
            best = Swift.max(best, n)
        }
        return best
    }
}

public struct LLMUsage: Sendable, Codable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
}

public struct LLMResponse: Sendable {
    /// The raw text the model produced (JSON expected).
    public var text: String
    public var usage: LLMUsage?
    public var model: String
    /// The model stopped because it ran out of room (`finish_reason: length`, `stop_reason: max_tokens`).
    public var truncated = false
    /// An answer given in an earlier round of a multi round-trip request, replayed: it was
    /// recorded when it first arrived.
    public var replayed = false

    public init(text: String, usage: LLMUsage?, model: String, truncated: Bool = false) {
        self.text = text
        self.usage = usage
        self.model = model
        self.truncated = truncated
    }
}

/// One protocol for every model server.
public protocol LLMProvider: Sendable {
    var name: String { get }
    /// openai, anthropic or sampling: what `minsky usage` groups by.
    var kind: String { get }
    /// The model asked for (the answer may name the exact one it used).
    var model: String { get }
    func complete(_ request: LLMRequest) async throws -> LLMResponse
}

/// An answer that passed its check, and what getting it took.
public struct CheckedAnswer<Value: Sendable>: Sendable {
    public var value: Value
    public var model: String
    public var attempts: Int
    public var usage: [LLMUsage]
}

extension LLMProvider {
    /// Asks for `request`, checks the answer (`check` reads the text; a failure's message says
    /// what is wrong), and when it is rejected asks once more, quoting the problem and the
    /// rejected answer. A second rejection is an error naming `what`: nothing was written.
    public func completeChecked<Value: Sendable>(
        _ request: LLMRequest, what: String, check: @escaping @Sendable (String) -> Result<Value, MinskyError>
    ) async throws -> CheckedAnswer<Value> {
        var request = request
        request.check = { text in
            if case .failure(let e) = check(text) { return e.message }
            return nil
        }
        var usage: [LLMUsage] = []
        let first = try await complete(request)
        if let u = first.usage { usage.append(u) }
        let problem: MinskyError
        switch check(first.text) {
        case .success(let value): return CheckedAnswer(value: value, model: first.model, attempts: 1, usage: usage)
        case .failure(let e): problem = e
        }
        request.prompt +=
            "\n\nYour previous answer was rejected: \(problem.message)\nPrevious answer:\n\(first.text.prefix(4000))\n\nAnswer again, fixing that, with JSON matching the schema."
        let second = try await complete(request)
        if let u = second.usage { usage.append(u) }
        switch check(second.text) {
        case .success(let value): return CheckedAnswer(value: value, model: second.model, attempts: 2, usage: usage)
        case .failure(let again):
            throw MinskyError.invalid(
                "answer",
                "the model's \(what) did not match the schema, even after one repair attempt (\(again.message)); nothing was written"
            )
        }
    }

    /// This provider, recording every call (tokens, time, outcome) in `store`.
    public func recording(to store: any MinskyStore, purpose: String, taskId: TaskID? = nil) -> any LLMProvider {
        RecordingProvider(base: self, store: store, purpose: purpose, taskId: taskId)
    }
}

/// Records each call in the store after it ends, failed ones too.
struct RecordingProvider: LLMProvider {
    let base: any LLMProvider
    let store: any MinskyStore
    let purpose: String
    let taskId: TaskID?
    var name: String { base.name }
    var kind: String { base.kind }
    var model: String { base.model }

    func complete(_ request: LLMRequest) async throws -> LLMResponse {
        try await AICallRecorder.recorded(store, purpose: purpose, provider: kind, model: base.model, taskId: taskId) {
            let response = try await base.complete(request)
            return (response, response.model, response.usage)
        } outcome: { response in
            request.check?(response.text) == nil ? "ok" : "invalid_answer"
        }
    }
}

/// Writes one `AICall` per model call into the store. A record that cannot be written does not
/// fail the call: the answer matters more than its bookkeeping.
enum AICallRecorder {
    static func outcome(of error: any Error) -> String {
        if error is CancellationError { return "cancelled" }
        return (error as? MinskyError)?.code.rawValue ?? "error"
    }

    /// Runs `call` and records it: the model and tokens it reports, the time, the outcome;
    /// a failed call is recorded under `model`, without tokens, and rethrown.
    static func recorded<T>(
        _ store: any MinskyStore, purpose: String, provider: String, model: String, taskId: TaskID?,
        _ call: () async throws -> (T, model: String, usage: LLMUsage?),
        outcome success: (T) -> String = { _ in "ok" }
    ) async throws -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        func record(_ model: String, _ usage: LLMUsage?, _ outcome: String) async {
            let ms = Int((DispatchTime.now().uptimeNanoseconds - t0) / 1_000_000)
            try? await store.recordAICall(
                AICall(
                    at: .now(), purpose: purpose, provider: provider, model: model, taskId: taskId,
                    inputTokens: usage?.inputTokens, outputTokens: usage?.outputTokens, durationMs: ms, outcome: outcome
                ))
        }
        do {
            let (value, used, usage) = try await call()
            if (value as? LLMResponse)?.replayed != true { await record(used, usage, success(value)) }
            return value
        } catch is InputRequired {
            throw InputRequired()  // not a call yet: the client is asked, and the request retried
        } catch {
            await record(model, nil, outcome(of: error))
            throw error
        }
    }
}

public enum Providers {
    public static func make(_ config: ProviderConfig) -> any LLMProvider {
        switch config.kind {
        case .openai: OpenAIProvider(config: config)
        case .anthropic: AnthropicProvider(config: config)
        }
    }
}
