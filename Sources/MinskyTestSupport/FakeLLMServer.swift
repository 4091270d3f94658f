import Foundation
import MinskyCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A scripted HTTP/1.1 server on 127.0.0.1 standing in for OpenAI-compatible and Anthropic APIs.
/// Each request takes the next scripted reply (the last one repeats); every request is recorded.
public final class FakeLLMServer: @unchecked Sendable {  // state behind Mutex; the socket is owned by the accept thread
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
        public var delay: Double
        /// Server-sent events instead of `body`: each block is written as it is (with a blank
        /// line after it), `interval` seconds apart.
        public var events: [String]? = nil
        public var interval: Double = 0
        /// Seconds to keep the connection open after the last event (a server that does not close).
        public var holdOpen: Double = 0

        /// An OpenAI chat completion streamed in `pieces` chunks, then the usage chunk and [DONE].
        public static func openAIStream(
            _ content: String, pieces: Int = 4, interval: Double = 0, usage: Bool = true, finish: String = "stop"
        )
            -> Reply
        {
            let chars = Array(content)
            let size = max(1, (chars.count + pieces - 1) / pieces)
            var events: [String] = [
                #"data: {"id":"c1","model":"fake-gpt","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
            ]
            for start in stride(from: 0, to: chars.count, by: size) {
                let piece: JSONValue = [
                    "id": "c1", "model": "fake-gpt",
                    "choices": [
                        [
                            "index": 0,
                            "delta": ["content": .string(String(chars[start..<min(chars.count, start + size)]))],
                        ]
                    ],
                ]
                events.append("data: " + piece.canonicalJSON())
            }
            events.append(
                #"data: {"id":"c1","model":"fake-gpt","choices":[{"index":0,"delta":{},"finish_reason":""#
                    + finish + #""}]}"#)
            if usage {
                events.append(
                    #"data: {"id":"c1","model":"fake-gpt","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":80,"total_tokens":200}}"#
                )
            }
            events.append("data: [DONE]")
            var r = Reply(body: "")
            r.events = events
            r.interval = interval
            return r
        }

        /// An Anthropic message streamed as events, the tool input in `pieces` JSON fragments.
        public static func anthropicStream(_ input: JSONValue, pieces: Int = 4, interval: Double = 0) -> Reply {
            let chars = Array(input.canonicalJSON())
            let size = max(1, (chars.count + pieces - 1) / pieces)
            func event(_ type: String, _ data: JSONValue) -> String { "event: \(type)\ndata: " + data.canonicalJSON() }
            var events = [
                event(
                    "message_start",
                    [
                        "type": "message_start",
                        "message": [
                            "id": "msg_1", "model": "fake-claude", "usage": ["input_tokens": 100, "output_tokens": 1],
                        ],
                    ]),
                event(
                    "content_block_start",
                    [
                        "type": "content_block_start", "index": 0,
                        "content_block": ["type": "tool_use", "id": "t1", "name": "decomposition", "input": [:]],
                    ]),
            ]
            for start in stride(from: 0, to: chars.count, by: size) {
                events.append(
                    event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": 0,
                            "delta": [
                                "type": "input_json_delta",
                                "partial_json": .string(String(chars[start..<min(chars.count, start + size)])),
                            ],
                        ]))
            }
            events += [
                event("content_block_stop", ["type": "content_block_stop", "index": 0]),
                event(
                    "message_delta",
                    ["type": "message_delta", "delta": ["stop_reason": "tool_use"], "usage": ["output_tokens": 50]]),
                event("message_stop", ["type": "message_stop"]),
            ]
            var r = Reply(body: "")
            r.events = events
            r.interval = interval
            return r
        }

        public init(status: Int = 200, headers: [String: String] = [:], body: String, delay: Double = 0) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }

        /// An OpenAI chat completion whose message content is `content`.
        public static func openAI(_ content: String, finish: String = "stop") -> Reply {
            let body: JSONValue = [
                "id": "chatcmpl-1", "model": "fake-gpt",
                "choices": [
                    [
                        "index": 0, "message": ["role": "assistant", "content": .string(content)],
                        "finish_reason": .string(finish),
                    ]
                ],
                "usage": ["prompt_tokens": 120, "completion_tokens": 80],
            ]
            return Reply(body: body.canonicalJSON())
        }

        /// An Anthropic message that calls the answer tool with `input`.
        public static func anthropic(_ input: JSONValue) -> Reply {
            let body: JSONValue = [
                "id": "msg_1", "model": "fake-claude",
                "content": [["type": "tool_use", "id": "t1", "name": "decomposition", "input": input]],
                "usage": ["input_tokens": 100, "output_tokens": 50],
            ]
            return Reply(body: body.canonicalJSON())
        }
    }

    public struct Request: Sendable {
        public var path: String
        public var headers: [String: String]
        public var body: JSONValue?
    }

    public let port: Int
    let fd: Int32
    let script: Mutex<[Reply]>
    let handler: (@Sendable (Request) -> Reply)?
    let log = Mutex<[Request]>([])

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { log.withLock { $0 } }

    /// Replies computed from each request (e.g. embeddings of the texts sent).
    public convenience init(handler: @escaping @Sendable (Request) -> Reply) throws {
        try self.init([Reply(body: "{}")], handler: handler)
    }

    public init(_ replies: [Reply], handler: (@Sendable (Request) -> Reply)? = nil) throws {
        script = Mutex(replies)
        self.handler = handler
        // Close-on-exec: children the tests spawn meanwhile must not inherit (and so keep open)
        // the sockets; a connection must end when this server closes it.
        #if os(Linux)
            let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let sock = socket(AF_INET, SOCK_STREAM, 0)
            _ = fcntl(sock, F_SETFD, FD_CLOEXEC)
        #endif
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(sock, 16) == 0 else { throw NSError(domain: "FakeLLMServer", code: Int(errno)) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        fd = sock
        let listener = sock
        Thread { [self] in
            while true {
                let c = accept(listener, nil, nil)
                if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
                if c < 0 { return }
                Thread { self.serve(c) }.start()
            }
        }.start()
    }

    func serve(_ c: Int32) {
        defer { close(c) }
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        while true {
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return }
            data += buf[..<n]
            if headerEnd == nil, let r = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                headerEnd = r.upperBound
                let head = String(decoding: data[..<r.lowerBound], as: UTF8.self)
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let h = headerEnd, data.count - h >= contentLength { break }
        }
        let h = headerEnd ?? data.count
        let head = String(decoding: data[..<h], as: UTF8.self).split(separator: "\r\n")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        let path = head.first?.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let request = Request(path: path, headers: headers, body: try? JSONParser.parse(data[h...]))
        log.withLock { $0.append(request) }
        let reply = handler?(request) ?? script.withLock { s -> Reply in s.count > 1 ? s.removeFirst() : s[0] }
        if reply.delay > 0 { usleep(UInt32(reply.delay * 1_000_000)) }
        func write(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeBytes { send(c, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        if let events = reply.events {
            guard
                write(
                    "HTTP/1.1 \(reply.status) X\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
                )
            else { return }
            for (i, e) in events.enumerated() {
                if i > 0, reply.interval > 0 { usleep(UInt32(reply.interval * 1_000_000)) }
                guard write(e + "\n\n") else { return }
            }
            if reply.holdOpen > 0 { usleep(UInt32(reply.holdOpen * 1_000_000)) }
            return
        }
        var out =
            "HTTP/1.1 \(reply.status) X\r\nContent-Type: application/json\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n"
        for (k, v) in reply.headers { out += "\(k): \(v)\r\n" }
        out += "\r\n" + reply.body
        _ = write(out)
    }

    /// A toy embedding model that knows a few synonyms, so "meaning" is testable: words map to
    /// concepts (auth, database, ui, docs), other words to hashed buckets; 16 dimensions.
    public static func embeddings(_ request: Request) -> Reply {
        let concepts: [String: Int] = [
            "login": 0, "sign": 0, "signin": 0, "authenticate": 0, "authentication": 0, "password": 0, "session": 0,
            "auth": 0,
            "database": 1, "table": 1, "schema": 1, "sql": 1, "index": 1, "migration": 1,
            "ui": 2, "button": 2, "css": 2, "colour": 2, "color": 2, "layout": 2,
            "docs": 3, "readme": 3, "documentation": 3, "guide": 3,
        ]
        let inputs = request.body?["input"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let data: [JSONValue] = inputs.enumerated().map { i, text in
            var v = [Double](repeating: 0, count: 16)
            for w in TextSearch.terms(text) {
                if let c = concepts[w] {
                    v[c] += 3
                } else {
                    v[4 + Int(w.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xffff }) % 12] += 1
                }
            }
            return ["index": .int(Int64(i)), "embedding": .array(v.map { .double($0) })]
        }
        let tokens = inputs.map { TextSearch.terms($0).count }.reduce(0, +)
        return Reply(
            body: JSONValue.object([
                "data": .array(data), "model": "fake-embed",
                "usage": ["prompt_tokens": .int(Int64(tokens)), "total_tokens": .int(Int64(tokens))],
            ]).canonicalJSON())
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
