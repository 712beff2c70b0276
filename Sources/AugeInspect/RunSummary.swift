import Foundation

/// Counts over a run: decisions, labels, errors and throughput.
public struct RunSummary: Sendable {
    public private(set) var count = 0
    public private(set) var decisions: [Decision: Int] = [:]
    public private(set) var labels: [String: Int] = [:]
    public private(set) var errors = 0
    public var sortFailures = 0
    private let started = DispatchTime.now().uptimeNanoseconds

    public init() {}

    public mutating func add(_ record: InspectionRecord) {
        count += 1
        decisions[record.decision, default: 0] += 1
        if record.decision == .error { errors += 1 }
        if let label = record.label { labels[label, default: 0] += 1 }
    }

    public var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    /// A few lines for people: counts per decision and label, rate, errors and skipped files.
    public func report(skipped: Int, problems: Int) -> String {
        let seconds = elapsedSeconds
        let rate = seconds > 0 ? Double(count) / seconds : 0
        let byDecision = Decision.allCases.compactMap { d in decisions[d].map { "\(d.rawValue) \($0)" } }.joined(separator: ", ")
        let byLabel = labels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var lines = [String(format: "%d photos in %.2f s (%.1f photos/s): %@", count, seconds, rate, byDecision.isEmpty ? "none" : byDecision)]
        if !byLabel.isEmpty { lines.append("labels: " + byLabel) }
        if errors > 0 { lines.append("\(errors) photos could not be read (decision \"error\"; see their records)") }
        if skipped > 0 { lines.append("\(skipped) non-photo file\(skipped == 1 ? "" : "s") skipped") }
        if problems > 0 { lines.append("\(problems) paths could not be opened") }
        if sortFailures > 0 { lines.append("\(sortFailures) photos could not be sorted") }
        return lines.joined(separator: "\n")
    }
}
