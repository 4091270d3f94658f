import Foundation

/// Blocking work (file I/O, a SQLite open with its migrations, libpq calls, waiting for a child
/// process) runs here, on threads of its own, never on Swift's cooperative pool, whose few
/// threads (two on a two-core machine) must stay free for the tasks that are ready to run.
///
/// The pool grows when every thread is busy (a GCD queue would stop at one thread per core,
/// so a few long waits could starve short jobs); idle threads wait for the next job.
public enum Blocking {
    static let pool = BlockingPool()

    /// Runs `work` on a blocking-work thread and suspends the caller until it ends.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            pool.submit { cont.resume(with: Result { try work() }) }
        }
    }

    /// The same for work that cannot fail.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { cont in
            pool.submit { cont.resume(returning: work()) }
        }
    }
}

/// Threads that take jobs in order; a new thread starts whenever a job arrives and none is idle.
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class BlockingPool: @unchecked Sendable {
    let condition = NSCondition()
    var jobs: [@Sendable () -> Void] = []
    /// Threads waiting for a job, and wake-ups sent to them not yet taken.
    var waiting = 0
    var wakeups = 0

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        if waiting > wakeups {
            wakeups += 1
            condition.signal()
        } else {
            let t = Thread { [self] in loop() }
            t.name = "minsky-blocking"
            t.start()
        }
        condition.unlock()
    }

    func loop() {
        condition.lock()
        while true {
            while jobs.isEmpty {
                waiting += 1
                condition.wait()
                waiting -= 1
                if wakeups > 0 { wakeups -= 1 }
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
