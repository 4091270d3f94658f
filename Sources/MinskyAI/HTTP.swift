import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MinskyCore
import Synchronization

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
                if let error { cont.resume(throwing: error); return }
                guard let http = response as? HTTPURLResponse else {
                    cont.resume(throwing: MinskyError(.storeUnavailable, "no HTTP response from \(request.url?.host ?? "the model server")"))
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

    static func postJSON(url: URL, headers: [String: String], body: JSONValue, config: ProviderConfig) async throws -> JSONValue {
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
            let data: Data, response: HTTPURLResponse
            do {
                (data, response) = try await send(req)
            } catch let e as MinskyError {
                throw e
            } catch {
                let ns = error as NSError
                if ns.code == NSURLErrorTimedOut {
                    throw MinskyError(.storeUnavailable, "the model server at \(where_) did not answer within \(Int(config.timeout)) s; raise the time-out or try a smaller model")
                }
                if attempt < config.maxRetries { attempt += 1; try await backoff(attempt, retryAfter: nil); continue }
                throw MinskyError(.storeUnavailable, "cannot reach the model server at \(where_): \(ns.localizedDescription)")
            }
            let status = response.statusCode
            if status == 429 || status >= 500 {
                if attempt < config.maxRetries {
                    attempt += 1
                    try await backoff(attempt, retryAfter: response.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init))
                    continue
                }
                throw MinskyError(.storeUnavailable, "the model server at \(where_) answered HTTP \(status) \(attempt + 1) times; try again later")
            }
            guard (200..<300).contains(status) else {
                let detail = (try? JSONParser.parse(data))?["error"]?["message"]?.stringValue ?? String(decoding: data.prefix(200), as: UTF8.self)
                let hint = status == 401 || status == 403 ? " — check ai.apiKey (minsky config set ai.apiKey …)" : ""
                throw MinskyError(.invalidInput, "the model server at \(where_) refused the request (HTTP \(status)): \(scrub(detail, config.apiKey))\(hint)")
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
