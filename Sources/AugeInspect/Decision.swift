import AugeONNX

/// What happens to a part.
public enum Decision: String, Sendable, Codable, CaseIterable {
    /// The part passes.
    case ok
    /// The part has a defect.
    case defect
    /// The model is not sure: a person looks.
    case review
    /// The photo could not be processed.
    case error
}

/// Turns class probabilities into a decision.
///
/// With OK labels: the defect probability is d = 1 - sum of the OK labels' probabilities. Without a
/// review band the part is a `defect` when d >= threshold and `ok` otherwise. With a review band
/// [lower, upper) around the threshold, d < lower is `ok`, d >= upper is `defect`, and anything in
/// between goes to `review`: a person looks.
/// Without OK labels (a defect-type classifier) the label is the answer: `defect`, or `review` when
/// the top probability is below `threshold`.
///
/// An anomaly model (trained on good parts only) gives one anomaly score instead: `ok` (with the OK
/// label) below the threshold, `defect` (label `anomaly`) at or above it, `review` inside the band.
///
/// A gated model gives both: the classifier's probabilities (decided as above) and an anomaly score
/// (threshold 1.0, review inside `anomalyBand`). The classifier's defect stands with its label; a part
/// that only the anomaly head rejects is a `defect` labelled `unknown` (a kind of defect the classifier
/// was not taught); a part either head is unsure of goes to review; the rest is `ok`.
public struct DecisionPolicy: Sendable, Equatable, Codable {
    public var labels: [String]
    public var okLabels: [String]
    public var threshold: Float
    public var reviewBand: ModelMetadata.ReviewBand?
    public var kind: ModelMetadata.Kind
    /// A gated model's review band for its anomaly score (the anomaly threshold is 1.0).
    public var anomalyBand: ModelMetadata.ReviewBand?

    /// The label of a part an anomaly model finds anomalous.
    public static let anomalyLabel = "anomaly"
    /// The label of a part a gated model's anomaly head rejects and its classifier does not.
    public static let unknownDefectLabel = "unknown"
    /// A gated model's anomaly threshold: its scores are normalised to it.
    public static let gateThreshold: Float = 1

    public init(
        labels: [String], okLabels: [String], threshold: Float = 0.5, reviewBand: ModelMetadata.ReviewBand? = nil,
        kind: ModelMetadata.Kind = .classifier, anomalyBand: ModelMetadata.ReviewBand? = nil
    ) {
        self.labels = labels
        self.okLabels = okLabels
        self.threshold = threshold
        self.reviewBand = reviewBand
        self.kind = kind
        self.anomalyBand = anomalyBand
    }

    /// The band threshold +- halfWidth, clipped to 0...1 (an anomaly score has no upper limit; nil for a zero width).
    public static func band(around threshold: Float, halfWidth: Float, kind: ModelMetadata.Kind = .classifier) -> ModelMetadata.ReviewBand? {
        let upper = threshold + halfWidth
        return halfWidth > 0 ? ModelMetadata.ReviewBand(lower: max(0, threshold - halfWidth), upper: kind == .anomaly ? upper : min(1, upper)) : nil
    }

    public struct PolicyError: Error, CustomStringConvertible {
        public let description: String
    }

    public func validate() throws {
        guard !labels.isEmpty else { throw PolicyError(description: "the model has no labels") }
        guard Set(labels).count == labels.count else { throw PolicyError(description: "labels repeat: \(labels)") }
        let unknown = okLabels.filter { !labels.contains($0) }
        guard unknown.isEmpty else { throw PolicyError(description: "OK labels \(unknown) are not among the labels \(labels)") }
        if kind == .anomaly {
            guard okLabels.count == 1, labels.count == 2, labels[1] == Self.anomalyLabel, labels[0] == okLabels[0] else {
                throw PolicyError(description: "an anomaly model has the labels [OK label, \(Self.anomalyLabel)], not \(labels) with OK labels \(okLabels)")
            }
            guard threshold > 0, threshold.isFinite else { throw PolicyError(description: "an anomaly threshold must be positive, got \(threshold)") }
        } else {
            guard (0...1).contains(threshold) else { throw PolicyError(description: "the threshold must be in 0...1, got \(threshold)") }
        }
        if kind == .gated {
            guard !okLabels.isEmpty else { throw PolicyError(description: "a gated model needs OK labels: its anomaly head learnt what they look like") }
            guard !labels.contains(Self.unknownDefectLabel) else {
                throw PolicyError(description: "a gated model's labels cannot include \(Self.unknownDefectLabel): it names the defects no label fits")
            }
        }
        let upperLimit: Float = kind == .anomaly ? .greatestFiniteMagnitude : 1
        if let band = reviewBand, !(band.lower <= threshold && threshold <= band.upper && band.lower >= 0 && band.upper <= upperLimit) {
            throw PolicyError(description: "the review band \(band.lower)...\(band.upper) must lie in 0...\(kind == .anomaly ? "" : "1") and contain the threshold \(threshold)")
        }
    }

    /// An anomaly model's label and decision for its anomaly score.
    public func decide(anomalyScore score: Float) -> (label: String, decision: Decision) {
        let label = score >= threshold ? Self.anomalyLabel : labels[0]
        if let band = reviewBand, score >= band.lower && score < band.upper { return (label, .review) }
        return (label, score >= threshold ? .defect : .ok)
    }

    /// A gated model's label and decision: the classifier's (`decide(_:)`), and the anomaly head's for its score.
    public func decide(probabilities: [Float], anomalyScore: Float) -> (label: String, score: Float, defectProbability: Float?, decision: Decision) {
        let classified = decide(probabilities)
        if classified.decision == .defect { return classified }
        switch (gateDecision(anomalyScore: anomalyScore), classified.decision) {
        case (.defect, _): return (Self.unknownDefectLabel, classified.score, classified.defectProbability, .defect)
        case (.review, _), (_, .review): return (classified.label, classified.score, classified.defectProbability, .review)
        default: return classified
        }
    }

    /// What a gated model's anomaly head alone decides for its score.
    public func gateDecision(anomalyScore: Float) -> Decision {
        if let band = anomalyBand, anomalyScore >= band.lower && anomalyScore < band.upper { return .review }
        return anomalyScore >= Self.gateThreshold ? .defect : .ok
    }

    /// 1 - the OK labels' total probability; nil for a model without OK labels.
    public func defectProbability(_ probabilities: [Float]) -> Float? {
        guard !okLabels.isEmpty else { return nil }
        var okProbability: Float = 0
        for (i, label) in labels.enumerated() where okLabels.contains(label) { okProbability += probabilities[i] }
        return min(1, max(0, 1 - okProbability))
    }

    /// What a decision rests on, for explaining it: the defect probability, or for a model without OK
    /// labels the probability of label `label` (the one chosen).
    public func evidence(_ probabilities: [Float], label: Int) -> Float {
        defectProbability(probabilities) ?? probabilities[label]
    }

    /// The most probable label, its probability, the defect probability (nil without OK labels) and the decision.
    public func decide(_ probabilities: [Float]) -> (label: String, score: Float, defectProbability: Float?, decision: Decision) {
        precondition(probabilities.count == labels.count, "one probability per label")
        var best = 0
        for i in probabilities.indices where probabilities[i] > probabilities[best] { best = i }
        let score = probabilities[best]
        guard let defectProbability = defectProbability(probabilities) else {
            return (labels[best], score, nil, score < threshold ? .review : .defect)
        }
        let decision: Decision
        if let band = reviewBand, defectProbability >= band.lower && defectProbability < band.upper {
            decision = .review
        } else {
            decision = defectProbability >= threshold ? .defect : .ok
        }
        return (labels[best], score, defectProbability, decision)
    }
}
