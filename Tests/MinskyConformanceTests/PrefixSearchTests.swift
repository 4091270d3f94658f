import Foundation
import MinskyCore
import MinskyTestSupport
import Testing

/// A text search matches the tasks having, for every term, a word that starts with it: the same
/// on both stores, whichever way a store reads its index (SQLite names a prefix's words and
/// walks the creation order for common ones, or gathers a prefix of too many words), after
/// edits and deletions, page by page. Checked against a brute-force matcher over the same texts.
@Suite("Prefix search against a brute-force matcher")
struct PrefixSearchTests {
    static let vocabulary = [
        "bill", "billing", "billings", "billable", "bilk", "parse", "parser", "parsing", "store", "storage",
        "alpha", "beta", "v2",
    ]

    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    static func matches(_ text: String, _ query: String) -> Bool {
        let w = words(text)
        return TextSearch.terms(query).allSatisfy { term in w.contains { $0.hasPrefix(term) } }
    }

    @Test(arguments: StoreKind.allCases)
    func everyWordWithThePrefixAndNothingElse(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var rng = SplitMix(seed: 22)
            // 1,400 tasks, "billing" in most (a common word: SQLite walks the creation order),
            // "bx0"…"bx99" spread thin (a prefix of more words than a query names).
            var drafts: [NewTask] = []
            for i in 0..<1400 {
                var title = (0..<2).map { _ in Self.vocabulary[Int(rng.next() % UInt64(Self.vocabulary.count))] }
                if i % 5 != 0 { title.append("billing") }
                if i % 7 == 0 { title.append("bx\(i % 100)") }
                let description = i % 3 == 0 ? "Notes: \(Self.vocabulary[i % Self.vocabulary.count])-\(i)" : ""
                drafts.append(NewTask(title: title.joined(separator: " "), description: description))
            }
            var made = try await store.createMany(drafts, progress: nil, isCancelled: { false })
            // Tasks written after the others but made before them (an import keeps their times):
            // the store's row order is then not the creation order.
            let early = try await store.get(made[0].id).createdAt
            let imported = try await store.importRecords(
                (0..<300).map { i in
                    var r = TaskRecord(title: "billing imported \(i) bx\(i % 100)", origin: "line \(i + 1)")
                    r.createdAt = Timestamp(microseconds: early.microseconds - 1_000_000 + Int64(i * 3_000))
                    return r
                })
            for id in imported { made.append(try await store.get(id)) }
            made.sort { ($0.createdAt, $0.id.rawValue) < ($1.createdAt, $1.id.rawValue) }
            // Edits bring words no task had (only through the edit) and drop others.
            for k in stride(from: 3, to: made.count, by: 29) {
                made[k] = try await store.update(
                    made[k].id, TaskPatch(title: "zeppelin parsing \(k)", description: "renamed"), expectedVersion: nil)
            }
            var gone: Set<TaskID> = []
            for k in stride(from: 11, to: made.count, by: 47) {
                _ = try await store.delete(made[k].id, cascade: false)
                gone.insert(made[k].id)
            }
            let live = made.filter { !gone.contains($0.id) }
            for query in [
                "b", "bi", "bil", "bill", "billi", "billing", "billings", "bilk", "pars", "parse", "stor", "zep",
                "zeppelin", "renamed", "z", "bx", "bx1", "bx42", "billing pars", "bill stor", "v", "v2", "nothere",
                "billing zeppelin",
            ] {
                let expected = live.filter { Self.matches($0.title + " " + $0.description, query) }.map(\.id)
                var got: [TaskID] = []
                var cursor: PageCursor?
                repeat {
                    let page = try await store.list(TaskQuery(text: query, limit: 150, cursor: cursor))
                    got += page.tasks.map(\.id)
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(got == expected, "\(query): \(got.count) found, \(expected.count) expected")
            }
        }
    }
}
