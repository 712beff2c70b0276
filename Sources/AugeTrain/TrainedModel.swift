import AugeEngine
import AugeImage
import Foundation

/// A trained classifier with everything inference and the model file's metadata need: labels, OK
/// labels, preprocessing, the calibrated threshold and review band, validation metrics and provenance.
public struct TrainedModel: Sendable {
    public var architecture: Architecture
    /// The pretrained backbone under a transfer-learning head (nil for a model trained from scratch).
    public var backbone: Backbone?
    public var labels: [String]
    public var okLabels: [String]
    public var preprocessing: Preprocessing
    public var calibration: Calibration
    /// Validation metrics of the kept (best) model at the calibrated operating point.
    public var validation: EvaluationMetrics
    public var options: TrainingOptions
    public var provenance: Provenance
    public var history: [EpochSummary]
    public var parameterCount: Int
    public var state: NetworkState
    /// How the recipe was chosen, in plain words, when the trainer's caller chose it.
    public var recipe: String?

    /// What a person must know before putting this model on a line: a calibration resting on too few
    /// held-out defect photos, or an operating point that rejects many good parts.
    public var warnings: [String] {
        guard !okLabels.isEmpty else { return [] }
        var warnings: [String] = []
        if calibration.basis == .falseRejectCap {
            warnings.append(
                "the missed-defect rate of this model is not measured: \(calibration.explanation). "
                    + "Add defect photos, give a larger --val-split or --val folder, or raise --max-miss-rate.")
        }
        if let falseRejects = validation.falseRejectRate, falseRejects > 0.2 {
            warnings.append(
                String(format: "at the calibrated threshold %.1f %% of the held-out good parts are rejected: ", 100 * falseRejects)
                    + "this model is not ready for a line. Train longer (--epochs), with more photos, or allow more misses (--max-miss-rate).")
        }
        return warnings
    }

    var inputShape: Shape {
        Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
    }

    func makeNetwork() -> Network {
        // The head was built from this backbone once already, so building it again cannot fail.
        let network =
            if let backbone, let transfer = options.transfer {
                try! Network.head(on: backbone, hiddenUnits: transfer.hiddenUnits, classes: labels.count, seed: 0)
            } else {
                Network(architecture: architecture, input: inputShape, classes: labels.count, pooling: options.pooling, seed: 0)
            }
        network.state = state
        return network
    }

    /// The inference graph: input [N, C, H, W] (the preprocessing's normalised tensor), output
    /// "probabilities" [N, labels]. Batch normalisation stays as nodes with running statistics. A
    /// transfer model is the backbone up to its pooled features, then the head.
    public func exportGraph() -> Graph {
        guard let backbone else { return makeNetwork().exportGraph(name: "auge-\(architecture.rawValue)") }
        var graph = backbone.graph
        graph.name = "auge-transfer"
        graph.nodes += makeNetwork().graphNodes(input: Backbone.featuresValue, prefix: "auge_head_")
        graph.outputs = ["probabilities"]
        return graph
    }
}
