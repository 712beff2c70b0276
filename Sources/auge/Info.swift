import AugeInspect
import AugeONNX
import ArgumentParser
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: inputs, outputs, layers, parameters, compute, memory and metadata.")

    @Argument(help: "The model file (ONNX).")
    var model: String

    @Option(help: "Output format: table or json.")
    var format: InfoFormat = .table

    enum InfoFormat: String, ExpressibleByArgument { case table, json }

    func run() throws {
        try requireKernelSupport()
        let description = try ModelDescription(path: model, model: ONNXModel.load(contentsOf: URL(fileURLWithPath: model)))
        switch format {
        case .json:
            try printJSON(description)
        case .table:
            printTable(description)
        }
    }

    private func shape(_ dims: [Int?]) -> String { "[" + dims.map { $0.map(String.init) ?? "N" }.joined(separator: ", ") + "]" }

    /// Pads (or cuts, marking the cut with "…") each text to its width; String(format:) does not pad
    /// Swift strings on Linux.
    private func columns(_ cells: [(String, Int)], right: Bool = false) -> String {
        cells.map { text, width in
            let cut = text.count > width ? String(text.prefix(width - 1)) + "…" : text
            let padding = String(repeating: " ", count: width - cut.count)
            return right ? " " + padding + cut : cut + padding + " "
        }.joined()
    }

    private func printTable(_ d: ModelDescription) {
        print("model:    \(d.model)" + (d.producer.isEmpty ? "" : " (from \(d.producer))") + ", opset \(d.opset); read by auge \(d.augeVersion)")
        for input in d.inputs { print("input:    \(input.name) \(shape(input.shape))") }
        for output in d.outputs { print("output:   \(output.name) \(shape(output.shape))") }
        print("")
        let kindWidth = min(60, d.layers.map(\.kind.count).max() ?? 4)
        let nameWidth = min(40, d.layers.map(\.name.count).max() ?? 5)
        print(columns([("#", 4), ("layer", nameWidth), ("kind", kindWidth), ("output", 18)]) + columns([("params", 10), ("MACs", 12)], right: true))
        for (i, layer) in d.layers.enumerated() {
            print(
                columns([(String(i), 4), (layer.name, nameWidth), (layer.kind, kindWidth), (shape(layer.outputShape.map { $0 }), 18)])
                    + columns([(String(layer.params), 10), (String(layer.macs), 12)], right: true))
        }
        print("")
        print(String(format: "parameters: %d (%.2f MB as float32)", d.totalParams, Double(d.totalParams * 4) / 1e6))
        print(String(format: "compute:    %.4f GFLOP per image (2 x multiply-accumulates)", d.gflopPerImage))
        print(String(format: "activations: %.2f MB for one image (one planned arena)", Double(d.activationBytes) / 1e6))
        if let int8 = d.int8 { print("int8:       quantized convolutions run \(int8)") }
        guard let m = d.metadata else {
            print("metadata:   none (a plain ONNX model: give --labels, --size, ... or write them in with `auge annotate`)")
            return
        }
        let anomaly = m.resolvedKind == .anomaly
        switch m.resolvedKind {
        case .classifier: print("kind:       classifier")
        case .anomaly: print("kind:       anomaly (fitted on good parts only; anomaly score 1.0 = threshold)")
        case .gated: print("kind:       gated (a classifier and an anomaly head fitted on its good parts; anomaly score 1.0 = threshold)")
        }
        print("labels:     \(m.labels.joined(separator: ", "))")
        print("OK labels:  \(m.okLabels.isEmpty ? "none (decides by label)" : m.okLabels.joined(separator: ", "))")
        if let size = m.inputSize { print("input:      \(size.width)x\(size.height) \(m.color?.rawValue ?? "") resize \(m.resize?.rawValue ?? "stretch")") }
        if let roi = m.roi { print("region:     \(roi.x),\(roi.y),\(roi.width),\(roi.height)") }
        if let mean = m.mean, let std = m.std { print("normalise:  mean \(mean) std \(std)") }
        if let threshold = m.threshold { print("threshold:  \(threshold)") }
        if let band = m.reviewBand {
            print(String(format: "review:     %@ from %.4f to %.4f goes to review", anomaly ? "anomaly score" : "defect probability", band.lower, band.upper))
        }
        if let band = m.anomalyReviewBand {
            print(String(format: "review:     anomaly score from %.4f to %.4f goes to review", band.lower, band.upper))
        }
        if let range = m.mapRange { print(String(format: "heatmaps:   anomaly map from %.3f (cold) to %.3f (hot)", range.lower, range.upper)) }
        if let p = m.provenance {
            print("trained:    " + [p.method, p.dataset, p.trainedAt].compactMap { $0 }.joined(separator: "; "))
            if let metrics = p.validationMetrics {
                print("validation: " + metrics.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: ", "))
            }
            if let quantization = p.quantization { print("quantized:  \(quantization)") }
        }
    }
}
