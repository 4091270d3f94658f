extension Tool {
    /// Every tool the server offers, in `tools/list` order. tools.json is generated from this list.
    public static let all: [Tool] = [
        listTasks, searchTasks, getTask, createTask, createTasks, updateTask, setStatus, deleteTask,
        addDependency, removeDependency, nextTask, claimTask, taskTree, taskHistory, decomposeTask, scoreComplexity,
        similar,
        backupStore, upgradeStore, sync,
    ]
}
