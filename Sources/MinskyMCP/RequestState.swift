import Foundation
import MinskyCore

/// The `requestState` of a multi round-trip request: what earlier rounds learned (the client's
/// answers), carried by the client between rounds and sealed with an HMAC under a key only this
/// server holds. The seal binds the state to the tool, a digest of its arguments, the principal
/// and an expiry, so a state that was altered, forged, expired or presented on another request
/// is refused (the specification treats it as attacker-controlled input).
struct RequestStateSeal: Sendable {
    let key: [UInt8]
    /// How long a state stays valid: long enough for a person to answer, short for replays.
    static let lifetimeMs: Int64 = 15 * 60 * 1000

    init(key: [UInt8]? = nil) {
        if let key {
            self.key = key
        } else {
            var g = SystemRandomNumberGenerator()
            self.key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        }
    }

    struct Binding: Equatable {
        var method: String
        var name: String
        var arguments: String
        var principal: String
    }

    static func binding(method: String, name: String, arguments: [String: JSONValue], principal: String) -> Binding {
        var h = SHA256()
        h.update(Array(JSONValue.object(arguments).canonicalJSON().utf8))
        return Binding(method: method, name: name, arguments: SHA256.hex(h.finalize()), principal: principal)
    }

    func seal(_ b: Binding, answers: [String: JSONValue], now: Int64 = Timestamp.now().microseconds / 1000) -> String {
        let payload: JSONValue = [
            "v": 1, "m": .string(b.method), "n": .string(b.name), "a": .string(b.arguments), "p": .string(b.principal),
            "e": .int(now + Self.lifetimeMs), "r": .object(answers),
        ]
        return SealedJSON.seal(payload, key: key)
    }

    /// The answers a sealed state carries, after every check; an `invalidParams` error that says
    /// what to do otherwise.
    func open(_ token: String, expect b: Binding, now: Int64 = Timestamp.now().microseconds / 1000) throws
        -> [String: JSONValue]
    {
        func refuse(_ why: String) -> RPCError {
            RPCError(
                code: .invalidParams,
                message: "requestState \(why); retry the original request without requestState and inputResponses")
        }
        guard let opened = SealedJSON.open(token, key: key) else {
            throw refuse("was altered or was not issued by this server")
        }
        guard case .object = opened, opened["v"] == 1 else { throw refuse("is malformed") }
        let payload = opened
        guard let expiry = payload["e"]?.intValue, now <= expiry else { throw refuse("has expired") }
        guard payload["m"]?.stringValue == b.method, payload["n"]?.stringValue == b.name,
            payload["a"]?.stringValue == b.arguments
        else { throw refuse("was issued for another request (method, tool or arguments differ)") }
        guard payload["p"]?.stringValue == b.principal else { throw refuse("was issued to another client") }
        return payload["r"]?.objectValue ?? [:]
    }
}
