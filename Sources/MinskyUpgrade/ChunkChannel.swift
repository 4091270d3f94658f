import Foundation

/// A small bounded queue handing COPY chunks from the SQLite reader to the PostgreSQL writer,
/// so reading one side and writing the other overlap. `nil` ends a table.
/// `@unchecked Sendable`: all state is guarded by `cond`.
final class ChunkChannel: @unchecked Sendable {
    let cond = NSCondition()
    var items: [[UInt8]?] = []
    var failure: (any Error)?
    let capacity = 8

    func send(_ chunk: [UInt8]?) throws {
        cond.lock()
        defer { cond.unlock() }
        while items.count >= capacity && failure == nil { cond.wait() }
        if let failure { throw failure }
        items.append(chunk)
        cond.broadcast()
    }

    func receive() throws -> [UInt8]? {
        cond.lock()
        defer { cond.unlock() }
        while items.isEmpty && failure == nil { cond.wait() }
        if let failure, items.isEmpty { throw failure }
        let c = items.removeFirst()
        cond.broadcast()
        return c
    }

    /// Stops both sides: the next send or receive throws `error`.
    func fail(_ error: any Error) {
        cond.lock()
        if failure == nil { failure = error }
        cond.broadcast()
        cond.unlock()
    }
}
