import Foundation

extension JSONValue {
    /// This value decoded into `T` (arguments checked against their schema, a request body): a
    /// value of the wrong shape is `invalid_input` naming the field's path.
    public func decoded<T: Decodable>(as type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(canonicalJSON().utf8))
        } catch let e as DecodingError {
            func path(_ keys: [any CodingKey]) -> String {
                keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                    .replacingOccurrences(of: ".[", with: "[")
            }
            switch e {
            case .keyNotFound(let key, let c):
                let field = path(c.codingPath + [key])
                throw MinskyError.invalid(field, "\(field) is required")
            case .typeMismatch(let t, let c), .valueNotFound(let t, let c):
                let field = path(c.codingPath)
                throw MinskyError.invalid(field.isEmpty ? "arguments" : field, "\(field) must be \(Self.kind(t))")
            case .dataCorrupted(let c):
                let field = path(c.codingPath)
                throw MinskyError.invalid(field.isEmpty ? "arguments" : field, "\(field): \(c.debugDescription)")
            @unknown default:
                throw MinskyError.invalid("arguments", "the arguments do not have the expected shape")
            }
        }
    }

    static func kind(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: "text"
        case is Int.Type, is Int64.Type: "an integer"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default: "of another type (\(t))"
        }
    }
}
