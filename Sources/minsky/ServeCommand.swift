import ArgumentParser
import Foundation
import Logging
import MinskyAI
import MinskyApp
import MinskyBoard
import MinskyCore
import MinskyMCP
import MinskyPostgres
import MinskyServe
import MinskyUpgrade
import Synchronization

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve MCP over Streamable HTTP (POST /mcp, both protocol eras) to holders of a bearer token.",
        discussion: """
            Each request carries `Authorization: Bearer mks_…` (`minsky team token create NAME`); on \
            PostgreSQL it runs as the token's database role, so grants and row-level security bind it \
            exactly as they bind psql. Requests of protocol 2026-07-28 keep no state, so several \
            `minsky serve` on one PostgreSQL answer any request in any order. Listens on 127.0.0.1 unless \
            --listen says otherwise; behind a TLS-terminating reverse proxy, pass the public host with \
            --allow-host (and --allow-origin for browser clients). GET /health answers without a token. \
            OAuth (the MCP authorization profile) is not offered yet. Stop with Ctrl-C.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "HOST:PORT to listen on (default 127.0.0.1:0, a free port).") var listen =
        "127.0.0.1:0"
    @Option(name: .long, help: "Another Host header to answer to (a proxy's public name), repeatable.")
    var allowHost: [String] = []
    @Option(name: .long, help: "A browser Origin allowed to call the server, repeatable.") var allowOrigin: [String] =
        []

    func run() async throws {
        let out = Output(json: global.json)
        try await out.reportingErrors {
            let (host, port) = try Self.parseListen(listen)
            let sel = try global.selection()
            let base = try await sel.open()
            let stores = RoleStores(base: base, location: sel.location, idPrefix: sel.idPrefix)
            let key = try await Self.serverKey(base)
            let project = sel.project
            let logger = Logger(label: "minsky.serve")
            let endpoint = MCPEndpoint(authority: TokenAuthority(tokens: base), sessionKey: key) { caller, emit in
                let store = try await stores.store(for: caller.role)
                let backup = Self.backupService(sel)
                let services = ToolServices(
                    backup: backup, llm: { try resolveProvider(project: project).map(Providers.make) },
                    embeddings: { try resolveEmbeddings(project: project) },
                    changes: { stop, onEvents in
                        // The history is read as the token's role; the wake-ups come from the store.
                        try await ChangeFeed.follow(
                            store, selection: sel, since: .now(), stop: stop, onEvents: onEvents)
                    },
                    doneRequires: {
                        project.flatMap { try? Project.load(root: $0.root) }?.config.doneRequires ?? .criteria
                    })
                return MCPServer(
                    store: { store }, services: services, logger: logger, stateKey: key, emit: emit,
                    access: await stores.access(for: caller.role, store: store))
            }
            // The board on `/`: opened with `?token=mks_…`, it runs as that token's role.
            let live = LiveClients()
            let authority = TokenAuthority(tokens: base)
            let boards = Mutex<[String: BoardAPI]>([:])
            let board = BoardHandler(
                access: BoardAccess(
                    refusal: { host, origin in endpoint.refusal(host: host, origin: origin) },
                    api: { token in
                        switch await authority.check(authorization: token.map { "Bearer " + $0 }) {
                        case .failure(let r): return .failure(MinskyError(.permissionDenied, r.message))
                        case .success(let caller):
                            do {
                                let store = try await stores.store(for: caller.role)
                                let key = caller.role ?? ""
                                return .success(
                                    boards.withLock { b in
                                        if let api = b[key] { return api }
                                        let api = BoardAPI(
                                            store: store, meaning: nil,
                                            doneRequires: {
                                                project.flatMap { try? Project.load(root: $0.root) }?.config
                                                    .doneRequires ?? .criteria
                                            })
                                        b[key] = api
                                        return api
                                    })
                            } catch {
                                return .failure(MinskyError(.storeUnavailable, "\(error)"))
                            }
                        }
                    },
                    liveOrigins: { endpoint.hosts.map { "ws://\($0)" }.joined(separator: " ") }),
                live: live)
            let feed = Task {
                try? await ChangeFeed.follow(
                    base, selection: sel, since: .now(), stop: { Task.isCancelled }, onEvents: { live.changed($0) })
            }
            defer { feed.cancel() }
            let server = try ServeServer(
                host: host, port: port, endpoint: endpoint, board: board, allowHosts: allowHost,
                allowOrigins: allowOrigin)
            for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }
            Self.raiseDescriptorLimit()
            try await server.run { bound in
                let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/mcp"
                let text =
                    out.json
                    ? JSONValue.object(["url": .string(url), "port": .int(Int64(bound))]).canonicalJSON()
                    : "Minsky MCP server for \(base.location):\n  \(url)\n"
                        + "Clients send `Authorization: Bearer <token>` (minsky team token create NAME).\n"
                        + "The board: http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/?token=<token>. Ctrl-C stops it."
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            }
            await stores.close()
        }
    }

    /// A SQLite store has one owner, who may back it up; on PostgreSQL a backup would read as
    /// the serving login, not as the token's role, so it is not offered.
    static func backupService(_ sel: StoreSelection) -> (@Sendable () async throws -> JSONValue)? {
        guard sel.location.postgresConninfo == nil else { return nil }
        let env = ProcessInfo.processInfo.environment
        return {
            let manifest = try await Backups.create(
                location: sel.location, out: nil, project: sel.project,
                fallbackDirectory: Backups.userDirectory(environment: env), reporter: nil)
            return try JSONValue.encoding(manifest)
        }
    }

    /// A server holds a descriptor per connection: the soft limit (often 1,024) goes up to the
    /// hard one, so many idle or slow clients do not starve new ones of a socket.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        #if canImport(Glibc)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = min(limit.rlim_max, 65536)
        _ = setrlimit(resource, &limit)
    }

    static func parseListen(_ s: String) throws -> (String, UInt16) {
        guard let colon = s.lastIndex(of: ":"), let port = UInt16(s[s.index(after: colon)...]) else {
            throw MinskyError.invalid("listen", "'\(s.prefix(60))' is not HOST:PORT; use e.g. 127.0.0.1:8765")
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw MinskyError.invalid("listen", "--listen needs a host, e.g. 127.0.0.1:8765") }
        return (host, port)
    }

    /// The key that seals sessions and multi round-trip states, shared by every server on the
    /// store (so any instance opens what another issued): kept in the store, made once.
    static func serverKey(_ store: any MinskyStore) async throws -> [UInt8] {
        let hex = try await store.serverSecret("session-key") {
            var g = SystemRandomNumberGenerator()
            return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
        }
        return Array(hex.utf8)
    }
}

/// The stores requests run on: the served store itself on SQLite (one owner); on PostgreSQL one
/// per token role, connected as the serving login taking that role at connection start.
final class RoleStores: Sendable {
    let base: FollowingStore
    let location: StoreLocation
    let idPrefix: String
    let opened = Mutex<[String: Task<any MinskyStore, any Error>]>([:])

    init(base: FollowingStore, location: StoreLocation, idPrefix: String) {
        self.base = base
        self.location = location
        self.idPrefix = idPrefix
    }

    func store(for role: String?) async throws -> any MinskyStore {
        guard let role, let conninfo = location.postgresConninfo else { return base }
        let prefix = idPrefix
        let task = opened.withLock { m in
            if let t = m[role] { return t }
            let t = Task { () throws -> any MinskyStore in
                let url = try PGTarget.conninfo(conninfo, role: role)
                return try await StoreFactory.open(try StoreLocation(parsing: url), idPrefix: prefix)
            }
            m[role] = t
            return t
        }
        do { return try await task.value } catch {
            opened.withLock { _ = $0.removeValue(forKey: role) }
            throw error
        }
    }

    /// What each role may do, asked of the database at most every 10 s (it decides which tools
    /// a role is offered and how a refusal is explained; the database itself enforces the rights).
    let accessCache = Mutex<[String: (StoreAccess, Timestamp)]>([:])

    func access(for role: String?, store: any MinskyStore) async -> StoreAccess? {
        let key = role ?? ""
        let now = Timestamp.now()
        if let (a, at) = accessCache.withLock({ $0[key] }), now.microseconds - at.microseconds < 10_000_000 { return a }
        guard let a = try? await store.access() else { return nil }
        accessCache.withLock { $0[key] = (a, now) }
        return a
    }

    func close() async {
        let all = opened.withLock { $0.values }
        for t in all { await (try? t.value)?.close() }
        await base.close()
    }
}
