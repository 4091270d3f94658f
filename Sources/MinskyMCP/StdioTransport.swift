#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

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
                    let n = write(output, buf.baseAddress! + off, buf.count - off) // non-empty: every message ends in "\n"
                    if n < 0 {
                        if errno == EINTR { continue }
                        return // the client went away (EPIPE): nothing more to do
                    }
                    off += n
                }
            }
        }
    }

    /// Calls `onLine` for every complete line (without the newline), `onOversized` for a line over
    /// the limit, then returns at end of input.
    func readLines(onLine: ([UInt8]) -> Void, onOversized: () -> Void) {
        var pending: [UInt8] = []
        var skipping = false
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where buf[i] == 0x0A {
                if skipping { skipping = false } else {
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
    }
}
