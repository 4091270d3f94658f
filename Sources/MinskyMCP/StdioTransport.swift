import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Newline-delimited JSON-RPC over file descriptors. Reading blocks on `read(2)` in a dedicated
/// thread (no polling, zero idle CPU); writing is one `write(2)` loop per message under a lock,
/// so concurrent responses never interleave.
final class StdioTransport: Sendable {
    let input: Int32
    let output: Int32
    let writeLock = Mutex(())
    /// Lines longer than this are answered with a parse error and skipped.
    static let maxLineBytes = 64 * 1024 * 1024

    init(input: Int32 = 0, output: Int32 = 1) {
        self.input = input
        self.output = output
        signal(SIGPIPE, SIG_IGN)
    }

    func send(_ bytes: [UInt8]) {
        writeLock.withLock { _ in
            bytes.withUnsafeBytes { buf in
                var off = 0
                while off < buf.count {
                    // non-empty: every message ends in "\n"
                    let n = write(output, buf.baseAddress! + off, buf.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return  // the client went away (EPIPE): nothing more to do
                    }
                    off += n
                }
            }
        }
    }

    /// True when `fd` has something to read right now (or is closed).
    static func readable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    /// Calls `onLine` for every complete line (without the newline), `onOversized` for a line over
    /// the limit, then returns at end of input (false), or as soon as `stopFD` becomes readable
    /// (true): after a signal nothing more is read.
    func readLines(stopFD: Int32 = -1, onLine: ([UInt8]) -> Void, onOversized: () -> Void) -> Bool {
        var pending: [UInt8] = []
        var skipping = false
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var fds = [
            pollfd(fd: input, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            // Waits in poll(2) for input or the stop signal: no polling loop, zero idle CPU.
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[1].revents != 0 { return true }
            let n = buf.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where buf[i] == 0x0A {
                if skipping {
                    skipping = false
                } else {
                    pending.append(contentsOf: buf[start..<i])
                    onLine(pending)
                }
                pending.removeAll(keepingCapacity: true)
                start = i + 1
            }
            if !skipping { pending.append(contentsOf: buf[start..<n]) }
            if pending.count > Self.maxLineBytes {
                pending.removeAll()
                skipping = true
                onOversized()
            }
        }
        if !pending.isEmpty && !skipping { onLine(pending) }
        return false
    }
}
