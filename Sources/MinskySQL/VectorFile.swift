import Foundation
import MinskyCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A model's vectors, ready to search: read into memory, or mapped from a `VectorFile`.
protocol SearchableVectors: Sendable {
    var count: Int { get }
    func topK(_ query: [Float], k: Int) -> [(id: TaskID, score: Float)]
}

extension EmbeddingMatrix: SearchableVectors {
    var count: Int { ids.count }
}

/// A model's normalised vectors in a file beside a SQLite store, mapped into memory by the first
/// search of a process: it scans the page cache instead of reading and converting every stored
/// vector (0.6 s at 100,000 × 384). The file names the store's embedding generation it was made
/// at; a file of another generation is rewritten by the next first search. It is a cache only:
/// deleting it costs one rewrite.
///
/// Layout (native byte order, this machine's only): a 64-byte header (magic, generation, rows,
/// dims, id bytes), one UInt32 offset per row plus one into the ids that follow, the ids'
/// UTF-8, then rows × dims float32 from the next 64-byte boundary.
enum VectorFile {
    static let magic: UInt64 = 0x3130_5345_4345_564D  // "MVECSE01"
    static let headerSize = 64
    /// Fewer vectors than this are read from the store each time (a few milliseconds).
    static let minimumRows = 1000

    /// The file for `model` beside the store at `storePath`.
    static func path(store storePath: String, model: String) -> String {
        var h = SHA256()
        h.update(Array(model.utf8))
        return storePath + "-vectors/" + SHA256.hex(h.finalize().prefix(12)) + ".f32"
    }

    /// The mapped file, if it exists, is whole and was made at `generation`.
    static func open(_ path: String, generation: Int64) -> MappedVectors? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= headerSize else { return nil }
        let length = Int(st.st_size)
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else { return nil }
        let mapped = MappedVectors(base: UnsafeRawPointer(base), length: length)
        guard mapped.isValid(generation: generation) else { return nil }
        return mapped
    }

    /// Writes `m` for `generation` to `path` (a private temporary file renamed into place, so a
    /// reader sees the old file or the new one whole). Errors are the caller's to ignore.
    static func write(_ m: EmbeddingMatrix, generation: Int64, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var ids: [UInt8] = []
        var offsets: [UInt32] = [0]
        offsets.reserveCapacity(m.ids.count + 1)
        for id in m.ids {
            ids += id.rawValue.utf8
            offsets.append(UInt32(ids.count))
        }
        var header = [UInt64](repeating: 0, count: headerSize / 8)
        header[0] = magic
        header[1] = UInt64(bitPattern: generation)
        header[2] = UInt64(m.ids.count)
        header[3] = UInt64(m.dims)
        header[4] = UInt64(ids.count)
        let valuesStart = MappedVectors.valuesStart(rows: m.ids.count, idBytes: ids.count)
        let padding = valuesStart - headerSize - offsets.count * 4 - ids.count
        let tmp = path + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MinskyError(.internal, "cannot write the vector cache \(tmp): errno \(errno)") }
        var ok = true
        func put(_ p: UnsafeRawBufferPointer) {
            var done = 0
            while ok && done < p.count {
                let n = Glibc.write(fd, p.baseAddress! + done, p.count - done)
                if n <= 0 { ok = false } else { done += n }
            }
        }
        header.withUnsafeBytes(put)
        offsets.withUnsafeBytes(put)
        ids.withUnsafeBytes(put)
        [UInt8](repeating: 0, count: padding).withUnsafeBytes(put)
        m.values.withUnsafeBytes(put)
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw MinskyError(.internal, "cannot write the vector cache \(path)")
        }
    }
}

/// A mapped `VectorFile`. Unmapped when the last search using it is done.
final class MappedVectors: SearchableVectors, @unchecked Sendable {
    let base: UnsafeRawPointer
    let length: Int

    init(base: UnsafeRawPointer, length: Int) {
        self.base = base
        self.length = length
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }

    private func header(_ i: Int) -> UInt64 { base.load(fromByteOffset: i * 8, as: UInt64.self) }
    var count: Int { Int(header(2)) }
    var dims: Int { Int(header(3)) }
    private var idBytes: Int { Int(header(4)) }

    static func valuesStart(rows: Int, idBytes: Int) -> Int {
        (VectorFile.headerSize + (rows + 1) * 4 + idBytes + 63) / 64 * 64
    }

    func isValid(generation: Int64) -> Bool {
        guard header(0) == VectorFile.magic, Int64(bitPattern: header(1)) == generation, count > 0, dims > 0,
            count < 1 << 31, dims < 1 << 20, idBytes < 1 << 40
        else { return false }
        return length == Self.valuesStart(rows: count, idBytes: idBytes) + count * dims * 4
    }

    func id(_ row: Int) -> TaskID {
        let offsets = base + VectorFile.headerSize
        let start = Int(offsets.loadUnaligned(fromByteOffset: row * 4, as: UInt32.self))
        let end = Int(offsets.loadUnaligned(fromByteOffset: (row + 1) * 4, as: UInt32.self))
        let ids = offsets + (count + 1) * 4
        return TaskID(
            trusted: String(decoding: UnsafeRawBufferPointer(start: ids + start, count: end - start), as: UTF8.self))
    }

    func topK(_ query: [Float], k: Int) -> [(id: TaskID, score: Float)] {
        let values = (base + Self.valuesStart(rows: count, idBytes: idBytes)).assumingMemoryBound(to: Float.self)
        return EmbeddingMatrix.topK(values, rows: count, dims: dims, query, k: k).map { (id($0.row), $0.score) }
    }
}
