import Foundation

/// What happened to a closed task, read from its history: how long it was in progress, how
/// often it was reopened, how many subtasks it grew, and what it cost where its evidence says.
public struct TaskOutcome: Sendable, Hashable {
    public var id: TaskID
    public var title: String
    /// The complexity score it was given (metadata.complexity.score), if any.
    public var score: Int?
    /// Hours spent IN-PROGRESS (all claims together).
    public var hoursInProgress: Double
    public var reopened: Int
    public var subtasks: Int
    /// From the evidence, where recorded.
    public var minutes: Double?
    public var tokens: Int?

    /// The time it took: the evidence's minutes where recorded, else the time in progress.
    public var hours: Double? {
        if let minutes { return minutes / 60 }
        return hoursInProgress > 0 ? hoursInProgress : nil
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id.rawValue), "title": .string(title),
            "hoursInProgress": .double(Self.round(hoursInProgress)),
            "reopened": .int(Int64(reopened)), "subtasks": .int(Int64(subtasks)),
        ]
        if let score { o["score"] = .int(Int64(score)) }
        if let minutes { o["minutes"] = .double(Self.round(minutes)) }
        if let tokens { o["tokens"] = .int(Int64(tokens)) }
        return .object(o)
    }

    static func round(_ d: Double) -> Double { (d * 100).rounded() / 100 }

    /// Reads the outcome from a task's history (oldest first).
    public static func from(_ t: TaskItem, events: [TaskEvent], subtasks: Int) -> TaskOutcome {
        var started: Timestamp?
        var seconds = 0.0
        var reopened = 0
        for e in events {
            guard let s = e.changes["status"] else { continue }
            let before = s["before"]?.stringValue.flatMap(TaskStatus.init(rawValue:))
            let after = s["after"]?.stringValue.flatMap(TaskStatus.init(rawValue:))
            if after == .inProgress, started == nil { started = e.at }
            if before == .inProgress, after != .inProgress, let s0 = started {
                seconds += Double(e.at.microseconds - s0.microseconds) / 1_000_000
                started = nil
            }
            if let b = before, b.isResolved, let a = after, !a.isResolved { reopened += 1 }
        }
        return TaskOutcome(
            id: t.id, title: t.title, score: t.metadata["complexity"]?["score"]?.intValue.map(Int.init),
            hoursInProgress: seconds / 3600, reopened: reopened, subtasks: subtasks, minutes: t.evidence.minutes,
            tokens: t.evidence.tokens)
    }
}

/// How complexity scores compared with what happened, over the project's closed tasks.
public struct Calibration: Sendable {
    public var outcomes: [TaskOutcome]

    public struct Row: Sendable, Hashable {
        public var score: Int
        public var tasks: Int
        public var medianHours: Double?
        public var reopened: Int
        public var medianSubtasks: Double
    }

    public init(outcomes: [TaskOutcome]) { self.outcomes = outcomes }

    /// How many recently closed tasks a prompt's examples are chosen from (each costs a read of
    /// its history, once per model call).
    public static let promptSample = 40

    static func median(_ xs: [Double]) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// One row per score given.
    public var rows: [Row] {
        Dictionary(grouping: outcomes.filter { $0.score != nil }, by: { $0.score! }).map { score, list in
            Row(
                score: score, tasks: list.count, medianHours: Self.median(list.compactMap(\.hours)),
                reopened: list.map(\.reopened).reduce(0, +),
                medianSubtasks: Self.median(list.map { Double($0.subtasks) }) ?? 0)
        }.sorted { $0.score < $1.score }
    }

    /// Spearman's rank correlation between score and hours, over tasks with both (nil under 3).
    public var rankCorrelation: Double? {
        let pairs = outcomes.compactMap { o in o.score.flatMap { s in o.hours.map { (Double(s), $0) } } }
        guard pairs.count >= 3 else { return nil }
        func ranks(_ xs: [Double]) -> [Double] {
            let order = xs.indices.sorted { xs[$0] < xs[$1] }
            var r = [Double](repeating: 0, count: xs.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 + 1 }
                i = j + 1
            }
            return r
        }
        let a = ranks(pairs.map(\.0))
        let b = ranks(pairs.map(\.1))
        let ma = a.reduce(0, +) / Double(a.count)
        let mb = b.reduce(0, +) / Double(b.count)
        var num = 0.0
        var da = 0.0
        var db = 0.0
        for i in a.indices {
            num += (a[i] - ma) * (b[i] - mb)
            da += (a[i] - ma) * (a[i] - ma)
            db += (b[i] - mb) * (b[i] - mb)
        }
        guard da > 0, db > 0 else { return nil }
        return num / (da * db).squareRoot()
    }

    /// A few closed tasks of this project as examples for a model: scored ones first, spread
    /// over the scores, each with what it really took.
    public func examples(_ k: Int = 4) -> [String] {
        let known = outcomes.filter { $0.hours != nil }
        var picked: [TaskOutcome] = []
        for row in rows {
            if let o = known.first(where: { $0.score == row.score }) { picked.append(o) }
        }
        for o in known where picked.count < k && !picked.contains(o) { picked.append(o) }
        return picked.prefix(k).map { o in
            var s = "\"\(o.title.prefix(80))\""
            if let score = o.score { s += " — scored \(score)" }
            s += "; took \(Evidence.trim(o.hours ?? 0)) h"
            if o.subtasks > 0 { s += ", \(o.subtasks) subtask\(o.subtasks == 1 ? "" : "s")" }
            if o.reopened > 0 { s += ", reopened \(o.reopened)×" }
            if let t = o.tokens { s += ", \(t) tokens" }
            return s
        }
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "closedTasks": .int(Int64(outcomes.count)),
            "scored": .int(Int64(outcomes.filter { $0.score != nil }.count)),
            "byScore": .array(
                rows.map { r in
                    var j: [String: JSONValue] = [
                        "score": .int(Int64(r.score)), "tasks": .int(Int64(r.tasks)),
                        "reopened": .int(Int64(r.reopened)), "medianSubtasks": .double(r.medianSubtasks),
                    ]
                    if let h = r.medianHours { j["medianHours"] = .double(TaskOutcome.round(h)) }
                    return .object(j)
                }),
            "examples": .array(examples().map { .string($0) }),
        ]
        if let r = rankCorrelation { o["rankCorrelation"] = .double(TaskOutcome.round(r)) }
        return .object(o)
    }
}

extension TaskStore where Self: HistoryStore {
    /// The outcomes of the most recently closed tasks (up to `limit`), from their histories.
    public func calibration(limit: Int = 500) async throws -> Calibration {
        let closed = try await recentlyDone(limit: limit)
        var out: [TaskOutcome] = []
        for t in closed {
            var events: [TaskEvent] = []
            var cursor: String?
            repeat {
                let page = try await history(of: t.id, limit: TaskQuery.maxLimit, cursor: cursor)
                events += page.events
                cursor = page.nextCursor
            } while cursor != nil
            let children = try await list(TaskQuery(parent: .task(t.id), limit: TaskQuery.maxLimit)).tasks.count
            out.append(.from(t, events: events, subtasks: children))
        }
        return Calibration(outcomes: out)
    }
}
