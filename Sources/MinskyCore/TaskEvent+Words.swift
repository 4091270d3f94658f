import Foundation

/// A change in words a person reads: values before → after (cut with an ellipsis), criteria
/// checked or added by their text, metadata by key, empty fields of a new task left out.
/// `tasks history`, `tasks watch` and the board's panel all print it.
extension TaskEvent {
    public var words: String {
        let c = changes.objectValue ?? [:]
        func clip(_ v: JSONValue?, _ n: Int = 40) -> String {
            guard let v, !v.isNull else { return "∅" }
            let s = v.stringValue.map { "“" + $0 + "”" } ?? v.canonicalJSON()
            let one = s.map { $0.isNewline ? " " : $0 }
            return one.count <= n ? String(one) : String(one.prefix(n - 1)) + "…"
        }
        func after(_ k: String) -> JSONValue? { c[k]?["after"] }
        func before(_ k: String) -> JSONValue? { c[k]?["before"] }
        let base = kind.hasPrefix("synced_") ? String(kind.dropFirst(7)) : kind
        let prefix = kind.hasPrefix("synced_") ? "(synced) " : ""
        switch base {
        case "created", "imported":
            var parts = ["\(base) \(clip(after("title"), 60))"]
            if let p = after("priority")?.intValue { parts.append("P\(p)") }
            if let s = after("status")?.stringValue, s != "TODO" { parts.append(s) }
            if let t = after("tags")?.arrayValue, !t.isEmpty {
                parts.append("tags " + t.compactMap(\.stringValue).joined(separator: ","))
            }
            if let p = after("parentId")?.stringValue { parts.append("under \(p)") }
            if let d = after("dependsOn")?.arrayValue, !d.isEmpty {
                parts.append("waits for " + d.compactMap(\.stringValue).joined(separator: ", "))
            }
            if let a = after("acceptance")?.arrayValue, !a.isEmpty { parts.append("\(a.count) criteria") }
            if let p = after("paths")?.arrayValue, !p.isEmpty {
                parts.append("paths " + p.compactMap(\.stringValue).joined(separator: ", "))
            }
            if let d = after("description")?.stringValue, !d.isEmpty { parts.append("description \(clip(.string(d)))") }
            return prefix + parts.joined(separator: ", ")
        case "deleted": return prefix + "deleted \(clip(before("title"), 60))"
        case "claimed":
            let until = after("claimExpiresAt")?.stringValue.map { " until \($0)" } ?? ""
            return prefix + "claimed by \(after("assignee")?.stringValue ?? "?")\(until)"
        case "released": return prefix + "released by \(before("assignee")?.stringValue ?? "?")"
        case "heartbeat":
            return prefix + "lease extended\(after("claimExpiresAt")?.stringValue.map { " to \($0)" } ?? "")"
        case "dependency_added": return prefix + "now waits for \(after("dependsOn")?.stringValue ?? "?")"
        case "dependency_removed": return prefix + "no longer waits for \(before("dependsOn")?.stringValue ?? "?")"
        case "note_added": return prefix + "note \(clip(after("notes"), 80))"
        default:
            var parts: [String] = []
            for key in c.keys.sorted() where key != "updatedAt" && key != "version" {
                switch key {
                case "acceptance": parts += Self.criteria(before(key), after(key))
                case "paths":
                    let b = Set((before(key)?.arrayValue ?? []).compactMap(\.stringValue))
                    let a = (after(key)?.arrayValue ?? []).compactMap(\.stringValue)
                    let added = a.filter { !b.contains($0) }
                    let removed = b.subtracting(a).sorted()
                    parts.append(
                        "paths: " + (added.map { "+" + $0 } + removed.map { "-" + $0 }).joined(separator: ", "))
                case "evidence":
                    let e = Evidence.stored(after(key) ?? .object([:]))
                    parts.append("evidence: " + e.summary)
                case "metadata":
                    let b = before(key)?.objectValue ?? [:]
                    let a = after(key)?.objectValue ?? [:]
                    for k in Set(b.keys).union(a.keys).sorted() where b[k] != a[k] {
                        parts.append("metadata.\(k): \(clip(b[k], 30)) → \(clip(a[k], 30))")
                    }
                case "status", "priority", "assignee", "parentId":
                    let show = { (v: JSONValue?) in v.flatMap { $0.stringValue ?? $0.intValue.map { "P\($0)" } } ?? "∅"
                    }
                    parts.append("\(key): \(show(before(key))) → \(show(after(key)))")
                default: parts.append("\(key): \(clip(before(key))) → \(clip(after(key)))")
                }
            }
            return prefix + (parts.isEmpty ? base : parts.joined(separator: "; "))
        }
    }

    /// Criteria changes by their text: checked, unchecked, added, removed.
    static func criteria(_ before: JSONValue?, _ after: JSONValue?) -> [String] {
        let b = AcceptanceCriterion.list(before ?? .array([])) ?? []
        let a = AcceptanceCriterion.list(after ?? .array([])) ?? []
        func q(_ s: String) -> String { "“" + (s.count <= 50 ? s : String(s.prefix(49)) + "…") + "”" }
        var out: [String] = []
        for (i, c) in a.enumerated() {
            if i < b.count, b[i].text == c.text {
                if b[i].done != c.done { out.append((c.done ? "checked " : "unchecked ") + q(c.text)) }
            } else {
                out.append("added criterion " + q(c.text))
            }
        }
        for c in b where !a.contains(where: { $0.text == c.text }) { out.append("removed criterion " + q(c.text)) }
        return out
    }
}
