import Foundation

/// How an anomaly model does on labelled photos (`auge eval` of an anomaly model): image AUROC, the
/// line's rates at the model's threshold and review band, and with ground-truth masks pixel AUROC and PRO.
/// Encoded with snake-case keys (`image_auroc`, `missed_defect_rate`, ...): a public interface.
public struct AnomalyEvaluation: Codable, Sendable, Equatable {
    public var goodPhotos: Int
    public var defectPhotos: Int
    public var threshold: Double
    public var reviewLower: Double?
    public var reviewUpper: Double?
    /// nil without both good and defect photos.
    public var imageAUROC: Double?
    /// Defect photos decided `ok` (review does not count as missed).
    public var missedDefectRate: Double?
    /// Good photos decided `defect`.
    public var falseRejectRate: Double?
    /// Photos sent to review.
    public var reviewRate: Double
    /// With masks: every pixel of every photo at the model's input resolution.
    public var pixelAUROC: Double?
    /// With masks: per-region overlap integrated up to 30 % false-positive pixels, over 0.3.
    public var pro: Double?
    public var maskedPhotos: Int

    /// `scores` are the normalised anomaly scores, `isDefect` the truth; `review` the band [lower, upper);
    /// `pixels`, when masks were given, holds every masked photo's map and mask.
    public init(
        scores: [Float], isDefect: [Bool], threshold: Float, review: (lower: Float, upper: Float)?,
        pixels: AnomalyMetrics.PixelAccumulator? = nil, maskedPhotos: Int = 0
    ) {
        precondition(scores.count == isDefect.count, "one truth per score")
        let good = zip(scores, isDefect).filter { !$0.1 }.map(\.0), bad = zip(scores, isDefect).filter { $0.1 }.map(\.0)
        func inReview(_ s: Float) -> Bool { review.map { s >= $0.lower && s < $0.upper } ?? false }
        func share(_ values: [Float], _ predicate: (Float) -> Bool) -> Double? {
            values.isEmpty ? nil : Double(values.filter(predicate).count) / Double(values.count)
        }
        goodPhotos = good.count
        defectPhotos = bad.count
        self.threshold = Double(threshold)
        reviewLower = review.map { Double($0.lower) }
        reviewUpper = review.map { Double($0.upper) }
        imageAUROC = AnomalyMetrics.imageAUROC(scores: scores, isDefect: isDefect)
        missedDefectRate = share(bad) { !inReview($0) && $0 < threshold }
        falseRejectRate = share(good) { !inReview($0) && $0 >= threshold }
        reviewRate = share(scores, inReview) ?? 0
        pixelAUROC = pixels?.pixelAUROC
        pro = pixels?.pro()
        self.maskedPhotos = maskedPhotos
    }
}
