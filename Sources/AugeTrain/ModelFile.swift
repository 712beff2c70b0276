import AugeEngine
import AugeImage
import AugeONNX
import Foundation

extension Calibration {
    /// The threshold and review band as a model file stores them.
    public var filePolicy: (threshold: Float, reviewBand: ModelMetadata.ReviewBand?) {
        let threshold = Float(self.threshold), half = Float(reviewBand)
        return (threshold, half > 0 ? .init(lower: max(0, threshold - half), upper: min(1, threshold + half)) : nil)
    }
}

extension TrainedModel {
    /// Everything inference needs, for the model file: labels, preprocessing, the calibrated policy,
    /// and how, when and on what the model was trained, with its validation metrics.
    public var metadata: ModelMetadata {
        let policy = calibration.filePolicy
        var metrics: [String: Double] = ["accuracy": validation.accuracy, "balanced_accuracy": validation.balancedAccuracy]
        metrics["missed_defect_rate"] = validation.missedDefectRate
        metrics["false_reject_rate"] = validation.falseRejectRate
        metrics["review_rate"] = validation.reviewRate
        metrics["roc_auc"] = validation.rocAUC
        let channels = preprocessing.color.channels
        func perChannel(_ values: [Float]) -> [Float] { values.count == 1 ? [Float](repeating: values[0], count: channels) : values }
        return ModelMetadata(
            labels: labels, okLabels: okLabels,
            inputSize: .init(width: preprocessing.width, height: preprocessing.height), color: preprocessing.color,
            resize: preprocessing.resize, roi: preprocessing.region,
            mean: perChannel(preprocessing.mean), std: perChannel(preprocessing.std),
            threshold: policy.threshold, reviewBand: policy.reviewBand,
            provenance: .init(
                tool: provenance.tool,
                method: method,
                trainedAt: provenance.trainedAt, dataset: provenance.dataset,
                samplesPerLabel: provenance.trainImagesPerLabel, validationMetrics: metrics))
    }

    /// How the model was made, for its provenance.
    var method: String {
        let network: String
        if let backbone, let transfer = options.transfer {
            let head = transfer.hiddenUnits > 0 ? "MLP head (\(transfer.hiddenUnits) hidden units)" : "linear head"
            let backboneUse =
                transfer.fineTunedLayers > 0
                ? "\(backbone.origin) with its last \(transfer.fineTunedLayers) layers fine-tuned"
                : "frozen \(backbone.origin) features"
            network = "\(head) on \(backboneUse) (\(backbone.pooling.rawValue) pooling of \(backbone.cut), \(transfer.variants) variants per photo)"
        } else {
            network = "\(architecture.rawValue) CNN (\(options.pooling.rawValue) pooling) from scratch"
        }
        let training =
            network + ", \(provenance.epochsRun) epochs (best \(provenance.bestEpoch)), "
            + "\(options.optimizer.kind.rawValue) lr \(options.optimizer.learningRate), batch \(options.batchSize), seed \(options.seed)"
        return ([training] + [recipe, okLabels.isEmpty ? nil : calibration.explanation].compactMap { $0 }).joined(separator: "; ")
    }

    /// The model as one ONNX file (graph and metadata) that Auge and ONNX Runtime both run.
    public func onnxData() throws -> Data {
        try exportONNX(graph: exportGraph(), metadata: metadata)
    }
}
