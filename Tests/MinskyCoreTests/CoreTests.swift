import Foundation
import MinskyCore
import Testing

@Suite("Core model and rules")
struct CoreTests {
    @Test func taskIDsAreShortRandomAndValidated() throws {
        let a = TaskID.random()
        let b = TaskID.random()
        #expect(a != b)
        #expect(a.rawValue.count == 8 && a.rawValue.hasPrefix("mk-"))
        #expect(try TaskID(validating: "  MK-AB12c ").rawValue == "mk-ab12c")
        #expect(throws: MinskyError.self) { try TaskID(validating: "") }
        #expect(throws: MinskyError.self) { try TaskID(validating: "mk-1; DROP") }
        #expect(throws: MinskyError.self) { try TaskID.validatePrefix("has space") }
        var rng = SystemRandomNumberGenerator()
        let ids = Set((0..<10_000).map { _ in TaskID.random(using: &rng) })
        #expect(ids.count > 9_990)
    }

    @Test(arguments: [
        "2026-11-26T12:57:24.123456Z", "1970-01-01T00:00:00.000000Z", "1969-12-31T23:59:59.999999Z",
        "2000-02-29T23:00:00.000001Z", "9999-12-31T23:59:59.999999Z",
    ])
    func timestampsRoundTripExactly(text: String) throws {
        let t = try #require(Timestamp(iso8601: text))
        #expect(t.iso8601 == text)
    }

    /// Times across the years a store can hold, written digit by digit, read back by the parser
    /// (its own code) and, from 1583 (Foundation's calendar is Julian before the Gregorian reform;
    /// ours, like ISO 8601 and PostgreSQL, is proleptic Gregorian), against Foundation's calendar.
    @Test func timestampsWriteEveryYearExactly() throws {
        var seed: UInt64 = 11
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let lowest: Int64 = -62_135_596_800_000_000  // 0001-01-01
        let highest: Int64 = 253_402_300_799_999_999  // 9999-12-31T23:59:59.999999
        for _ in 0..<20_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let t = Timestamp(microseconds: lowest + Int64(seed >> 2) % (highest - lowest))
            let text = t.iso8601
            #expect(text.utf8.count == 27 && Timestamp(iso8601: text) == t, "\(t.microseconds): \(text)")
            let secs = Double(t.microseconds >= 0 ? t.microseconds / 1_000_000 : (t.microseconds - 999_999) / 1_000_000)
            let c = utc.dateComponents(
                [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: secs))
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
            if c.year! > 1582 { #expect(text.hasPrefix(expected), "\(text) is not \(expected)") }
        }
    }

    @Test func timestampParsingAcceptsOffsetsAndRejectsGarbage() throws {
        #expect(Timestamp(iso8601: "2026-01-01T01:00:00+01:00") == Timestamp(iso8601: "2026-01-01T00:00:00Z"))
        #expect(
            Timestamp(iso8601: "2026-01-01 00:00:00.5Z")?.microseconds == Timestamp(iso8601: "2026-01-01T00:00:00Z")!
                .microseconds + 500_000)
        #expect(Timestamp(iso8601: "2026-01-01T00:00:00.1234567891Z") != nil)
        #expect(Timestamp(iso8601: "yesterday") == nil)
        #expect(Timestamp(iso8601: "2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp(iso8601: "2026-01-01T00:00:00Zjunk") == nil)
        let now = Timestamp.now()
        #expect(Timestamp(iso8601: now.iso8601) == now)
    }

    @Test func durationsParse() throws {
        #expect(try Duration.seconds(parsing: "90s") == 90)
        #expect(try Duration.seconds(parsing: "30m") == 1800)
        #expect(try Duration.seconds(parsing: "2h") == 7200)
        #expect(try Duration.seconds(parsing: "45") == 45)
        #expect(throws: MinskyError.self) { try Duration.seconds(parsing: "soon") }
        #expect(throws: MinskyError.self) { try Duration.seconds(parsing: "-5m") }
    }

    @Test func statusAndPriorityParsing() throws {
        #expect(try TaskStatus(parsing: "in progress") == .inProgress)
        #expect(try TaskStatus(parsing: "in_review") == .inReview)
        #expect(try TaskStatus(parsing: "done") == .done)
        let e = #expect(throws: MinskyError.self) { try TaskStatus(parsing: "FINISHED") }
        #expect(e?.field == "status")
        #expect(e?.message.contains("TODO, IN-PROGRESS") == true)
        #expect(try Priority(parsing: "P1").value == 1)
        #expect(try Priority(parsing: "critical").value == 0)
        #expect(try Priority(parsing: "4").value == 4)
        #expect(throws: MinskyError.self) { try Priority(parsing: "7") }
    }

    @Test func canonicalJSONIsSortedAndEscaped() throws {
        let v: JSONValue = ["b": 1, "a": ["x": "q\"\n\u{1}", "y": 2.5], "c": nil, "d": [true, false]]
        #expect(v.canonicalJSON() == #"{"a":{"x":"q\"\n\u0001","y":2.5},"b":1,"c":null,"d":[true,false]}"#)
        #expect(try JSONValue.parse(v.canonicalJSON()) == v)
        #expect(try JSONValue.parse(#""data:text/plain;base64,AAAA""#) == .string("data:text/plain;base64,AAAA"))
        #expect(
            JSONValue.object(["a": 1, "b": ["c": 2]]).merging(patch: ["a": nil, "b": ["d": 3]]) == [
                "b": ["c": 2, "d": 3]
            ])
    }

    /// The byte-run string writer against the plain definition (one scalar at a time), over
    /// random strings of the characters that need care: quotes, backslashes, every control
    /// character, U+2028/U+2029 and other characters whose UTF-8 starts like them (€, ₂), accents
    /// and emoji. Both styles; the compact form also parses back to the string.
    @Test func stringEscapingMatchesItsDefinition() throws {
        func reference(_ s: String, postgresStyle: Bool) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{8}" where postgresStyle: out += "\\b"
                case "\u{C}" where postgresStyle: out += "\\f"
                case _ where u.value < 0x20 || (!postgresStyle && (u.value == 0x2028 || u.value == 0x2029)):
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        }
        let pool: [Character] =
            ["a", "Z", " ", "\"", "\\", "/", "é", "€", "₂", "\u{2028}", "\u{2029}", "\u{2027}", "😀", "\u{7F}"]
            + (0..<32).map { Character(UnicodeScalar(UInt8($0))) }
        var seed: UInt64 = 7
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        for _ in 0..<3000 {
            var s = ""
            for _ in 0..<next(24) { s.append(pool[next(pool.count)]) }
            for style in [false, true] {
                var out = ""
                JSONValue.writeString(s, to: &out, postgresStyle: style)
                #expect(out == reference(s, postgresStyle: style), "\(Array(s.unicodeScalars))")
            }
            #expect(try JSONValue.parse(JSONValue.string(s).canonicalJSON()) == .string(s))
        }
    }

    @Test func rulesRefuseBadInput() throws {
        #expect(throws: MinskyError.self) { try TaskRules.validate(NewTask(title: "")) }
        #expect(throws: MinskyError.self) { try TaskRules.validate(NewTask(title: "x", tags: ["a b"])) }
        #expect(throws: MinskyError.self) { try TaskRules.validate(NewTask(title: "x", metadata: "str")) }
        #expect(try TaskRules.validate(NewTask(title: "x", tags: [" a ", "a", "b"])).tags == ["a", "b"])
        let now = Timestamp.now()
        let t = TaskItem(
            id: "mk-aaaaa", title: "t", status: .inProgress, assignee: "ann", claimExpiresAt: now, createdAt: now,
            updatedAt: now)
        let todo = try TaskRules.apply(TaskPatch(status: .todo), to: t, now: now)
        #expect(todo.assignee == nil && todo.claimExpiresAt == nil && todo.version == 2)
        let done = try TaskRules.apply(TaskPatch(status: .done), to: t, now: now)
        #expect(done.assignee == "ann" && done.claimExpiresAt == nil)
    }

    @Test func cycleDetectionNamesThePath() throws {
        let edges: [TaskID: [TaskID]] = ["mk-b": ["mk-c"], "mk-c": ["mk-d"], "mk-d": ["mk-a"]]
        let e = #expect(throws: MinskyError.self) {
            try DependencyGraph.checkNewEdge(task: "mk-a", dependsOn: "mk-b") { edges[$0] ?? [] }
        }
        #expect(e?.code == .cycle)
        #expect(e?.message.contains("mk-a → mk-b → mk-c → mk-d → mk-a") == true)
        try DependencyGraph.checkNewEdge(task: "mk-z", dependsOn: "mk-b") { edges[$0] ?? [] }
        #expect(throws: MinskyError.self) {
            try DependencyGraph.checkNewEdge(task: "mk-a", dependsOn: "mk-a") { _ in [] }
        }
        let parents: [TaskID: TaskID] = ["mk-c": "mk-b", "mk-b": "mk-a"]
        #expect(throws: MinskyError.self) {
            try DependencyGraph.checkNewParent(task: "mk-a", parent: "mk-c") { parents[$0] }
        }
        try DependencyGraph.checkNewParent(task: "mk-x", parent: "mk-c") { parents[$0] }
    }

    @Test func textSearchTerms() {
        #expect(TextSearch.terms("User-Auth: login!") == ["user", "auth", "login"])
        #expect(TextSearch.terms("'; DROP --").isEmpty == false)
        #expect(TextSearch.terms("  ").isEmpty)
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test(arguments: [
        #"{"a":[1,-2,3.5e2,true,false,null,"x\u00e9\ud83c\udf89\n"]}"#, "[]", "{}", "0", "-0.5", #""\/""#,
        " [ 1 , 2 ] ",
        "9223372036854775807", "1e400",
    ])
    func acceptsValidJSON(text: String) throws {
        _ = try JSONParser.parse(text.utf8)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"\\x\"", "\"\u{1}\"", "[1] x", "\"\\ud800\"", "{'a':1}",
        "NaN",
    ])
    func refusesInvalidJSON(text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(text.utf8) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONParser.Failure.self) {
            try JSONParser.parse(Array(repeating: UInt8(ascii: "["), count: 100_000))
        }
        #expect(throws: Never.self) {
            try JSONParser.parse((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8)
        }
    }

    @Test func keepsIntegersExactAndStringsAsStrings() throws {
        #expect(try JSONParser.parse("9007199254740993".utf8) == .int(9_007_199_254_740_993))
        #expect(
            try JSONParser.parse(#""data:application/octet-stream;base64,AAEC""#.utf8)
                == .string("data:application/octet-stream;base64,AAEC"))
        #expect(try JSONParser.parse("1e400".utf8) == .double(.infinity))
        let v: JSONValue = ["k": ["é", 1, 2.5, nil, true]]
        #expect(try JSONParser.parse(v.canonicalJSON().utf8) == v)
    }
}

@Suite("Digests")
struct DigestTests {
    @Test func knownVectors() {
        #expect(MD5.hex(Array("".utf8)) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(
            MD5.hex(Array("The quick brown fox jumps over the lazy dog".utf8)) == "9e107d9d372bb6826bd81d3542a419d6")
        #expect(MD5.hex(Array(String(repeating: "a", count: 1000).utf8)) == "cabe45dcc9ae5b66ba86600cca6b8ba8")
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array(String(repeating: "a", count: 1000).utf8))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        var inc = MD5()
        for chunk in ["The quick ", "brown fox jumps over ", "the lazy dog"] { inc.update(Array(chunk.utf8)) }
        #expect(Hex.encode(inc.finalize()) == "9e107d9d372bb6826bd81d3542a419d6")
    }
}

@Suite("One-shot MD5")
struct MD5OneShotTests {
    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000])
    func matchesTheStreamingDigest(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let (hi, lo) = bytes.withUnsafeBytes { MD5.digest128($0) }
        func h(_ x: UInt64) -> String {
            let s = String(x, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        #expect(h(hi) + h(lo) == MD5.hex(bytes))
    }
}

@Suite("Insights")
struct InsightsCoreTests {
    static func task(_ i: Int, _ status: TaskStatus = .todo) -> TaskItem {
        TaskItem(
            id: TaskID(trusted: "mk-t\(i)"), title: "t\(i)", status: status,
            createdAt: Timestamp(microseconds: Int64(i)),
            updatedAt: Timestamp(microseconds: Int64(i)))
    }

    /// A 20,000-long chain is walked whole (the recursive version stopped at 10,000 and copied
    /// every prefix, which made it quadratic).
    @Test func theLongestChainOfALongDependencyChainIsTheWholeChain() {
        let n = 20_000
        let tasks = (0..<n).map { Self.task($0) }
        let edges = (1..<n).map { Dependency(taskId: tasks[$0].id, dependsOn: tasks[$0 - 1].id, createdAt: .now()) }
        let facts = Insights.compute(tasks: tasks, edges: edges, now: .now())
        #expect(facts.longestPath.count == n)
        #expect(facts.longestPath.first == tasks[0].id && facts.longestPath.last == tasks[n - 1].id)
    }

    @Test func resolvedTasksBreakChainsAndTiesGoToTheEarlierTask() {
        // 0 ← 1 ← 2 (2 waits for 1, 1 for 0); 3 ← 4; 5 done ← 6 ← 7: two chains of 3 and one of 2.
        let tasks = [0, 1, 2, 3, 4].map { Self.task($0) } + [Self.task(5, .done), Self.task(6), Self.task(7)]
        let pairs = [(1, 0), (2, 1), (4, 3), (6, 5), (7, 6)]
        let edges = pairs.map { Dependency(taskId: tasks[$0.0].id, dependsOn: tasks[$0.1].id, createdAt: .now()) }
        let facts = Insights.compute(tasks: tasks, edges: edges, now: .now())
        #expect(facts.longestPath == [tasks[0].id, tasks[1].id, tasks[2].id])
        #expect(Set(facts.blocked.map(\.id)) == [tasks[1].id, tasks[2].id, tasks[4].id, tasks[7].id])
    }
}
