import Foundation

/// Evaluation of anomaly-detection models: image-level AUROC from one score per photo, and
/// pixel-level AUROC and PRO (Bergmann et al., MVTec AD) from anomaly maps against defect masks.
public enum AnomalyMetrics {
    /// Area under the ROC curve of the photo scores for "is a defect": the Mann-Whitney statistic,
    /// ties counted half. Nil when there is no defect photo or no good photo.
    public static func imageAUROC(scores: [Float], isDefect: [Bool]) -> Double? {
        precondition(scores.count == isDefect.count, "one label per score")
        // The classifier's AUROC already averages the ranks of tied scores, which counts ties half.
        return EvaluationMetrics.areaUnderROC(scores: scores, positives: isDefect)
    }

    /// Labels the 8-connected components of `mask` (row-major, `width` x `height`): 0 for background,
    /// 1...n for the regions, numbered in the order their first pixel appears.
    public static func connectedRegions(mask: [Bool], width: Int, height: Int) -> [Int32] {
        precondition(width >= 0 && height >= 0 && mask.count == width * height, "mask must be width x height")
        var labels = [Int32](repeating: 0, count: mask.count)
        var next: Int32 = 0
        // An explicit stack instead of recursion: one region can span a whole photo.
        var stack: [Int] = []
        for start in mask.indices where mask[start] && labels[start] == 0 {
            next += 1
            labels[start] = next
            stack.append(start)
            while let pixel = stack.popLast() {
                let x = pixel % width, y = pixel / width
                for ny in max(0, y - 1)...min(height - 1, y + 1) {
                    for nx in max(0, x - 1)...min(width - 1, x + 1) {
                        let neighbour = ny * width + nx
                        if mask[neighbour] && labels[neighbour] == 0 {
                            labels[neighbour] = next
                            stack.append(neighbour)
                        }
                    }
                }
            }
        }
        return labels
    }

    /// Collects anomaly maps and their defect masks one photo at a time, in memory that does not grow
    /// with the number of photos, and gives pixel AUROC and PRO.
    ///
    /// Scores are quantised into `bins` equal bins over the range given at init (values outside are
    /// clamped to the end bins, NaN goes to the lowest bin), so both metrics are exact for the
    /// quantised scores: pixels in one bin tie. Three histograms are kept:
    /// - good pixels (mask false, in every photo, good photos included),
    /// - defect pixels,
    /// - defect pixels weighted by 1 / (size of their region). PRO only needs the mean over regions of
    ///   each region's share above a threshold, and that mean is (sum of the weights above the
    ///   threshold) / (number of regions), so one weighted histogram stands for all the regions'
    ///   histograms. This is also how the MVTec AD reference code computes it.
    public struct PixelAccumulator: Sendable, Equatable {
        public let range: ClosedRange<Float>
        public let bins: Int
        /// Good pixels per bin.
        private var goodCounts: [Int]
        /// Defect pixels per bin.
        private var defectCounts: [Int]
        /// Sum per bin of 1 / (size of the pixel's region), over defect pixels.
        private var regionShares: [Double]
        public private(set) var goodPixelCount = 0
        public private(set) var defectPixelCount = 0
        /// Connected defect regions seen so far (8-connectivity, counted within each photo).
        public private(set) var regionCount = 0

        /// - Parameters:
        ///   - range: the scores' expected range; it must not be empty (lower < upper).
        ///   - bins: the resolution; 65,536 bins take 1.5 MB in all.
        public init(range: ClosedRange<Float>, bins: Int = 65_536) {
            precondition(
                range.lowerBound < range.upperBound && range.lowerBound.isFinite && range.upperBound.isFinite,
                "the score range must be finite and not empty")
            precondition(bins > 0, "at least one bin")
            self.range = range
            self.bins = bins
            goodCounts = [Int](repeating: 0, count: bins)
            defectCounts = [Int](repeating: 0, count: bins)
            regionShares = [Double](repeating: 0, count: bins)
        }

        /// The bin of a score: bin b holds scores in [lower + b * step, lower + (b + 1) * step).
        func bin(_ score: Float) -> Int {
            let lower = Double(range.lowerBound), width = Double(range.upperBound) - lower
            let position = (Double(score) - lower) / width * Double(bins)
            // `!(>= 0)` also catches NaN, which `Int(_:)` would trap on.
            if !(position >= 0) { return 0 }
            if position >= Double(bins) { return bins - 1 }
            return Int(position)
        }

        /// Adds one photo.
        /// - Parameters:
        ///   - map: the anomaly map at the mask's resolution, row-major; higher = more anomalous.
        ///   - mask: true for a defect pixel. An all-false mask is a good photo.
        public mutating func add(map: [Float], mask: [Bool], width: Int, height: Int) {
            precondition(map.count == width * height && mask.count == width * height, "map and mask must be width x height")
            let labels = AnomalyMetrics.connectedRegions(mask: mask, width: width, height: height)
            // Pixels per label; index 0 is the background.
            var sizes = [Int](repeating: 0, count: Int(labels.max() ?? 0) + 1)
            for label in labels { sizes[Int(label)] += 1 }
            for i in map.indices {
                let b = bin(map[i])
                let label = Int(labels[i])
                if label == 0 {
                    goodCounts[b] += 1
                } else {
                    defectCounts[b] += 1
                    regionShares[b] += 1 / Double(sizes[label])
                }
            }
            regionCount += sizes.count - 1
            goodPixelCount += sizes[0]
            defectPixelCount += map.count - sizes[0]
        }

        /// Adds every photo of `other`, an accumulator of the same range and bins.
        public mutating func add(_ other: PixelAccumulator) {
            precondition(other.range == range && other.bins == bins, "accumulators of the same range and bins")
            for b in 0..<bins {
                goodCounts[b] += other.goodCounts[b]
                defectCounts[b] += other.defectCounts[b]
                regionShares[b] += other.regionShares[b]
            }
            goodPixelCount += other.goodPixelCount
            defectPixelCount += other.defectPixelCount
            regionCount += other.regionCount
        }

        /// The chance that a random defect pixel scores above a random good pixel (pixels in one bin
        /// count half). Nil without defect pixels or without good pixels.
        public var pixelAUROC: Double? {
            guard goodPixelCount > 0, defectPixelCount > 0 else { return nil }
            var goodBelow = 0.0, wins = 0.0
            for b in 0..<bins {
                wins += Double(defectCounts[b]) * (goodBelow + 0.5 * Double(goodCounts[b]))
                goodBelow += Double(goodCounts[b])
            }
            return wins / (Double(defectPixelCount) * Double(goodPixelCount))
        }

        /// The normalised area under the PRO curve up to `maxFalsePositiveRate` (MVTec AD's AU-PRO):
        /// for each threshold t, FPR(t) = share of good pixels scoring >= t and PRO(t) = mean over
        /// regions of the share of the region's pixels scoring >= t. PRO is integrated over FPR from 0
        /// to the limit by trapezoids, the curve interpolated at exactly the limit, and divided by the
        /// limit, so a perfect map scores 1. Nil without defect regions or without good pixels.
        public func pro(maxFalsePositiveRate: Double = 0.3) -> Double? {
            precondition(maxFalsePositiveRate > 0 && maxFalsePositiveRate <= 1, "the FPR limit must be in (0, 1]")
            guard regionCount > 0, goodPixelCount > 0 else { return nil }
            let limit = maxFalsePositiveRate
            // Thresholds at the bins' lower edges, from the top: above the top bin the curve is at (0, 0),
            // at the lowest bin at (1, 1).
            var previousFPR = 0.0, previousPRO = 0.0
            var good = 0, shares = 0.0
            var area = 0.0
            for b in stride(from: bins - 1, through: 0, by: -1) {
                good += goodCounts[b]
                shares += regionShares[b]
                // min(1, _): the summed weights can overshoot 1 by rounding.
                let fpr = Double(good) / Double(goodPixelCount)
                let pro = min(1, shares / Double(regionCount))
                if fpr >= limit {
                    // fpr > previousFPR here, since previousFPR < limit.
                    let proAtLimit = previousPRO + (pro - previousPRO) * (limit - previousFPR) / (fpr - previousFPR)
                    area += (previousPRO + proAtLimit) / 2 * (limit - previousFPR)
                    break
                }
                area += (previousPRO + pro) / 2 * (fpr - previousFPR)
                previousFPR = fpr
                previousPRO = pro
            }
            return area / limit
        }
    }
}
