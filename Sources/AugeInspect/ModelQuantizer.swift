import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// Quantizes an inspection model for INT8 runtimes: calibrates the ranges of the convolutions' inputs
/// on photos, through the model's own preprocessing, and writes the model in ONNX's QDQ format (int8
/// weights per output channel, uint8 activations per tensor) with its labels, preprocessing and policy,
/// so that ONNX Runtime and OpenVINO run the same file. Auge runs it in float until its int8 kernels do.
public struct ModelQuantizer {
    public let model: InspectionModel
    /// The graph that is quantized: BatchNormalization folded into the convolutions.
    public let graph: Graph
    public let method: RangeObserver.Method

    public init(model: InspectionModel, method: RangeObserver.Method = .minMax) {
        self.model = model
        self.graph = Quantization.foldingBatchNormalization(model.onnx.graph)
        self.method = method
    }

    public struct Calibration: Sendable {
        public var ranges: [String: CalibrationRange]
        public var photos: Int
        public var failures: [(path: String, error: String)]
    }

    /// Runs the float model over `photos` and measures the values at every quantization point.
    public func calibrate(photos: [String], threads: Int, decoder: ImageDecoder = ImageDecoder()) throws -> Calibration {
        var calibrator = try Calibrator(graph: graph, threads: threads)
        let shape = [1, model.preprocessing.color.channels, model.preprocessing.height, model.preprocessing.width]
        var failures: [(String, String)] = []
        for path in photos {
            let tensor: [Float]
            do {
                tensor = try model.preprocessing.tensor(from: try decoder.decode(fileAt: path, for: model.preprocessing))
            } catch {
                failures.append((path, (error as? ImageError)?.reasonText ?? "\(error)"))
                continue
            }
            try calibrator.observe(Tensor(shape: shape, data: tensor))
        }
        return Calibration(ranges: calibrator.ranges(method), photos: calibrator.runs, failures: failures)
    }

    /// The quantized model as an ONNX file (QDQ), keeping the model's metadata and noting the
    /// quantization in its provenance.
    public func quantizedFile(_ calibration: Calibration) throws -> Data {
        let quantized = Quantization.quantized(graph, ranges: calibration.ranges)
        var metadata = model.resolvedMetadata
        var provenance = metadata.provenance ?? ModelMetadata.Provenance()
        provenance.quantization =
            "auge \(augeVersion) quantize: int8 weights per output channel (symmetric), uint8 activations "
            + "per tensor, \(method.name) ranges from \(calibration.photos) photos"
        metadata.provenance = provenance
        return try exportONNX(graph: quantized, metadata: metadata)
    }
}
