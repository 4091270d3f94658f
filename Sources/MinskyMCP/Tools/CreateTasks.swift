import MinskyCore
import Synchronization

extension Tool {
    static let createTasks = Tool(
        name: "create_tasks", title: "Create several tasks",
        description:
            "Up to 500 tasks in one transaction; parentIndex/dependsOnIndex name earlier items; returns the new ids.",
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
    ) { (input: CreateTasksInput, ctx) in
        let drafts = input.tasks.map(\.draft)
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

/// create_tasks: new tasks, each with links to earlier items of the batch.
struct CreateTasksInput: Decodable {
    struct Item: Decodable {
        var draft: NewTask
        enum Keys: String, CodingKey { case parentIndex, dependsOnIndex }

        init(from decoder: any Decoder) throws {
            draft = try NewTask(from: decoder)
            let c = try decoder.container(keyedBy: Keys.self)
            draft.batchParent = try c.decodeIfPresent(Int.self, forKey: .parentIndex)
            draft.batchDependsOn = try c.decodeIfPresent([Int].self, forKey: .dependsOnIndex) ?? []
        }
    }
    var tasks: [Item]
}
