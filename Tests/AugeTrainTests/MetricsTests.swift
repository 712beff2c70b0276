@testable import AugeTrain
import XCTest

final class MetricsTests: XCTestCase {
    /// Rows of probabilities that predict `predicted` with confidence 0.8.
    func rows(_ predicted: [Int], classes: Int) -> [[Float]] {
        predicted.map { p in (0..<classes).map { $0 == p ? 0.8 : 0.2 / Float(classes - 1) } }
    }

    func testKnownConfusionMatrix() {
        // truth: ok x4, scratch x3, dent x3
        let truths = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
        let predicted = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
        let metrics = EvaluationMetrics(
            labels: ["ok", "scratch", "dent"], okLabels: ["ok"], truths: truths,
            probabilities: rows(predicted, classes: 3))
        XCTAssertEqual(metrics.confusion, [[3, 1, 0], [0, 2, 1], [1, 0, 2]])
        XCTAssertEqual(metrics.accuracy, 0.7, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass.map(\.support), [4, 3, 3])
        XCTAssertEqual(metrics.perClass[0].precision, 0.75, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass[0].recall, 0.75, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass[1].precision, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass[2].f1, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.balancedAccuracy, (0.75 + 2.0 / 3 + 2.0 / 3) / 3, accuracy: 1e-12)
        // Defects predicted as OK: one dent of six defects. OK predicted as a defect: one of four.
        XCTAssertEqual(metrics.missedDefectRate!, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(metrics.falseRejectRate!, 0.25, accuracy: 1e-12)
        XCTAssertEqual(metrics.reviewRate!, 0)
        XCTAssertEqual(metrics.loss, -(0.7 * log(0.8) + 0.3 * log(0.1)), accuracy: 1e-6)
    }

    func testJSONKeysForEval() throws {
        let metrics = EvaluationMetrics(labels: ["good", "bad"], okLabels: ["good"], truths: [0, 1], probabilities: rows([0, 1], classes: 2))
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let object = try JSONSerialization.jsonObject(with: encoder.encode(metrics)) as! [String: Any]
        for key in ["accuracy", "per_class", "confusion", "missed_defect_rate", "false_reject_rate", "roc_auc"] {
            XCTAssertNotNil(object[key], key)
        }
    }

    func testWithoutOKLabelsThereIsNoDefectDecision() {
        let metrics = EvaluationMetrics(labels: ["a", "b"], okLabels: [], truths: [0, 1], probabilities: rows([0, 0], classes: 2))
        XCTAssertNil(metrics.missedDefectRate)
        XCTAssertNil(metrics.rocAUC)
        XCTAssertEqual(metrics.accuracy, 0.5)
    }

    func testReviewBandDecisions() {
        // d = 1 - p(ok): 0.1, 0.45, 0.55, 0.9 around threshold 0.5 with band 0.1
        let probabilities: [[Float]] = [[0.9, 0.1], [0.55, 0.45], [0.45, 0.55], [0.1, 0.9]]
        let metrics = EvaluationMetrics(
            labels: ["ok", "bad"], okLabels: ["ok"], truths: [1, 0, 1, 0], probabilities: probabilities,
            threshold: 0.5, reviewBand: 0.1)
        XCTAssertEqual(metrics.reviewRate!, 0.5)
        XCTAssertEqual(metrics.missedDefectRate!, 0.5)  // the defect at d = 0.1
        XCTAssertEqual(metrics.falseRejectRate!, 0.5)  // the OK part at d = 0.9
    }

    func testAreaUnderROCWithTies() {
        XCTAssertEqual(EvaluationMetrics.areaUnderROC(scores: [0.1, 0.4, 0.35, 0.8], positives: [false, false, true, true])!, 0.75)
        XCTAssertEqual(EvaluationMetrics.areaUnderROC(scores: [0.5, 0.5], positives: [false, true])!, 0.5)
        XCTAssertEqual(EvaluationMetrics.areaUnderROC(scores: [0.2, 0.9], positives: [false, true])!, 1)
        XCTAssertNil(EvaluationMetrics.areaUnderROC(scores: [0.2], positives: [true]))
    }

    func testCalibrationMeetsTheMissRateTarget() {
        // Ten defects; with 10 % allowed misses one may score below the threshold. Binary fractions,
        // so d = 1 - p(ok) recomputes them exactly.
        let defectScores: [Float] = [0.0625, 0.25, 0.3125, 0.625, 0.75, 0.8125, 0.875, 0.9375, 0.96875, 0.984375]
        let okScores: [Float] = (0..<30).map { Float($0) / 128 }
        let scores = defectScores + okScores
        let isDefect = defectScores.map { _ in true } + okScores.map { _ in false }
        let tenPercent = Calibration.calibrate(defectScores: scores, isDefect: isDefect, maxMissRate: 0.1, maxReviewRate: 0)
        XCTAssertEqual(tenPercent.threshold, 0.25)
        XCTAssertEqual(tenPercent.reviewBand, 0)
        let none = Calibration.calibrate(defectScores: scores, isDefect: isDefect, maxMissRate: 0, maxReviewRate: 0)
        XCTAssertEqual(none.threshold, 0.0625)
        // Never above 0.5, whatever the defects score.
        let easy = Calibration.calibrate(defectScores: [0.9, 0.1], isDefect: [true, false], maxMissRate: 0, maxReviewRate: 0)
        XCTAssertEqual(easy.threshold, 0.5)
        let metrics = EvaluationMetrics(
            labels: ["ok", "bad"], okLabels: ["ok"], truths: isDefect.map { $0 ? 1 : 0 },
            probabilities: scores.map { [1 - $0, $0] }, threshold: tenPercent.threshold)
        XCTAssertEqual(metrics.missedDefectRate!, 0.1)
        XCTAssertEqual(metrics.falseRejectRate!, 0)
    }

    func testTooFewDefectsForTheMissRateCapFalseRejectsInstead() {
        // 20 defect photos cannot measure a 1 % miss rate (it needs 100). One scores 0.03: the empirical
        // tail would put the threshold there and reject every good photo above it.
        let defectScores: [Float] = [0.03] + (0..<19).map { 0.6 + Float($0) / 64 }
        // 200 good photos: three score high (a mislabelled or marked part), the rest below 0.25.
        let goodScores: [Float] = [0.45, 0.4, 0.3] + (0..<197).map { Float($0) / 800 }
        let scores = defectScores + goodScores
        let isDefect = defectScores.map { _ in true } + goodScores.map { _ in false }
        let capped = Calibration.calibrate(
            defectScores: scores, isDefect: isDefect, maxMissRate: 0.01, maxReviewRate: 0, maxFalseRejectRate: 0.01)
        XCTAssertEqual(capped.basis, .falseRejectCap)
        XCTAssertEqual(capped.defectPhotos, 20)
        // 1 % of 200 good photos: two may be rejected, so the threshold is just above the third, 0.3.
        XCTAssertEqual(capped.threshold, Double(Float(0.3).nextUp))
        XCTAssertTrue(capped.capMet)
        XCTAssertTrue(capped.explanation.contains("only 20 held-out defect photos"), capped.explanation)
        XCTAssertTrue(capped.explanation.contains("it needs 100"), capped.explanation)
        let metrics = EvaluationMetrics(
            labels: ["ok", "bad"], okLabels: ["ok"], truths: isDefect.map { $0 ? 1 : 0 },
            probabilities: scores.map { [1 - $0, $0] }, threshold: capped.threshold)
        XCTAssertEqual(metrics.falseRejectRate!, 0.01)
        XCTAssertEqual(metrics.missedDefectRate!, 0.05)  // the defect at 0.03
        // When every defect scores above the cap's threshold, the threshold catches them all: the lowest defect.
        let clean = Calibration.calibrate(
            defectScores: Array(scores.dropFirst()), isDefect: Array(isDefect.dropFirst()), maxMissRate: 0.01, maxReviewRate: 0)
        XCTAssertEqual(clean.threshold, 0.5)  // the lowest defect is 0.6: never above 0.5
        XCTAssertEqual(clean.basis, .falseRejectCap)
        // Three good photos above 0.5 when only two may be rejected: the cap cannot be met, and it says so.
        let marked = goodScores.map { $0 >= 0.3 ? $0 + 0.5 : $0 }
        let unmet = Calibration.calibrate(
            defectScores: defectScores + marked, isDefect: isDefect, maxMissRate: 0.01, maxReviewRate: 0)
        XCTAssertEqual(unmet.threshold, 0.5)
        XCTAssertFalse(unmet.capMet)
        XCTAssertTrue(unmet.explanation.hasSuffix("so the threshold is 0.5, its highest"), unmet.explanation)
        // With 100 defect photos the miss rate is measured, and it alone sets the threshold.
        let many = (0..<5).flatMap { _ in defectScores }
        let pinned = Calibration.calibrate(
            defectScores: many + goodScores, isDefect: many.map { _ in true } + goodScores.map { _ in false }, maxMissRate: 0.01,
            maxReviewRate: 0)
        XCTAssertEqual(pinned.basis, .missRate)
        XCTAssertEqual(pinned.threshold, 0.03, accuracy: 1e-6)
    }

    func testReviewBandHoldsAtMostTheAllowedShare() {
        let scores: [Float] = [0.02, 0.1, 0.3, 0.42, 0.48, 0.55, 0.7, 0.9, 0.95, 0.99]
        let isDefect = scores.map { $0 >= 0.5 }
        let calibration = Calibration.calibrate(defectScores: scores, isDefect: isDefect, maxMissRate: 0, maxReviewRate: 0.2)
        XCTAssertEqual(calibration.threshold, 0.5, accuracy: 1e-6)
        // Distances to 0.5 sorted: 0.02, 0.05, 0.08, ...: a band of 0.08 holds the two closest.
        XCTAssertEqual(calibration.reviewBand, 0.08, accuracy: 1e-6)
        let metrics = EvaluationMetrics(
            labels: ["ok", "bad"], okLabels: ["ok"], truths: isDefect.map { $0 ? 1 : 0 },
            probabilities: scores.map { [1 - $0, $0] }, threshold: calibration.threshold,
            reviewBand: calibration.reviewBand)
        XCTAssertEqual(metrics.reviewRate!, 0.2)
    }

    func testAugmentationSettingsParse() throws {
        let settings = try AugmentationSettings(parsing: "noise=0.02,rot90=0,rotate=5")
        XCTAssertEqual(settings.noise, 0.02)
        XCTAssertFalse(settings.rotate90)
        XCTAssertEqual(settings.rotationDegrees, 5)
        XCTAssertEqual(settings.scale, AugmentationSettings.productPhotos.scale)
        XCTAssertEqual(try AugmentationSettings(parsing: "none"), .none)
        XCTAssertThrowsError(try AugmentationSettings(parsing: "blur=1"))
        XCTAssertThrowsError(try AugmentationSettings(parsing: "noise"))
    }

    func testOptimizerSteps() {
        let weight = Parameter(name: "w", count: 1, decays: true, initial: 1)
        let bias = Parameter(name: "b", count: 1, decays: false, initial: 1)
        weight.gradient.pointer[0] = 0.5
        bias.gradient.pointer[0] = 0.5
        var sgd = Optimizer(settings: OptimizerSettings(kind: .sgd, learningRate: 0.1, weightDecay: 0.01, momentum: 0.9))
        sgd.update([weight, bias], learningRate: 0.1)
        XCTAssertEqual(weight.value.pointer[0], 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5, accuracy: 1e-7)
        XCTAssertEqual(bias.value.pointer[0], 1 - 0.1 * 0.5, accuracy: 1e-7)
        sgd.update([bias], learningRate: 0.1)  // momentum: velocity 0.9 * 0.5 + 0.5
        XCTAssertEqual(bias.value.pointer[0], 0.95 - 0.1 * 0.95, accuracy: 1e-6)

        let adam = Parameter(name: "w", count: 1, decays: true, initial: 1)
        adam.gradient.pointer[0] = -2
        var adamw = Optimizer(settings: OptimizerSettings(kind: .adamw, learningRate: 0.01, weightDecay: 0.1, momentum: 0.9))
        adamw.update([adam], learningRate: 0.01)
        // First Adam step moves by the learning rate against the gradient's sign (bias-corrected).
        XCTAssertEqual(adam.value.pointer[0], 1 * (1 - 0.01 * 0.1) + 0.01, accuracy: 1e-6)
    }

    func testLearningRateSchedule() {
        let schedule = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 104)
        XCTAssertEqual(schedule.rate(atStep: 0), 0.25)
        XCTAssertEqual(schedule.rate(atStep: 3), 1)
        XCTAssertEqual(schedule.rate(atStep: 4), 1)
        XCTAssertEqual(schedule.rate(atStep: 54), 0.505, accuracy: 1e-5)
        XCTAssertEqual(schedule.rate(atStep: 104), 0.01, accuracy: 1e-6)
    }
}
