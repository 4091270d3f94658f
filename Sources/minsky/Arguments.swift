import ArgumentParser
import MinskyCore

// Values the command line takes speak for themselves: their choices appear in `--help` and in
// shell completions (`minsky --generate-completion-script bash|zsh|fish`).

extension TaskStatus: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension Priority: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public static var allValueStrings: [String] { Priority.range.map(String.init) + ["critical", "high", "medium", "low", "backlog"] }
    public var defaultValueDescription: String { "\(value)" }
}

/// Statuses given as a comma list (`--status todo,in-progress`) or repeated.
struct StatusList: ExpressibleByArgument {
    var statuses: [TaskStatus]
    init?(argument: String) {
        var out: [TaskStatus] = []
        for part in argument.split(separator: ",") {
            guard let s = TaskStatus(argument: String(part)) else { return nil }
            out.append(s)
        }
        guard !out.isEmpty else { return nil }
        statuses = out
    }
    static var allValueStrings: [String] { TaskStatus.allValueStrings }
}

/// A claim lifetime: `90s`, `30m`, `2h`, `1d`, or plain seconds.
struct ClaimTTL: ExpressibleByArgument {
    var seconds: Double
    init?(argument: String) {
        guard let s = try? Duration.seconds(parsing: argument), s > 0, s <= TaskRules.maxClaimSeconds else { return nil }
        seconds = s
    }
}

/// The hosted PostgreSQL services `upgrade team` knows the settings of.
enum TeamProvider: String, ExpressibleByArgument, CaseIterable {
    case supabase, neon, postgres
}

/// The AI providers `config set ai.provider` accepts.
enum AIProviderName: String, ExpressibleByArgument, CaseIterable {
    case openai, anthropic
}

/// A range check for `validate()`: the same message and exit code (2) as the stores' own checks.
func checkRange<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, option: String) throws {
    guard let value, !range.contains(value) else { return }
    throw MinskyError.invalid(option, "\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
}
