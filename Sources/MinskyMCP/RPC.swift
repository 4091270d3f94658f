import MinskyCore

/// JSON-RPC 2.0 error codes, plus MCP's: resource-not-found (handshake era) and the
/// 2026-07-28 revision's unsupported protocol version.
public enum RPCCode: Int64, Sendable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603
    case resourceNotFound = -32002
    case missingRequiredClientCapability = -32021
    case unsupportedProtocolVersion = -32022
}

struct RPCError: Error {
    var code: RPCCode
    var message: String
    var data: JSONValue? = nil
}

enum RPC {
    static func response(id: JSONValue, result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue, _ e: RPCError) -> JSONValue {
        var err: [String: JSONValue] = ["code": .int(e.code.rawValue), "message": .string(e.message)]
        if let d = e.data { err["data"] = d }
        return ["jsonrpc": "2.0", "id": id, "error": .object(err)]
    }

    static func notification(_ method: String, _ params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }

    /// The key under which an id that is a number beyond Int64 keeps its literal text.
    static let rawNumberKey = "$rawNumber"

    /// A request id from its raw JSON text: a string or integer as is; any other number as its
    /// literal text (so it is echoed exactly); nil for anything JSON-RPC does not allow.
    static func requestID(_ raw: [UInt8]) -> JSONValue? {
        switch try? JSONParser.parse(raw) {
        case .string(let s)?: return .string(s)
        case .int(let i)?: return .int(i)
        case .double?: return [rawNumberKey: .string(String(decoding: raw, as: UTF8.self))]
        default: return nil
        }
    }

    static func encode(_ v: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        if case .object(var o) = v, let raw = o["id"]?[rawNumberKey]?.stringValue {
            o["id"] = nil
            out.append(contentsOf: "{\"id\":\(raw)".utf8)
            let brace = out.count
            JSONValue.object(o).write(to: &out)
            if o.isEmpty { out.remove(at: brace) } else { out[brace] = UInt8(ascii: ",") }  // the rest's own "{"
        } else {
            v.write(to: &out)
        }
        out.append(0x0A)
        return out
    }
}
