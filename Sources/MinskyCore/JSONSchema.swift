/// The subset of JSON Schema 2020-12 the tool schemas use: type, properties, required,
/// additionalProperties, items, enum, minimum/maximum, minLength/maxLength, minItems/maxItems.
/// Arguments are validated against the same schema `tools/list` advertises, so the two cannot differ.
public enum JSONSchema {
    /// The first violation as "`path`: what is wrong", or nil when `value` conforms.
    public static func firstError(_ value: JSONValue, _ schema: JSONValue, path: String = "") -> String? {
        let here = path.isEmpty ? "arguments" : path
        if let t = schema["type"] {
            let types = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue ?? ""]
            if !types.contains(where: { matches(value, $0) }) {
                return "\(here) must be \(types.joined(separator: " or ")), got \(describe(value))"
            }
        }
        if let e = schema["enum"]?.arrayValue, !e.contains(value) {
            return
                "\(here) must be one of \(e.map { $0.canonicalJSON() }.joined(separator: ", ")), got \(describe(value))"
        }
        switch value {
        case .string(let s):
            if let m = schema["minLength"]?.intValue, s.count < m {
                return "\(here) must have at least \(m) character(s)"
            }
            if let m = schema["maxLength"]?.intValue, s.count > m {
                return "\(here) must have at most \(m) characters, got \(s.count)"
            }
        case .int, .double:
            let d = value.doubleValue ?? .nan
            if !d.isFinite { return "\(here) is not a finite number" }
            if let m = schema["minimum"]?.doubleValue, d < m {
                return "\(here) must be ≥ \(schema["minimum"]!.canonicalJSON()), got \(value.canonicalJSON())"
            }
            if let m = schema["maximum"]?.doubleValue, d > m {
                return "\(here) must be ≤ \(schema["maximum"]!.canonicalJSON()), got \(value.canonicalJSON())"
            }
        case .array(let a):
            if let m = schema["minItems"]?.intValue, a.count < m { return "\(here) must have at least \(m) item(s)" }
            if let m = schema["maxItems"]?.intValue, a.count > m {
                return "\(here) must have at most \(m) items, got \(a.count)"
            }
            if let items = schema["items"] {
                for (i, v) in a.enumerated() { if let e = firstError(v, items, path: "\(here)[\(i)]") { return e } }
            }
        case .object(let o):
            let props = schema["properties"]?.objectValue ?? [:]
            for r in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[r] == nil {
                return "\(path.isEmpty ? "" : path + ".")\(r) is required"
            }
            for k in o.keys.sorted() {
                let sub = path.isEmpty ? k : "\(path).\(k)"
                if let ps = props[k] {
                    if let e = firstError(o[k]!, ps, path: sub) { return e }  // k comes from o.keys
                } else if schema["additionalProperties"] == .bool(false) {
                    return "unknown argument \(sub); allowed: \(props.keys.sorted().joined(separator: ", "))"
                }
            }
        default: break
        }
        return nil
    }

    static func matches(_ v: JSONValue, _ type: String) -> Bool {
        switch (type, v) {
        case ("string", .string), ("boolean", .bool), ("null", .null), ("array", .array), ("object", .object):
            return true
        case ("number", .int), ("number", .double): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.isFinite && d.rounded() == d
        default: return false
        }
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return "string \"\(s.prefix(40))\(s.count > 40 ? "…" : "")\""
        case .int, .double, .bool, .null: return "\(v.typeName) \(v.canonicalJSON().prefix(40))"
        default: return v.typeName
        }
    }
}
