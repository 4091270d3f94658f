import FlyingFox
import Foundation
import MinskyCore
import Synchronization

/// `minsky board`: a local web board on FlyingFox. It listens on 127.0.0.1 only, checks every
/// request with `BoardGuard`, serves one page (HTML, CSS and JavaScript embedded in the binary:
/// no network, no build step), the JSON API of `BoardAPI`, and a WebSocket that tells pages
/// which tasks changed, fed by the store's change feed (so changes from the CLI, agents, other
/// boards and sync all appear).
public final class BoardServer: Sendable {
    public typealias Feed =
        @Sendable (
            _ stop: @escaping @Sendable () -> Bool, _ onEvents: @escaping ([TaskEvent]) -> Void
        ) async throws -> Void

    let server: HTTPServer
    let live = LiveClients()
    let boundPort = PortBox()
    public let token: String

    let requestedPort: UInt16

    public init(api: BoardAPI, port: UInt16, token: String = BoardGuard.newToken()) throws {
        if port != 0, let problem = Self.cannotBind(port) {
            throw MinskyError.invalid(
                "port", "cannot listen on 127.0.0.1:\(port): \(problem); pick another --port, or omit it for a free one"
            )
        }
        self.token = token
        requestedPort = port
        server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: port), timeout: 60, logger: .disabled)
        handler = BoardHandler(api: api, token: token, port: boundPort, live: live, page: Self.page())
    }

    let handler: BoardHandler

    /// The port it listens on (known once `run` is listening).
    public var port: UInt16 { boundPort.value }
    public var url: String { "http://127.0.0.1:\(port)/?token=\(token)" }

    /// Serves until cancelled; follows `feed` and tells every open page what changed.
    /// `onListening` runs once the port is bound (print the URL there).
    public func run(feed: Feed?, onListening: @escaping @Sendable () -> Void) async throws {
        await server.appendRoute("*", to: handler)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.server.run() }
            do { try await server.waitUntilListening(timeout: 10) } catch {
                throw MinskyError.invalid(
                    "port",
                    "cannot listen on 127.0.0.1:\(requestedPort) (\(error)); is another board or server using it? Pick another --port, or omit it for a free one"
                )
            }
            guard case .ip4(_, let bound)? = await server.listeningAddress else {
                throw MinskyError(.internal, "the board's socket has no IPv4 address")
            }
            boundPort.set(bound)
            onListening()
            if let feed {
                let live = self.live
                group.addTask {
                    try await feed({ Task.isCancelled }) { events in
                        let ids = Array(Set(events.map(\.taskId.rawValue))).sorted()
                        live.send(
                            MinskyCore.JSONValue.object(["changed": .array(ids.map { .string($0) })]).canonicalJSON())
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Why `host:port` (IPv4; 127.0.0.1 by default) cannot be bound now (in use, not permitted,
    /// not this machine's address), or nil. `minsky serve` checks its `--listen` with it too.
    public static func cannotBind(_ port: UInt16, host: String = "127.0.0.1") -> String? {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return "'\(host)' is not an IPv4 address" }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0 ? nil : String(cString: strerror(errno))
    }

    /// The page (its stylesheet and script are separate files, `/board.css` and `/board.js`).
    static func page() -> String { String(decoding: PackageResources.board_html, as: UTF8.self) }
}

/// The WebSocket clients that want to hear about changes.
public final class LiveClients: Sendable {
    public init() {}

    let clients = Mutex<[UUID: AsyncStream<WSMessage>.Continuation]>([:])

    func add() -> (UUID, AsyncStream<WSMessage>) {
        let id = UUID()
        let (stream, cont) = AsyncStream<WSMessage>.makeStream()
        cont.onTermination = { [weak self] _ in _ = self?.clients.withLock { $0.removeValue(forKey: id) } }
        clients.withLock { $0[id] = cont }
        cont.yield(.text("{\"hello\":true}"))
        return (id, stream)
    }

    /// Ends one client's stream, which closes its socket.
    func drop(_ id: UUID) {
        clients.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// Tells every open page which tasks changed (they read them again, as themselves).
    public func changed(_ events: [TaskEvent]) {
        let ids = Array(Set(events.map(\.taskId.rawValue))).sorted()
        send(MinskyCore.JSONValue.object(["changed": .array(ids.map { .string($0) })]).canonicalJSON())
    }

    func send(_ text: String) {
        for c in clients.withLock({ Array($0.values) }) { c.yield(.text(text)) }
    }
}

struct LiveHandler: WSMessageHandler {
    let live: LiveClients
    func makeMessages(for client: AsyncStream<WSMessage>) async throws -> AsyncStream<WSMessage> {
        let (id, out) = live.add()
        // The page only listens: a client that sends a message is not the board's page, and
        // is disconnected at its first message.
        Task {
            for await _ in client {
                live.drop(id)
                break
            }
        }
        return out
    }
}

/// The port, once bound (0 before: every request is refused until then).
final class PortBox: Sendable {
    let port = Mutex<UInt16>(0)
    var value: UInt16 { port.withLock { $0 } }
    func set(_ p: UInt16) { port.withLock { $0 = p } }
}

/// Who may use the board, decided per request: the `Host`/`Origin` check, and the API (on the
/// store of whoever the token names) or the reason a token is refused. `minsky board` checks its
/// printed token; `minsky serve` checks a bearer token and answers on the token role's store.
public struct BoardAccess: Sendable {
    public var refusal: @Sendable (_ host: String?, _ origin: String?) -> String?
    public var api: @Sendable (_ token: String?) async -> Result<BoardAPI, MinskyError>
    /// The WebSocket origins the page may connect to (its Content Security Policy).
    public var liveOrigins: @Sendable () -> String

    public init(
        refusal: @escaping @Sendable (String?, String?) -> String?,
        api: @escaping @Sendable (String?) async -> Result<BoardAPI, MinskyError>,
        liveOrigins: @escaping @Sendable () -> String
    ) {
        self.refusal = refusal
        self.api = api
        self.liveOrigins = liveOrigins
    }
}

/// The board's HTTP handler: page, assets, JSON API and live WebSocket, behind `BoardAccess`.
public struct BoardHandler: HTTPHandler {
    let access: BoardAccess
    let live: LiveClients
    let page: String

    public init(access: BoardAccess, live: LiveClients) {
        self.access = access
        self.live = live
        page = BoardServer.page()
    }

    init(api: BoardAPI, token: String, port: PortBox, live: LiveClients, page: String) {
        self.access = BoardAccess(
            refusal: { host, origin in
                BoardGuard(token: token, port: port.value).refusal(host: host, origin: origin, token: token)
            },
            api: { given in
                guard let given, ServerTokens.same(given, token) else {
                    return .failure(
                        MinskyError(
                            .permissionDenied,
                            given == nil
                                ? "missing access token: open the URL `minsky board` printed (it ends in ?token=…)"
                                : "wrong access token: open the URL `minsky board` printed"))
                }
                return .success(api)
            },
            liveOrigins: { "ws://127.0.0.1:\(port.value) ws://localhost:\(port.value)" })
        self.live = live
        self.page = page
    }

    /// The page's script and style, served as files so the Content Security Policy allows
    /// scripts and styles from this origin only (no 'unsafe-inline'). They hold no data, so they
    /// need no token; Host and Origin are still checked.
    static let assets: [String: (type: String, body: Data)] = [
        "/board.js": ("text/javascript; charset=utf-8", Data(PackageResources.board_js)),
        "/board.css": ("text/css; charset=utf-8", Data(PackageResources.board_css)),
    ]

    public func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        let asset = request.method == .GET ? Self.assets[request.path] : nil
        if let why = access.refusal(request.headers[HTTPHeader("Host")], request.headers[HTTPHeader("Origin")]) {
            return Self.json(403, BoardAPI.error(MinskyError(.permissionDenied, why)))
        }
        let safety = [
            HTTPHeader("X-Frame-Options"): "DENY", HTTPHeader("Cache-Control"): "no-store",
            HTTPHeader("Referrer-Policy"): "no-referrer", HTTPHeader("X-Content-Type-Options"): "nosniff",
        ]
        if let asset {
            return HTTPResponse(
                statusCode: .ok,
                headers: HTTPHeaders(safety.merging([HTTPHeader("Content-Type"): asset.type]) { a, _ in a }),
                body: asset.body)
        }
        let given =
            request.headers[HTTPHeader("X-Minsky-Token")] ?? request.query.first { $0.name == "token" }?.value
        let api: BoardAPI
        switch await access.api(given) {
        case .success(let a): api = a
        case .failure(let e): return Self.json(403, BoardAPI.error(e))
        }
        switch (request.method, request.path) {
        case (.GET, "/"):
            return HTTPResponse(
                statusCode: .ok,
                headers: HTTPHeaders(
                    safety.merging([
                        HTTPHeader("Content-Type"): "text/html; charset=utf-8",
                        HTTPHeader("Content-Security-Policy"):
                            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' \(access.liveOrigins()); img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                    ]) { a, _ in a }),
                body: Data(page.utf8))
        case (.GET, "/api/live"):
            return try await WebSocketHTTPHandler(handler: MessageFrameWSHandler(handler: LiveHandler(live: live)))
                .handleRequest(request)
        default:
            var query: [String: String] = [:]
            for q in request.query { query[q.name] = q.value }
            guard let body = try await Self.body(of: request) else {
                return Self.json(
                    413,
                    BoardAPI.error(
                        MinskyError.invalid(
                            "body",
                            "the request body is larger than \(Self.maxBody / 1024) KiB; the board's API takes one task's fields at a time"
                        )))
            }
            let reply = await api.handle(method: request.method.rawValue, path: request.path, query: query, body: body)
            return Self.json(reply.status, reply.body)
        }
    }

    /// The largest request body the API reads: a task's fields at their limits fit many times
    /// over. A larger declared length is refused before reading; a chunked body is cut off there.
    public static let maxBody = 512 * 1024

    /// The body, or nil when it is larger than `limit` (a larger declared length is refused
    /// before reading; a chunked body is cut off there, nothing beyond it kept in memory).
    public static func body(of request: HTTPRequest, limit: Int = maxBody) async throws -> Data? {
        if let n = request.bodySequence.count, n > limit { return nil }
        var data = Data()
        for try await chunk in request.bodySequence {
            data.append(chunk)
            if data.count > limit { return nil }
        }
        return data
    }

    static func json(_ status: Int, _ body: MinskyCore.JSONValue) -> HTTPResponse {
        HTTPResponse(
            statusCode: HTTPStatusCode(status, phrase: status == 200 ? "OK" : "Status \(status)"),
            headers: [HTTPHeader("Content-Type"): "application/json", HTTPHeader("Cache-Control"): "no-store"],
            body: Data(body.canonicalJSON().utf8))
    }
}
