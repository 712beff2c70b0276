import AugeInspect
import AugeTrain
import ArgumentParser
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on labelled photos (one sub-folder per class).",
        discussion: "Reports accuracy, per-class precision/recall/F1, the confusion matrix and, with OK labels, missed-defect and false-reject rates at the model's threshold and review band, and ROC AUC.")

    enum Format: String, ExpressibleByArgument {
        case text, json
    }

    @OptionGroup var settings: ModelOptions

    @Argument(help: "The dataset folder: DATASET/<class>/<photo>, classes among the model's labels.")
    var dataset: String

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    @Option(help: "Worker threads (the default is this machine's core count).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Evaluate only every n-th photo of each class by name: the validation photos `auge train --val-split 1/n` held out.")
    var holdout: Int?

    func run() throws {
        try requireKernelSupport()
        let inspection = try settings.load()
        let policy = inspection.policy
        var folder = try ImageFolder.scan(dataset, classes: policy.labels, skippingOthers: true)
        for skipped in folder.skippedFolders {
            log("auge eval: skipping \(dataset)/\(skipped): not a label of the model (\(policy.labels.joined(separator: ", ")))")
        }
        if let holdout {
            guard holdout >= 2 else { throw ValidationError("--holdout must be at least 2") }
            folder = folder.split(validationEvery: holdout).validation
        }
        let started = Date()
        // The same decode -> preprocess -> engine path as `auge classify`, on the ONNX file itself.
        let pipeline = InspectionPipeline(lanes: try InspectionPipeline.lanes(for: inspection, photos: folder.items.count,
                                                                              cores: max(1, threads)))
        pipeline.includeScores = true
        var truths: [Int] = [], rows: [[Float]] = [], paths: [String] = [], errors: [[String: String]] = []
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
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let halfBand = policy.reviewBand.map { Double($0.upper - $0.lower) / 2 } ?? 0
        let metrics = EvaluationMetrics(labels: policy.labels, okLabels: policy.okLabels, truths: truths, probabilities: rows,
                                        threshold: Double(policy.threshold), reviewBand: halfBand)
        let misclassified = zip(paths, zip(truths, rows)).compactMap { path, entry -> Misclassified? in
            let predicted = rows.isEmpty ? 0 : entry.1.indices.max { entry.1[$0] < entry.1[$1] }!
            guard predicted != entry.0 else { return nil }
            return Misclassified(path: path, truth: policy.labels[entry.0], predicted: policy.labels[predicted], score: entry.1[predicted])
        }
        switch format {
        case .json: try printJSON(metrics, misclassified: misclassified, errors: errors, seconds: seconds)
        case .text: printText(metrics, misclassified: misclassified, errors: errors, images: rows.count, seconds: seconds)
        }
    }

    struct Misclassified: Codable {
        var path: String
        var truth: String
        var predicted: String
        var score: Float
    }

    private func printJSON(_ metrics: EvaluationMetrics, misclassified: [Misclassified], errors: [[String: String]], seconds: Double) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = try JSONSerialization.jsonObject(with: encoder.encode(metrics)) as! [String: Any]
        object["misclassified"] = try JSONSerialization.jsonObject(with: encoder.encode(misclassified))
        object["errors"] = errors
        object["model"] = settings.model ?? ModelOptions.defaultModelPath()
        object["dataset"] = dataset
        object["seconds"] = seconds
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func printText(_ m: EvaluationMetrics, misclassified: [Misclassified], errors: [[String: String]], images: Int, seconds: Double) {
        print(String(format: "%d photos in %.1f s (%.1f photos/s); accuracy %.2f%%, balanced %.2f%%", images, seconds, Double(images) / seconds,
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
            print(String(format: "threshold %.4f ± %.4f: missed defects %@, false rejects %@, review %@, ROC AUC %@",
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
