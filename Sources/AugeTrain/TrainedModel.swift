import AugeEngine
import AugeImage
import Foundation

/// A trained classifier with everything inference and the model file's metadata need: labels, OK
/// labels, preprocessing, the calibrated threshold and review band, validation metrics and provenance.
public struct TrainedModel: Codable, Sendable {
    public var format = "auge-train-model-1"
    public var architecture: Architecture
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

    var inputShape: Shape {
        Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
    }

    func makeNetwork() -> Network {
        let network = Network(architecture: architecture, input: inputShape, classes: labels.count, pooling: options.pooling, seed: 0)
        network.state = state
        return network
    }

    /// The inference graph: input "input" [N, C, H, W] (the preprocessing's normalised tensor),
    /// output "probabilities" [N, labels]. Batch normalisation stays as nodes with running statistics.
    public func exportGraph() -> Graph {
        makeNetwork().exportGraph(name: "auge-\(architecture.rawValue)")
    }
}
