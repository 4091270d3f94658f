import Foundation
import MinskyCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// JSON over HTTP with time-outs and retries: 429 and 5xx are retried with exponential backoff
/// and jitter, honouring `Retry-After`. Errors name the server and status, never the API key.
enum HTTP {
    /// One exchange; cancelling the calling task cancels the HTTP request.
    static func send(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let body = Mutex(Data())
        let response = try await CurlTransport.perform(request) { chunk, _ in
            body.withLock { $0.append(chunk) }
            return true
        }
        return (body.withLock { $0 }, response)
    }

    /// One exchange whose answer may be a server-sent event stream: each `data:` payload goes to
    /// `onEvent` as it arrives, and the returned body is empty. Any other answer (an error, or a
    /// server that ignored `"stream": true`) is returned whole. The request's time-out is the
    /// longest silence allowed, so a long answer that keeps streaming never times out.
    /// `onEvent` returns true at the stream's last event ([DONE], message_stop): the answer is
    /// complete then, whether or not the server closes the connection.
    static func sendStreaming(_ request: URLRequest, onEvent: @escaping @Sendable (String) -> Bool) async throws -> (
        Data, HTTPURLResponse
    ) {
        let reader = SSEReader(onEvent: onEvent)
        let response = try await CurlTransport.perform(request) { chunk, head in reader.take(chunk, head) }
        return (reader.body.withLock { $0 }, response)
    }

    /// Splits a streamed body into `data:` payloads; anything not an event stream is kept whole.
    final class SSEReader: Sendable {
        let onEvent: @Sendable (String) -> Bool
        let body = Mutex(Data())
        let pending = Mutex<[UInt8]>([])

        init(onEvent: @escaping @Sendable (String) -> Bool) { self.onEvent = onEvent }

        /// Returns false once the last event arrived (the transfer may stop).
        func take(_ chunk: Data, _ head: HTTPURLResponse) -> Bool {
            let streaming =
                (200..<300).contains(head.statusCode)
                && (head.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased().contains("text/event-stream")
            guard streaming else {
                body.withLock { $0.append(chunk) }
                return true
            }
            var lines: [ArraySlice<UInt8>] = []
            pending.withLock { p in
                p.append(contentsOf: chunk)
                var start = 0
                while let nl = p[start...].firstIndex(of: 10) {
                    var line = p[start..<nl]
                    if line.last == 13 { line = line.dropLast() }
                    lines.append(line)
                    start = nl + 1
                }
                p.removeFirst(start)
            }
            for line in lines where line.starts(with: Array("data:".utf8)) {
                var payload = line.dropFirst(5)
                if payload.first == 32 { payload = payload.dropFirst() }
                if onEvent(String(decoding: payload, as: UTF8.self)) { return false }
            }
            return true
        }
    }

    static func postJSON(url: URL, headers: [String: String], body: JSONValue, config: ProviderConfig) async throws
        -> JSONValue
    {
        try await post(url: url, headers: headers, body: body, config: config, onEvent: nil) ?? .null
    }

    /// POSTs `body`; with `onEvent`, asks for a stream and returns nil when one came (its events
    /// went to `onEvent`), or the JSON body when the server answered all at once.
    static func post(
        url: URL, headers: [String: String], body: JSONValue, config: ProviderConfig,
        onEvent: (@Sendable (String) -> Bool)?
    ) async throws -> JSONValue? {
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        req.timeoutInterval = config.timeout
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        req.httpBody = Data(body.canonicalJSON().utf8)
        let where_ = "\(url.host ?? "?")\(url.port.map { ":\($0)" } ?? "")"
        var attempt = 0
        while true {
            try Task.checkCancellation()
            let data: Data
            let response: HTTPURLResponse
            do {
                if let onEvent {
                    (data, response) = try await sendStreaming(req, onEvent: onEvent)
                    if (200..<300).contains(response.statusCode), data.isEmpty,
                        (response.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased().contains(
                            "text/event-stream")
                    {
                        return nil
                    }
                } else {
                    (data, response) = try await send(req)
                }
            } catch let e as MinskyError {
                throw e
            } catch {
                let ns = error as NSError
                if ns.code == NSURLErrorTimedOut {
                    throw MinskyError(
                        .modelUnavailable,
                        "the model server at \(where_) sent nothing for \(Int(config.timeout)) s; raise the time-out (MINSKY_AI_TIMEOUT) or try a smaller model"
                    )
                }
                if attempt < config.maxRetries {
                    attempt += 1
                    try await backoff(attempt, retryAfter: nil)
                    continue
                }
                throw MinskyError(
                    .modelUnavailable, "cannot reach the model server at \(where_): \(ns.localizedDescription)")
            }
            let status = response.statusCode
            if status == 429 || status >= 500 {
                if attempt < config.maxRetries {
                    attempt += 1
                    try await backoff(
                        attempt, retryAfter: response.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init))
                    continue
                }
                throw MinskyError(
                    .modelUnavailable,
                    "the model server at \(where_) answered HTTP \(status) \(attempt + 1) times; try again later")
            }
            guard (200..<300).contains(status) else {
                let detail =
                    (try? JSONParser.parse(data))?["error"]?["message"]?.stringValue
                    ?? String(decoding: data.prefix(200), as: UTF8.self)
                let hint = status == 401 || status == 403 ? " — check ai.apiKey (minsky config set ai.apiKey …)" : ""
                throw MinskyError(
                    .invalidInput,
                    "the model server at \(where_) refused the request (HTTP \(status)): \(scrub(detail, config.apiKey))\(hint)"
                )
            }
            do { return try JSONParser.parse(data) } catch {
                throw MinskyError(.internal, "the model server at \(where_) sent a body that is not JSON")
            }
        }
    }

    /// 0.5 s, 1 s, 2 s … plus up to 25% jitter, or what Retry-After asks (capped at 60 s).
    static func backoff(_ attempt: Int, retryAfter: Double?) async throws {
        let base = retryAfter ?? (0.5 * pow(2, Double(attempt - 1)))
        let delay = min(60, base * (retryAfter == nil ? Double.random(in: 1...1.25) : 1))
        try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
    }

    static func scrub(_ s: String, _ key: String?) -> String {
        guard let key, !key.isEmpty else { return s }
        return s.replacingOccurrences(of: key, with: "****")
    }
}
