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
            return try await StoreFactory.open(try StoreLocation(parsing: url), idPrefix: prefix)
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
        // Sync calls pass the same way: a replica upgraded away is asked on the new store.
        #expect(try await following.syncReplica() == nil)
        let replica = try await following.syncStartTracking(remote: nil, strategy: nil)
        #expect(try await following.syncReplica() == replica)
        let reopened = try SQLiteTaskStore(path: newPath)
        #expect(try await reopened.syncReplica() == replica, "tracking started on the store followed to")
        await reopened.close()
        await following.close()
    }
}

@Suite("Backups refuse what they cannot do")
struct BackupRefusalTests {
    /// A store a newer minsky wrote is refused, byte for byte untouched; a store given by URL
    /// backs up under HOME (not the password database's home); an unwritable place is named.
    @Test func newerSchemasHomeAndUnwritablePlaces() async throws {
        let dir = try TestEnvironment.tempDirectory("minsky-backup")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: dir).status == 0)
        #expect(try await runProcess(Binaries.minsky, ["tasks", "create", "keep"], cwd: dir).status == 0)
        let store = dir.appendingPathComponent(".minsky/tasks.db").path
        let q = try DatabaseQueue(path: store)
        try await q.write {
            try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('999_from_the_future')")
        }
        try q.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: store))
        let newer = try await runProcess(Binaries.minsky, ["backup", "create"], cwd: dir)
        #expect(newer.status == 5 && newer.stderr.contains("999_from_the_future"), "\(newer.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == before)
        // A healthy store named by --db from a folder with no project: its backup lands under HOME.
        let other = try TestEnvironment.tempDirectory("minsky-backup-home")
        defer { try? FileManager.default.removeItem(at: other) }
        let project = other.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        #expect(try await runProcess(Binaries.minsky, ["init"], cwd: project).status == 0)
        let plain = project.appendingPathComponent(".minsky/tasks.db").path
        let home = other.appendingPathComponent("home")
        let r = try await runProcess(
            Binaries.minsky, ["backup", "create", "--db", plain, "--json"], cwd: other,
            env: ["HOME": home.path, "XDG_DATA_HOME": "", "MINSKY_BACKUP_DIR": ""])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try JSONValue.parse(r.stdout)["file"]?.stringValue ?? "?"
        #expect(
            FileManager.default.fileExists(
                atPath: home.appendingPathComponent(".local/share/minsky/backups/\(file)").path))
        let nowhere = try await runProcess(
            Binaries.minsky, ["backup", "create", "--db", plain, "--out", "/nonexistent-dir/x.db"], cwd: other)
        #expect(
            nowhere.status == 5 && nowhere.stderr.contains("/nonexistent-dir") && nowhere.stderr.contains("--out"),
            "\(nowhere.stderr)")
        #expect(!nowhere.stderr.contains("NSCocoaErrorDomain"))
    }
}
