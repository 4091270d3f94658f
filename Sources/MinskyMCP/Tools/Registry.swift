extension Tool {
    /// Every tool the server offers, in `tools/list` order. tools.json is generated from this list.
    public static let all: [Tool] = [
        listTasks, searchTasks, getTask, createTask, createTasks, updateTask, setStatus, deleteTask,
        addDependency, removeDependency, nextTask, claimTask, taskTree, taskHistory,
        // Long with a configured model (the agent's own answers and sampling are quick or interactive).
        decomposeTask.long { args, s in args["plan"] == nil && ((try? s.llm?()) ?? nil) != nil },
        scoreComplexity.long { args, s in args["answer"] == nil && ((try? s.llm?()) ?? nil) != nil },
        // Embeds every changed task first.
        similar.long { _, s in ((try? s.embeddings?()) ?? nil) != nil },
        backupStore, upgradeStore.long { _, _ in true }, sync,
    ]
}
