import Foundation

/// One results.jsonl record as the station shows it. The raw line is kept so that a part's page shows
/// the record exactly as logged; the fields below are what the screens sort, count and filter by.
public struct Part: Sendable {
    /// The record's `id`; records without one (a classify run's file) get `line-<n>`.
    public let id: String
    /// Seconds since 1970 (`time`), nil when the record has none.
    public let time: Double?
    public let decision: String
    public let label: String?
    public let score: Float?
    public let anomalyScore: Float?
    public let ms: Double?
    public let error: String?
    public let path: String
    public let movedTo: String?
    public let heatmap: String?
    public let model: String?
    public let modelSHA256: String?
    public let threshold: Float?
    public let line: String

    private struct Fields: Decodable {
        let id: String?
        let time: String?
        let decision: String
        let label: String?
        let score: Float?
        let anomalyScore: Float?
        let ms: Double?
        let error: String?
        let path: String
        let movedTo: String?
        let heatmap: String?
        let model: String?
        let modelSha256: String?
        let threshold: Float?
    }

    /// nil for a line that is not a record (a torn last line is never passed here: see `PartLog`).
    init?(line: String, number: Int) {
        guard let fields = try? Self.decoder.decode(Fields.self, from: Data(line.utf8)) else { return nil }
        id = fields.id ?? "line-\(number)"
        time = fields.time.flatMap(StationTime.parse)
        decision = fields.decision
        label = fields.label
        score = fields.score
        anomalyScore = fields.anomalyScore
        ms = fields.ms
        error = fields.error
        path = fields.path
        movedTo = fields.movedTo
        heatmap = fields.heatmap
        model = fields.model
        modelSHA256 = fields.modelSha256
        threshold = fields.threshold
        self.line = line
    }

    /// Where the photo is now: where the watcher moved it, else where it was read.
    public var photo: String { movedTo ?? path }

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()
}

/// The records' times: ISO-8601 UTC with milliseconds (`2026-12-04T19:20:38.123Z`), as the watcher writes them.
/// By hand, with the C time functions: a formatter is costly to make and not safe to share across threads.
enum StationTime {
    static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let millis = min(999, Int(((seconds - Double(whole)) * 1000).rounded()))
        var parts = tm()
        gmtime_r(&whole, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }

    /// `2026-12-04T19:20:38.123Z` (what the watcher writes; fraction optional) in seconds since 1970.
    static func parse(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"), bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var fraction = 0.0
        if bytes[19] == UInt8(ascii: "."), let digits = number(20..<(bytes.count - 1)) {
            fraction = Double(digits) / pow(10, Double(bytes.count - 21))
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Double(timegm(&parts)) + fraction
    }
}
