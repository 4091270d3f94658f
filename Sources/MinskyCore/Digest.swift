import Foundation

/// MD5 and SHA-256, written out so the core needs no crypto dependency.
///
/// MD5 is used only as a content checksum that PostgreSQL can compute server-side (`md5()`),
/// to compare a copy with its source; SHA-256 fingerprints backup files.
public struct MD5: Sendable {
    var a0: UInt32 = 0x67452301, b0: UInt32 = 0xefcdab89, c0: UInt32 = 0x98badcfe, d0: UInt32 = 0x10325476
    var buffer: [UInt8] = []
    var length: UInt64 = 0

    public init() {}

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        length &+= UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        guard buffer.count >= 64 else { return }
        let full = buffer.count / 64 * 64
        buffer.withUnsafeBytes { raw in
            var o = 0
            while o < full {
                block(raw.baseAddress! + o)
                o += 64
            }  // full ≥ 64 so the buffer is non-empty
        }
        buffer.removeSubrange(0..<full)
    }

    /// One 64-byte block, its 64 steps written out (no table look-ups or branches per step:
    /// this is the inner loop of every table checksum).
    @inline(__always)
    mutating func block(_ p: UnsafeRawPointer) {
        @inline(__always) func w(_ g: Int) -> UInt32 {
            UInt32(littleEndian: p.loadUnaligned(fromByteOffset: g &* 4, as: UInt32.self))
        }
        @inline(__always) func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 &- n) }
        var a = a0
        var b = b0
        var c = c0
        var d = d0
        a = b &+ rotl(((b & c) | (~b & d)) &+ a &+ 0xd76aa478 &+ w(0), 7)
        d = a &+ rotl(((a & b) | (~a & c)) &+ d &+ 0xe8c7b756 &+ w(1), 12)
        c = d &+ rotl(((d & a) | (~d & b)) &+ c &+ 0x242070db &+ w(2), 17)
        b = c &+ rotl(((c & d) | (~c & a)) &+ b &+ 0xc1bdceee &+ w(3), 22)
        a = b &+ rotl(((b & c) | (~b & d)) &+ a &+ 0xf57c0faf &+ w(4), 7)
        d = a &+ rotl(((a & b) | (~a & c)) &+ d &+ 0x4787c62a &+ w(5), 12)
        c = d &+ rotl(((d & a) | (~d & b)) &+ c &+ 0xa8304613 &+ w(6), 17)
        b = c &+ rotl(((c & d) | (~c & a)) &+ b &+ 0xfd469501 &+ w(7), 22)
        a = b &+ rotl(((b & c) | (~b & d)) &+ a &+ 0x698098d8 &+ w(8), 7)
        d = a &+ rotl(((a & b) | (~a & c)) &+ d &+ 0x8b44f7af &+ w(9), 12)
        c = d &+ rotl(((d & a) | (~d & b)) &+ c &+ 0xffff5bb1 &+ w(10), 17)
        b = c &+ rotl(((c & d) | (~c & a)) &+ b &+ 0x895cd7be &+ w(11), 22)
        a = b &+ rotl(((b & c) | (~b & d)) &+ a &+ 0x6b901122 &+ w(12), 7)
        d = a &+ rotl(((a & b) | (~a & c)) &+ d &+ 0xfd987193 &+ w(13), 12)
        c = d &+ rotl(((d & a) | (~d & b)) &+ c &+ 0xa679438e &+ w(14), 17)
        b = c &+ rotl(((c & d) | (~c & a)) &+ b &+ 0x49b40821 &+ w(15), 22)
        a = b &+ rotl(((d & b) | (~d & c)) &+ a &+ 0xf61e2562 &+ w(1), 5)
        d = a &+ rotl(((c & a) | (~c & b)) &+ d &+ 0xc040b340 &+ w(6), 9)
        c = d &+ rotl(((b & d) | (~b & a)) &+ c &+ 0x265e5a51 &+ w(11), 14)
        b = c &+ rotl(((a & c) | (~a & d)) &+ b &+ 0xe9b6c7aa &+ w(0), 20)
        a = b &+ rotl(((d & b) | (~d & c)) &+ a &+ 0xd62f105d &+ w(5), 5)
        d = a &+ rotl(((c & a) | (~c & b)) &+ d &+ 0x02441453 &+ w(10), 9)
        c = d &+ rotl(((b & d) | (~b & a)) &+ c &+ 0xd8a1e681 &+ w(15), 14)
        b = c &+ rotl(((a & c) | (~a & d)) &+ b &+ 0xe7d3fbc8 &+ w(4), 20)
        a = b &+ rotl(((d & b) | (~d & c)) &+ a &+ 0x21e1cde6 &+ w(9), 5)
        d = a &+ rotl(((c & a) | (~c & b)) &+ d &+ 0xc33707d6 &+ w(14), 9)
        c = d &+ rotl(((b & d) | (~b & a)) &+ c &+ 0xf4d50d87 &+ w(3), 14)
        b = c &+ rotl(((a & c) | (~a & d)) &+ b &+ 0x455a14ed &+ w(8), 20)
        a = b &+ rotl(((d & b) | (~d & c)) &+ a &+ 0xa9e3e905 &+ w(13), 5)
        d = a &+ rotl(((c & a) | (~c & b)) &+ d &+ 0xfcefa3f8 &+ w(2), 9)
        c = d &+ rotl(((b & d) | (~b & a)) &+ c &+ 0x676f02d9 &+ w(7), 14)
        b = c &+ rotl(((a & c) | (~a & d)) &+ b &+ 0x8d2a4c8a &+ w(12), 20)
        a = b &+ rotl((b ^ c ^ d) &+ a &+ 0xfffa3942 &+ w(5), 4)
        d = a &+ rotl((a ^ b ^ c) &+ d &+ 0x8771f681 &+ w(8), 11)
        c = d &+ rotl((d ^ a ^ b) &+ c &+ 0x6d9d6122 &+ w(11), 16)
        b = c &+ rotl((c ^ d ^ a) &+ b &+ 0xfde5380c &+ w(14), 23)
        a = b &+ rotl((b ^ c ^ d) &+ a &+ 0xa4beea44 &+ w(1), 4)
        d = a &+ rotl((a ^ b ^ c) &+ d &+ 0x4bdecfa9 &+ w(4), 11)
        c = d &+ rotl((d ^ a ^ b) &+ c &+ 0xf6bb4b60 &+ w(7), 16)
        b = c &+ rotl((c ^ d ^ a) &+ b &+ 0xbebfbc70 &+ w(10), 23)
        a = b &+ rotl((b ^ c ^ d) &+ a &+ 0x289b7ec6 &+ w(13), 4)
        d = a &+ rotl((a ^ b ^ c) &+ d &+ 0xeaa127fa &+ w(0), 11)
        c = d &+ rotl((d ^ a ^ b) &+ c &+ 0xd4ef3085 &+ w(3), 16)
        b = c &+ rotl((c ^ d ^ a) &+ b &+ 0x04881d05 &+ w(6), 23)
        a = b &+ rotl((b ^ c ^ d) &+ a &+ 0xd9d4d039 &+ w(9), 4)
        d = a &+ rotl((a ^ b ^ c) &+ d &+ 0xe6db99e5 &+ w(12), 11)
        c = d &+ rotl((d ^ a ^ b) &+ c &+ 0x1fa27cf8 &+ w(15), 16)
        b = c &+ rotl((c ^ d ^ a) &+ b &+ 0xc4ac5665 &+ w(2), 23)
        a = b &+ rotl((c ^ (b | ~d)) &+ a &+ 0xf4292244 &+ w(0), 6)
        d = a &+ rotl((b ^ (a | ~c)) &+ d &+ 0x432aff97 &+ w(7), 10)
        c = d &+ rotl((a ^ (d | ~b)) &+ c &+ 0xab9423a7 &+ w(14), 15)
        b = c &+ rotl((d ^ (c | ~a)) &+ b &+ 0xfc93a039 &+ w(5), 21)
        a = b &+ rotl((c ^ (b | ~d)) &+ a &+ 0x655b59c3 &+ w(12), 6)
        d = a &+ rotl((b ^ (a | ~c)) &+ d &+ 0x8f0ccc92 &+ w(3), 10)
        c = d &+ rotl((a ^ (d | ~b)) &+ c &+ 0xffeff47d &+ w(10), 15)
        b = c &+ rotl((d ^ (c | ~a)) &+ b &+ 0x85845dd1 &+ w(1), 21)
        a = b &+ rotl((c ^ (b | ~d)) &+ a &+ 0x6fa87e4f &+ w(8), 6)
        d = a &+ rotl((b ^ (a | ~c)) &+ d &+ 0xfe2ce6e0 &+ w(15), 10)
        c = d &+ rotl((a ^ (d | ~b)) &+ c &+ 0xa3014314 &+ w(6), 15)
        b = c &+ rotl((d ^ (c | ~a)) &+ b &+ 0x4e0811a1 &+ w(13), 21)
        a = b &+ rotl((c ^ (b | ~d)) &+ a &+ 0xf7537e82 &+ w(4), 6)
        d = a &+ rotl((b ^ (a | ~c)) &+ d &+ 0xbd3af235 &+ w(11), 10)
        c = d &+ rotl((a ^ (d | ~b)) &+ c &+ 0x2ad7d2bb &+ w(2), 15)
        b = c &+ rotl((d ^ (c | ~a)) &+ b &+ 0xeb86d391 &+ w(9), 21)
        a0 &+= a
        b0 &+= b
        c0 &+= c
        d0 &+= d
    }

    /// The digest of one byte buffer as two big-endian 64-bit halves, without intermediate copies
    /// of whole blocks (the hot path of table checksums).
    public static func digest128(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var h = MD5()
        let full = bytes.count / 64 * 64
        var o = 0
        while o < full {
            h.block(bytes.baseAddress! + o)
            o += 64
        }  // full > 0 implies a base address
        // The tail, its 0x80, zeros and the bit length: one or two blocks, on the stack.
        let rest = bytes.count - full
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { t in
            t.initializeMemory(as: UInt8.self, repeating: 0)
            if rest > 0 { t.baseAddress!.copyMemory(from: bytes.baseAddress! + full, byteCount: rest) }
            t[rest] = 0x80
            let end = rest < 56 ? 64 : 128
            t.storeBytes(of: (UInt64(bytes.count) &* 8).littleEndian, toByteOffset: end - 8, as: UInt64.self)
            h.block(t.baseAddress!)
            if end == 128 { h.block(t.baseAddress! + 64) }
        }
        func be(_ x: UInt32) -> UInt64 { UInt64(x.byteSwapped) }
        return (be(h.a0) << 32 | be(h.b0), be(h.c0) << 32 | be(h.d0))
    }

    public mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        while (buffer.count + pad.count) % 64 != 56 { pad.append(0) }
        for i in 0..<8 { pad.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        let saved = length
        update(pad)
        length = saved
        var out: [UInt8] = []
        for w in [a0, b0, c0, d0] { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(i)))) } }
        return out
    }

    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = MD5()
        h.update(bytes)
        return Hex.encode(h.finalize())
    }
}

public struct SHA256: Sendable {
    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    var buffer: [UInt8] = []
    var length: UInt64 = 0
    static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3,
        0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
        0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee,
        0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() {}

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        length &+= UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        var offset = 0
        while buffer.count - offset >= 64 {
            block(offset)
            offset += 64
        }
        if offset > 0 { buffer.removeFirst(offset) }
    }

    mutating func block(_ o: Int) {
        var w = [UInt32](repeating: 0, count: 64)
        for i in 0..<16 {
            w[i] =
                UInt32(buffer[o + i * 4]) << 24 | UInt32(buffer[o + i * 4 + 1]) << 16 | UInt32(buffer[o + i * 4 + 2])
                << 8 | UInt32(buffer[o + i * 4 + 3])
        }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = h[0]
        var b = h[1]
        var c = h[2]
        var d = h[3]
        var e = h[4]
        var f = h[5]
        var g = h[6]
        var hh = h[7]
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ Self.k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        h[0] &+= a
        h[1] &+= b
        h[2] &+= c
        h[3] &+= d
        h[4] &+= e
        h[5] &+= f
        h[6] &+= g
        h[7] &+= hh
    }

    public mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        while (buffer.count + pad.count) % 64 != 56 { pad.append(0) }
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        let saved = length
        update(pad)
        length = saved
        return h.flatMap { w in (0..<4).reversed().map { UInt8(truncatingIfNeeded: w >> (8 * UInt32($0))) } }
    }

    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = SHA256()
        s.update(bytes)
        return Hex.encode(s.finalize())
    }
}

/// FNV-1a, 64 bits: a short, stable name for a text (not a defence against anyone).
public enum FNV1a {
    public static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// The first `digits` of the hash's 16 hex digits.
    public static func hex(_ text: String, digits: Int = 16) -> String {
        let hex = String(hash(text), radix: 16)
        return String((String(repeating: "0", count: max(0, 16 - hex.count)) + hex).prefix(digits))
    }
}

public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)
    /// Appends the hex digits of `bytes` to `out`, with no intermediate string.
    public static func append(_ bytes: [UInt8], into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bytes.count * 2))
        out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { b in
                digits.withUnsafeBufferPointer { d in
                    for i in 0..<b.count {
                        o[start + 2 * i] = d[Int(b[i] >> 4)]
                        o[start + 2 * i + 1] = d[Int(b[i] & 15)]
                    }
                }
            }
        }
    }

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// HMAC-SHA256 (RFC 2104): integrity for values that travel through a client and come back.
public enum HMACSHA256 {
    public static func mac<K: Collection, M: Collection>(key: K, message: M) -> [UInt8]
    where K.Element == UInt8, M.Element == UInt8 {
        var k = [UInt8](key)
        if k.count > 64 {
            var h = SHA256()
            h.update(k)
            k = h.finalize()
        }
        k += [UInt8](repeating: 0, count: 64 - k.count)
        var inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(k.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// Compares two MACs in time independent of where they differ.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// A JSON value carried by someone else and sealed with an HMAC-SHA256 under a key only the
/// sealer holds: `base64url(json).base64url(mac)`. `open` gives the value back only when the
/// seal is intact (an altered or forged text is nil).
public enum SealedJSON {
    public static func seal(_ value: JSONValue, key: [UInt8]) -> String {
        let body = base64url(Array(value.canonicalJSON().utf8))
        return body + "." + base64url(HMACSHA256.mac(key: key, message: Array(body.utf8)))
    }

    public static func open(_ text: String, key: [UInt8]) -> JSONValue? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = unbase64url(String(parts[1])),
            HMACSHA256.equal(mac, HMACSHA256.mac(key: key, message: Array(parts[0].utf8))),
            let bytes = unbase64url(String(parts[0]))
        else { return nil }
        return try? JSONParser.parse(bytes)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        ).replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ s: String) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map { [UInt8]($0) }
    }
}
