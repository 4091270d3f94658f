import MinskyCore

/// JSON-RPC 2.0 error codes, plus MCP's resource-not-found.
public enum RPCCode: Int64, Sendable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603
    case resourceNotFound = -32002
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

    static func encode(_ v: JSONValue) -> [UInt8] {
        var s = v.canonicalJSON()
        s += "\n"
        return Array(s.utf8)
    }
}
