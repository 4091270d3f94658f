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
    public static var allValueStrings: [String] {
        Priority.range.map(String.init) + ["critical", "high", "medium", "low", "backlog"]
    }
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
    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
}

/// A claim lifetime: `90s`, `30m`, `2h`, `1d`, or plain seconds.
struct ClaimTTL: ExpressibleByArgument {
    var seconds: Double
    init?(argument: String) {
        guard let s = try? Duration.seconds(parsing: argument), s > 0, s <= TaskRules.maxClaimSeconds else {
            return nil
        }
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

/// Refuses input in `validate()` with the same message format and exit code (2) as the stores'
/// own checks. (ArgumentParser wraps any other error thrown there, so it is reported here and
/// the exit code thrown.)
func refuse(_ e: MinskyError, json: Bool) -> ExitCode {
    Output(json: json).error(e)
    return ExitCode(e.code.exitCode)
}

/// A range check for `validate()`.
func checkRange<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, option: String, json: Bool) throws {
    guard let value, !range.contains(value) else { return }
    throw refuse(
        MinskyError.invalid(
            option, "\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)"), json: json)
}

/// A lower-bound check for `validate()` (versions: at least 1, no useful upper bound to name).
func checkMinimum<T: Comparable>(_ value: T?, _ minimum: T, option: String, json: Bool) throws {
    guard let value, value < minimum else { return }
    throw refuse(MinskyError.invalid(option, "\(option) must be at least \(minimum), got \(value)"), json: json)
}
