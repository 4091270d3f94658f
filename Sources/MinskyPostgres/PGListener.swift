import CLibPQ
import Foundation
import MinskyCore
import MinskySQL

/// A dedicated connection LISTENing on the change channel, for watchers: `wait` blocks in
/// poll(2) on the connection's socket (no CPU while idle) until a NOTIFY arrives or the time-out
/// passes. After a lost connection it reconnects and reports a wake-up, so the watcher catches
/// up from the history. Blocking: run it on its own thread.
/// `@unchecked Sendable`: used by one watcher thread at a time, by contract.
public final class PGListener: @unchecked Sendable {
    let url: String
    let target: PGTarget
    var conn: PGConnection?

    public init(url: String) throws {
        self.url = url
        target = try PGTarget(conninfo: url)
        try connect()
    }

    func connect() throws {
        let c = try PGConnection(conninfo: url, target: target)
        try c.exec("LISTEN \(SQLDialect.changeChannel)")
        conn = c
    }

    /// True when something may have changed (a notification, or a reconnection); false after
    /// `timeout` seconds of silence.
    public func wait(timeout: Double) -> Bool {
        guard let c = conn, PQstatus(c.raw) == CONNECTION_OK else {
            conn = nil
            if (try? connect()) != nil { return true }
            usleep(UInt32(min(timeout, 1) * 1_000_000))
            return false
        }
        if drain(c) { return true }
        var p = pollfd(fd: PQsocket(c.raw), events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, Int32(timeout * 1000))
        if n <= 0 { return false }
        if PQconsumeInput(c.raw) == 0 {
            conn = nil  // the server went away: reconnect on the next call
            return true
        }
        return drain(c)
    }

    /// Takes every queued notification; true if there was one.
    func drain(_ c: PGConnection) -> Bool {
        var any = false
        while let n = PQnotifies(c.raw) {
            any = true
            PQfreemem(n)
        }
        return any
    }
}
