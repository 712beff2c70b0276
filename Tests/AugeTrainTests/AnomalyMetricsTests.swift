@testable import AugeTrain
import XCTest

final class AnomalyMetricsTests: XCTestCase {
    /// A rectangle of true pixels in a width x height mask.
    func mask(width: Int, height: Int, rectangles: [(x: Int, y: Int, w: Int, h: Int)]) -> [Bool] {
        var mask = [Bool](repeating: false, count: width * height)
        for r in rectangles {
            for y in r.y..<(r.y + r.h) { for x in r.x..<(r.x + r.w) { mask[y * width + x] = true } }
        }
        return mask
    }

    /// Deterministic pseudo-random photos: scores on a grid of 1/64 (exact bin edges, so the
    /// histogram loses nothing and ties occur), defect pixels shifted up so the curves are not trivial.
    func randomPhotos() -> [(map: [Float], mask: [Bool], width: Int, height: Int)] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let width = 16, height = 12
        let masks = [
            mask(width: width, height: height, rectangles: [(1, 1, 3, 2), (10, 6, 5, 5)]),
            mask(width: width, height: height, rectangles: [(0, 0, 1, 1), (6, 3, 4, 1), (6, 4, 1, 3)]),
            [Bool](repeating: false, count: width * height),  // a good photo
        ]
        return masks.map { mask in
            let map = mask.map { defect -> Float in
                let k = min(64, next() % 50 + (defect ? 18 : 0))
                return Float(k) / 64
            }
            return (map, mask, width, height)
        }
    }

    // MARK: image AUROC

    func testImageAUROCCountsTiesHalf() {
        // Defects 0.4 and 0.8 against good 0.1, 0.35, 0.4: 0.4 beats two and ties one (2.5),
        // 0.8 beats three (3): 5.5 of 6 pairs.
        let auroc = AnomalyMetrics.imageAUROC(scores: [0.1, 0.4, 0.35, 0.8, 0.4], isDefect: [false, true, false, true, false])
        XCTAssertEqual(auroc!, 5.5 / 6, accuracy: 1e-12)
        XCTAssertNil(AnomalyMetrics.imageAUROC(scores: [0.1, 0.2], isDefect: [true, true]))
        XCTAssertNil(AnomalyMetrics.imageAUROC(scores: [], isDefect: []))
    }

    // MARK: connected regions

    func testDiagonalTouchIsOneRegion() {
        let mask = [
            true, false, false,
            false, true, false,
            false, false, true,
        ]
        XCTAssertEqual(AnomalyMetrics.connectedRegions(mask: mask, width: 3, height: 3), [1, 0, 0, 0, 1, 0, 0, 0, 1])
    }

    func testSeparateBlobsAndNoWrapAcrossRows() {
        let mask = [
            true, true, false, false,
            true, false, false, true,
            false, false, false, true,
        ]
        XCTAssertEqual(AnomalyMetrics.connectedRegions(mask: mask, width: 4, height: 3), [1, 1, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2])
        // The last pixel of row 0 and the first of row 1 are next to each other in memory, not in the photo.
        XCTAssertEqual(
            AnomalyMetrics.connectedRegions(mask: [false, false, true, true, false, false], width: 3, height: 2),
            [0, 0, 1, 2, 0, 0])
    }

    // MARK: pixel AUROC

    func testPixelAUROCPerfectAndInverted() {
        let defect = mask(width: 8, height: 6, rectangles: [(2, 1, 3, 3)])
        var perfect = AnomalyMetrics.PixelAccumulator(range: 0...1)
        perfect.add(map: defect.map { $0 ? 0.9 : 0.1 }, mask: defect, width: 8, height: 6)
        XCTAssertEqual(perfect.pixelAUROC, 1)
        var inverted = AnomalyMetrics.PixelAccumulator(range: 0...1)
        inverted.add(map: defect.map { $0 ? 0.1 : 0.9 }, mask: defect, width: 8, height: 6)
        XCTAssertEqual(inverted.pixelAUROC, 0)
        // Scores outside the range are clamped, so they still order correctly at the ends.
        var clamped = AnomalyMetrics.PixelAccumulator(range: 0...1)
        clamped.add(map: defect.map { $0 ? 7 : -3 }, mask: defect, width: 8, height: 6)
        XCTAssertEqual(clamped.pixelAUROC, 1)
        XCTAssertNil(AnomalyMetrics.PixelAccumulator(range: 0...1).pixelAUROC)
    }

    func testPixelAUROCMatchesPairwiseCount() {
        var accumulator = AnomalyMetrics.PixelAccumulator(range: 0...1)
        var good: [Float] = [], defects: [Float] = []
        for photo in randomPhotos() {
            accumulator.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height)
            for (score, defect) in zip(photo.map, photo.mask) {
                if defect { defects.append(score) } else { good.append(score) }
            }
        }
        var wins = 0.0
        for d in defects {
            for g in good { wins += d > g ? 1 : (d == g ? 0.5 : 0) }
        }
        let naive = wins / Double(defects.count * good.count)
        XCTAssertEqual(accumulator.pixelAUROC!, naive, accuracy: 1e-12)
        XCTAssertGreaterThan(naive, 0.6)
        XCTAssertLessThan(naive, 0.95)
    }

    /// Accumulators merged are the accumulator of all their photos: the same counts, AUROC and PRO.
    func testMergedAccumulatorsEqualOneAccumulator() {
        let photos = randomPhotos()
        var whole = AnomalyMetrics.PixelAccumulator(range: 0...1), first = whole, rest = whole
        for (index, photo) in photos.enumerated() {
            whole.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height)
            if index == 0 {
                first.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height)
            } else {
                rest.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height)
            }
        }
        first.add(rest)
        XCTAssertEqual(first.regionCount, whole.regionCount)
        XCTAssertEqual(first.goodPixelCount, whole.goodPixelCount)
        XCTAssertEqual(first.defectPixelCount, whole.defectPixelCount)
        XCTAssertEqual(first.pixelAUROC!, whole.pixelAUROC!, accuracy: 1e-12)
        XCTAssertEqual(first.pro()!, whole.pro()!, accuracy: 1e-12)
        XCTAssertNotEqual(rest.pro()!, whole.pro()!, accuracy: 1e-6)
    }

    // MARK: PRO

    func testPROIsOneForAPerfectMap() {
        let defect = mask(width: 10, height: 8, rectangles: [(0, 0, 2, 2), (5, 4, 4, 3)])
        var accumulator = AnomalyMetrics.PixelAccumulator(range: 0...1)
        accumulator.add(map: defect.map { $0 ? 0.8 : 0.2 }, mask: defect, width: 10, height: 8)
        accumulator.add(map: [Float](repeating: 0.3, count: 80), mask: [Bool](repeating: false, count: 80), width: 10, height: 8)
        XCTAssertEqual(accumulator.regionCount, 2)
        XCTAssertEqual(accumulator.pro()!, 1, accuracy: 1e-12)
        XCTAssertEqual(accumulator.pro(maxFalsePositiveRate: 1)!, 1, accuracy: 1e-12)
    }

    func testPROIsHalfWhenOneOfTwoRegionsIsFound() {
        // A small region found before any false positive, a large one scoring below every good pixel:
        // the curve runs (0, 0) -> (0, 0.5) -> (1, 0.5) -> (1, 1).
        let defect = mask(width: 10, height: 10, rectangles: [(0, 0, 2, 2), (6, 6, 3, 3)])
        let map = (0..<100).map { i -> Float in
            let x = i % 10
            guard defect[i] else { return 0.5 }
            return x < 5 ? 0.9 : 0.05
        }
        var accumulator = AnomalyMetrics.PixelAccumulator(range: 0...1)
        accumulator.add(map: map, mask: defect, width: 10, height: 10)
        XCTAssertEqual(accumulator.pro()!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(accumulator.pro(maxFalsePositiveRate: 1)!, 0.5, accuracy: 1e-12)
        XCTAssertNil(AnomalyMetrics.PixelAccumulator(range: 0...1).pro())
    }

    func testPROMatchesThresholdByThresholdComputation() {
        let photos = randomPhotos()
        var accumulator = AnomalyMetrics.PixelAccumulator(range: 0...1)
        // Every pixel with its region (-1 for a good pixel), regions numbered across photos.
        var pixels: [(score: Float, region: Int)] = []
        var regionSizes: [Int] = []
        for photo in photos {
            accumulator.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height)
            let labels = AnomalyMetrics.connectedRegions(mask: photo.mask, width: photo.width, height: photo.height)
            let first = regionSizes.count
            regionSizes += [Int](repeating: 0, count: Int(labels.max()!))
            for (score, label) in zip(photo.map, labels) {
                let region = label == 0 ? -1 : first + Int(label) - 1
                if region >= 0 { regionSizes[region] += 1 }
                pixels.append((score, region))
            }
        }
        XCTAssertEqual(accumulator.regionCount, 4)  // the two bars in photo 2 touch
        let goodCount = Double(pixels.filter { $0.region < 0 }.count)
        var curve: [(fpr: Double, pro: Double)] = [(0, 0)]
        for t in Set(pixels.map(\.score)).sorted(by: >) {
            let above = pixels.filter { $0.score >= t }
            var hits = [Int](repeating: 0, count: regionSizes.count)
            for p in above where p.region >= 0 { hits[p.region] += 1 }
            let pro = zip(hits, regionSizes).map { Double($0) / Double($1) }.reduce(0, +) / Double(regionSizes.count)
            curve.append((Double(above.filter { $0.region < 0 }.count) / goodCount, pro))
        }
        for limit in [0.3, 0.05, 1.0] {
            var area = 0.0
            // Vertical steps (equal FPR) add no area.
            for (a, b) in zip(curve, curve.dropFirst()) where a.fpr < limit && b.fpr > a.fpr {
                let end = min(b.fpr, limit)
                let proAtEnd = a.pro + (b.pro - a.pro) * (end - a.fpr) / (b.fpr - a.fpr)
                area += (a.pro + proAtEnd) / 2 * (end - a.fpr)
            }
            XCTAssertEqual(accumulator.pro(maxFalsePositiveRate: limit)!, area / limit, accuracy: 1e-9, "limit \(limit)")
        }
    }

    /// Each defect class is measured against every good photo: its missed and review shares at the
    /// threshold and band, its image AUROC, and the pixel measures of its own accumulator.
    func testEvaluationByDefectClass() {
        var pixelsOfA = AnomalyMetrics.PixelAccumulator(range: 0...1, bins: 64)
        for photo in randomPhotos() { pixelsOfA.add(map: photo.map, mask: photo.mask, width: photo.width, height: photo.height) }
        // Good 0.2, 0.5, 0.9; class A 1.2 (caught) and 0.3 (missed); class B 0.97 (review) and 2.0 (caught).
        let scores: [Float] = [0.2, 1.2, 0.5, 0.97, 0.3, 0.9, 2.0]
        let classes = ["good", "A", "good", "B", "A", "good", "B"]
        let evaluation = AnomalyEvaluation(
            scores: scores, isDefect: classes.map { $0 != "good" }, threshold: 1, review: (0.95, 1.05), classes: classes,
            pixelsByClass: ["A": pixelsOfA])
        XCTAssertEqual(evaluation.missedDefectRate, 0.25)
        XCTAssertEqual(Set(evaluation.byClass.keys), ["A", "B"])
        let a = evaluation.byClass["A"]!, b = evaluation.byClass["B"]!
        XCTAssertEqual(a.photos, 2)
        XCTAssertEqual(a.missedDefectRate, 0.5)
        XCTAssertEqual(a.reviewRate, 0)
        XCTAssertEqual(a.imageAUROC!, 4.0 / 6, accuracy: 1e-12)  // 1.2 beats all three good photos, 0.3 one
        XCTAssertEqual(a.pixelAUROC, pixelsOfA.pixelAUROC)
        XCTAssertEqual(a.pro, pixelsOfA.pro())
        XCTAssertEqual(b.missedDefectRate, 0)
        XCTAssertEqual(b.reviewRate, 0.5)
        XCTAssertEqual(b.imageAUROC, 1)
        XCTAssertNil(b.pixelAUROC)
        XCTAssertTrue(AnomalyEvaluation(scores: scores, isDefect: classes.map { $0 != "good" }, threshold: 1, review: nil).byClass.isEmpty)
    }
}
