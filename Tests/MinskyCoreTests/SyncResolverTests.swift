import Foundation
import MinskyCore
import Synchronization
import Testing

/// The five strategies and the hybrid clock, without a store: what the remote does with one
/// pushed change against the row it holds.
@Suite("Sync strategies and the hybrid clock")
struct SyncResolverTests {
    func stamp(_ ms: UInt64, _ replica: String = "a") -> SyncStamp { SyncStamp(clock: ms << 16, replica: replica) }

    /// The remote row: title and status written at `remote`, both based on an original at 1.
    func row(title: String = "remote title", status: String = "TODO", at remote: UInt64) -> SyncRowState {
        SyncRowState(
            fields: ["title": .string(title), "status": .string(status), "priority": .int(2)],
            stamps: [
                "title": stamp(remote, remote == 1 ? "o" : "r"), "status": stamp(1, "o"), "priority": stamp(1, "o"),
                SyncChange.presence: stamp(1, "o"),
            ],
            deleted: false)
    }

    /// A pushed edit of `fields`, stamped at `local`, based on the original (stamp 1).
    func edit(_ fields: [String: JSONValue], at local: UInt64, deleted: Bool = false) -> SyncChange {
        var all: [String: JSONValue] = ["title": "original", "status": "TODO", "priority": 2]
        for (k, v) in fields { all[k] = v }
        var stamps: [String: SyncStamp] = ["title": stamp(1, "o"), "status": stamp(1, "o"), "priority": stamp(1, "o")]
        var changed: [String: SyncStamp] = [:]
        for k in deleted ? [SyncChange.presence] : Array(fields.keys) {
            stamps[k] = stamp(local, "l")
            changed[k] = stamp(1, "o")
        }
        return SyncChange(
            id: "c1", replica: "l", entity: .task, key: "mk-1", deleted: deleted, fields: deleted ? [:] : all,
            stamps: stamps, changed: changed)
    }

    @Test func anEditNobodyElseMadeIsTakenByEveryStrategy() {
        for s in SyncStrategy.allCases {
            let current = row(title: "original", at: 1)
            let o = SyncResolver.resolve(edit(["title": "mine"], at: 5), current: current, strategy: s)
            #expect(o.take == ["title"] && o.conflicts.isEmpty && !o.delete, "\(s)")
        }
    }

    @Test func mergeFieldsKeepsBothSidesEditsToDifferentFieldsAndTheLaterOfTheSame() {
        // The remote changed the title (at 3); this replica changed status (at 5) and title (at 4 or 6).
        let older = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 2), current: row(at: 3), strategy: .mergeFields)
        #expect(older.take == ["status"], "the remote's later title stays; the status edit survives")
        let newer = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 6), current: row(at: 3), strategy: .mergeFields)
        #expect(newer.take == ["title", "status"])
    }

    @Test func lastWriteWinsTakesOrDropsTheWholeRow() {
        let lose = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 2), current: row(at: 3), strategy: .lastWriteWins)
        #expect(lose.take.isEmpty, "the remote row's later stamp wins: the status edit goes with the title")
        let win = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 6), current: row(at: 3), strategy: .lastWriteWins)
        #expect(win.take == ["title", "status"])
    }

    @Test func localAndRemoteWinsIgnoreTheStamps() {
        let local = SyncResolver.resolve(edit(["title": "mine"], at: 2), current: row(at: 9), strategy: .localWins)
        #expect(local.take == ["title"])
        let remote = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 99), current: row(at: 9), strategy: .remoteWins)
        #expect(remote.take == ["status"], "only the conflicting field stays the remote's")
    }

    @Test func manualKeepsTheRemoteValueAndListsTheConflict() {
        let o = SyncResolver.resolve(
            edit(["title": "mine", "status": "DONE"], at: 99), current: row(at: 9), strategy: .manual)
        #expect(o.take == ["status"] && o.conflicts == ["title"])
        let same = SyncResolver.resolve(edit(["title": "remote title"], at: 99), current: row(at: 9), strategy: .manual)
        #expect(same.conflicts.isEmpty, "the same value written on both sides is no conflict")
    }

    @Test func deletesWinAndAnEditOfADeletedTaskIsListedUnderManual() {
        var gone = row(at: 3)
        gone.deleted = true
        for s in SyncStrategy.allCases {
            let o = SyncResolver.resolve(edit(["title": "mine"], at: 9), current: gone, strategy: s)
            #expect(o.take.isEmpty && !o.delete, "\(s)")
            #expect(o.conflicts == (s == .manual ? [SyncChange.presence] : []), "\(s)")
            #expect(SyncResolver.resolve(edit([:], at: 2, deleted: true), current: row(at: 3), strategy: s).delete)
        }
        // A row the remote never knew: an edit of it (its tombstone long compacted) is no create.
        #expect(SyncResolver.resolve(edit(["title": "x"], at: 9), current: nil, strategy: .localWins).take.isEmpty)
    }

    @Test func theClockStaysAheadOfWhatItSawEvenWhenTheWallClockIsBehind() {
        // This machine's wall clock is an hour behind another replica's.
        let wall = Mutex<UInt64>(1_000_000)
        let clock = HybridClock(wall: { wall.withLock { $0 } })
        let skewed = SyncStamp(clock: (1_000_000 + 3_600_000) << 16, replica: "fast")
        let mine = clock.next(replica: "slow", after: [skewed])
        #expect(mine > skewed, "a change made after seeing another orders after it")
        let next = clock.next(replica: "slow", after: [])
        #expect(next > mine, "and the clock never goes back")
        wall.withLock { $0 += 10 }
        #expect(clock.next(replica: "slow", after: []) > next)
        // Without having seen it, the slow machine's edit orders before the fast one's: the fast
        // clock wins only changes made before anyone saw its stamps.
        let fresh = HybridClock(wall: { 1_000_000 })
        #expect(fresh.next(replica: "slow", after: []) < skewed)
    }

    @Test func stampsOrderByClockThenReplicaAndRoundTripAsText() {
        let a = SyncStamp(clock: 5 << 16, replica: "r1")
        let b = SyncStamp(clock: 5 << 16, replica: "r2")
        #expect(a < b && b < SyncStamp(clock: (5 << 16) + 1, replica: "r0"))
        #expect(SyncStamp(raw: a.raw) == a && a.clock == 5 << 16 && a.replica == "r1")
        #expect(SyncStamp.zero < a)
    }
}
