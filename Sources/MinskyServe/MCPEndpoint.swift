import FlyingFox
import FlyingSocks
import Foundation
import MinskyBoard
import MinskyCore
import MinskyMCP
import Synchronization

typealias JSONValue = MinskyCore.JSONValue

/// The MCP endpoint of `minsky serve` (`POST /mcp`), Streamable HTTP in both eras:
///
/// - 2026-07-28: every request is its own POST carrying its `_meta`; the `MCP-Protocol-Version`,
///   `Mcp-Method` and `Mcp-Name` headers must match the body (else 400, `HeaderMismatch`).
///   Nothing is kept between requests, so any instance answers any request.
/// - 2025-03-26 … 2025-11-25: `initialize` opens a session whose id is the handshake itself,
///   sealed under the store's server key (`Mcp-Session-Id`); every later POST of the session
///   replays it. Sessions are stateless too: any instance sharing the store opens them. The
///   server sends no requests of its own over HTTP (sampling and elicitation are not offered to
///   such sessions), so no POST waits on another. GET and DELETE answer 405.
///
/// Each request runs in an `MCPServer` of its own on the caller's store (on PostgreSQL, a store
/// connected as the token's role), answering with one JSON object.
public final class MCPEndpoint: Sendable {
    public typealias ServerFactory =
        @Sendable (_ caller: ServeCaller, _ emit: @escaping @Sendable ([UInt8]) -> Void) async throws -> MCPServer

    let authority: TokenAuthority
    let guardBox: Mutex<ServeGuard?>
    let sessionKey: [UInt8]
    let makeServer: ServerFactory

    /// The largest request body read (a task's text at its limits fits many times over).
    public static let maxBody = 4 * 1024 * 1024
    static let replayID = "minsky-session-replay"
    static let versionKey = "io.modelcontextprotocol/protocolVersion"

    public init(authority: TokenAuthority, sessionKey: [UInt8], makeServer: @escaping ServerFactory) {
        self.authority = authority
        self.sessionKey = sessionKey
        self.makeServer = makeServer
        guardBox = Mutex(nil)
    }

    /// Set once the port is bound: until then every request is refused.
    public func setGuard(_ g: ServeGuard) { guardBox.withLock { $0 = g } }

    /// Why a request naming `host` and `origin` is refused (the same check as /mcp's).
    public func refusal(host: String?, origin: String?) -> String? {
        guard let g = guardBox.withLock({ $0 }) else { return "the server is starting" }
        return g.refusal(host: host, origin: origin)
    }

    /// The hosts this server answers to (for the board's WebSocket origins).
    public var hosts: [String] { guardBox.withLock { $0.map { Array($0.hosts).sorted() } ?? [] } }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let header = { (name: String) in request.headers[HTTPHeader(name)] }
        guard let g = guardBox.withLock({ $0 }) else { return Self.plain(503, "the server is starting") }
        if let why = g.refusal(host: header("Host"), origin: header("Origin")) {
            return Self.rpcError(403, id: nil, code: -32600, why)
        }
        guard request.method == .POST else {
            return HTTPResponse(
                statusCode: .methodNotAllowed, headers: [HTTPHeader("Allow"): "POST"],
                body: Data("the MCP endpoint takes POST only (no standalone stream, no session deletion)".utf8))
        }
        // Authentication before anything of the body is read.
        let caller: ServeCaller
        switch await authority.check(authorization: header("Authorization")) {
        case .success(let c): caller = c
        case .failure(let r):
            var challenge = "Bearer realm=\"minsky\""
            if let e = r.error { challenge += ", error=\"\(e)\", error_description=\"\(r.message)\"" }
            return HTTPResponse(
                statusCode: .unauthorized,
                headers: [
                    HTTPHeader("WWW-Authenticate"): challenge, HTTPHeader("Content-Type"): "application/json",
                    HTTPHeader("Cache-Control"): "no-store",
                ],
                body: Data(Self.errorJSON(id: nil, code: -32001, r.message).utf8))
        }
        guard let body = try? await BoardHandler.body(of: request, limit: Self.maxBody) else {
            return Self.rpcError(
                413, id: nil, code: -32600, "the request body is larger than \(Self.maxBody / 1024 / 1024) MiB")
        }
        guard let message = try? JSONParser.parse(Array(body)), case .object(let obj) = message else {
            return Self.rpcError(400, id: nil, code: -32700, "the body must be one JSON-RPC message (a JSON object)")
        }
        // A notification, or an answer to a request this server never sends over HTTP.
        guard let method = obj["method"]?.stringValue, let id = obj["id"], !id.isNull else {
            return HTTPResponse(statusCode: .accepted)
        }
        let params = obj["params"]?.objectValue ?? [:]
        let version = params["_meta"]?[Self.versionKey]?.stringValue
        var lines: [[UInt8]] = [Array(body)]
        var newSession: String?
        if let version {
            if let mismatch = Self.headerMismatch(
                version: version, method: method, params: params, header: header)
            {
                return Self.rpcError(400, id: id, code: -32020, "Header mismatch: \(mismatch)")
            }
        } else if method == "initialize" {
            newSession = sealSession(params, caller: caller)
            lines = [Array(Self.withoutServerRequests(obj).canonicalJSON().utf8)]
        } else if method != "ping" {
            guard let sid = header("Mcp-Session-Id") else {
                return Self.rpcError(
                    400, id: id, code: -32600,
                    "Bad Request: no Mcp-Session-Id; send initialize first, or a request of protocol version 2026-07-28"
                )
            }
            guard let handshake = openSession(sid, caller: caller) else {
                return Self.rpcError(404, id: id, code: -32600, "unknown or expired session; initialize again")
            }
            lines = [
                Array(
                    JSONValue.object([
                        "jsonrpc": "2.0", "id": .string(Self.replayID), "method": "initialize",
                        "params": .object(handshake),
                    ]).canonicalJSON().utf8),
                Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8), Array(body),
            ]
        }
        if version != nil && method == "subscriptions/listen" {
            return await listen(lines, id: id, caller: caller)
        }
        let out = Mutex<[JSONValue]>([])
        do {
            let server = try await makeServer(caller) { bytes in
                if let m = try? JSONParser.parse(bytes) { out.withLock { $0.append(m) } }
            }
            await server.exchange(lines)
        } catch {
            return Self.rpcError(500, id: id, code: -32603, "the store cannot be opened: \(error)")
        }
        guard let reply = out.withLock({ $0 }).first(where: { $0["id"] == id && $0["method"] == nil }) else {
            return Self.rpcError(500, id: id, code: -32603, "no answer was produced")
        }
        var status = 200
        if version != nil, let code = reply["error"]?["code"]?.intValue {
            if code == -32601 { status = 404 }
            if code == -32022 || code == -32020 || code == -32021 { status = 400 }
        }
        var headers: [HTTPHeader: String] = [
            HTTPHeader("Content-Type"): "application/json", HTTPHeader("Cache-Control"): "no-store",
        ]
        if let newSession, reply["result"] != nil { headers[HTTPHeader("Mcp-Session-Id")] = newSession }
        return HTTPResponse(
            statusCode: HTTPStatusCode(status, phrase: status == 200 ? "OK" : "Status \(status)"),
            headers: HTTPHeaders(headers), body: Data(reply.canonicalJSON().utf8))
    }

    /// `subscriptions/listen`: an SSE stream that starts with the acknowledgment and carries the
    /// notifications the client opted into until it closes the stream (the cancellation), with a
    /// comment line every 15 s to keep intermediaries from closing it. Changes made through other
    /// instances arrive too: the change feed reads the store's history (LISTEN/NOTIFY wakes it).
    func listen(_ lines: [[UInt8]], id: JSONValue, caller: ServeCaller) async -> HTTPResponse {
        let (stream, sink) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1024))
        let server: MCPServer
        do {
            server = try await makeServer(caller) { bytes in
                sink.yield(Array("event: message\ndata: ".utf8) + bytes.filter { $0 != 0x0A } + Array("\n\n".utf8))
            }
        } catch {
            return Self.rpcError(500, id: id, code: -32603, "the store cannot be opened: \(error)")
        }
        let keepAlive = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 15_000_000_000)
                if case .terminated = sink.yield(Array(":\n\n".utf8)) { return }
            }
        }
        sink.onTermination = { _ in
            keepAlive.cancel()
            server.endSubscriptions()
        }
        await server.exchange(lines)
        return HTTPResponse(
            statusCode: .ok,
            headers: [
                HTTPHeader("Content-Type"): "text/event-stream", HTTPHeader("Cache-Control"): "no-store",
                HTTPHeader("X-Accel-Buffering"): "no",
            ],
            body: HTTPBodySequence(from: MessageBytes(stream: stream)))
    }

    /// The first way the mirrored headers differ from the body, or nil when they agree.
    static func headerMismatch(
        version: String, method: String, params: [String: JSONValue], header: (String) -> String?
    ) -> String? {
        guard let v = header("MCP-Protocol-Version") else { return "MCP-Protocol-Version header missing" }
        guard v == version else {
            return "MCP-Protocol-Version header '\(v.prefix(40))' does not match the body's _meta version '\(version)'"
        }
        guard let m = header("Mcp-Method") else { return "Mcp-Method header missing" }
        guard m == method else { return "Mcp-Method header '\(m.prefix(60))' does not match body method '\(method)'" }
        let named: String? =
            switch method {
            case "tools/call", "prompts/get": params["name"]?.stringValue
            case "resources/read": params["uri"]?.stringValue
            default: nil
            }
        if let named {
            guard let raw = header("Mcp-Name") else { return "Mcp-Name header missing" }
            guard let value = decodeHeaderValue(raw) else { return "Mcp-Name header is malformed" }
            guard value == named else {
                return "Mcp-Name header value '\(value.prefix(60))' does not match body value '\(named.prefix(60))'"
            }
        }
        return nil
    }

    /// A header value as sent, or decoded from the `=?base64?…?=` form; nil when malformed.
    static func decodeHeaderValue(_ raw: String) -> String? {
        guard raw.hasPrefix("=?base64?") && raw.hasSuffix("?=") && raw.count >= 11 else {
            return raw.allSatisfy({ $0.isASCII && ($0 == "\t" || ($0 >= " " && $0 != "\u{7F}")) }) ? raw : nil
        }
        let inner = String(raw.dropFirst(9).dropLast(2))
        return Data(base64Encoded: inner).flatMap { String(data: $0, encoding: .utf8) }
    }

    /// The handshake without the client's sampling and elicitation: over HTTP this server asks
    /// the client nothing (a question would need an answer in another POST).
    static func withoutServerRequests(_ obj: [String: JSONValue]) -> JSONValue {
        var o = obj
        var p = obj["params"]?.objectValue ?? [:]
        var caps = p["capabilities"]?.objectValue ?? [:]
        caps["sampling"] = nil
        caps["elicitation"] = nil
        p["capabilities"] = .object(caps)
        o["params"] = .object(p)
        return .object(o)
    }

    // MARK: Sessions of the handshake era

    func sealSession(_ params: [String: JSONValue], caller: ServeCaller) -> String {
        let handshake = Self.withoutServerRequests(["params": .object(params)])["params"] ?? .object([:])
        return SealedJSON.seal(["v": 1, "t": .string(caller.tokenID), "h": handshake], key: sessionKey)
    }

    /// The handshake a session id seals, if it is genuine and belongs to this caller's token.
    func openSession(_ sid: String, caller: ServeCaller) -> [String: JSONValue]? {
        guard let payload = SealedJSON.open(sid, key: sessionKey), payload["v"] == 1,
            payload["t"]?.stringValue == caller.tokenID
        else { return nil }
        return payload["h"]?.objectValue
    }

    // MARK: Plumbing

    static func rpcError(_ status: Int, id: JSONValue?, code: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(
            statusCode: HTTPStatusCode(status, phrase: "Status \(status)"),
            headers: [HTTPHeader("Content-Type"): "application/json", HTTPHeader("Cache-Control"): "no-store"],
            body: Data(Self.errorJSON(id: id, code: code, message).utf8))
    }

    /// A JSON-RPC error response (with no `id` when there is none to answer).
    static func errorJSON(id: JSONValue?, code: Int, _ message: String) -> String {
        var o: [String: JSONValue] = [
            "jsonrpc": "2.0", "error": ["code": .int(Int64(code)), "message": .string(message)],
        ]
        if let id { o["id"] = id }
        return JSONValue.object(o).canonicalJSON()
    }

    static func plain(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(
            statusCode: HTTPStatusCode(status, phrase: "Status \(status)"),
            headers: [HTTPHeader("Content-Type"): "text/plain; charset=utf-8"], body: Data(text.utf8))
    }
}

/// Server-sent events as the bytes of a chunked response body: one chunk per event, sent as it
/// is produced.
struct MessageBytes: AsyncBufferedSequence, Sendable {
    typealias Element = UInt8
    let stream: AsyncStream<[UInt8]>

    func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator()) }

    struct Iterator: AsyncBufferedIteratorProtocol {
        var base: AsyncStream<[UInt8]>.Iterator
        var pending: [UInt8] = []

        mutating func next() async throws -> UInt8? {
            if pending.isEmpty {
                guard let chunk = await base.next() else { return nil }
                pending = chunk
            }
            return pending.isEmpty ? nil : pending.removeFirst()
        }

        mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
            if !pending.isEmpty {
                defer { pending = [] }
                return pending
            }
            return await base.next()
        }
    }
}
