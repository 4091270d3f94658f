import Foundation
import MinskyCore
import Testing

/// Path overlap (`TaskPaths`) against a brute-force matcher: every path of a finite universe is
/// matched against each pattern with a regular expression built independently, and two patterns
/// overlap in the universe when some path is covered by both.
@Suite("Path leases: overlap rule")
struct PathOverlapTests {
    static let alphabet = ["a", "b", "ab", "ba", "a.md", "b.md"]
    static let wild = ["*", "a*", "*b", "?", "*.md", "a?", "**"]

    /// Every path of 1 to 4 segments over the alphabet.
    static let universe: [[String]] = {
        var out: [[String]] = []
        var level: [[String]] = [[]]
        for _ in 1...4 {
            level = level.flatMap { p in alphabet.map { p + [$0] } }
            out += level
        }
        return out
    }()

    struct Rand {
        var s: UInt64
        mutating func next(_ n: Int) -> Int {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((s >> 33) % UInt64(n))
        }
    }

    /// The brute-force meaning of a pattern: a regex over the whole path; a pattern covers a
    /// path when it matches the path or one of the directories above it.
    static func regex(_ pattern: String) throws -> NSRegularExpression {
        // Matched against "/" + path: each segment is "/name"; ** is any number of them.
        var r = "^"
        for seg in pattern.split(separator: "/").map(String.init) {
            if seg == "**" {
                r += "(?:/[^/]+)*"
                continue
            }
            r += "/"
            for ch in seg {
                switch ch {
                case "*": r += "[^/]*"
                case "?": r += "[^/]"
                default: r += NSRegularExpression.escapedPattern(for: String(ch))
                }
            }
        }
        return try NSRegularExpression(pattern: r + "$")
    }

    static func covered(_ pattern: String) throws -> Set<Int> {
        let re = try regex(pattern)
        var out = Set<Int>()
        for (n, path) in universe.enumerated() {
            for k in 1...path.count {
                let s = "/" + path[..<k].joined(separator: "/")
                if re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil {
                    out.insert(n)
                    break
                }
            }
        }
        return out
    }

    static func generate(_ r: inout Rand, literal: Bool) -> String {
        let depth = 1 + r.next(3)
        return (0..<depth).map { _ in
            literal || r.next(3) == 0 ? alphabet[r.next(alphabet.count)] : wild[r.next(wild.count)]
        }.joined(separator: "/")
    }

    @Test func overlapNeverMissesAndIsExactForLiteralPaths() throws {
        var r = Rand(s: 20_261_207)
        let literals = Set((0..<40).map { _ in Self.generate(&r, literal: true) }).sorted()
        let globs = Set((0..<70).map { _ in Self.generate(&r, literal: false) }).sorted()
        let all = literals + globs
        var cover: [String: Set<Int>] = [:]
        for p in all { cover[p] = try Self.covered(p) }
        var checked = 0
        for x in all {
            for y in all {
                let ours = TaskPaths.overlap(x, y)
                let brute = !cover[x]!.isDisjoint(with: cover[y]!)
                #expect(ours == TaskPaths.overlap(y, x), "overlap is symmetric: \(x) \(y)")
                if brute { #expect(ours, "missed overlap: \(x) and \(y)") }
                if literals.contains(x) && literals.contains(y) {
                    #expect(ours == brute, "literal paths are decided exactly: \(x) \(y)")
                }
                checked += 1
            }
        }
        #expect(checked == all.count * all.count)
        // `covers` agrees with the brute-force meaning on every path of the universe.
        for p in all {
            for (n, path) in Self.universe.enumerated() where n % 7 == 0 {
                #expect(
                    TaskPaths.covers(p, path: path.joined(separator: "/")) == cover[p]!.contains(n),
                    "\(p) covers \(path)")
            }
        }
    }

    @Test func theDocumentedRule() throws {
        #expect(TaskPaths.overlap("Sources/MinskySQL/**", "Sources/MinskySQL/SQL.swift"))
        #expect(TaskPaths.overlap("Sources/MinskySQL", "Sources/MinskySQL/SQL.swift"))
        #expect(!TaskPaths.overlap("Sources/MinskySQL/**", "Sources/MinskyCore/TaskItem.swift"))
        #expect(!TaskPaths.overlap("README.md", "README.markdown"))
        #expect(TaskPaths.overlap("**", "anything/at/all"))
        #expect(TaskPaths.overlap("Tests/*Tests/*.swift", "Tests/CoreTests/A.swift"))
        #expect(!TaskPaths.overlap("Tests/*Tests/*.swift", "Tests/CoreTests/A.md"))
        #expect(!TaskPaths.overlap("src/*.swift", "src/*.md"))  // fixed endings contradict
        #expect(TaskPaths.overlap("src/?", "src/??*"))  // conservative: no name matches both
        #expect(
            try TaskPaths.normalize(["./Sources//App/", "Sources/App", " README.md "]) == ["Sources/App", "README.md"])
        for bad in ["/etc/passwd", "../x", "a/../../b", "", "a\\b"] {
            #expect(throws: MinskyError.self) { try TaskPaths.normalize([bad]) }
        }
    }
}
