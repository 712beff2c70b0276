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
public struct DecisionPolicy: Sendable, Equatable, Codable {
    public var labels: [String]
    public var okLabels: [String]
    public var threshold: Float
    public var reviewBand: ModelMetadata.ReviewBand?

    public init(labels: [String], okLabels: [String], threshold: Float = 0.5, reviewBand: ModelMetadata.ReviewBand? = nil) {
        self.labels = labels
        self.okLabels = okLabels
        self.threshold = threshold
        self.reviewBand = reviewBand
    }

    /// The band threshold +- halfWidth, clipped to 0...1 (nil for a zero width).
    public static func band(around threshold: Float, halfWidth: Float) -> ModelMetadata.ReviewBand? {
        halfWidth > 0 ? ModelMetadata.ReviewBand(lower: max(0, threshold - halfWidth), upper: min(1, threshold + halfWidth)) : nil
    }

    public struct PolicyError: Error, CustomStringConvertible {
        public let description: String
    }

    public func validate() throws {
        guard !labels.isEmpty else { throw PolicyError(description: "the model has no labels") }
        guard Set(labels).count == labels.count else { throw PolicyError(description: "labels repeat: \(labels)") }
        let unknown = okLabels.filter { !labels.contains($0) }
        guard unknown.isEmpty else { throw PolicyError(description: "OK labels \(unknown) are not among the labels \(labels)") }
        guard (0...1).contains(threshold) else { throw PolicyError(description: "the threshold must be in 0...1, got \(threshold)") }
        if let band = reviewBand, !(band.lower <= threshold && threshold <= band.upper && band.lower >= 0 && band.upper <= 1) {
            throw PolicyError(description: "the review band \(band.lower)...\(band.upper) must lie in 0...1 and contain the threshold \(threshold)")
        }
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
