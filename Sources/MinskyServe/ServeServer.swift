import FlyingFox
import Foundation
import MinskyBoard
import MinskyCore
import Synchronization

/// `minsky serve`: the MCP endpoint (`POST /mcp`), a health endpoint (`GET /health`) and the board
/// on FlyingFox, listening where `--listen` says (127.0.0.1 unless told otherwise). Every
/// connection is a task of its own and bodies are bounded, so a slow or greedy client holds one
/// connection, not the server. `timeout` bounds how long one request's answer may take to be
/// made (FlyingFox then answers 500): long enough for a model call or an upgrade.
public final class ServeServer: Sendable {
    let server: HTTPServer
    let endpoint: MCPEndpoint
    let host: String
    let requestedPort: UInt16
    let extraHosts: [String]
    let extraOrigins: [String]
    let bound = Mutex<UInt16>(0)
    let board: BoardHandler?

    public init(
        host: String, port: UInt16, endpoint: MCPEndpoint, board: BoardHandler? = nil, allowHosts: [String] = [],
        allowOrigins: [String] = [], timeout: TimeInterval = 900
    ) throws {
        if port != 0, !host.contains(":"),
            let problem = BoardServer.cannotBind(port, host: host == "localhost" ? "127.0.0.1" : host)
        {
            throw MinskyError.invalid(
                "listen",
                "cannot listen on \(host):\(port): \(problem); pick another --listen port, or port 0 for a free one")
        }
        self.board = board
        if host.contains(":") {
            server = HTTPServer(address: try .inet6(ip6: host, port: port), timeout: timeout, logger: .disabled)
        } else {
            server = HTTPServer(
                address: try .inet(ip4: host == "localhost" ? "127.0.0.1" : host, port: port), timeout: timeout,
                logger: .disabled)
        }
        self.endpoint = endpoint
        self.host = host
        requestedPort = port
        extraHosts = allowHosts
        extraOrigins = allowOrigins
    }

    public var port: UInt16 { bound.withLock { $0 } }

    /// Serves until cancelled. `onListening` runs once the port is bound.
    public func run(onListening: @escaping @Sendable (UInt16) -> Void) async throws {
        let endpoint = self.endpoint
        let board = self.board
        await server.appendRoute("*") { request in
            switch request.path {
            case "/mcp": return await endpoint.handle(request)
            case "/health":
                return HTTPResponse(
                    statusCode: .ok,
                    headers: [HTTPHeader("Content-Type"): "application/json", HTTPHeader("Cache-Control"): "no-store"],
                    body: Data(#"{"status":"ok","version":"\#(MinskyVersion.number)"}"#.utf8))
            default:
                if let board { return try await board.handleRequest(request) }
                return HTTPResponse(
                    statusCode: .notFound, headers: [HTTPHeader("Content-Type"): "text/plain; charset=utf-8"],
                    body: Data("not found: the MCP endpoint is /mcp, the health check /health\n".utf8))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.server.run() }
            do { try await server.waitUntilListening(timeout: 10) } catch {
                throw MinskyError.invalid(
                    "listen",
                    "cannot listen on \(host):\(requestedPort) (it did not start listening within 10 s); pick another --listen port"
                )
            }
            var port: UInt16 = 0
            switch await server.listeningAddress {
            case .ip4(_, let p)?: port = p
            case .ip6(_, let p)?: port = p
            default: break
            }
            bound.withLock { $0 = port }
            Self.disableNagle(port: port)
            endpoint.setGuard(ServeGuard(host: host, port: port, extraHosts: extraHosts, extraOrigins: extraOrigins))
            onListening(port)
            try await group.next()
            group.cancelAll()
        }
    }

    /// FlyingFox writes a response's head and body in two writes; with Nagle's algorithm on, a
    /// keep-alive client's delayed ACK then holds the body back ~40 ms. Linux gives accepted
    /// sockets the listening socket's TCP_NODELAY, and FlyingFox does not expose that socket, so
    /// it is found among this process's descriptors (a listening TCP socket on `port`).
    static func disableNagle(port: UInt16) {
        #if canImport(Glibc)
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
            for name in fds {
                guard let fd = Int32(name) else { continue }
                var listening: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0, listening == 1 else { continue }
                var addr = sockaddr_storage()
                var alen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let named = withUnsafeMutablePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &alen) == 0 }
                }
                guard named else { continue }
                let boundPort: UInt16 = withUnsafePointer(to: &addr) { p in
                    switch Int32(p.pointee.ss_family) {
                    case AF_INET:
                        return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            UInt16(bigEndian: $0.pointee.sin_port)
                        }
                    case AF_INET6:
                        return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                            UInt16(bigEndian: $0.pointee.sin6_port)
                        }
                    default: return 0
                    }
                }
                guard boundPort == port else { continue }
                var on: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            }
        #endif
    }
}
