import AugeEngine
import AugeONNX
import Foundation

/// A classifier with an anomaly head fitted on its own feature maps: one backbone pass gives the class
/// probabilities and the anomaly score and map (kind `gated`). The classifier names the defects it was
/// taught; the anomaly head, fitted on good photos only, catches the kinds it was not.
public enum AnomalyGate {
    /// Fits the anomaly head on the classifier's taps (as `AnomalyTrainer.fit`, the classifier file being
    /// the backbone: `options.backbone`; `.automatic` scoring means the patch search) and joins both into one graph. The classifier must take RGB
    /// input (a network trained on a pretrained backbone), at the size and with the preprocessing it has.
    public static func fit(
        classifier: ONNXModel, fit: [String], calibration: [String], defects: [String], okLabel: String,
        options: AnomalyOptions, dataset: String, events: (AnomalyEvent) -> Void = { _ in }
    ) throws -> (graph: Graph, metadata: ModelMetadata, head: AnomalyModel) {
        guard var metadata = classifier.metadata, metadata.resolvedKind == .classifier, !metadata.okLabels.isEmpty else {
            throw DatasetError(description: "an anomaly gate goes on a classifier with OK labels")
        }
        guard metadata.color == .rgb, let size = metadata.inputSize else {
            throw DatasetError(
                description: "an anomaly gate needs a classifier trained on a pretrained backbone (RGB input); this one takes \(metadata.color?.rawValue ?? "unknown") input")
        }
        var options = options
        (options.size, options.resize, options.region) = ((size.width, size.height), metadata.resize ?? .stretch, metadata.roi)
        options.backboneDescription = "the classifier's backbone"
        // The classifier already reads the backbone's pooled features, the photo score's input: the gate is
        // there for what pooling hides, marks in a few patches (magnetic tile, seeds 1-5: with the photo
        // score the gated models passed 16 of 305 test defects, with the patch search 6).
        if options.scoring == .automatic { options.scoring = .patches }
        // The gate keeps the bank it was measured with, the base search's 3072 vectors of 64 dimensions, unless
        // told otherwise (the int8 default of 16384 x 48 passed one more magnetic-tile defect in each of seeds
        // 1-3); on VNNI searched in int8, which decided every test photo as the float search did in a sixth of its time.
        if options.int8Search == nil {
            options.int8Search = AnomalyOptions.int8SearchPays
            let base = AnomalyOptions.baseSearch
            (options.projection, options.bankSize) = (options.projection ?? base.projection, options.bankSize ?? base.bankSize)
        }
        let head = try AnomalyTrainer.fit(
            fit: fit, calibration: calibration, defects: defects, okLabel: okLabel, options: options, dataset: dataset, events: events)
        guard head.metadata.mean == metadata.mean, head.metadata.std == metadata.std else {
            throw DatasetError(description: "the anomaly head's preprocessing differs from the classifier's: a classifier with its own mean and std cannot be gated")
        }

        // The classifier's nodes, then the head's that it does not have (the backbone up to the taps is shared).
        var graph = classifier.graph
        let computed = Set(graph.nodes.flatMap(\.outputs))
        for node in head.graph.nodes where !node.outputs.allSatisfy(computed.contains) {
            precondition(node.outputs.allSatisfy { !computed.contains($0) }, "a head node recomputes a classifier value")
            graph.nodes.append(node)
        }
        for (name, tensor) in head.graph.constants where graph.constants[name] == nil { graph.constants[name] = tensor }
        graph.outputs += head.graph.outputs

        metadata.kind = .gated
        metadata.mapRange = head.metadata.mapRange
        metadata.anomalyReviewBand = head.metadata.reviewBand
        var provenance = metadata.provenance ?? ModelMetadata.Provenance()
        provenance.method = [provenance.method, "anomaly gate: " + (head.metadata.provenance?.method ?? "")].compactMap { $0 }.joined(separator: "; ")
        var metrics = provenance.validationMetrics ?? [:]
        for (key, value) in head.metadata.provenance?.validationMetrics ?? [:] { metrics["gate_" + key] = value }
        provenance.validationMetrics = metrics
        metadata.provenance = provenance
        return (graph, metadata, head)
    }
}
