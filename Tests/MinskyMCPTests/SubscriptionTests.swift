import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// Two `minsky mcp` processes on one store: a change made through one is announced by the other
/// (`notifications/resources/updated` to a subscriber, `list_changed` on creates and deletes).
@Suite("Resource subscriptions across processes")
struct SubscriptionTests {
    @Test(arguments: StoreKind.allCases)
    func aChangeThroughOneServerIsNotifiedByTheOther(kind: StoreKind) async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-subscribe")
        defer { try? FileManager.default.removeItem(at: dir) }
        switch kind {
        case .sqlite:
            let r = try await runProcess(Binaries.minsky, ["init"], cwd: dir)
            #expect(r.status == 0, "\(r.stderr)")
            try twoServers(dir: dir, env: [:])
        case .postgres:
            try await TestEnvironment.withPostgresSchema { url, _ in try twoServers(dir: dir, env: ["MINSKY_DB": url]) }
        }
    }

    func twoServers(dir: URL, env: [String: String]) throws {
        let a = try MCPProcess(cwd: dir, env: env)
        defer { a.terminate() }
        let b = try MCPProcess(cwd: dir, env: env)
        defer { b.terminate() }
        _ = a.initialize()
        let caps = b.initialize()?["result"]?["capabilities"]?["resources"]
        #expect(caps?["subscribe"] == true && caps?["listChanged"] == true, "\(caps?.canonicalJSON() ?? "nil")")
        // The list before anything exists makes sure b's store and feed are open.
        #expect(b.request("resources/list")?["result"] != nil)

        let created = a.call("create_task", ["title": "shared work"])
        let id = try #require(created?["structuredContent"]?["id"]?.stringValue)
        #expect(b.notification("notifications/resources/list_changed", timeout: 15) != nil, "b missed the create")

        let uri = JSONValue.string("minsky://tasks/\(id)")
        #expect(b.request("resources/subscribe", ["uri": uri])?["result"] == .object([:]))
        #expect(a.call("update_task", ["id": .string(id), "title": "renamed by a"])?["isError"] == false)
        let updated = b.notification("notifications/resources/updated", timeout: 15) { $0["params"]?["uri"] == uri }
        #expect(updated != nil, "b missed the update: \(b.stderrText)")
        // The subscriber reads the new state.
        let text = b.request("resources/read", ["uri": uri])?["result"]?["contents"]?.arrayValue?.first?["text"]
        #expect(text?.stringValue?.contains("renamed by a") == true)

        // Unsubscribed: the next change to it is not announced; a deletion changes the list.
        #expect(b.request("resources/unsubscribe", ["uri": uri])?["result"] == .object([:]))
        #expect(a.call("set_status", ["id": .string(id), "status": "DONE"])?["isError"] == false)
        #expect(a.call("delete_task", ["id": .string(id)])?["isError"] == false)
        #expect(b.notification("notifications/resources/list_changed", timeout: 15) != nil, "b missed the delete")
        #expect(b.notification("notifications/resources/updated", timeout: 1) == nil)

        // A bad URI is the spec's invalid params.
        let bad = b.request("resources/subscribe", ["uri": "file:///etc/passwd"])
        #expect(bad?["error"]?["code"] == -32602)
    }
}
