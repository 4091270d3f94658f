import MinskyCore

extension SQLTaskStore {
    public func recentlyDone(limit: Int) async throws -> [TaskItem] {
        guard (1...100_000).contains(limit) else {
            throw MinskyError.invalid("limit", "limit \(limit) is out of range; use 1 to 100000")
        }
        // The DONE column's own index, read from its newest end.
        return try await read { [self] c in
            try c.query(
                """
                SELECT \(raw: columns) FROM tasks t\(raw: d.boardColumnScan(.done, chosen: false) ?? "") \
                WHERE t.status = 'DONE' ORDER BY t.updated_at DESC, t.id DESC LIMIT \(raw: String(limit))
                """
            ).map(Self.decode)
        }
    }

    public func board(_ filter: BoardFilter) async throws -> BoardSnapshot {
        guard filter.openLimit > 0, filter.resolvedLimit > 0, (filter.ids?.count ?? 0) <= TaskQuery.maxLimit else {
            throw MinskyError.invalid(
                "filter", "a board shows at least one card a column and at most \(TaskQuery.maxLimit) chosen tasks")
        }
        let tag = try filter.tag.flatMap { try TaskRules.normalizeTags([$0]).first }
        var admitted: SQL = ""
        if let tag { admitted += " AND \(fragment: { d, n in (d.tagMatch(placeholder: n, tag: tag), .text(tag)) })" }
        if let a = filter.assignee { admitted += " AND t.assignee = \(text: a)" }
        if let ids = filter.ids { admitted += ids.isEmpty ? " AND 1 = 0" : " AND t.id IN (\(list: ids))" }
        return try await read { [self, admitted] c in
            var b = BoardSnapshot()
            for r in try c.query("SELECT t.status, count(*) FROM tasks t WHERE 1 = 1\(admitted) GROUP BY t.status") {
                if let s = r[0].text.flatMap(TaskStatus.init(rawValue:)), let n = r[1].int { b.counts[s] = Int(n) }
            }
            for status in TaskStatus.allCases where (b.counts[status] ?? 0) > 0 {
                let order =
                    status.isResolved
                    ? "t.updated_at DESC, t.id DESC LIMIT \(filter.resolvedLimit)"
                    : "t.priority, t.created_at, t.id LIMIT \(filter.openLimit)"
                // (The status as a literal: the resolved columns' indexes are partial.)
                let rows = try c.query(
                    """
                    SELECT \(raw: columns), t.open_subtasks \
                    FROM tasks t\(raw: d.boardColumnScan(status, chosen: filter.ids != nil) ?? "") \
                    WHERE t.status = '\(raw: status.rawValue)'\(admitted) ORDER BY \(raw: order)
                    """)
                b.columns[status] = try rows.map { r in
                    let t = try Self.decode(r)
                    let n = try r.int("open_subtasks")
                    if n > 0 { b.openSubtasks[t.id] = Int(n) }
                    return t
                }
            }
            // The open blockers of the cards shown, with their titles.
            let shown = b.columns.values.flatMap { $0.map(\.id) }
            for start in stride(from: 0, to: shown.count, by: Self.idsPerStatement) {
                let part = Array(shown[start..<min(shown.count, start + Self.idsPerStatement)])
                // (No condition on the blocker's status in SQL: SQLite, without statistics, would
                // rather walk the status index, every open task of a million, than the edges.)
                for r in try c.query(
                    """
                    SELECT e.task_id, b.id, b.title, b.status FROM task_dependencies e \
                    JOIN tasks b ON b.id = e.depends_on_id WHERE e.task_id IN (\(list: part)) ORDER BY e.task_id, b.id
                    """)
                {
                    guard let task = r[0].text, let id = r[1].text,
                        let status = r[3].text.flatMap(TaskStatus.init(rawValue:)), !status.isResolved
                    else { continue }
                    b.openBlockers[TaskID(trusted: task), default: []].append((TaskID(trusted: id), r[2].text ?? ""))
                }
            }
            return b
        }
    }
}
