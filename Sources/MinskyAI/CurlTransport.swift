import CLibCurl
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One HTTP exchange through libcurl on a thread of its own, which sleeps in `poll` while the
/// server thinks: waiting on a model costs no CPU (URLSession on Linux busy-polled a core for the
/// length of every answer: 6.3 s of CPU for an 8 s stream, BENCHMARKS.md). The request's time-out
/// is the longest silence allowed; cancelling the calling task aborts the transfer within a second.
enum CurlTransport {
    private static let initialized: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    /// What the body callbacks see. `@unchecked Sendable`: touched by the transfer's thread only,
    /// except `cancelled` (a Mutex).
    final class Context: @unchecked Sendable {
        let onData: (Data, HTTPURLResponse) -> Bool
        var status = 0
        var headers: [String: String] = [:]
        var response: HTTPURLResponse?
        let url: URL
        let cancelled = Mutex(false)
        var stoppedByCaller = false
        /// The longest silence allowed, and when the server last sent anything.
        var silence: Double = 300
        var lastHeard = Date()
        var timedOut = false

        init(url: URL, onData: @escaping (Data, HTTPURLResponse) -> Bool) {
            self.url = url
            self.onData = onData
        }
    }

    /// Performs `request`; every chunk of the body goes to `onData` with the response head, which
    /// returns false to stop the transfer (the answer is complete). Returns the response head.
    static func perform(_ request: URLRequest, onData: @escaping (Data, HTTPURLResponse) -> Bool) async throws
        -> HTTPURLResponse
    {
        guard let url = request.url else { throw URLError(.badURL) }
        let context = Context(url: url, onData: onData)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPURLResponse, any Error>) in
                let thread = Thread {
                    cont.resume(with: Result { try run(request, context) })
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        } onCancel: {
            context.cancelled.withLock { $0 = true }
        }
    }

    static func run(_ request: URLRequest, _ context: Context) throws -> HTTPURLResponse {
        _ = initialized
        guard let curl = curl_easy_init() else { throw URLError(.unknown) }
        defer { curl_easy_cleanup(curl) }
        let me = Unmanaged.passUnretained(context).toOpaque()
        _ = mk_curl_str(curl, CURLOPT_URL, context.url.absoluteString)
        _ = mk_curl_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = mk_curl_long(curl, CURLOPT_FOLLOWLOCATION, 0)
        let silence = max(1, Int(request.timeoutInterval))
        _ = mk_curl_long(curl, CURLOPT_CONNECTTIMEOUT, min(silence, 30))
        // The silence limit is kept by the progress callback (called at least once a second):
        // nothing from the server for `silence` seconds ends the transfer as timed out.
        context.silence = request.timeoutInterval
        context.lastHeard = Date()
        var list: UnsafeMutablePointer<curl_slist>?
        for (k, v) in request.allHTTPHeaderFields ?? [:] { list = curl_slist_append(list, "\(k): \(v)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(list) }
        _ = mk_curl_slist(curl, CURLOPT_HTTPHEADER, list)
        let body = request.httpBody ?? Data()
        let bodyCopy = body.withUnsafeBytes { Array($0.bindMemory(to: CChar.self)) }
        if request.httpMethod == "POST" || !body.isEmpty {
            _ = mk_curl_long(curl, CURLOPT_POST, 1)
            _ = mk_curl_size(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyCopy.count))
        }
        let result: CURLcode = bodyCopy.withUnsafeBufferPointer { buf in
            if request.httpMethod == "POST" || !body.isEmpty {
                _ = mk_curl_ptr(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buf.baseAddress))
            }
            _ = mk_curl_header(curl) { ptr, size, count, user in
                guard let ptr, let user else { return 0 }
                let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                ctx.lastHeard = Date()
                let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * count), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if line.hasPrefix("HTTP/") {
                    ctx.headers = [:]  // a new response (after a 100, say)
                    ctx.status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                } else if let colon = line.firstIndex(of: ":") {
                    ctx.headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(
                        in: .whitespaces)
                }
                return size * count
            }
            _ = mk_curl_ptr(curl, CURLOPT_HEADERDATA, me)
            _ = mk_curl_write(curl) { ptr, size, count, user in
                guard let ptr, let user else { return 0 }
                let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                ctx.lastHeard = Date()
                if ctx.response == nil {
                    ctx.response = HTTPURLResponse(
                        url: ctx.url, statusCode: ctx.status, httpVersion: "HTTP/1.1", headerFields: ctx.headers)
                }
                guard let response = ctx.response else { return 0 }
                let data = Data(bytes: ptr, count: size * count)
                if !ctx.onData(data, response) {
                    ctx.stoppedByCaller = true
                    return 0  // abort: the answer is complete
                }
                return size * count
            }
            _ = mk_curl_ptr(curl, CURLOPT_WRITEDATA, me)
            _ = mk_curl_progress(curl) { user, _, _, _, _ in
                guard let user else { return 0 }
                let ctx = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                if ctx.cancelled.withLock({ $0 }) { return 1 }
                if Date().timeIntervalSince(ctx.lastHeard) > ctx.silence {
                    ctx.timedOut = true
                    return 1
                }
                return 0
            }
            _ = mk_curl_ptr(curl, CURLOPT_XFERINFODATA, me)
            return curl_easy_perform(curl)
        }
        let status = Int(mk_curl_status(curl))
        if context.response == nil {
            context.response = HTTPURLResponse(
                url: context.url, statusCode: status == 0 ? context.status : status, httpVersion: "HTTP/1.1",
                headerFields: context.headers)
        }
        if result == CURLE_OK || (result == CURLE_WRITE_ERROR && context.stoppedByCaller) {
            guard let response = context.response else { throw URLError(.badServerResponse) }
            return response
        }
        if context.cancelled.withLock({ $0 }) { throw CancellationError() }
        if context.timedOut {
            throw NSError(
                domain: NSURLErrorDomain, code: NSURLErrorTimedOut,
                userInfo: [NSLocalizedDescriptionKey: "no answer for \(Int(context.silence)) s"])
        }
        let message = String(cString: curl_easy_strerror(result))
        let code: Int
        switch result {
        case CURLE_OPERATION_TIMEDOUT: code = NSURLErrorTimedOut
        case CURLE_COULDNT_RESOLVE_HOST: code = NSURLErrorCannotFindHost
        case CURLE_COULDNT_CONNECT: code = NSURLErrorCannotConnectToHost
        default: code = NSURLErrorNetworkConnectionLost
        }
        throw NSError(domain: NSURLErrorDomain, code: code, userInfo: [NSLocalizedDescriptionKey: message])
    }
}
