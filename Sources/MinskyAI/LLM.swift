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
    public var timeout: TimeInterval = 120
    public var maxRetries = 3

    public init(kind: Kind, model: String, baseURL: URL, apiKey: String?) {
        self.kind = kind
        self.model = model
        self.baseURL = baseURL
        self.apiKey = apiKey
    }

    public static func defaultBaseURL(_ kind: Kind) -> URL {
        switch kind {
        case .openai: URL(string: "https://api.openai.com/v1")! // constant, valid
        case .anthropic: URL(string: "https://api.anthropic.com")! // constant, valid
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

    public init(text: String, usage: LLMUsage?, model: String) {
        self.text = text
        self.usage = usage
        self.model = model
    }
}

/// One protocol for every model server.
public protocol LLMProvider: Sendable {
    var name: String { get }
    func complete(_ request: LLMRequest) async throws -> LLMResponse
}

public enum Providers {
    public static func make(_ config: ProviderConfig) -> any LLMProvider {
        switch config.kind {
        case .openai: OpenAIProvider(config: config)
        case .anthropic: AnthropicProvider(config: config)
        }
    }
}
