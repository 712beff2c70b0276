import Foundation

/// How results are written: a table for people, CSV / JSON lines / JSON for programs.
public enum ResultFormat: String, Sendable, CaseIterable {
    case table, csv, jsonl, json
}

extension ResultFormat {
    /// The format a file name's extension says (`.csv`, `.jsonl`/`.ndjson`, `.json`, `.txt` for the table), or nil.
    public init?(fileExtensionOf path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": self = .csv
        case "jsonl", "ndjson": self = .jsonl
        case "json": self = .json
        case "txt": self = .table
        default: return nil
        }
    }
}

/// Formats records one at a time (so a long run streams its output) with a header and footer where
/// the format needs them.
public struct ResultFormatter: Sendable {
    public let format: ResultFormat
    /// Labels for per-class score columns (CSV and table) when scores are requested, else nil.
    public let scoreLabels: [String]?

    /// Width of the table's label column: the longest of the model's labels, at least 16.
    public let labelWidth: Int
    /// Whether photos are explained: CSV gets the hotspot and heatmap columns.
    public let explained: Bool
    /// Whether the model is an anomaly model: CSV gets the `anomaly_score` column, last.
    public let anomaly: Bool

    /// `labels`, the model's labels, size the table's label column.
    public init(format: ResultFormat, scoreLabels: [String]? = nil, labels: [String] = [], explained: Bool = false, anomaly: Bool = false) {
        self.format = format
        self.scoreLabels = scoreLabels
        self.explained = explained
        self.anomaly = anomaly
        labelWidth = max(16, labels.map(\.count).max() ?? 0)
    }

    static let explanationColumns = ["hotspot_x", "hotspot_y", "hotspot_width", "hotspot_height", "hotspot_evidence", "heatmap", "heatmap_error"]

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Milliseconds to the microsecond: more digits would be noise.
    static func roundedForOutput(_ record: InspectionRecord) -> InspectionRecord {
        var rounded = record
        rounded.ms = (record.ms * 1000).rounded() / 1000
        return rounded
    }

    public static func json(_ record: InspectionRecord) -> String {
        // Encoding a plain struct of strings and numbers cannot fail.
        String(decoding: try! encoder.encode(roundedForOutput(record)), as: UTF8.self)
    }

    public var header: String? {
        switch format {
        case .csv:
            // defect_probability came after the score columns were public: it is appended, so column positions stay.
            return
                (["path", "label", "score", "decision", "ms", "error"] + (scoreLabels ?? []).map { "score_" + $0 } + ["defect_probability"]
                + (explained ? Self.explanationColumns : []) + (anomaly ? ["anomaly_score"] : [])).map(Self.csvField).joined(separator: ",")
        case .table:
            return tableRow("decision", "label", "score", "ms", "path")
        case .json: return "["
        case .jsonl: return nil
        }
    }

    public var footer: String? { format == .json ? "]" : nil }

    /// One record; `isFirst` matters for the JSON array's commas.
    public func line(_ record: InspectionRecord, isFirst: Bool) -> String {
        let scores = (scoreLabels ?? []).map { label in record.scores?[label].map { String(format: "%.6f", $0) } ?? "" }
        switch format {
        case .jsonl:
            return Self.json(record)
        case .json:
            return (isFirst ? "  " : ", ") + Self.json(record)
        case .csv:
            let fields =
                [
                    record.path, record.label ?? "", record.score.map { String(format: "%.6f", $0) } ?? "",
                    record.decision.rawValue, String(format: "%.3f", record.ms), record.error ?? "",
                ] + scores
                + [record.defectProbability.map { String(format: "%.6f", $0) } ?? ""]
            let hotspot = record.hotspot.map { [String($0.x), String($0.y), String($0.width), String($0.height), String(format: "%.4f", $0.evidence)] }
            let explanation = explained ? (hotspot ?? Array(repeating: "", count: 5)) + [record.heatmap ?? "", record.heatmapError ?? ""] : []
            let anomalyScore = anomaly ? [record.anomalyScore.map { String(format: "%.6f", $0) } ?? ""] : []
            return (fields + explanation + anomalyScore).map(Self.csvField).joined(separator: ",")
        case .table:
            let label = record.label ?? "-"
            let score = record.score.map { String(format: "%.3f", $0) } ?? "-"
            var line = tableRow(record.decision.rawValue, label, score, String(format: "%.1f", record.ms), record.path)
            if let error = record.error { line += "  (\(error))" }
            if let hotspot = record.hotspot {
                line += String(
                    format: "  hotspot %d,%d %dx%d (%.0f%% of the evidence)", hotspot.x, hotspot.y, hotspot.width, hotspot.height,
                    hotspot.evidence * 100)
            }
            if let problem = record.heatmapError { line += "  (no heatmap: \(problem))" }
            if !scores.isEmpty { line += "  [" + zip(scoreLabels!, scores).map { "\($0)=\($1)" }.joined(separator: " ") + "]" }
            return line
        }
    }

    /// Fixed-width columns, padded in Swift: Foundation's `%-10@` does not pad on every platform.
    private func tableRow(_ decision: String, _ label: String, _ score: String, _ ms: String, _ path: String) -> String {
        func padded(_ text: String, _ width: Int, right: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return right ? padding + text : text + padding
        }
        return [padded(decision, 10), padded(label, labelWidth), padded(score, 7, right: true), padded(ms, 8, right: true)]
            .joined(separator: " ") + "  " + path
    }

    /// RFC 4180: quote fields holding commas, quotes or line breaks; double the quotes.
    public static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
