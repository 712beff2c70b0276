import Foundation

/// The result for one photo: what `auge classify` prints and `auge watch` logs.
/// JSON keys (a public interface: scripts and PLC bridges read them): `path`, `label`, `score`,
/// `decision`, `ms`, and optionally `defect_probability`, `scores` (label -> probability),
/// `error` (why the photo could not be processed; its decision is `error`), and for explained photos
/// `hotspot` (where the evidence is, see `Hotspot`), `heatmap` (the overlay written) and
/// `heatmap_error` (why no overlay could be written; the decision stands).
public struct InspectionRecord: Sendable, Equatable, Codable {
    public var path: String
    public var label: String?
    public var score: Float?
    public var decision: Decision
    /// Processing time of this photo in milliseconds (read, decode, preprocess, infer).
    public var ms: Double
    public var defectProbability: Float?
    /// An anomaly model's score, normalised so that its threshold is 1 (also in `score`).
    public var anomalyScore: Float?
    /// An anomaly model's map (row-major, the model's grid), kept with `includeScores` for evaluation; never written out.
    public var anomalyMap: [Float]?
    public var scores: [String: Float]?
    public var error: String?
    public var hotspot: Hotspot?
    public var heatmap: String?
    public var heatmapError: String?

    public init(
        path: String, label: String?, score: Float?, decision: Decision, ms: Double,
        defectProbability: Float? = nil, scores: [String: Float]? = nil, error: String? = nil
    ) {
        self.path = path
        self.label = label
        self.score = score
        self.decision = decision
        self.ms = ms
        self.defectProbability = defectProbability
        self.scores = scores
        self.error = error
    }

    public static func failure(path: String, error: String, ms: Double) -> InspectionRecord {
        InspectionRecord(path: path, label: nil, score: nil, decision: .error, ms: ms, error: error)
    }

    enum CodingKeys: String, CodingKey {
        case path, label, score, decision, ms, scores, error, hotspot, heatmap
        case defectProbability = "defect_probability"
        case anomalyScore = "anomaly_score"
        case heatmapError = "heatmap_error"
    }
}
