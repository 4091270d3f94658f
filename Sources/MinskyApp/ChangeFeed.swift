import Foundation
import MinskyCore
import MinskyPostgres
import MinskySQLite

/// The changes others make, as they happen, read from the history: a watcher wakes on a commit
/// (PostgreSQL: LISTEN/NOTIFY on a connection of its own; SQLite: `data_version`), then reads the
/// events after its position. Events can commit slightly out of timestamp order, so each read
/// looks back a few seconds and skips the ids already seen; after a reconnection the same read
/// catches up on whatever happened meanwhile.
public enum ChangeFeed {
    /// How far each read looks back for events that committed after later-stamped ones.
    static let lookback = 5.0

    /// Calls `onEvents` with every event at or after `since`, in order, a batch per read, until
    /// `stop` returns true (checked at least once a second). Waiting happens on a blocking-work
    /// thread.
    public static func watch(
        _ selection: StoreSelection, since: Timestamp, stop: @escaping @Sendable () -> Bool,
        onEvents: @escaping ([TaskEvent], any MinskyStore) async -> Void
    ) async throws {
        let store = try await selection.open()
        do {
            try await follow(store, selection: selection, since: since, stop: stop) { await onEvents($0, store) }
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }

    /// The same on a store already open (its connections are shared; the wake-up connection is
    /// the watcher's own).
    public static func follow(
        _ store: any MinskyStore, selection: StoreSelection, since: Timestamp, stop: @escaping @Sendable () -> Bool,
        onEvents: @escaping ([TaskEvent]) async -> Void
    ) async throws {
        let wait: @Sendable (Double) -> Bool
        switch selection.location.kind {
        case .sqlite(let path):
            let watcher = try SQLiteCommitWatcher(path: path)
            wait = { watcher.wait(timeout: $0) }
        case .postgres(let url):
            let listener = try await Blocking.run { try PGListener(url: url) }
            wait = { listener.wait(timeout: $0) }
        }
        var cursor = since
        var seen: [String: Timestamp] = [:]
        var first = true
        while !stop() {
            if !first { guard await Blocking.run({ wait(1) }) else { continue } }
            first = false
            let from = cursor.adding(seconds: -lookback)
            while true {
                let batch: [TaskEvent]
                do {
                    batch = try await store.events(since: max(from, since), limit: 1000)
                } catch let e as MinskyError where e.code == .storeUnavailable {
                    // The server went away (a restart): keep the place, wait, read again; the
                    // wake-up connection reconnects on its own.
                    try await Task.sleep(nanoseconds: 500_000_000)
                    first = true
                    break
                }
                let fresh = batch.filter { seen[$0.id] == nil }
                for e in fresh { seen[e.id] = e.at }
                if !fresh.isEmpty { await onEvents(fresh) }
                if let last = batch.last { cursor = max(cursor, last.at) }
                if batch.count < 1000 || fresh.isEmpty { break }
            }
            let horizon = cursor.adding(seconds: -lookback)
            seen = seen.filter { $0.value >= horizon }
        }
    }
}
