import Dispatch

/// Blocking work (file I/O, a SQLite open with its migrations, libpq calls, child processes)
/// runs here, on threads of its own, never on Swift's cooperative pool, whose few threads (two
/// on a two-core machine) must stay free for the tasks that are ready to run.
public enum Blocking {
    static let queue = DispatchQueue(label: "minsky.blocking", attributes: .concurrent)

    /// Runs `work` on a blocking-work thread and suspends the caller until it ends.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try work() }) }
        }
    }

    /// The same for work that cannot fail.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { cont in
            queue.async { cont.resume(returning: work()) }
        }
    }
}
