import Foundation
import MinskyCore
import MinskyPostgres
import MinskySQL
import MinskySQLite
import Synchronization

/// The backends the conformance suite runs on. Every test parameterised over `StoreKind.allCases`
/// runs once per store, and is named by it ("sqlite", "postgres") in the test report.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }
}

/// A deterministic clock: every reading is 1 ms after the previous one. Tests can jump it.
public final class TestClock: Sendable {
    let current: Mutex<Int64>
    public init(start: Timestamp = Timestamp(iso8601: "2026-01-01T00:00:00Z")!) { current = Mutex(start.microseconds) }
    public func now() -> Timestamp {
        Timestamp(
            microseconds: current.withLock {
                $0 += 1000
                return $0
            })
    }
    public func advance(seconds: Double) { current.withLock { $0 += Int64(seconds * 1_000_000) } }
}

/// Deterministic ids (`mk-00001`, `mk-00002`, …) so two stores fed the same operations agree.
public final class SequentialIDs: Sendable {
    let n = Mutex(0)
    public init() {}
    public func next(prefix: String, length: Int) -> TaskID {
        let i = n.withLock {
            $0 += 1
            return $0
        }
        let s = String(i, radix: 36)
        return TaskID(trusted: "\(prefix)-" + String(repeating: "0", count: max(0, length - s.count)) + s)
    }
}

public enum TestEnvironment {
    /// Tests read the PostgreSQL server from this variable; `scripts/test` starts one and sets it.
    public static let postgresVariable = "MINSKY_TEST_POSTGRES_URL"

    public static func postgresURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[postgresVariable], !url.isEmpty else {
            throw MinskyError(
                .notConfigured,
                "\(postgresVariable) is not set: run the tests with scripts/test (it starts PostgreSQL), or point \(postgresVariable) at a server, e.g. postgresql://postgres@127.0.0.1:5432/postgres"
            )
        }
        return url
    }

    public static func tempDirectory(_ label: String = "minsky-test") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(label)-\(UUID().uuidString.prefix(12).lowercased())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A fresh, empty PostgreSQL schema and a URL whose connections use it. Dropped by `dropSchema`.
    public static func freshPostgresSchema() async throws -> (url: String, schema: String) {
        let base = try postgresURL()
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await PostgresAdmin.execute(url: base, "CREATE SCHEMA \(schema)")
        let sep = base.contains("?") ? "&" : "?"
        return (base + sep + "options=-csearch_path%3D\(schema)", schema)
    }

    /// A fresh, empty schema on the test server for `body` (its URL selects it through the
    /// search path), dropped when `body` ends, thrown or not: the one set-up and tear-down every
    /// PostgreSQL test uses.
    public static func withPostgresSchema<T>(_ body: (_ url: String, _ schema: String) async throws -> T) async throws
        -> T
    {
        let (url, schema) = try await freshPostgresSchema()
        return try await cleaningUp({ await dropSchema(schema) }) { try await body(url, schema) }
    }

    public static func dropSchema(_ schema: String) async {
        guard let base = try? postgresURL() else { return }
        try? await PostgresAdmin.execute(url: base, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
    }
}

/// Runs `body` with a new, empty store of `kind`, then removes it.
public func withStore<T>(
    _ kind: StoreKind, clock: TestClock? = nil, ids: SequentialIDs? = nil,
    _ body: (any MinskyStore) async throws -> T
) async throws -> T {
    let now: @Sendable () -> Timestamp = { clock?.now() ?? .now() }
    let makeID: @Sendable (String, Int) -> TaskID = { prefix, length in
        ids?.next(prefix: prefix, length: length) ?? TaskID.random(prefix: prefix, length: length)
    }
    switch kind {
    case .sqlite:
        let dir = try TestEnvironment.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteTaskStore(path: dir.appendingPathComponent("tasks.db").path, now: now, makeID: makeID)
        do {
            let r = try await body(store)
            await store.close()
            return r
        } catch {
            await store.close()
            throw error
        }
    case .postgres:
        return try await TestEnvironment.withPostgresSchema { url, _ in
            let store = try await PostgresTaskStore.connect(url: url, now: now, makeID: makeID)
            return try await cleaningUp({ await store.close() }) { try await body(store) }
        }
    }
}

/// Runs `body`, then awaits `cleanup` (a dropped schema, a removed directory) whether `body`
/// threw or not: the clean-up has finished when the test ends, unlike a `defer { Task { … } }`.
public func cleaningUp<T>(_ cleanup: () async -> Void, _ body: () async throws -> T) async throws -> T {
    do {
        let value = try await body()
        await cleanup()
        return value
    } catch {
        await cleanup()
        throw error
    }
}
