import Foundation

/// Precision, recall, F1 and support of one class.
public struct ClassMetrics: Codable, Sendable, Equatable {
    public var label: String
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: Int
}

/// Quality of a classifier on labelled photos. With OK labels it also reports the OK-vs-defect
/// decision at the model's threshold and review band (d = 1 - sum of OK probabilities; defect when
/// d >= threshold + band, OK when d < threshold - band, review in between).
public struct EvaluationMetrics: Codable, Sendable, Equatable {
    public var labels: [String]
    public var okLabels: [String]
    public var accuracy: Double
    /// Mean of the per-class recalls.
    public var balancedAccuracy: Double
    public var perClass: [ClassMetrics]
    /// confusion[truth][prediction]
    public var confusion: [[Int]]
    public var threshold: Double
    public var reviewBand: Double
    /// Defect photos decided OK, over all defect photos (nil without OK labels or defect photos).
    public var missedDefectRate: Double?
    /// OK photos decided defect, over all OK photos.
    public var falseRejectRate: Double?
    /// Photos sent to review, over all photos.
    public var reviewRate: Double?
    /// Area under the ROC curve of d for "is a defect".
    public var rocAUC: Double?
    /// Mean cross-entropy of the true class.
    public var loss: Double

    /// - Parameters:
    ///   - truths: the true label index of each photo.
    ///   - probabilities: one row of class probabilities per photo.
    public init(labels: [String], okLabels: [String], truths: [Int], probabilities: [[Float]], threshold: Double = 0.5, reviewBand: Double = 0) {
        precondition(truths.count == probabilities.count, "one probability row per photo")
        self.labels = labels
        self.okLabels = okLabels
        self.threshold = threshold
        self.reviewBand = reviewBand
        let k = labels.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var loss = 0.0
        for (truth, row) in zip(truths, probabilities) {
            confusion[truth][EvaluationMetrics.argmax(row)] += 1
            loss -= log(max(Double(row[truth]), 1e-12))
        }
        self.confusion = confusion
        self.loss = truths.isEmpty ? 0 : loss / Double(truths.count)
        let total = truths.count
        accuracy = total == 0 ? 0 : Double((0..<k).map { confusion[$0][$0] }.reduce(0, +)) / Double(total)
        perClass = (0..<k).map { c in
            let support = confusion[c].reduce(0, +)
            let predicted = (0..<k).map { confusion[$0][c] }.reduce(0, +)
            let correct = Double(confusion[c][c])
            let precision = predicted == 0 ? 0 : correct / Double(predicted)
            let recall = support == 0 ? 0 : correct / Double(support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            return ClassMetrics(label: labels[c], precision: precision, recall: recall, f1: f1, support: support)
        }
        let present = perClass.filter { $0.support > 0 }
        balancedAccuracy = present.isEmpty ? 0 : present.map(\.recall).reduce(0, +) / Double(present.count)

        let okIndices = Set(okLabels.compactMap { labels.firstIndex(of: $0) })
        guard !okIndices.isEmpty else { return }
        let scores = probabilities.map { EvaluationMetrics.defectProbability($0, okIndices: okIndices) }
        let isDefect = truths.map { !okIndices.contains($0) }
        let defects = isDefect.filter { $0 }.count, oks = total - defects
        var missed = 0, falseRejects = 0, reviews = 0
        for (d, defect) in zip(scores, isDefect) {
            let d = Double(d)
            if d >= threshold + reviewBand {
                if !defect { falseRejects += 1 }
            } else if d < threshold - reviewBand {
                if defect { missed += 1 }
            } else {
                reviews += 1
            }
        }
        missedDefectRate = defects == 0 ? nil : Double(missed) / Double(defects)
        falseRejectRate = oks == 0 ? nil : Double(falseRejects) / Double(oks)
        reviewRate = total == 0 ? nil : Double(reviews) / Double(total)
        rocAUC = EvaluationMetrics.areaUnderROC(scores: scores, positives: isDefect)
    }

    static func argmax(_ row: [Float]) -> Int {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        return best
    }

    /// d = 1 - sum of the OK classes' probabilities, clamped to 0...1 as the inspection module does.
    static func defectProbability(_ row: [Float], okIndices: Set<Int>) -> Float {
        min(1, max(0, 1 - okIndices.reduce(Float(0)) { $0 + row[$1] }))
    }

    /// The Mann-Whitney statistic: the chance a random positive scores above a random negative
    /// (ties count half). Nil when either group is empty.
    static func areaUnderROC(scores: [Float], positives: [Bool]) -> Double? {
        let positiveCount = positives.filter { $0 }.count, negativeCount = positives.count - positiveCount
        guard positiveCount > 0, negativeCount > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let averageRank = Double(start + end) / 2 + 1
            for i in start...end where positives[order[i]] { rankSum += averageRank }
            start = end + 1
        }
        let p = Double(positiveCount)
        return (rankSum - p * (p + 1) / 2) / (p * Double(negativeCount))
    }
}

/// The operating point chosen on validation photos.
public struct Calibration: Codable, Sendable, Equatable {
    public var threshold: Double
    public var reviewBand: Double
    public var maxMissRate: Double
    public var maxReviewRate: Double
    /// The false-reject cap that sets the threshold when too few defect photos pin the miss rate.
    public var maxFalseRejectRate = 0.01
    /// What set the threshold.
    public var basis = Basis.missRate
    /// Held-out defect photos the threshold was calibrated on.
    public var defectPhotos = 0
    /// With the false-reject cap: whether a threshold up to 0.5 keeps false rejects within it.
    public var capMet = true

    public enum Basis: String, Codable, Sendable {
        /// The miss-rate target, measured on enough held-out defect photos (or no OK labels at all).
        case missRate = "miss-rate"
        /// Too few held-out defect photos to measure the miss-rate target: the threshold is the lowest
        /// that keeps false rejects of held-out good photos within the cap.
        case falseRejectCap = "false-reject-cap"
    }

    public init(threshold: Double, reviewBand: Double, maxMissRate: Double, maxReviewRate: Double) {
        (self.threshold, self.reviewBand, self.maxMissRate, self.maxReviewRate) = (threshold, reviewBand, maxMissRate, maxReviewRate)
    }

    /// Held-out defect photos a miss-rate target needs to be measured at all: one allowed miss.
    public static func defectPhotosNeeded(maxMissRate: Double) -> Int {
        maxMissRate > 0 ? Int((1 / maxMissRate).rounded(.up)) : 0
    }

    /// The threshold is never above 0.5 (so a part is never passed more readily than by the most
    /// probable class). With enough held-out defect photos for `maxMissRate` (at least one allowed
    /// miss; or a target of 0) it is the highest value at which at most `maxMissRate` of them score
    /// below it. With fewer, that empirical tail is one photo's score and would reject good parts by
    /// chance, so the threshold is instead the lowest that rejects at most `maxFalseRejectRate` of the
    /// good photos, or, when every defect photo scores above that, the lowest defect score. The review
    /// band is the widest (at most 0.2, and inside 0...1) that sends at most `maxReviewRate` of the
    /// photos to review.
    public static func calibrate(
        defectScores: [Float], isDefect: [Bool], maxMissRate: Double, maxReviewRate: Double, maxFalseRejectRate: Double = 0.01
    ) -> Calibration {
        let defectScoresAscending = zip(defectScores, isDefect).filter(\.1).map { Double($0.0) }.sorted()
        var threshold = 0.5
        let allowedMisses = Int((maxMissRate * Double(defectScoresAscending.count)).rounded(.down))
        if allowedMisses < defectScoresAscending.count {
            threshold = min(threshold, defectScoresAscending[allowedMisses])
        }
        let pinned = defectScoresAscending.count >= defectPhotosNeeded(maxMissRate: maxMissRate)
        let goodScoresDescending = zip(defectScores, isDefect).filter { !$0.1 }.map(\.0).sorted(by: >)
        let allowedRejects = Int((maxFalseRejectRate * Double(goodScoresDescending.count)).rounded(.down))
        var capMet = true
        if !pinned, allowedRejects < goodScoresDescending.count {
            // Just above the first good score that must pass (the model file stores the threshold as a Float).
            let lowestWithinCap = Double(goodScoresDescending[allowedRejects].nextUp)
            capMet = lowestWithinCap <= 0.5
            threshold = min(0.5, max(threshold, lowestWithinCap))
        }
        let distances = defectScores.map { abs(Double($0) - threshold) }.sorted()
        let reviewable = Int((maxReviewRate * Double(distances.count)).rounded(.down))
        var band = reviewable < distances.count ? distances[reviewable] : 0.2
        band = min(band, 0.2, threshold, 1 - threshold)
        var calibration = Calibration(threshold: threshold, reviewBand: band, maxMissRate: maxMissRate, maxReviewRate: maxReviewRate)
        calibration.maxFalseRejectRate = maxFalseRejectRate
        calibration.basis = pinned ? .missRate : .falseRejectCap
        calibration.defectPhotos = defectScoresAscending.count
        calibration.capMet = capMet
        return calibration
    }

    /// What set the threshold, in plain words.
    public var explanation: String {
        func percent(_ rate: Double) -> String { String(format: "%g %%", 100 * rate) }
        switch basis {
        case .missRate:
            return "threshold set for at most \(percent(maxMissRate)) missed defects on \(defectPhotos) held-out defect photos"
        case .falseRejectCap:
            return "only \(defectPhotos) held-out defect photos, too few to measure a \(percent(maxMissRate)) missed-defect target "
                + "(it needs \(Calibration.defectPhotosNeeded(maxMissRate: maxMissRate))); threshold set instead to reject at most "
                + "\(percent(maxFalseRejectRate)) of the held-out good photos, catching as many defects as that allows"
                + (capMet ? "" : "; more good photos than that score above 0.5, so the threshold is 0.5, its highest")
        }
    }
}
