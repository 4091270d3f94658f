import Foundation
import MinskyCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// JSON over HTTP with time-outs and retries: 429 and 5xx are retried with exponential backoff
/// and jitter, honouring `Retry-After`. Errors name the server and status, never the API key.
enum HTTP {
    static let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 300
        return URLSession(configuration: c)
    }()

    /// One exchange; cancelling the calling task cancels the HTTP request.
    static func send(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let box = TaskBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { cont in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error {
                        cont.resume(throwing: error)
                        return
                    }
                    guard let http = response as? HTTPURLResponse else {
                        cont.resume(
                            throwing: MinskyError(
                                .modelUnavailable, "no HTTP response from \(request.url?.host ?? "the model server")"))
                        return
                    }
                    cont.resume(returning: (data ?? Data(), http))
                }
                box.task.withLock { $0 = task }
                task.resume()
            }
        } onCancel: {
            box.task.withLock { $0?.cancel() }
        }
    }

    /// The in-flight request, for cancellation. `@unchecked Sendable`: guarded by its Mutex.
    final class TaskBox: @unchecked Sendable {
        let task = Mutex<URLSessionDataTask?>(nil)
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
        let box = TaskBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { cont in
                let delegate = StreamDelegate(onEvent: onEvent, continuation: cont)
                let queue = OperationQueue()
                queue.maxConcurrentOperationCount = 1
                let session = URLSession(configuration: session.configuration, delegate: delegate, delegateQueue: queue)
                let task = session.dataTask(with: request)
                box.task.withLock { $0 = task }
                task.resume()
            }
        } onCancel: {
            box.task.withLock { $0?.cancel() }
        }
    }

    /// Collects a streamed answer. Callbacks arrive one at a time on the session's serial queue,
    /// hence `@unchecked Sendable`.
    final class StreamDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let onEvent: @Sendable (String) -> Bool
        var continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>?
        var response: HTTPURLResponse?
        var streaming = false
        var body = Data()
        var pending: [UInt8] = []

        init(
            onEvent: @escaping @Sendable (String) -> Bool,
            continuation: CheckedContinuation<(Data, HTTPURLResponse), any Error>
        ) {
            self.onEvent = onEvent
            self.continuation = continuation
        }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            let http = response as? HTTPURLResponse
            self.response = http
            streaming =
                (200..<300).contains(http?.statusCode ?? 0)
                && (http?.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased().contains("text/event-stream")
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard streaming else {
                body.append(data)
                return
            }
            pending.append(contentsOf: data)
            var start = 0
            while let nl = pending[start...].firstIndex(of: 10) {
                var line = pending[start..<nl]
                if line.last == 13 { line = line.dropLast() }
                start = nl + 1
                if line.starts(with: Array("data:".utf8)) {
                    var payload = line.dropFirst(5)
                    if payload.first == 32 { payload = payload.dropFirst() }
                    if onEvent(String(decoding: payload, as: UTF8.self)), let response {
                        // The answer is complete: return it now and let go of the connection.
                        continuation?.resume(returning: (body, response))
                        continuation = nil
                        dataTask.cancel()
                        return
                    }
                }
            }
            pending.removeFirst(start)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            if let error {
                continuation?.resume(throwing: error)
            } else if let response {
                continuation?.resume(returning: (body, response))
            } else {
                continuation?.resume(
                    throwing: MinskyError(
                        .modelUnavailable,
                        "no HTTP response from \(task.originalRequest?.url?.host ?? "the model server")"))
            }
            continuation = nil
            session.finishTasksAndInvalidate()
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
