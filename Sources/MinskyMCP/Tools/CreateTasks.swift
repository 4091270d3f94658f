import MinskyCore
import Synchronization

extension Tool {
    static let createTasks = Tool(
        name: "create_tasks", title: "Create several tasks",
        description:
            "Up to 500 tasks in one transaction; parentIndex/dependsOnIndex name earlier items. Returns the new ids.",
        inputSchema: ToolSchema.object(
            [
                "tasks": ToolSchema.array(
                    ToolSchema.object(
                        createTaskProperties.merging([
                            "parentIndex": ToolSchema.integer(min: 0),
                            "dependsOnIndex": ToolSchema.array(ToolSchema.integer(min: 0)),
                        ]) { a, _ in a }, required: ["title"]), maxItems: 500)
            ], required: ["tasks"]),
        outputSchema: TaskSchemas.created,
        annotations: .write()
    ) { args, ctx in
        let items = args["tasks"]?.arrayValue ?? []
        let drafts = try items.enumerated().map { i, item in
            let a = Arguments(values: item.objectValue ?? [:])
            do {
                var d = try draft(a)
                d.batchParent = a.int("parentIndex")
                d.batchDependsOn = (a["dependsOnIndex"]?.arrayValue ?? []).compactMap { $0.intValue.map(Int.init) }
                return d
            } catch var e as MinskyError {
                e.message = "task #\(i): \(e.message)"
                throw e
            }
        }
        let total = Double(drafts.count)
        let cancelled = Mutex(false)
        ctx.progress(0, total: total, message: "creating \(drafts.count) tasks")
        let created = try await withTaskCancellationHandler {
            try await ctx.store().createMany(
                drafts,
                progress: { n in
                    // About twenty notifications per batch, whatever its size.
                    if n == drafts.count || n % max(1, drafts.count / 20) == 0 {
                        ctx.progress(Double(n), total: total, message: nil)
                    }
                },
                isCancelled: { cancelled.withLock { $0 } })
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
        return TaskJSON.created(created)
    }
}
