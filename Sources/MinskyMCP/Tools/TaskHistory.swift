import Foundation
import MinskyCore

extension Tool {
    static let taskHistory = Tool(
        name: "task_history", title: "Task history",
        description:
            "Every change to a task, oldest first: who, when, kind, changed fields before/after. Page with nextCursor.",
        inputSchema: ToolSchema.object(
            [
                "id": ToolSchema.id, "limit": ToolSchema.integer(min: 1, max: 100), "cursor": ToolSchema.string(),
            ], required: ["id"]),
        outputSchema: ToolSchema.output(
            ["events": ToolSchema.array(["type": "object"]), "nextCursor": ["type": "string"]], required: ["events"]),
        annotations: .read
    ) { args, ctx in
        let page = try await ctx.store().history(
            of: try args.requiredID("id"), limit: args.int("limit") ?? 20, cursor: args.string("cursor"))
        // Bounded like every result: long values in the changes (descriptions) are cut.
        var events: [JSONValue] = []
        var used = 0
        var next = page.nextCursor
        for e in page.events {
            var j = e.json
            if var changes = j["changes"]?.objectValue {
                for (k, v) in changes {
                    var o = v.objectValue ?? [:]
                    for side in ["before", "after"] {
                        if case .string(let s)? = o[side], s.count > 300 {
                            o[side] = .string(String(s.prefix(300)) + "…")
                        }
                    }
                    changes[k] = .object(o)
                }
                if var obj = j.objectValue {
                    obj["changes"] = .object(changes)
                    j = .object(obj)
                }
            }
            used += j.canonicalJSON().utf8.count
            if used > TaskJSON.mcpPageBudget,
                let last = page.events.first(where: { $0.id == events.last?["id"]?.stringValue })
            {
                next = TaskEventPage.cursor(after: last)  // the page stops here; the rest follows
                break
            }
            events.append(j)
        }
        var out: [String: JSONValue] = ["events": .array(events)]
        if let next { out["nextCursor"] = .string(next) }
        return .object(out)
    }
}
