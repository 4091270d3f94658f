#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A UTC instant with microsecond precision.
///
/// Both stores keep microseconds (PostgreSQL `timestamptz`, SQLite ISO-8601 text), so an exact
/// integer representation makes values read back from either store compare equal, which a
/// floating-point `Date` would not guarantee.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public func adding(seconds: Double) -> Timestamp {
        Timestamp(microseconds: microseconds + Int64((seconds * 1_000_000).rounded()))
    }

    /// `2026-11-26T12:57:24.123456Z`: fixed width, so text comparison orders instants.
    public var iso8601: String {
        let secs = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = microseconds - secs * 1_000_000
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let sod = secs - days * 86_400
        let (y, m, d) = Self.civil(fromDays: days)
        if (0...9999).contains(y) {
            // "YYYY-MM-DDTHH:MM:SS.ffffffZ", digit by digit (on every row a store writes or reads).
            return String(unsafeUninitializedCapacity: 27) { out in
                func put(_ v: Int64, _ width: Int, at end: Int) {
                    var v = v
                    for i in stride(from: end - 1, through: end - width, by: -1) {
                        out[i] = UInt8(48 + v % 10)
                        v /= 10
                    }
                }
                put(y, 4, at: 4)
                out[4] = 45
                put(m, 2, at: 7)
                out[7] = 45
                put(d, 2, at: 10)
                out[10] = 84
                put(sod / 3600, 2, at: 13)
                out[13] = 58
                put(sod % 3600 / 60, 2, at: 16)
                out[16] = 58
                put(sod % 60, 2, at: 19)
                out[19] = 46
                put(micros, 6, at: 26)
                out[26] = 90
                return 27
            }
        }
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return
            "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(sod / 3600, 2)):\(pad(sod % 3600 / 60, 2)):\(pad(sod % 60, 2)).\(pad(micros, 6))Z"
    }

    public var description: String { iso8601 }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)`, also with a space instead of `T`.
    public init?(iso8601 s: String) {
        let b = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int64? {
            guard from + len <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + len) {
                let c = b[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard b.count >= 19, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 32, b[13] == 58, b[16] == 58,
            let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
            let se = num(17, 2),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61
        else { return nil }
        var i = 19
        var micros: Int64 = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 6 { for _ in digits..<6 { micros *= 10 } }
        }
        var offset: Int64 = 0
        if i < b.count {
            if b[i] == 90 || b[i] == 122 {
                i += 1
            } else if b[i] == 43 || b[i] == 45 {
                let sign: Int64 = b[i] == 45 ? -1 : 1
                guard let oh = num(i + 1, 2) else { return nil }
                var om: Int64 = 0
                if i + 3 < b.count, b[i + 3] == 58 {
                    guard let v = num(i + 4, 2) else { return nil }
                    om = v
                    i += 6
                } else if let v = num(i + 3, 2) {
                    om = v
                    i += 5
                } else {
                    i += 3
                }
                offset = sign * (oh * 3600 + om * 60)
            } else {
                return nil
            }
        }
        guard i == b.count else { return nil }
        let days = Self.days(fromCivil: y, mo, d)
        microseconds = ((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1_000_000 + micros
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let t = Timestamp(iso8601: s) else {
            throw MinskyError.invalid(
                "timestamp", "'\(s.prefix(40))' is not an ISO-8601 UTC timestamp like 2026-11-26T12:00:00Z")
        }
        self = t
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(iso8601)
    }

    // Howard Hinnant's days-from-civil algorithms.
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// Parses durations such as `90s`, `30m`, `2h`, `1d` or a bare number of seconds.
public enum Duration {
    public static func seconds(parsing raw: String, field: String = "ttl") throws -> Double {
        let s = raw.trimmingWhitespace().lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for (u, mult) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count)), v > 0, v.isFinite { return v * mult }
        }
        if let v = Double(s), v > 0, v.isFinite { return v }
        throw MinskyError.invalid(field, "'\(raw.prefix(40))' is not a duration; use e.g. 90s, 30m, 2h or 1d")
    }
}

extension Timestamp {
    /// A row id: `prefix`, this time and 64 random bits, both base 36. A bulk write stamps a
    /// million rows with one time, so the random part must keep a million apart (64 bits do;
    /// 40 did not: an import of a million tasks collided on its history).
    public func rowID(_ prefix: String) -> String {
        prefix + String(microseconds, radix: 36) + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
