import MinskyCore

extension Tool {
    static let taskTree = Tool(
        name: "task_tree", title: "Task tree",
        description: "Subtasks nested under their parents with blockedBy ids; the whole store when id is omitted.",
        inputSchema: ToolSchema.object(["id": ToolSchema.string("root task")]),
        outputSchema: ToolSchema.output(["roots": ToolSchema.array(["type": "object"])], required: ["roots"]),
        annotations: .read
    ) { args, ctx in
        let tree = try await ctx.store().tree(root: try args.id("id"))
        func node(_ n: TaskTree.Node) -> JSONValue {
            var o = TaskJSON.compact(n.task).objectValue ?? [:]
            if !n.blockedBy.isEmpty { o["blockedBy"] = .array(n.blockedBy.map { .string($0.rawValue) }) }
            if !n.children.isEmpty { o["children"] = .array(n.children.map(node)) }
            return .object(o)
        }
        return ["roots": .array(tree.roots.map(node))]
    }
}
