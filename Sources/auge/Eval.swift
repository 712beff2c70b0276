import AugeImage
import AugeInspect
import AugeTrain
import ArgumentParser
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on labelled photos (one sub-folder per class).",
        discussion: """
            Reports accuracy, per-class precision/recall/F1, the confusion matrix and, with OK labels, missed-defect and             false-reject rates at the model's threshold and review band, and ROC AUC.
            For an anomaly model, the OK label's folder holds the good photos and every other folder defects: it reports             image AUROC and the missed-defect, false-reject and review rates; with --masks, pixel AUROC and PRO too.
            """)

    enum Format: String, ExpressibleByArgument {
        case text, json
    }

    @OptionGroup var settings: ModelOptions

    @Argument(help: "The dataset folder: DATASET/<class>/<photo>, classes among the model's labels.")
    var dataset: String

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    @OptionGroup var parallel: WorkerOptions

    @Option(help: "Evaluate only every n-th photo of each class by name: the validation photos `auge train --val-split 1/n` held out.")
    var holdout: Int?

    @Option(
        help: ArgumentHelp(
            "Anomaly models: ground-truth masks, MASKS/<class>/<photo name>.png, for pixel AUROC and PRO.",
            discussion: "A grey image the size of the photo, defect where bright (128 and up; a 0/1 mask: non-zero). A good photo without a mask counts as all good."))
    var masks: String?

    func run() throws {
        try requireKernelSupport()
        let inspection = try settings.load()
        if inspection.policy.kind == .anomaly { return try evaluateAnomalyModel(inspection) }
        if masks != nil { throw ValidationError("--masks goes with an anomaly model; \(inspection.path) is a classifier") }
        let policy = inspection.policy
        var folder = try ImageFolder.scan(dataset, classes: policy.labels, skippingOthers: true)
        logSkippedFolders(folder, command: "eval")
        if let holdout {
            guard holdout >= 2 else { throw ValidationError("--holdout must be at least 2") }
            folder = folder.split(validationEvery: holdout).validation
        }
        let started = Date()
        // The same decode -> preprocess -> engine path as `auge classify`, on the ONNX file itself.
        let pipeline = InspectionPipeline(lanes: try parallel.lanes(for: inspection, photos: folder.items.count))
        pipeline.includeScores = true
        var truths: [Int] = [], rows: [[Float]] = [], paths: [String] = [], errors: [[String: String]] = []
        var gatePhotos: [GateEvaluation.Photo] = []
        var index = 0
        pipeline.run(folder.items.map(\.path)) { record in
            let item = folder.items[index]
            index += 1
            if let error = record.error {
                errors.append(["path": item.path, "error": error])
            } else if let scores = record.scores {
                truths.append(item.label)
                rows.append(policy.labels.map { scores[$0] ?? 0 })
                paths.append(item.path)
                if let anomalyScore = record.anomalyScore {
                    gatePhotos.append(Self.gatePhoto(record, probabilities: rows.last!, anomalyScore: anomalyScore, truth: policy.labels[item.label], policy: policy))
                }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let halfBand = policy.reviewBand.map { Double($0.upper - $0.lower) / 2 } ?? 0
        let metrics = EvaluationMetrics(
            labels: policy.labels, okLabels: policy.okLabels, truths: truths, probabilities: rows,
            threshold: Double(policy.threshold), reviewBand: halfBand)
        let misclassified = zip(paths, zip(truths, rows)).compactMap { path, entry -> Misclassified? in
            let predicted = rows.isEmpty ? 0 : entry.1.indices.max { entry.1[$0] < entry.1[$1] }!
            guard predicted != entry.0 else { return nil }
            return Misclassified(path: path, truth: policy.labels[entry.0], predicted: policy.labels[predicted], score: entry.1[predicted])
        }
        let gate = policy.kind == .gated ? GateEvaluation(gatePhotos) : nil
        switch format {
        case .json: try printJSON(metrics, gate: gate, misclassified: misclassified, errors: errors, seconds: seconds)
        case .text:
            printText(metrics, misclassified: misclassified, errors: errors, images: rows.count, seconds: seconds)
            if let gate { printGate(gate) }
        }
    }

    private static func gatePhoto(
        _ record: InspectionRecord, probabilities: [Float], anomalyScore: Float, truth: String, policy: DecisionPolicy
    ) -> GateEvaluation.Photo {
        func outcome(_ decision: Decision) -> GateEvaluation.Outcome { decision == .defect ? .reject : decision == .review ? .review : .pass }
        return GateEvaluation.Photo(
            isDefect: !policy.okLabels.contains(truth), gated: outcome(record.decision), classifierAlone: outcome(policy.decide(probabilities).decision),
            anomalyAlone: outcome(policy.gateDecision(anomalyScore: anomalyScore)), labelRight: record.label == truth,
            labelledUnknown: record.label == DecisionPolicy.unknownDefectLabel, anomalyScore: anomalyScore)
    }

    private func printGate(_ gate: GateEvaluation) {
        func percent(_ rate: Double?) -> String { rate.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
        print(
            String(format: "gated model: labels right %.2f%%, ", 100 * gate.accuracy) + "defects labelled unknown \(percent(gate.unknownRate)), "
                + "anomaly image AUROC \(gate.imageAUROC.map { String(format: "%.4f", $0) } ?? "n/a")")
        for (name, rates) in [("gated", gate.gated), ("classifier alone", gate.classifierAlone), ("anomaly alone", gate.anomalyAlone)] {
            print(
                "  \(name.padding(toLength: 17, withPad: " ", startingAt: 0))missed defects \(percent(rates.missedDefectRate)), "
                    + "false rejects \(percent(rates.falseRejectRate)), review \(percent(rates.reviewRate))")
        }
    }

    /// Every sub-folder is a class: the model's OK label's photos are good, the others defects.
    private func evaluateAnomalyModel(_ inspection: InspectionModel) throws {
        let policy = inspection.policy
        var folder = try ImageFolder.scan(dataset)
        logSkippedFolders(folder, command: "eval")
        if let holdout {
            guard holdout >= 2 else { throw ValidationError("--holdout must be at least 2") }
            folder = folder.split(validationEvery: holdout).validation
        }
        guard folder.classes.contains(where: policy.okLabels.contains) else {
            throw ValidationError(
                "\(dataset) has no folder of good photos named \(policy.okLabels.joined(separator: " or ")) "
                    + "(its folders: \(folder.classes.joined(separator: ", "))); give --ok-labels")
        }
        let started = Date()
        let pipeline = InspectionPipeline(lanes: try parallel.lanes(for: inspection, photos: folder.items.count))
        pipeline.includeScores = masks != nil
        let decoder = ImageDecoder()
        var scores: [Float] = [], truths: [Bool] = [], classes: [String] = [], errors: [[String: String]] = []
        var maps: [(map: [Float], mask: [Bool], className: String, isDefect: Bool)] = []
        var index = 0
        try pipeline.run(folder.items.map(\.path)) { record in
            let item = folder.items[index]
            index += 1
            guard let score = record.anomalyScore else {
                errors.append(["path": item.path, "error": record.error ?? "no anomaly score"])
                return
            }
            let isDefect = !policy.okLabels.contains(folder.classes[item.label])
            scores.append(score)
            truths.append(isDefect)
            classes.append(folder.classes[item.label])
            guard let masks, let map = record.anomalyMap else { return }
            let name = ((item.path as NSString).lastPathComponent as NSString).deletingPathExtension + ".png"
            let maskPath = ((masks as NSString).appendingPathComponent(folder.classes[item.label]) as NSString).appendingPathComponent(name)
            let mask: [Bool]
            if FileManager.default.fileExists(atPath: maskPath) {
                mask = try pipeline.lanes[0].inputMask(fileAt: maskPath, decoder: decoder)
            } else if !isDefect {
                mask = [Bool](repeating: false, count: inspection.preprocessing.width * inspection.preprocessing.height)
            } else {
                throw ValidationError("\(item.path) is a defect photo but has no mask \(maskPath)")
            }
            maps.append((pipeline.lanes[0].mapAtInputResolution(map), mask, folder.classes[item.label], isDefect))
        }
        var pixels: AnomalyMetrics.PixelAccumulator?
        var pixelsByClass: [String: AnomalyMetrics.PixelAccumulator] = [:]
        if !maps.isEmpty {
            let top = maps.map { $0.map.max() ?? 0 }.max() ?? 1
            let empty = AnomalyMetrics.PixelAccumulator(range: 0...max(top, .leastNormalMagnitude))
            let (width, height) = (inspection.preprocessing.width, inspection.preprocessing.height)
            // Each defect class against every good photo, as the whole set is.
            var good = empty
            var defects: [String: AnomalyMetrics.PixelAccumulator] = [:]
            for photo in maps {
                if photo.isDefect {
                    defects[photo.className, default: empty].add(map: photo.map, mask: photo.mask, width: width, height: height)
                } else {
                    good.add(map: photo.map, mask: photo.mask, width: width, height: height)
                }
            }
            pixels = good
            // In a fixed order, so that the sums, and the measures to their last digit, are the same every run.
            for (name, own) in defects.sorted(by: { $0.key < $1.key }) {
                pixels!.add(own)
                pixelsByClass[name] = good
                pixelsByClass[name]!.add(own)
            }
        }
        let band = policy.reviewBand.map { (lower: $0.lower, upper: $0.upper) }
        let result = AnomalyEvaluation(
            scores: scores, isDefect: truths, threshold: policy.threshold, review: band, pixels: pixels,
            maskedPhotos: maps.count, classes: classes, pixelsByClass: pixelsByClass)
        let seconds = Date().timeIntervalSince(started)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
            object["errors"] = errors
            object["model"] = inspection.path
            object["dataset"] = dataset
            object["seconds"] = seconds
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        case .text:
            func percent(_ rate: Double?) -> String { rate.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
            func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "n/a" }
            print(
                String(
                    format: "%d photos in %.1f s (%.1f photos/s): %d good, %d defect", scores.count, seconds, Double(scores.count) / seconds,
                    result.goodPhotos, result.defectPhotos))
            print("image AUROC \(number(result.imageAUROC))")
            print(
                String(format: "threshold %.3f", result.threshold) + (band.map { String(format: ", review %.3f-%.3f", $0.lower, $0.upper) } ?? "")
                    + ": missed defects \(percent(result.missedDefectRate)), false rejects \(percent(result.falseRejectRate)), review \(percent(result.reviewRate))")
            if masks != nil {
                print("pixel AUROC \(number(result.pixelAUROC)), PRO (FPR <= 0.3) \(number(result.pro)) over \(result.maskedPhotos) photos")
            }
            if !result.byClass.isEmpty {
                let width = max(12, result.byClass.keys.map(\.count).max() ?? 0)
                func column(_ text: String, _ size: Int) -> String { String(repeating: " ", count: max(0, size - text.count)) + text }
                var header = "defect class".padding(toLength: width, withPad: " ", startingAt: 0)
                header += column("photos", 8) + column("missed", 9) + column("review", 9) + column("image AUROC", 13)
                if masks != nil { header += column("pixel AUROC", 13) + column("PRO", 8) }
                print(header)
                for (name, kind) in result.byClass.sorted(by: { $0.key < $1.key }) {
                    var line = name.padding(toLength: width, withPad: " ", startingAt: 0) + column("\(kind.photos)", 8)
                    line += column(percent(kind.missedDefectRate), 9) + column(percent(kind.reviewRate), 9) + column(number(kind.imageAUROC), 13)
                    if masks != nil { line += column(number(kind.pixelAUROC), 13) + column(number(kind.pro), 8) }
                    print(line)
                }
            }
            for error in errors { print("error: \(error["path"]!): \(error["error"]!)") }
        }
    }

    struct Misclassified: Codable {
        var path: String
        var truth: String
        var predicted: String
        var score: Float
    }

    private func printJSON(
        _ metrics: EvaluationMetrics, gate: GateEvaluation?, misclassified: [Misclassified], errors: [[String: String]], seconds: Double
    ) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = try JSONSerialization.jsonObject(with: encoder.encode(metrics)) as! [String: Any]
        if let gate { object["gate"] = try JSONSerialization.jsonObject(with: encoder.encode(gate)) }
        object["misclassified"] = try JSONSerialization.jsonObject(with: encoder.encode(misclassified))
        object["errors"] = errors
        object["model"] = try settings.model ?? ModelOptions.defaultModelPath()
        object["dataset"] = dataset
        object["seconds"] = seconds
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func printText(_ m: EvaluationMetrics, misclassified: [Misclassified], errors: [[String: String]], images: Int, seconds: Double) {
        print(
            String(
                format: "%d photos in %.1f s (%.1f photos/s); accuracy %.2f%%, balanced %.2f%%", images, seconds, Double(images) / seconds,
                100 * m.accuracy, 100 * m.balancedAccuracy))
        let width = max(12, m.labels.map(\.count).max() ?? 0)
        func padded(_ s: String) -> String { s.padding(toLength: width, withPad: " ", startingAt: 0) }
        print(padded("class") + "  precision  recall     F1  support")
        for c in m.perClass {
            print(padded(c.label) + String(format: "  %9.4f  %6.4f  %.4f  %7d", c.precision, c.recall, c.f1, c.support))
        }
        print("confusion (rows: truth, columns: prediction in label order)")
        for (label, row) in zip(m.labels, m.confusion) {
            print(padded(label) + row.map { String(format: "%7d", $0) }.joined())
        }
        if !m.okLabels.isEmpty {
            func percent(_ rate: Double?) -> String { rate.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
            print(
                String(
                    format: "threshold %.4f ± %.4f: missed defects %@, false rejects %@, review %@, ROC AUC %@",
                    m.threshold, m.reviewBand, percent(m.missedDefectRate), percent(m.falseRejectRate), percent(m.reviewRate),
                    m.rocAUC.map { String(format: "%.4f", $0) } ?? "n/a"))
        }
        if !misclassified.isEmpty {
            print("misclassified (\(misclassified.count)):")
            for item in misclassified {
                print(String(format: "  %@  truth %@, predicted %@ (%.3f)", item.path, item.truth, item.predicted, item.score))
            }
        }
        for error in errors { print("error: \(error["path"]!): \(error["error"]!)") }
    }
}
