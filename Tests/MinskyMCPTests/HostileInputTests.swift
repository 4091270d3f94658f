import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Whatever arrives on stdin, the server answers what deserves an answer, never crashes or
/// hangs, and keeps serving the next request.
@Suite("Hostile input")
struct HostileInputTests {
    static func wrongValues(for schema: JSONValue) -> [JSONValue] {
        let type = schema["type"]?.stringValue ?? schema["type"]?.arrayValue?.first?.stringValue ?? ""
        var out: [JSONValue] = [.bool(true), .object(["nested": [1, 2]]), .double(1e300), .int(Int64.min)]
        switch type {
        case "string": out += [.int(12345), .array(["a"])]
        case "integer": out += [.string("7"), .double(2.5), .double(.infinity), .int(Int64.max)]
        case "boolean": out += [.string("yes"), .int(1)]
        case "array": out += [.string("a,b"), .array([.object([:]), .null, .int(3)])]
        case "object": out += [.array([]), .string("{}")]
        default: out += [.string("?")]
        }
        return out
    }

    @Test func wrongTypesInEveryArgumentOfEveryTool() async throws {
        try await withServer { s in
            let tools = s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []
            #expect(tools.count >= 13)
            var calls = 0
            for tool in tools {
                let name = tool["name"]?.stringValue ?? ""
                for (prop, schema) in tool["inputSchema"]?["properties"]?.objectValue ?? [:] {
                    for bad in Self.wrongValues(for: schema) {
                        let r = s.call(name, .object([prop: bad]))
                        calls += 1
                        // A value of the wrong JSON type must be a tool error the model can read; an
                        // extreme value of the right type must at least get an answer.
                        let types =
                            schema["type"]?.arrayValue?.compactMap(\.stringValue) ?? [schema["type"]?.stringValue ?? ""]
                        let rightType = types.contains { t in
                            switch (t, bad) {
                            case ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string),
                                ("integer", .int), ("number", .int), ("number", .double):
                                return true
                            default: return false
                            }
                        }
                        let ok = rightType ? r?["isError"] != nil : r?["isError"] == true
                        #expect(
                            ok,
                            "\(name).\(prop) = \(bad.canonicalJSON().prefix(60)) → \(r?.canonicalJSON().prefix(200) ?? "no answer")"
                        )
                        if !ok { return }
                    }
                }
            }
            #expect(calls > 200)
            #expect(s.request("ping")?["result"] == .object([:]))
        }
    }

    /// No tool repeats an input without a bound: a 1 MiB string in any string argument of any
    /// tool gets an answer of at most 64 KiB (a refusal naming the field, or a bounded result).
    @Test func everyEchoedInputIsBounded() async throws {
        try await withServer { s in
            let seed = s.call("create_task", ["title": "bounded"])
            let id = seed?["structuredContent"]?["id"] ?? .null
            let huge = JSONValue.string(String(repeating: "g", count: 1 << 20))
            let tools = s.request("tools/list")?["result"]?["tools"]?.arrayValue ?? []
            var probed = 0
            for tool in tools {
                let name = tool["name"]?.stringValue ?? ""
                for (prop, schema) in tool["inputSchema"]?["properties"]?.objectValue ?? [:]
                where schema["type"]?.stringValue == "string" && prop != "id" {
                    guard let answer = s.call(name, .object(["id": id, prop: huge]))?.canonicalJSON() else {
                        Issue.record("\(name).\(prop): no answer")
                        continue
                    }
                    probed += 1
                    #expect(
                        answer.utf8.count <= 64 << 10, "\(name).\(prop): a 1 MiB input gave \(answer.utf8.count) bytes")
                }
            }
            #expect(probed >= 10)
            let guidance = s.call("decompose_task", ["id": id, "guidance": huge])
            #expect(guidance?["isError"] == true, "\(guidance.map { "\($0)".prefix(300) } ?? "")")
            #expect("\(guidance ?? .null)".contains("guidance"))
        }
    }

    @Test func malformedMessagesNeverStopTheServer() async throws {
        try await withServer { s in
            let junk: [[UInt8]] = [
                Array("{".utf8), Array("}".utf8), Array("[]".utf8), Array("null".utf8), Array("123".utf8),
                Array("\"x\"".utf8),
                Array("{\"jsonrpc\":\"2.0\"}".utf8),
                Array("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}".utf8),
                Array("{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"ping\"}".utf8),
                Array("{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999999,\"method\":\"ping\"}".utf8),
                Array(String(repeating: "[", count: 50_000).utf8),
                Array((String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000)).utf8),
                [0xC0, 0xAF, 0xFF], [0x00, 0x01, 0x02],
                Array("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"x\":\"\\ud800\"}".utf8),
                Array(
                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"create_task\",\"arguments\":{\"title\":\"ok\",\"priority\":1e400}}}"
                        .utf8),
                Array(String(repeating: "x", count: 2_000_000).utf8),
            ]
            for j in junk {
                s.sendRaw(j + [0x0A])
                let reply = s.request("ping", timeout: 20)
                #expect(
                    reply?["result"] == .object([:]),
                    "server stopped answering after \(String(decoding: j.prefix(40), as: UTF8.self))")
            }
            // Deep nesting inside arguments: refused as a parse error, not a crash.
            let deep = String(repeating: "[", count: 3000) + String(repeating: "]", count: 3000)
            s.sendLine(
                "{\"jsonrpc\":\"2.0\",\"id\":\"deep\",\"method\":\"tools/call\",\"params\":{\"name\":\"list_tasks\",\"arguments\":{\"status\":\(deep)}}}"
            )
            #expect(s.nextMessage()?["error"]?["code"] == -32700)
            s.closeInput()
            #expect(s.waitForExit() == 0)
        }
    }
}
