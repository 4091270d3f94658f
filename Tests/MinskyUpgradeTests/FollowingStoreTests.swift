import Foundation
import GRDB
import MinskyApp
import MinskyCore
import MinskySQLite
import MinskyTestSupport
import Synchronization
import Testing

/// A store upgraded away while many operations run: they all follow it to the new location,
/// which is opened once, and the old store is closed only after the last of them.
@Suite("Following a moved store")
struct FollowingStoreTests {
    @Test func concurrentOperationsThatSeeTheMoveOpenTheNewStoreOnceAndCloseTheOldOneLast() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-follow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let oldPath = dir.appendingPathComponent("old.db").path
        let newPath = dir.appendingPathComponent("new.db").path
        let old = try SQLiteTaskStore(path: oldPath)
        _ = try await old.create(NewTask(title: "on the old store"))
        let new = try SQLiteTaskStore(path: newPath)
        for i in 0..<3 { _ = try await new.create(NewTask(title: "on the new store \(i)")) }
        await new.close()
        // What an upgrade does last: mark the old store as moved.
        let q = try DatabaseQueue(path: oldPath)
        try await q.write {
            try $0.execute(
                sql: "INSERT INTO store_moved (url, moved_at) VALUES (?, ?)",
                arguments: ["sqlite:" + newPath, Timestamp.now().iso8601])
        }
        try q.close()

        let opens = Mutex(0)
        let following = FollowingStore(old, idPrefix: "mk") { url, prefix in
            opens.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(50))  // a slow open widens the window every operation races through
            return try await StoreFactory.open(url, idPrefix: prefix)
        }
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<32 { group.addTask { try await following.count() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == Array(repeating: 3, count: 32))
        #expect(opens.withLock { $0 } == 1, "the new location was opened \(opens.withLock { $0 }) times")
        #expect(following.location.hasSuffix("new.db"))
        // The old store was closed (its pool refuses work); the new one keeps serving.
        await #expect(throws: (any Error).self) { _ = try await old.count() }
        #expect(try await following.count() == 3)
        await following.close()
    }
}
