import Foundation
import MinskyCore

/// The records of a JSON Lines file (what `tasks export` writes), read a block at a time each
/// time they are asked for: an import reads the file twice and holds neither pass in memory.
/// Blank lines are skipped; every error names its line.
public struct JSONLinesRecords: TaskRecordSource {
    public let path: String
    /// What errors call the file ("tasks.jsonl", or "stdin").
    public let name: String

    public init(path: String, name: String? = nil) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw MinskyError.invalid("file", "cannot read \(path); check the path")
        }
        self.path = path
        self.name = name ?? path
    }

    /// Copies standard input to a private temporary file (0600), so it can be read twice; the
    /// caller removes it with `discard()`.
    public static func spoolingStandardInput() throws -> JSONLinesRecords {
        let path = NSTemporaryDirectory() + "minsky-import-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let out = FileHandle(forWritingAtPath: path)
        else {
            throw MinskyError.invalid("file", "cannot write a temporary copy of stdin in \(NSTemporaryDirectory())")
        }
        defer { try? out.close() }
        while let block = try FileHandle.standardInput.read(upToCount: 1 << 20), !block.isEmpty {
            try out.write(contentsOf: block)
        }
        return try JSONLinesRecords(path: path, name: "stdin")
    }

    public func discard() { try? FileManager.default.removeItem(atPath: path) }

    public func forEach(_ body: (TaskRecord) throws -> Void) throws {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw MinskyError.invalid("file", "cannot read \(name); check the path")
        }
        defer { try? h.close() }
        var pending: [UInt8] = []
        var line = 0
        func take(_ bytes: ArraySlice<UInt8>) throws {
            line += 1
            guard bytes.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
            let origin = "line \(line)"
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw MinskyError.invalid("file", "\(origin) of \(name) is not UTF-8 text; nothing was imported")
            }
            let value: JSONValue
            do { value = try JSONValue.parse(text) } catch {
                throw MinskyError.invalid(
                    "file",
                    "\(origin) is not JSON; each line must be a task object like {\"title\": \"Write docs\"}. Nothing was imported"
                )
            }
            try body(try TaskRecord(json: value, origin: origin))
        }
        while let block = try h.read(upToCount: 1 << 20), !block.isEmpty {
            pending.append(contentsOf: block)
            var start = pending.startIndex
            while let end = pending[start...].firstIndex(of: 0x0A) {
                try take(pending[start..<end])
                start = end + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try take(pending[...]) }
    }
}
