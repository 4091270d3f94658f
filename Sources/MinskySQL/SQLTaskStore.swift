import MinskyCore
import Synchronization

/// The `TaskStore` implementation shared by every SQL backend. Backends supply only a driver
/// (transactions, value binding) and a dialect, so task logic cannot drift between stores.
public final class SQLTaskStore<Driver: SQLDriver>: MinskyStore {
    public let driver: Driver
    public let idPrefix: String
    let now: @Sendable () -> Timestamp
    let makeID: @Sendable (_ prefix: String, _ length: Int) -> TaskID
    /// Embedding matrices already read.
    let vectorState = Mutex(VectorState())
    /// The backend's own vector index (pgvector), if any.
    let vectorIndex: (any VectorIndex)?
    /// Who makes this process's changes, for the history where the database does not know it.
    public let actor: String
    /// Stamps this process's changes for sync.
    let syncClock = HybridClock()
    /// Writes in flight other than background sync's (see `backgroundWrite`).
    let foregroundWrites = WriteCounter()

    /// `now` and `makeID` are injectable so tests can replay the same operations on two stores
    /// and compare results field by field.
    public init(
        driver: Driver, idPrefix: String = TaskID.defaultPrefix, now: @escaping @Sendable () -> Timestamp = { .now() },
        makeID: @escaping @Sendable (_ prefix: String, _ length: Int) -> TaskID = {
            TaskID.random(prefix: $0, length: $1)
        }, actor: String = "unknown"
    ) {
        self.actor = actor
        self.driver = driver
        self.vectorIndex = driver.makeVectorIndex()
        self.idPrefix = idPrefix
        self.now = now
        self.makeID = makeID
    }

    public var location: String { driver.location }
    var d: SQLDialect { driver.dialect }

    // MARK: Reading rows

    var columns: String {
        [
            "t.id", "t.title", "t.description", "t.status", "t.priority", d.select("t.tags", as: .json),
            d.select("t.metadata", as: .json), "t.parent_id", "t.assignee",
            d.select("t.claim_expires_at", as: .timestamp), d.select("t.created_at", as: .timestamp),
            d.select("t.updated_at", as: .timestamp), "t.version", d.select("t.acceptance", as: .json),
            d.select("t.paths", as: .json), d.select("t.evidence", as: .json),
        ].joined(separator: ", ")
    }

    /// A task row selected with `columns`, read by column name.
    static func decode(_ r: SQLRow) throws -> TaskItem {
        let id = try r.text("id")
        guard let status = TaskStatus(rawValue: try r.text("status")) else {
            throw MinskyError(.internal, "stored task \(id) has an unknown status '\(try r.text("status"))'")
        }
        let tagsText = try r.text("tags")
        let tags: [String] =
            tagsText == "[]"
            ? [] : (try JSONValue.parse(tagsText, field: "tags").arrayValue ?? []).compactMap(\.stringValue)
        let metaText = try r.text("metadata")
        let meta: JSONValue = metaText == "{}" ? .object([:]) : try JSONValue.parse(metaText, field: "metadata")
        return TaskItem(
            id: TaskID(trusted: id), title: try r.text("title"), description: try r.text("description"),
            status: status, priority: try Priority(Int(try r.int("priority"))), tags: tags, metadata: meta,
            parentId: try r.optionalText("parent_id").map(TaskID.init(trusted:)),
            assignee: try r.optionalText("assignee"), claimExpiresAt: try r.optionalTimestamp("claim_expires_at"),
            createdAt: try r.timestamp("created_at"), updatedAt: try r.timestamp("updated_at"),
            version: try r.int("version"), acceptance: try acceptance(r.text("acceptance")),
            paths: paths(try r.text("paths")), evidence: try evidence(r.text("evidence")))
    }

    /// Stored paths, read leniently: a row written by hand cannot make the task unreadable, and
    /// its patterns are compared in normal form (`./src//a.swift` leases `src/a.swift`).
    static func paths(_ text: String) -> [String] {
        text == "[]"
            ? [] : TaskPaths.stored(((try? JSONValue.parse(text))?.arrayValue ?? []).compactMap(\.stringValue))
    }

    static func evidence(_ text: String) -> Evidence {
        text == "{}" ? Evidence() : Evidence.stored((try? JSONValue.parse(text, field: "evidence")) ?? .object([:]))
    }

    static func pathsJSON(_ paths: [String]) -> JSONValue { .array(paths.map { .string($0) }) }

    static func tagsJSON(_ tags: [String]) -> JSONValue { .array(tags.map { .string($0) }) }

    static func acceptance(_ text: String) throws -> [AcceptanceCriterion] {
        if text == "[]" { return [] }
        guard let list = AcceptanceCriterion.list(try JSONValue.parse(text, field: "acceptance")) else {
            throw MinskyError(.internal, "stored acceptance criteria '\(text.prefix(40))' are malformed")
        }
        return list
    }

    func fetchTask(_ c: any SQLConnection, _ id: TaskID, lock: Bool = false) throws -> TaskItem {
        guard
            let row = try c.query(
                "SELECT \(raw: columns) FROM tasks t WHERE t.id = \(id)\(raw: lock ? d.forUpdate : "")"
            ).first
        else {
            throw MinskyError.notFound(id)
        }
        return try Self.decode(row)
    }

    func exists(_ c: any SQLConnection, _ id: TaskID) throws -> Bool {
        try !c.query("SELECT 1 FROM tasks WHERE id = \(id)").isEmpty
    }

    func requireExists(_ c: any SQLConnection, _ id: TaskID, field: String) throws {
        guard try exists(c, id) else {
            var e = MinskyError.notFound(id)
            e.field = field
            throw e
        }
    }

    func blockers(_ c: any SQLConnection, _ id: TaskID) throws -> [TaskID] {
        try c.query("SELECT depends_on_id FROM task_dependencies WHERE task_id = \(id)")
            .compactMap { $0[0].text.map(TaskID.init(trusted:)) }
    }

    func parentOf(_ c: any SQLConnection, _ id: TaskID) throws -> TaskID? {
        try c.query("SELECT parent_id FROM tasks WHERE id = \(id)").first?[0].text.map(TaskID.init(trusted:))
    }

    static var unresolved: String {
        "(" + TaskStatus.allCases.filter { !$0.isResolved }.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }

    /// Sets every row's readiness counters from the source rows (add a WHERE to narrow it).
    static var recountCounters: SQL {
        """
        UPDATE tasks SET \
        open_blockers = (SELECT count(*) FROM task_dependencies e JOIN tasks b ON b.id = e.depends_on_id \
        WHERE e.task_id = tasks.id AND b.status IN \(raw: unresolved)), \
        open_subtasks = (SELECT count(*) FROM tasks k WHERE k.parent_id = tasks.id AND k.status IN \(raw: unresolved))
        """
    }

    /// Recomputes the readiness counters of `ids` from the source rows, a few hundred ids per
    /// statement: a statement binds at most 32,766 values on SQLite and 65,535 on PostgreSQL, and
    /// an import of a million tasks refreshes a million.
    func refreshCounters(_ c: any SQLConnection, _ ids: Set<TaskID>) throws {
        guard !ids.isEmpty else { return }
        let all = ids.sorted()
        for start in stride(from: 0, to: all.count, by: Self.idsPerStatement) {
            let part = all[start..<min(all.count, start + Self.idsPerStatement)]
            try c.executeLater("\(Self.recountCounters) WHERE id IN (\(list: Array(part)))")
        }
    }

    /// How many ids one `IN (…)` list binds.
    static var idsPerStatement: Int { 500 }

    /// Recomputes every task's readiness counters, for stores filled by bulk copies.
    public func refreshAllCounters() async throws {
        _ = try await write { c in
            try c.execute(Self.recountCounters)
        }
    }

    /// Tasks that depend on `id`.
    func dependents(_ c: any SQLConnection, _ id: TaskID) throws -> [TaskID] {
        try c.query("SELECT task_id FROM task_dependencies WHERE depends_on_id = \(id)")
            .compactMap { $0[0].text.map(TaskID.init(trusted:)) }
    }

    /// Refuses to work on a store that was upgraded away, naming where it went.
    func checkNotMoved(_ c: any SQLConnection) throws {
        guard d.canBeUpgradedAway else { return }
        if let url = try c.query("SELECT url FROM store_moved").first?[0].text {
            throw MinskyError(
                .storeMoved, "this store was moved to \(url) by `minsky upgrade`; use that store", field: url)
        }
    }

    /// A write transaction; `bounded` for a write of a few rows found by index (one task's
    /// create, update, claim …), which the driver may run where it is cheapest (`boundedWrite`).
    func write<T: Sendable>(bounded: Bool = false, _ body: @escaping @Sendable (any SQLConnection) throws -> T)
        async throws -> T
    {
        foregroundWrites.enter()
        do {
            let checked: @Sendable (any SQLConnection) throws -> T = { [self] c in
                try checkNotMoved(c)
                return try body(c)
            }
            let value = try await bounded ? driver.boundedWrite(checked) : driver.write(checked)
            foregroundWrites.leave()
            return value
        } catch {
            foregroundWrites.leave()
            throw error
        }
    }

    /// A write for background sync: it lets this process's other writes (an agent's tool calls)
    /// go first, waiting up to 50 ms for a gap, so they wait at most for one short sync
    /// transaction already running.
    func backgroundWrite<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        var waited = 0
        while foregroundWrites.busy && waited < 500 {
            try await Task.sleep(nanoseconds: 100_000)
            waited += 1
        }
        return try await driver.write { [self] c in
            try checkNotMoved(c)
            return try body(c)
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await driver.read { [self] c in
            try checkNotMoved(c)
            return try body(c)
        }
    }

    /// A read of a few rows found by index (one task, its edges, the next ready ones).
    func boundedRead<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await driver.boundedRead { [self] c in
            try checkNotMoved(c)
            return try body(c)
        }
    }

    // MARK: TaskStore

    /// Inserts one validated draft with its dependency edges inside the caller's transaction.
    /// With `idLength` where the dialect pipelines writes, the row goes with the next statement
    /// and a taken id fails the transaction (`MinskyError.isTaskIDTaken`; see `create`).
    func insert(_ c: any SQLConnection, _ draft: NewTask, now: Timestamp, idLength: Int? = nil) throws -> TaskItem {
        if let p = draft.parentId { try requireExists(c, p, field: "parent") }
        for dep in draft.dependsOn { try requireExists(c, dep, field: "dependsOn") }
        var length = idLength ?? TaskID.defaultSuffixLength
        var task = TaskItem(
            id: makeID(idPrefix, length), title: draft.title, description: draft.description,
            status: draft.status, priority: draft.priority, tags: draft.tags, metadata: draft.metadata,
            parentId: draft.parentId, createdAt: now, updatedAt: now, version: 1,
            acceptance: draft.acceptance.map { AcceptanceCriterion($0) }, paths: draft.paths)
        if idLength != nil && d.pipelinesWrites {
            try c.executeLater(insertRowSQL(task))
        } else {
            // A collision with an existing id draws again with one more character.
            while try insertRow(c, task, ifAbsent: true) == 0 {
                length += 1
                task.id = makeID(idPrefix, length)
            }
        }
        if !draft.dependsOn.isEmpty, let lock = d.lockDependencyGraph { try c.execute(SQL(raw: lock)) }
        for dep in draft.dependsOn { try insertEdge(c, task.id, dep, now) }
        // A new task's counters start at 0, which is right unless it has blockers; its parent
        // gains an open subtask.
        try refreshCounters(c, Set((draft.dependsOn.isEmpty ? [] : [task.id]) + [task.parentId].compactMap { $0 }))
        var changes = TaskEvent.changes(from: nil, to: task).objectValue ?? [:]
        if !draft.dependsOn.isEmpty {
            changes["dependsOn"] = ["after": .array(draft.dependsOn.map { .string($0.rawValue) })]
        }
        try recordEvent(c, task.id, "created", .object(changes), at: now)
        return task
    }

    /// Inserts every column of `t`; with `ifAbsent`, an existing id inserts nothing (returns 0).
    @discardableResult
    func insertRow(_ c: any SQLConnection, _ t: TaskItem, ifAbsent: Bool = false) throws -> Int {
        try c.execute(insertRowSQL(t, ifAbsent: ifAbsent))
    }

    func insertRowSQL(_ t: TaskItem, ifAbsent: Bool = false) -> SQL {
        """
        INSERT INTO tasks (id, title, description, status, priority, tags, metadata, parent_id, assignee, claim_expires_at, \
        created_at, updated_at, version, acceptance, paths, evidence) VALUES (\(t.id), \(text: t.title), \(text: t.description), \(text: t.status.rawValue), \
        \(int: t.priority.value), \(json: Self.tagsJSON(t.tags)), \(json: t.metadata), \(t.parentId), \(text: t.assignee), \
        \(t.claimExpiresAt), \(t.createdAt), \(t.updatedAt), \(int: t.version), \(json: AcceptanceCriterion.json(t.acceptance)), \
        \(json: Self.pathsJSON(t.paths)), \(json: t.evidence.json))\(raw: ifAbsent ? " ON CONFLICT (id) DO NOTHING" : "")
        """
    }

    /// SQLite tasks waiting for the text index (see migration 008) before a flush.
    static var textIndexBatch: Int { 64 }

    /// SQLite: moves pending tasks into the FTS index, as one segment. Returns how many.
    @discardableResult
    func flushTextIndex(_ c: any SQLConnection) throws -> Int {
        guard d.batchesTextIndex else { return 0 }
        let n = SQLDialect.indexedDescriptionCharacters
        let texts =
            "SELECT t.rowid, t.title, substr(t.description, 1, \(n)) FROM tasks_fts_pending p JOIN tasks t ON t.rowid = p.id"
        let count = Int(try c.query("SELECT count(*) FROM tasks_fts_pending").first?[0].int ?? 0)
        guard count > 0 else { return 0 }
        try c.execute("INSERT INTO tasks_fts (rowid, title, description) \(raw: texts)")
        // The words of what was just indexed (see migration 017): a batch's from a scratch index
        // of the batch alone; a bulk load's from the whole index's vocabulary, read once.
        if count > Self.wordsFromWholeIndex {
            try c.execute("INSERT OR IGNORE INTO tasks_fts_words (word) SELECT term FROM tasks_fts_vocab")
        } else {
            try c.execute("INSERT INTO tasks_fts_batch (rowid, title, description) \(raw: texts)")
            try c.execute("INSERT OR IGNORE INTO tasks_fts_words (word) SELECT term FROM tasks_fts_batch_vocab")
            try c.execute("INSERT INTO tasks_fts_batch (tasks_fts_batch) VALUES ('delete-all')")
        }
        try c.execute("DELETE FROM tasks_fts_pending")
        return count
    }

    /// Tasks flushed at once above which the words list is read from the whole text index.
    static var wordsFromWholeIndex: Int { 20_000 }

    /// SQLite: the words a search term stands for as a prefix (from `tasks_fts_words`), or nil
    /// when the list cannot say exactly (a term that is not plain ASCII, whose case folding is the
    /// tokenizer's business) or the term stands for too many words to name.
    func prefixWords(_ c: any SQLConnection, _ term: String) throws -> [String]? {
        guard d.batchesTextIndex, term.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        let words = try c.query(
            "SELECT word FROM tasks_fts_words WHERE word >= \(text: term) AND word < \(text: term + "\u{10FFFF}") ORDER BY word LIMIT \(raw: String(SQLDialect.maxPrefixWords + 1))"
        ).compactMap { $0[0].text }
        return words.count > SQLDialect.maxPrefixWords ? nil : words
    }

    /// After inserts: flush once a batch has gathered.
    func flushTextIndexIfFull(_ c: any SQLConnection) throws {
        guard d.batchesTextIndex else { return }
        if try !c.query("SELECT 1 FROM tasks_fts_pending LIMIT 1 OFFSET \(raw: String(Self.textIndexBatch - 1))")
            .isEmpty
        {
            try flushTextIndex(c)
        }
    }

    public func create(_ draft: NewTask) async throws -> TaskItem {
        let draft = try TaskRules.validate(draft)
        let now = now()
        var length = TaskID.defaultSuffixLength
        while true {
            do {
                return try await write(bounded: true) { [self, length] c in
                    let task = try insert(c, draft, now: now, idLength: length)
                    try flushTextIndexIfFull(c)
                    return task
                }
            } catch let e as MinskyError where e.isTaskIDTaken && length < TaskID.defaultSuffixLength + 8 {
                // The id drawn was taken (found at commit): draw again, one character longer.
                length += 1
            }
        }
    }

    public func createMany(
        _ drafts: [NewTask], progress: (@Sendable (Int) -> Void)?, isCancelled: @escaping @Sendable () -> Bool
    ) async throws -> [TaskItem] {
        let drafts = try TaskRules.validateBatch(drafts)
        let now = now()
        return try await write { [self] c in
            var created: [TaskItem] = []
            for (k, var draft) in drafts.enumerated() {
                if isCancelled() { throw CancellationError() }
                if let p = draft.batchParent { draft.parentId = created[p].id }
                draft.dependsOn += draft.batchDependsOn.map { created[$0].id }
                // One microsecond apart, so listings keep the batch's order.
                created.append(try insert(c, draft, now: Timestamp(microseconds: now.microseconds + Int64(k))))
                progress?(created.count)
            }
            try flushTextIndexIfFull(c)
            return created
        }
    }

    public func get(_ id: TaskID) async throws -> TaskItem {
        try await boundedRead { [self] c in try fetchTask(c, id) }
    }

    public func list(_ query: TaskQuery) async throws -> TaskPage {
        let q = try query.validated()
        guard d.batchesTextIndex, !q.textTerms.isEmpty else { return try await read { [self] c in try list(c, q) } }
        // A text search on SQLite sees every task: with tasks still pending for the index, it
        // indexes them first, in the same transaction as the search.
        let page: TaskPage? = try await read { [self] c in
            try c.query("SELECT 1 FROM tasks_fts_pending LIMIT 1").isEmpty ? try list(c, q) : nil
        }
        if let page { return page }
        return try await write { [self] c in
            try flushTextIndex(c)
            return try list(c, q)
        }
    }

    func list(_ c: any SQLConnection, _ q: TaskQuery) throws -> TaskPage {
        let terms = q.textTerms
        // Each term as the words it stands for, where the words list can say (SQLite).
        let words: [[String]?] = try terms.map { try prefixWords(c, $0) }
        if words.contains(where: { $0?.isEmpty == true }) { return TaskPage(tasks: [], nextCursor: nil) }
        var hint = ""
        var walk = false
        var density = 0.1
        // (Not with a parent or an assignee: their own indexes read less than a walk would.)
        if !terms.isEmpty, case .any = q.parent, q.assignee == nil,
            let count = c.dialect.matchCount(terms: terms, words: words)
        {
            let found = try c.query("\(fragment: { _, _ in count })").first
            let n = found?[0].int ?? 0
            hint = c.dialect.commonWordsScan(matches: Int(n)) ?? ""
            // Rowids mostly follow creation order: the first matches' share of the rows they span
            // says how many rows a page's walk reads.
            let span = (found?[2].int ?? 0) - (found?[1].int ?? 0) + 1
            if n > 0, span > 0 { density = Double(n) / Double(span) }
            // Named words stream from the index, so a walk can ask it about a range of rows at a
            // time; a prefix it must gather is gathered once, for the whole walk, instead.
            walk = !hint.isEmpty && words.allSatisfy { $0 != nil }
        }
        var filters: SQL = ""
        if !q.statuses.isEmpty { filters += " AND t.status IN (\(list: q.statuses.map(\.rawValue).sorted()))" }
        switch q.parent {
        case .any: break
        case .root: filters += " AND t.parent_id IS NULL"
        case .task(let p): filters += " AND t.parent_id = \(p)"
        }
        if let tag = q.tag {
            filters += " AND \(fragment: { d, n in (d.tagMatch(placeholder: n, tag: tag), .text(tag)) })"
        }
        if let a = q.assignee { filters += " AND t.assignee = \(text: a)" }
        var tasks: [TaskItem]
        if walk {
            tasks = try commonWordsPage(
                c, q, filters: filters, match: SQLDialect.ftsQuery(terms: terms, words: words, prefix: true),
                density: density)
        } else {
            var s: SQL = "SELECT \(raw: columns) FROM tasks t\(raw: hint) WHERE 1 = 1"
            s += filters
            if !terms.isEmpty {
                s += " AND \(fragment: { d, n in d.textMatch(terms: terms, words: words, placeholder: n) })"
            } else if let text = q.text, text.contains(where: { !$0.isWhitespace }) {
                // A query with no words (only punctuation) matches nothing.
                s += " AND 1 = 0"
            }
            if let cur = q.cursor { s += " AND (t.created_at, t.id) > (\(cur.createdAt), \(cur.id))" }
            s += " ORDER BY t.created_at, t.id LIMIT \(raw: String(q.limit + 1))"
            tasks = try c.query(s).map(Self.decode)
        }
        var next: PageCursor?
        if tasks.count > q.limit {
            tasks.removeLast()
            if let last = tasks.last { next = PageCursor(createdAt: last.createdAt, id: last.id) }
        }
        return TaskPage(tasks: tasks, nextCursor: next)
    }

    /// SQLite: a search page (up to `limit + 1` tasks, in creation order) for words that match
    /// many tasks. The creation-order index is walked a chunk of rows at a time, and one
    /// statement keeps the chunk's rows that the text index matches within the chunk's rowid
    /// range (FTS5 streams named words and seeks to the range): a statement or two per page,
    /// where asking about each row costs a query each and gathering every match first costs all
    /// of them (25 ms for a word in 17% of 1,000,000 tasks). Rowids mostly follow creation
    /// order, which keeps a range tight; where they do not (imported or synced tasks), it is
    /// wider, never wrong. The first chunk is sized from `density` (the share of rows that match)
    /// to hold a page with room to spare, so a page is mostly one statement; later chunks grow.
    func commonWordsPage(_ c: any SQLConnection, _ q: TaskQuery, filters: SQL, match: String, density: Double)
        throws -> [TaskItem]
    {
        var found: [TaskItem] = []
        var after: SQL = q.cursor.map { " AND (t.created_at, t.id) > (\($0.createdAt), \($0.id))" } ?? ""
        var chunk = min(16384, max(64, Int(Double(q.limit + 1) * 1.5 / max(density, 0.001))))
        while true {
            let walk: SQL =
                "FROM tasks t INDEXED BY tasks_created WHERE 1 = 1\(filters)\(after) ORDER BY t.created_at, t.id"
            found += try c.query(
                """
                WITH chunk AS MATERIALIZED (SELECT t.rowid AS r \(walk) LIMIT \(raw: String(chunk))) \
                SELECT \(raw: columns) FROM tasks t WHERE t.rowid IN (SELECT r FROM chunk) AND t.rowid IN \
                (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH \(text: match) \
                AND rowid BETWEEN (SELECT min(r) FROM chunk) AND (SELECT max(r) FROM chunk)) \
                ORDER BY t.created_at, t.id LIMIT \(raw: String(q.limit + 1 - found.count))
                """
            ).map(Self.decode)
            if found.count > q.limit { return found }
            // The next chunk starts after this one's last row, if it was full.
            guard
                let last = try c.query(
                    "SELECT \(raw: d.select("t.created_at", as: .timestamp)), t.id \(walk) LIMIT 1 OFFSET \(raw: String(chunk - 1))"
                ).first
            else { return found }
            after =
                " AND (t.created_at, t.id) > (\(try last.timestamp("created_at")), \(TaskID(trusted: try last.text("id"))))"
            chunk = min(chunk * 4, 16384)
        }
    }

    public func update(_ id: TaskID, _ patch: TaskPatch, expectedVersion: Int64?) async throws -> TaskItem {
        if let ev = expectedVersion, ev < 1 {
            throw MinskyError.invalid("expectedVersion", "expected version \(ev) is impossible: versions start at 1")
        }
        let now = now()
        return try await write(bounded: true) { [self] c in
            let cur = try fetchTask(c, id, lock: true)
            if let ev = expectedVersion, ev != cur.version {
                throw MinskyError(
                    .conflict,
                    "task \(id) is at version \(cur.version), not \(ev): someone changed it since you read it; read it again, then retry expecting version \(cur.version)",
                    field: "expectedVersion")
            }
            let next = try TaskRules.apply(patch, to: cur, now: now)
            // A patch that changes nothing writes nothing: no new version, so a repeated call is harmless.
            if !next.differsInContent(from: cur) { return cur }
            // A task put in someone's hands (or given paths while held) leases its paths like a claim.
            if !patch.force, next.status == .inProgress, let owner = next.assignee,
                next.claimExpiresAt.map({ $0 > now }) ?? true,
                cur.status != .inProgress || cur.assignee != owner || cur.paths != next.paths
            {
                try checkLeases(c, next, owner: owner, now: now)
            }
            if case .set(let p) = patch.parent, p != cur.parentId {
                try requireExists(c, p, field: "parent")
                try DependencyGraph.checkNewParent(task: id, parent: p) { try parentOf(c, $0) }
            }
            let update: SQL = """
                UPDATE tasks SET title = \(text: next.title), description = \(text: next.description), \
                status = \(text: next.status.rawValue), priority = \(int: next.priority.value), tags = \(json: Self.tagsJSON(next.tags)), \
                metadata = \(json: next.metadata), parent_id = \(next.parentId), assignee = \(text: next.assignee), \
                claim_expires_at = \(next.claimExpiresAt), updated_at = \(next.updatedAt), version = \(int: next.version), \
                acceptance = \(json: AcceptanceCriterion.json(next.acceptance)), paths = \(json: Self.pathsJSON(next.paths)), \
                evidence = \(json: next.evidence.json) \
                WHERE id = \(id) AND version = \(int: cur.version)
                """
            if d.pipelinesWrites {
                // The row was read FOR UPDATE: nobody can have changed it since.
                try c.executeLater(update)
            } else if try c.execute(update) != 1 {
                throw MinskyError(
                    .conflict, "task \(id) changed while it was being updated; get it again and retry",
                    field: "expectedVersion")
            }
            try recordEvent(c, id, "updated", TaskEvent.changes(from: cur, to: next), at: next.updatedAt)
            if cur.status.isResolved != next.status.isResolved || cur.parentId != next.parentId {
                try refreshCounters(c, Set(try dependents(c, id) + [cur.parentId, next.parentId].compactMap { $0 }))
            }
            return next
        }
    }

    public func delete(_ id: TaskID, cascade: Bool) async throws -> [TaskID] {
        let now = now()
        return try await write { [self] c in
            _ = try fetchTask(c, id, lock: true)
            let rows = try c.query(
                """
                WITH RECURSIVE sub(id, depth) AS (SELECT id, 0 FROM tasks WHERE id = \(id) \
                UNION ALL SELECT t.id, sub.depth + 1 FROM tasks t JOIN sub ON t.parent_id = sub.id) \
                SELECT sub.id, sub.depth, t.title FROM sub JOIN tasks t ON t.id = sub.id
                """)
            let ids = rows.compactMap { $0[0].text.map(TaskID.init(trusted:)) }
            if ids.count > 1 && !cascade {
                throw MinskyError.invalid(
                    "cascade",
                    "task \(id) has \(ids.count - 1) subtask(s); delete them first or pass cascade (--cascade) to delete the whole subtree"
                )
            }
            let doomed = Set(ids)
            var affected = Set(try ids.flatMap { try dependents(c, $0) })
            if let p = try parentOf(c, id) { affected.insert(p) }
            affected.subtract(doomed)
            // Deepest level first, so no delete cascades to a subtask: SQLite counts each cascade
            // level as trigger recursion and stops at 1,000, while PostgreSQL has no such limit.
            var levels: [Int64: [TaskID]] = [:]
            for r in rows {
                if let x = r[0].text, let depth = r[1].int { levels[depth, default: []].append(TaskID(trusted: x)) }
            }
            for depth in levels.keys.sorted(by: >) {
                for chunk in stride(from: 0, to: levels[depth]!.count, by: 500) {  // the key comes from the dictionary
                    let part = levels[depth]![chunk..<min(chunk + 500, levels[depth]!.count)]
                    try c.execute("DELETE FROM tasks WHERE id IN (\(list: Array(part)))")
                }
            }
            try refreshCounters(c, affected)
            for r in rows {
                guard let x = r[0].text else { continue }
                try recordEvent(
                    c, TaskID(trusted: x), "deleted", ["title": ["before": .string(r[2].text ?? "")]], at: now)
            }
            return ids.sorted()
        }
    }

    func insertEdge(_ c: any SQLConnection, _ task: TaskID, _ dep: TaskID, _ now: Timestamp) throws {
        try c.execute(
            "INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES (\(task), \(dep), \(now))")
    }

    public func addDependency(_ task: TaskID, dependsOn: TaskID) async throws -> Dependency {
        let now = now()
        return try await write(bounded: true) { [self] c in
            if let lock = d.lockDependencyGraph { try c.execute(SQL(raw: lock)) }
            try requireExists(c, task, field: "id")
            try requireExists(c, dependsOn, field: "dependsOn")
            let existing = try c.query(
                """
                SELECT \(raw: d.select("created_at", as: .timestamp)) FROM task_dependencies WHERE task_id = \(task) AND depends_on_id = \(dependsOn)
                """)
            if let row = existing.first {
                return Dependency(taskId: task, dependsOn: dependsOn, createdAt: try row.timestamp("created_at"))
            }
            // One recursive query answers "does dependsOn already reach task?"; only then does the
            // core walk the graph to name the cycle.
            let reach: SQL = """
                WITH RECURSIVE r(id) AS (SELECT depends_on_id FROM task_dependencies WHERE task_id = \(dependsOn) \
                UNION SELECT e.depends_on_id FROM task_dependencies e JOIN r ON e.task_id = r.id) SELECT 1 FROM r WHERE id = \(task)
                """
            if try task == dependsOn || !c.query(reach).isEmpty {
                try DependencyGraph.checkNewEdge(task: task, dependsOn: dependsOn) { try blockers(c, $0) }
            }
            if try parentOf(c, task) == dependsOn {
                throw MinskyError.invalid(
                    "dependsOn",
                    "\(task) is a subtask of \(dependsOn) and cannot wait for it: the parent is finished by its subtasks"
                )
            }
            try insertEdge(c, task, dependsOn, now)
            try refreshCounters(c, [task])
            try recordEvent(c, task, "dependency_added", ["dependsOn": ["after": .string(dependsOn.rawValue)]], at: now)
            return Dependency(taskId: task, dependsOn: dependsOn, createdAt: now)
        }
    }

    public func removeDependency(_ task: TaskID, dependsOn: TaskID) async throws {
        let now = now()
        try await write(bounded: true) { [self] c in
            let n = try c.execute(
                "DELETE FROM task_dependencies WHERE task_id = \(task) AND depends_on_id = \(dependsOn)")
            if n == 0 {
                try requireExists(c, task, field: "id")
                try requireExists(c, dependsOn, field: "dependsOn")
                throw MinskyError(
                    .notFound,
                    "\(task) does not depend on \(dependsOn); `minsky deps list \(task)` shows its dependencies",
                    field: "dependsOn")
            }
            try refreshCounters(c, [task])
            try recordEvent(
                c, task, "dependency_removed", ["dependsOn": ["before": .string(dependsOn.rawValue)]], at: now)
        }
    }

    func dependencyList(_ c: any SQLConnection, _ id: TaskID) throws -> DependencyList {
        func edges(_ sql: SQL) throws -> [DependencyList.Edge] {
            try c.query(sql).map { r in
                guard let status = TaskStatus(rawValue: try r.text("status")) else {
                    throw MinskyError(.internal, "stored task \(try r.text("id")) has an unknown status")
                }
                return DependencyList.Edge(
                    id: TaskID(trusted: try r.text("id")), title: try r.text("title"), status: status,
                    priority: try Priority(Int(try r.int("priority"))))
            }
        }
        return DependencyList(
            blockedBy: try edges(
                """
                SELECT t.id, t.title, t.status, t.priority FROM task_dependencies e JOIN tasks t ON t.id = e.depends_on_id \
                WHERE e.task_id = \(id) ORDER BY t.id
                """),
            blocks: try edges(
                """
                SELECT t.id, t.title, t.status, t.priority FROM task_dependencies e JOIN tasks t ON t.id = e.task_id \
                WHERE e.depends_on_id = \(id) ORDER BY t.id
                """))
    }

    public func dependencies(of id: TaskID) async throws -> DependencyList {
        try await boundedRead { [self] c in
            try requireExists(c, id, field: "id")
            return try dependencyList(c, id)
        }
    }

    public func details(_ id: TaskID) async throws -> (task: TaskItem, dependencies: DependencyList) {
        try await boundedRead { [self] c in (try fetchTask(c, id), try dependencyList(c, id)) }
    }

    /// One recursive query for the whole subtree, by the parent index: the root first, then
    /// level by level, oldest first within a level.
    public func subtree(root: TaskID) async throws -> [TaskItem] {
        try await read { [self] c in
            let rows = try c.query(
                """
                WITH RECURSIVE sub(id, depth) AS (SELECT id, 0 FROM tasks WHERE id = \(root) \
                UNION ALL SELECT k.id, sub.depth + 1 FROM tasks k JOIN sub ON k.parent_id = sub.id) \
                SELECT \(raw: columns) FROM sub JOIN tasks t ON t.id = sub.id ORDER BY sub.depth, t.created_at, t.id
                """)
            guard !rows.isEmpty else { throw MinskyError.notFound(root) }
            return try rows.map(Self.decode)
        }
    }

    static func decodeEdge(_ r: SQLRow) throws -> Dependency {
        Dependency(
            taskId: TaskID(trusted: try r.text("task_id")), dependsOn: TaskID(trusted: try r.text("depends_on_id")),
            createdAt: try r.timestamp("created_at"))
    }

    /// The edges whose waiting task is one of `ids`, read by the primary key (a few hundred ids
    /// a statement): what a subtree or a filtered list needs, without reading every edge.
    public func dependencyEdges(from ids: [TaskID]) async throws -> [Dependency] {
        let all = Array(Set(ids)).sorted()
        guard !all.isEmpty else { return [] }
        return try await read { [self] c in
            var out: [Dependency] = []
            for start in stride(from: 0, to: all.count, by: Self.idsPerStatement) {
                let part = Array(all[start..<min(all.count, start + Self.idsPerStatement)])
                out += try c.query(
                    """
                    SELECT task_id, depends_on_id, \(raw: d.select("created_at", as: .timestamp)) \
                    FROM task_dependencies WHERE task_id IN (\(list: part))
                    """
                ).map(Self.decodeEdge)
            }
            return out.sorted { ($0.taskId, $0.dependsOn) < ($1.taskId, $1.dependsOn) }
        }
    }

    public func dependencyEdges(among ids: [TaskID]?) async throws -> [Dependency] {
        if let ids {
            let set = Set(ids)
            return try await dependencyEdges(from: ids).filter { set.contains($0.dependsOn) }
        }
        let all = try await read { [self] c in
            try c.query(
                """
                SELECT task_id, depends_on_id, \(raw: d.select("created_at", as: .timestamp)) \
                FROM task_dependencies ORDER BY task_id, depends_on_id
                """
            ).map(Self.decodeEdge)
        }
        guard let ids else { return all }
        let set = Set(ids)
        return all.filter { set.contains($0.taskId) && set.contains($0.dependsOn) }
    }

    public func nextReady(limit: Int, filter: ReadyFilter) async throws -> [TaskItem] {
        guard (1...TaskQuery.maxLimit).contains(limit) else {
            throw MinskyError.invalid("limit", "limit \(limit) is out of range; use 1 to \(TaskQuery.maxLimit)")
        }
        let f = try filter.validated()
        let now = now()
        var s: SQL = """
            SELECT \(raw: columns) FROM tasks t WHERE t.open_blockers = 0 AND t.open_subtasks = 0 AND (t.status = 'TODO' OR \
            (t.status = 'IN-PROGRESS' AND t.claim_expires_at IS NOT NULL AND t.claim_expires_at <= \(now)))
            """
        if let tag = f.tag { s += " AND \(fragment: { d, n in (d.tagMatch(placeholder: n, tag: tag), .text(tag)) })" }
        if let a = f.assignee { s += " AND t.assignee = \(text: a)" }
        if f.unassigned {
            s += " AND (t.assignee IS NULL OR (t.claim_expires_at IS NOT NULL AND t.claim_expires_at <= \(now)))"
        }
        if let p = f.parent {
            s += """
                 AND t.id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM tasks WHERE parent_id = \(p) \
                UNION ALL SELECT c.id FROM tasks c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)
                """
        }
        return try await boundedRead { [self, s] c in
            if let p = f.parent { try requireExists(c, p, field: "parent") }
            let order = " ORDER BY t.priority, t.created_at, t.id LIMIT "
            let leases = try self.leases(c, now: now).filter { $0.owner != f.owner }
            if leases.isEmpty { return try c.query(s + SQL(raw: order + String(limit))).map(Self.decode) }
            // Others hold paths: walk the ready order past the tasks that touch them, in growing
            // steps, and at most `leaseScan` tasks deep (a claim on `**` would otherwise make every
            // call read the whole ready set; what lies deeper is offered once such claims end).
            var batch = max(limit * 4, 64)
            var scanned = 0
            var out: [TaskItem] = []
            var after: SQL = ""
            while true {
                let rows = try c.query(s + after + SQL(raw: order + String(batch))).map(Self.decode)
                scanned += rows.count
                for t in rows where PathLease.conflicts(of: t.paths, task: t.id, owner: f.owner, among: leases).isEmpty
                {
                    out.append(t)
                    if out.count == limit { return out }
                }
                guard rows.count == batch, let last = rows.last, scanned < Self.leaseScan else { return out }
                after =
                    " AND (t.priority, t.created_at, t.id) > (\(int: last.priority.value), \(last.createdAt), \(last.id))"
                batch = min(batch * 4, 4096)
            }
        }
    }

    /// How deep into the ready order `nextReady` looks for tasks clear of others' paths.
    static var leaseScan: Int { 20_000 }

    /// The live claims of tasks with paths, read in the caller's transaction.
    func leases(_ c: any SQLConnection, now: Timestamp) throws -> [PathLease] {
        try c.query(
            """
            SELECT t.id, t.title, t.assignee, \(raw: d.select("t.paths", as: .json)), \
            \(raw: d.select("t.claim_expires_at", as: .timestamp)) FROM tasks t\(raw: d.indexedBy("tasks_leases")) \
            WHERE t.status = 'IN-PROGRESS' AND t.assignee IS NOT NULL AND t.paths <> '[]' \
            AND (t.claim_expires_at IS NULL OR t.claim_expires_at > \(now))
            """
        ).map { r in
            PathLease(
                taskId: TaskID(trusted: try r.text("id")), title: try r.text("title"), owner: try r.text("assignee"),
                paths: Self.paths(try r.text("paths")), expiresAt: try r.optionalTimestamp("claim_expires_at"))
        }
    }

    public func pathLeases() async throws -> [PathLease] {
        let now = now()
        return try await read { [self] c in try leases(c, now: now) }
    }

    /// Refuses a claim of `t` by `owner` whose paths overlap someone else's live claim. On
    /// PostgreSQL claims with paths take a lock first, so two overlapping claims cannot both pass.
    func checkLeases(_ c: any SQLConnection, _ t: TaskItem, owner: String, now: Timestamp) throws {
        guard !t.paths.isEmpty else { return }
        if let lock = d.lockPathLeases { try c.execute(SQL(raw: lock)) }
        let clash = PathLease.conflicts(of: t.paths, task: t.id, owner: owner, among: try leases(c, now: now))
        guard clash.isEmpty else {
            throw MinskyError(
                .alreadyClaimed,
                "task \(t.id) touches paths others hold: \(PathLease.describe(clash)); take another task (tasks next / next_task skip these), wait for those claims to end, or claim it anyway with --force (MCP: force: true)",
                field: "paths")
        }
    }

    public func claim(_ id: TaskID, owner: String, ttl: Double?, force: Bool) async throws -> TaskItem {
        try TaskRules.checkAssignee(owner)
        if let ttl, !(ttl > 0 && ttl <= TaskRules.maxClaimSeconds) {
            throw MinskyError.invalid(
                "ttl",
                "ttl must be between 1 second and \(Int(TaskRules.maxClaimSeconds)) seconds (a year); omit it for a claim without expiry"
            )
        }
        return try await write(bounded: true) { [self] c in
            var t = try fetchTask(c, id, lock: true)
            // Read the clock once the row is locked (and, below, the leases): the claim's time in
            // the history is when it was granted, after any claim it waited for.
            var now = self.now()
            let before = t
            if t.status.isResolved {
                throw MinskyError.invalid(
                    "status", "task \(id) is \(t.status) and cannot be claimed; reopen it first with status TODO")
            }
            if !force {
                let open = try c.query(
                    """
                    SELECT b.id, b.title, b.status FROM task_dependencies e JOIN tasks b ON b.id = e.depends_on_id \
                    WHERE e.task_id = \(id) AND b.status NOT IN ('DONE', 'CLOSED') ORDER BY b.id LIMIT 6
                    """)
                if !open.isEmpty {
                    let names = open.prefix(5).map {
                        "\($0[0].text ?? "") \"\(String(($0[1].text ?? "").prefix(60)))\" [\($0[2].text ?? "")]"
                    }
                    throw MinskyError(
                        .conflict,
                        "task \(id) is blocked by \(names.joined(separator: ", "))\(open.count > 5 ? " and more" : ""); finish those first, take a ready task (`minsky tasks next`), or claim it anyway with --force (MCP: force: true)",
                        field: "id")
                }
            }
            if t.isClaimed(byOtherThan: owner, at: now) {
                let until = t.claimExpiresAt.map { " until \($0.iso8601)" } ?? " with no expiry"
                throw MinskyError(
                    .alreadyClaimed,
                    "task \(id) is already claimed by \(t.assignee ?? "?")\(until); pick another task (next ready) or wait for the claim to lapse",
                    field: "id")
            }
            if !force, !t.paths.isEmpty {
                try checkLeases(c, t, owner: owner, now: now)
                now = max(now, self.now())
            }
            t.status = .inProgress
            t.assignee = owner
            t.claimExpiresAt = ttl.map { now.adding(seconds: $0) }
            t.updatedAt = max(now, t.updatedAt)
            t.version += 1
            try c.execute(
                """
                UPDATE tasks SET status = 'IN-PROGRESS', assignee = \(text: owner), claim_expires_at = \(t.claimExpiresAt), \
                updated_at = \(t.updatedAt), version = version + 1 WHERE id = \(id)
                """)
            try recordEvent(c, id, "claimed", TaskEvent.changes(from: before, to: t), at: t.updatedAt)
            return t
        }
    }

    /// Checks that `owner` holds the claim on `t`, naming who does otherwise.
    static func checkHolds(_ t: TaskItem, owner: String) throws {
        guard t.status == .inProgress, let holder = t.assignee else {
            throw MinskyError(
                .conflict, "task \(t.id) is not claimed (it is \(t.status)); claim it first (tasks claim / claim_task)",
                field: "owner")
        }
        guard holder == owner else {
            throw MinskyError(
                .conflict,
                "task \(t.id) is claimed by \(holder), not \(owner): the claim lapsed and was taken, or was never yours; stop working on it and pick another task",
                field: "owner")
        }
    }

    public func heartbeat(_ id: TaskID, owner: String, ttl: Double) async throws -> TaskItem {
        try TaskRules.checkAssignee(owner)
        guard ttl > 0 && ttl <= TaskRules.maxClaimSeconds else {
            throw MinskyError.invalid(
                "ttl", "ttl must be between 1 second and \(Int(TaskRules.maxClaimSeconds)) seconds (a year)")
        }
        let now = now()
        return try await write(bounded: true) { [self] c in
            var t = try fetchTask(c, id, lock: true)
            try Self.checkHolds(t, owner: owner)
            let before = t
            t.claimExpiresAt = now.adding(seconds: ttl)
            t.updatedAt = max(now, t.updatedAt)
            t.version += 1
            try c.execute(
                "UPDATE tasks SET claim_expires_at = \(t.claimExpiresAt), updated_at = \(t.updatedAt), version = version + 1 WHERE id = \(id)"
            )
            try recordEvent(c, id, "heartbeat", TaskEvent.changes(from: before, to: t), at: t.updatedAt)
            return t
        }
    }

    public func release(_ id: TaskID, owner: String) async throws -> TaskItem {
        try TaskRules.checkAssignee(owner)
        let now = now()
        return try await write(bounded: true) { [self] c in
            var t = try fetchTask(c, id, lock: true)
            try Self.checkHolds(t, owner: owner)
            let before = t
            t.status = .todo
            t.assignee = nil
            t.claimExpiresAt = nil
            t.updatedAt = max(now, t.updatedAt)
            t.version += 1
            try c.execute(
                """
                UPDATE tasks SET status = 'TODO', assignee = NULL, claim_expires_at = NULL, updated_at = \(t.updatedAt), \
                version = version + 1 WHERE id = \(id)
                """)
            try recordEvent(c, id, "released", TaskEvent.changes(from: before, to: t), at: t.updatedAt)
            return t
        }
    }

    var proposalColumns: String {
        "id, task_id, kind, model, prompt_hash, \(d.select("body", as: .json)), \(d.select("created_at", as: .timestamp)), \(d.select("applied_at", as: .timestamp))"
    }

    static func decodeProposal(_ r: SQLRow) throws -> Proposal {
        Proposal(
            id: try r.text("id"), taskId: try r.optionalText("task_id").map(TaskID.init(trusted:)),
            kind: try r.text("kind"), model: try r.text("model"), promptHash: try r.text("prompt_hash"),
            body: try r.json("body"), createdAt: try r.timestamp("created_at"),
            appliedAt: try r.optionalTimestamp("applied_at"))
    }

    public func saveProposal(_ p: Proposal) async throws {
        try TaskRules.checkMetadata(.object(["body": p.body]))
        try await write { [self] c in
            if let t = p.taskId { try requireExists(c, t, field: "taskId") }
            try c.execute(
                """
                INSERT INTO proposals (id, task_id, kind, model, prompt_hash, body, created_at) \
                VALUES (\(text: p.id), \(p.taskId), \(text: p.kind), \(text: p.model), \(text: p.promptHash), \(json: p.body), \(p.createdAt))
                """)
            try track(c, .proposal, p.id, changed: [])
        }
    }

    public func proposals(for taskId: TaskID?) async throws -> [Proposal] {
        try await read { [self] c in
            let only: SQL = taskId.map { " WHERE task_id = \($0)" } ?? ""
            return try c.query("SELECT \(raw: proposalColumns) FROM proposals\(only) ORDER BY created_at DESC, id")
                .map(Self.decodeProposal)
        }
    }

    public func proposal(_ id: String) async throws -> Proposal {
        try await read { [self] c in
            guard let row = try c.query("SELECT \(raw: proposalColumns) FROM proposals WHERE id = \(text: id)").first
            else {
                throw MinskyError(
                    .notFound, "proposal \(id) not found; `minsky tasks proposals` lists them", field: "proposal")
            }
            return try Self.decodeProposal(row)
        }
    }

    public func markProposalApplied(_ id: String) async throws {
        let now = now()
        try await write { [self] c in
            if try c.execute("UPDATE proposals SET applied_at = \(now) WHERE applied_at IS NULL AND id = \(text: id)")
                == 0
            {
                guard try !c.query("SELECT 1 FROM proposals WHERE id = \(text: id)").isEmpty else {
                    throw MinskyError(.notFound, "proposal \(id) not found", field: "proposal")
                }
                throw MinskyError(.conflict, "proposal \(id) was already applied", field: "proposal")
            }
            try track(c, .proposal, id, changed: ["applied_at"])
        }
    }

    public func attachProposal(_ id: String, to taskId: TaskID) async throws {
        try await write { [self] c in
            try requireExists(c, taskId, field: "taskId")
            guard
                try c.execute("UPDATE proposals SET task_id = \(taskId) WHERE id = \(text: id) AND task_id IS NULL")
                    == 1
            else {
                throw MinskyError(
                    .conflict, "proposal \(id) does not exist or already belongs to a task", field: "proposal")
            }
            try track(c, .proposal, id, changed: ["task_id"])
        }
    }

    public func deleteProposal(_ id: String) async throws {
        try await write { [self] c in
            guard try c.execute("DELETE FROM proposals WHERE id = \(text: id)") == 1 else {
                throw MinskyError(
                    .notFound, "proposal \(id) not found; `minsky tasks proposals` lists them", field: "proposal")
            }
            try track(c, .proposal, id, changed: [], deleted: true)
        }
    }

    public func count() async throws -> Int {
        try await read { c in Int(try c.query("SELECT count(*) FROM tasks").first?[0].int ?? 0) }
    }

    public func close() async { await driver.close() }
}

/// How many writes other than background sync's are in flight in one store.
final class WriteCounter: Sendable {
    let count = Mutex(0)
    func enter() { count.withLock { $0 += 1 } }
    func leave() { count.withLock { $0 -= 1 } }
    var busy: Bool { count.withLock { $0 > 0 } }
}
