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
    /// Per defect class (the folder's name): how the model does on that kind of defect against all the
    /// good photos. Empty when no class names were given.
    public var byClass: [String: DefectClass]

    /// One kind of defect: its photos, the share of them passed as good or sent to review, and the
    /// measures of separating them (and, with masks, their pixels) from the good photos.
    public struct DefectClass: Codable, Sendable, Equatable {
        public var photos: Int
        public var missedDefectRate: Double
        public var reviewRate: Double
        public var imageAUROC: Double?
        public var pixelAUROC: Double?
        public var pro: Double?
    }

    /// `scores` are the normalised anomaly scores, `isDefect` the truth; `review` the band [lower, upper);
    /// `pixels`, when masks were given, holds every masked photo's map and mask. `classes`, when given,
    /// names each photo's class, and `pixelsByClass` holds, per defect class, its masked photos' maps
    /// and masks with every good photo's.
    public init(
        scores: [Float], isDefect: [Bool], threshold: Float, review: (lower: Float, upper: Float)?,
        pixels: AnomalyMetrics.PixelAccumulator? = nil, maskedPhotos: Int = 0, classes: [String]? = nil,
        pixelsByClass: [String: AnomalyMetrics.PixelAccumulator] = [:]
    ) {
        precondition(scores.count == isDefect.count, "one truth per score")
        precondition(classes.map { $0.count == scores.count } ?? true, "one class per score")
        let good = zip(scores, isDefect).filter { !$0.1 }.map(\.0), bad = zip(scores, isDefect).filter { $0.1 }.map(\.0)
        func inReview(_ s: Float) -> Bool { review.map { s >= $0.lower && s < $0.upper } ?? false }
        func share(_ values: [Float], _ predicate: (Float) -> Bool) -> Double? {
            values.isEmpty ? nil : Double(values.filter(predicate).count) / Double(values.count)
        }
        func missed(_ s: Float) -> Bool { !inReview(s) && s < threshold }
        goodPhotos = good.count
        defectPhotos = bad.count
        self.threshold = Double(threshold)
        reviewLower = review.map { Double($0.lower) }
        reviewUpper = review.map { Double($0.upper) }
        imageAUROC = AnomalyMetrics.imageAUROC(scores: scores, isDefect: isDefect)
        missedDefectRate = share(bad, missed)
        falseRejectRate = share(good) { !inReview($0) && $0 >= threshold }
        reviewRate = share(scores, inReview) ?? 0
        pixelAUROC = pixels?.pixelAUROC
        pro = pixels?.pro()
        self.maskedPhotos = maskedPhotos
        byClass = [:]
        guard let classes else { return }
        for name in Set(zip(classes, isDefect).filter(\.1).map(\.0)) {
            let own = zip(scores, zip(classes, isDefect)).filter { $0.1.1 && $0.1.0 == name }.map(\.0)
            let accumulator = pixelsByClass[name]
            byClass[name] = DefectClass(
                photos: own.count, missedDefectRate: share(own, missed)!, reviewRate: share(own, inReview)!,
                imageAUROC: AnomalyMetrics.imageAUROC(scores: good + own, isDefect: good.map { _ in false } + own.map { _ in true }),
                pixelAUROC: accumulator?.pixelAUROC, pro: accumulator?.pro())
        }
    }
}

/// How a gated model (classifier + anomaly gate) decides on labelled photos, and how each of its heads
/// would decide alone on the same photos: is the gate worth its false rejects? Snake-case keys
/// (`gated`, `classifier_alone`, `anomaly_alone`, each with `missed_defect_rate`, `false_reject_rate`,
/// `review_rate`; `unknown_rate`, `accuracy`, `image_auroc`): a public interface.
public struct GateEvaluation: Codable, Sendable, Equatable {
    /// One way of deciding a photo.
    public enum Outcome: Sendable {
        case pass, reject, review
    }

    /// One photo: the truth, each way's outcome, whether the gated model's label is the photo's class,
    /// whether that label is the unknown-defect one, and the anomaly score.
    public struct Photo: Sendable {
        public var isDefect: Bool
        public var gated: Outcome
        public var classifierAlone: Outcome
        public var anomalyAlone: Outcome
        public var labelRight: Bool
        public var labelledUnknown: Bool
        public var anomalyScore: Float

        public init(
            isDefect: Bool, gated: Outcome, classifierAlone: Outcome, anomalyAlone: Outcome, labelRight: Bool, labelledUnknown: Bool,
            anomalyScore: Float
        ) {
            (self.isDefect, self.gated, self.classifierAlone, self.anomalyAlone) = (isDefect, gated, classifierAlone, anomalyAlone)
            (self.labelRight, self.labelledUnknown, self.anomalyScore) = (labelRight, labelledUnknown, anomalyScore)
        }
    }

    public struct Rates: Codable, Sendable, Equatable {
        /// Defect photos passed (review is not a miss).
        public var missedDefectRate: Double?
        /// Good photos rejected.
        public var falseRejectRate: Double?
        public var reviewRate: Double
    }

    public var goodPhotos: Int
    public var defectPhotos: Int
    public var gated: Rates
    public var classifierAlone: Rates
    public var anomalyAlone: Rates
    /// Defect photos the gated model labelled `unknown`.
    public var unknownRate: Double?
    /// Photos whose gated label is their class (a defect labelled `unknown` is not).
    public var accuracy: Double
    /// The anomaly score alone, good against defect photos.
    public var imageAUROC: Double?

    public init(_ photos: [Photo]) {
        func share(_ subset: [Photo], _ predicate: (Photo) -> Bool) -> Double? {
            subset.isEmpty ? nil : Double(subset.filter(predicate).count) / Double(subset.count)
        }
        let good = photos.filter { !$0.isDefect }, bad = photos.filter(\.isDefect)
        func rates(_ outcome: (Photo) -> Outcome) -> Rates {
            Rates(
                missedDefectRate: share(bad) { outcome($0) == .pass }, falseRejectRate: share(good) { outcome($0) == .reject },
                reviewRate: share(photos) { outcome($0) == .review } ?? 0)
        }
        goodPhotos = good.count
        defectPhotos = bad.count
        gated = rates(\.gated)
        classifierAlone = rates(\.classifierAlone)
        anomalyAlone = rates(\.anomalyAlone)
        unknownRate = share(bad, \.labelledUnknown)
        accuracy = share(photos, \.labelRight) ?? 0
        imageAUROC = AnomalyMetrics.imageAUROC(scores: photos.map(\.anomalyScore), isDefect: photos.map(\.isDefect))
    }
}
