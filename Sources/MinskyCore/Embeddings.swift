/// One task's embedding: float32 values for its content (title + description) at `contentHash`.
public struct TaskEmbedding: Sendable, Hashable {
    public var taskId: TaskID
    public var model: String
    public var contentHash: String
    public var vector: [Float]

    public init(taskId: TaskID, model: String, contentHash: String, vector: [Float]) {
        self.taskId = taskId
        self.model = model
        self.contentHash = contentHash
        self.vector = vector
    }

    /// SHA-256 of what is embedded, so only changed tasks are embedded again.
    public static func contentHash(_ t: TaskItem) -> String { SHA256.hex(Array((t.title + "\n" + t.description).utf8)) }

    /// Little-endian float32 bytes, the stored form on both stores.
    public static func bytes(_ v: [Float]) -> [UInt8] {
        v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }
}

/// Every stored vector of one model in one contiguous buffer, rows normalised, for a scan that
/// touches memory once in order.
public struct EmbeddingMatrix: Sendable {
    public var ids: [TaskID]
    public var dims: Int
    public var values: [Float]

    public init(ids: [TaskID], dims: Int, values: [Float]) {
        self.ids = ids
        self.dims = dims
        self.values = values
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }

    /// Cosine similarity top-k, highest first. Dot products over SIMD8 lanes.
    public func topK(_ query: [Float], k: Int) -> [(id: TaskID, score: Float)] {
        guard dims > 0, query.count == dims, !ids.isEmpty else { return [] }
        return values.withUnsafeBufferPointer { m in
            Self.topK(m.baseAddress!, rows: ids.count, dims: dims, query, k: k).map { (ids[$0.row], $0.score) }
        }
    }

    /// Top-k rows of a contiguous matrix of normalised rows (`rows` × `dims` floats at `base`)
    /// by cosine similarity to `query`, highest first: the scan every in-memory or mapped matrix
    /// runs.
    public static func topK(_ base: UnsafePointer<Float>, rows: Int, dims: Int, _ query: [Float], k: Int) -> [(
        row: Int, score: Float
    )] {
        guard dims > 0, query.count == dims, rows > 0 else { return [] }
        let q = normalized(query)
        var scores = [Float](repeating: 0, count: rows)
        q.withUnsafeBufferPointer { qp in
            guard let qb = qp.baseAddress else { return }
            let lanes = dims / 8 * 8
            let raw = UnsafeRawPointer(base)
            let qraw = UnsafeRawPointer(qb)
            for r in 0..<rows {
                let row = r * dims
                // Two accumulators keep two multiply-adds in flight; loads are straight from memory.
                var a0 = SIMD8<Float>()
                var a1 = SIMD8<Float>()
                var j = 0
                while j + 16 <= lanes {
                    a0 +=
                        raw.loadUnaligned(fromByteOffset: (row + j) * 4, as: SIMD8<Float>.self)
                        * qraw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                    a1 +=
                        raw.loadUnaligned(fromByteOffset: (row + j + 8) * 4, as: SIMD8<Float>.self)
                        * qraw.loadUnaligned(fromByteOffset: (j + 8) * 4, as: SIMD8<Float>.self)
                    j += 16
                }
                while j < lanes {
                    a0 +=
                        raw.loadUnaligned(fromByteOffset: (row + j) * 4, as: SIMD8<Float>.self)
                        * qraw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                    j += 8
                }
                var s = (a0 + a1).sum()
                while j < dims {
                    s += base[row + j] * qb[j]
                    j += 1
                }
                scores[r] = s
            }
        }
        return best(scores, k: k).map { ($0, scores[$0]) }
    }

    /// Indexes of the `k` highest scores, highest first, in one pass with a small sorted buffer.
    static func best(_ scores: [Float], k: Int) -> [Int] {
        guard k > 0 else { return [] }
        var top: [Int] = []
        top.reserveCapacity(k + 1)
        for i in scores.indices {
            if top.count == k, scores[i] <= scores[top[k - 1]] { continue }
            var at = top.count
            while at > 0, scores[top[at - 1]] < scores[i] { at -= 1 }
            top.insert(i, at: at)
            if top.count > k { top.removeLast() }
        }
        return top
    }

    /// Appends one stored vector (little-endian float32 bytes) as a normalised row, straight
    /// into the contiguous buffer: no per-row array. Rows of another length are skipped.
    public mutating func appendRow(_ id: TaskID, bytes: UnsafeRawBufferPointer) {
        let n = bytes.count / 4
        if dims == 0 { dims = n }
        guard n == dims, n > 0 else { return }
        let start = values.count
        values.reserveCapacity(start + n)
        var norm: Float = 0
        for i in 0..<n {
            let x = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            values.append(x)
            norm += x * x
        }
        if norm > 0 {
            let inv = 1 / norm.squareRoot()
            for i in start..<(start + n) { values[i] *= inv }
        }
        ids.append(id)
    }
}
