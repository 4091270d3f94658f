import MinskyCore

/// Where migrations are applied and recorded: a backend supplies only how to run a statement,
/// read the recorded names, and record one, inside a transaction it has locked for migrating.
public protocol MigrationTarget {
    var dialect: SQLDialect { get }
    /// Where the store is, for messages.
    var migrationLocation: String { get }
    /// The names recorded so far (empty when the record table does not exist yet).
    func recordedMigrations() throws -> Set<String>
    /// Creates the record table if it is missing (inside the migrating transaction).
    func createMigrationRecord() throws
    func executeMigration(_ sql: String) throws
    func recordMigration(_ name: String) throws
}

/// The one migration runner both stores use (SQLite records in `grdb_migrations`, PostgreSQL in
/// `minsky_migrations`): migrations are named and applied in order, each recorded in the same
/// transaction as its statements, and a store holding a migration this build does not know
/// (written by a newer minsky) is refused before anything is changed.
public enum MigrationRunner {
    /// What is still to apply, after refusing unknown migrations.
    /// A store holding `Schema.unfinishedUpgrade` is refused too, unless the caller is the
    /// upgrade that clears it (`allowingUnfinishedUpgrade`).
    public static func pending(recorded: Set<String>, location: String, allowingUnfinishedUpgrade: Bool = false) throws
        -> [SQLMigration]
    {
        if recorded.contains(Schema.unfinishedUpgrade) && !allowingUnfinishedUpgrade {
            throw Schema.unfinishedUpgradeError(location: location)
        }
        let unknown = recorded.subtracting(Schema.migrationNames).subtracting([Schema.unfinishedUpgrade])
        if !unknown.isEmpty { throw Schema.newerSchemaError(unknown: Array(unknown), location: location) }
        return Schema.migrations.filter { !recorded.contains($0.name) }
    }

    /// Applies what is pending. Call it inside the transaction (and lock) the target migrates
    /// under: the recorded names are read again there, so concurrent first opens apply each
    /// migration once.
    @discardableResult
    public static func apply(to target: some MigrationTarget, allowingUnfinishedUpgrade: Bool = false) throws
        -> [String]
    {
        try target.createMigrationRecord()
        let todo = try pending(
            recorded: target.recordedMigrations(), location: target.migrationLocation,
            allowingUnfinishedUpgrade: allowingUnfinishedUpgrade)
        for m in todo {
            for sql in m.statements(target.dialect) { try target.executeMigration(sql) }
            try target.recordMigration(m.name)
        }
        return todo.map(\.name)
    }
}
