import Foundation
import MinskyCore

/// Who may talk to the board: requests must name this server as their `Host` (no DNS
/// rebinding), come from its own pages when they carry an `Origin` (no cross-site writes), and
/// carry the access token printed with the URL (as Jupyter does). Pure, so it is tested alone.
public struct BoardGuard: Sendable {
    public let token: String
    public let port: UInt16

    public init(token: String, port: UInt16) {
        self.token = token
        self.port = port
    }

    /// A fresh random token: 32 bytes, hex.
    public static func newToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    /// The hosts a browser names when it talks to this server.
    var hosts: Set<String> { ["127.0.0.1:\(port)", "localhost:\(port)"] }

    /// Why the request is refused, or nil when it may proceed. `token` is what the request
    /// carried (header or query); nil when it carried none.
    public func refusal(host: String?, origin: String?, token given: String?) -> String? {
        guard let host, hosts.contains(host.lowercased()) else {
            return
                "foreign Host header \(host.map { "'\($0.prefix(80))'" } ?? "(none)"): the board answers only to 127.0.0.1:\(port) or localhost:\(port)"
        }
        if let origin, !hosts.contains(where: { "http://\($0)" == origin.lowercased() }) {
            return "foreign Origin '\(origin.prefix(80))': the board accepts requests from its own pages only"
        }
        guard let given, ServerTokens.same(given, token) else {
            return given == nil
                ? "missing access token: open the URL `minsky board` printed (it ends in ?token=…)"
                : "wrong access token: open the URL `minsky board` printed"
        }
        return nil
    }
}
