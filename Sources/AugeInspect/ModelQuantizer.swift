import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// Quantizes an inspection model for INT8 runtimes: calibrates the ranges of the convolutions' inputs
/// on photos, through the model's own preprocessing, and writes the model in ONNX's QDQ format (int8
/// weights per output channel, uint8 activations per tensor) with its labels, preprocessing and policy,
/// so that Auge (on its int8 kernels), ONNX Runtime and OpenVINO run the same file.
public struct ModelQuantizer {
    public let model: InspectionModel
    /// The graph that is quantized: BatchNormalization folded into the convolutions.
    public let graph: Graph
    public let method: RangeObserver.Method
    /// The convolutions quantized: a gated model's class scores' (its anomaly head, a nearest-neighbour
    /// search whose distances are small differences of large sums, stays float); nil: every one.
    public let convolutions: Set<String>?
    /// 8 (the default): weights in -127...127. 7: -63...63, coarser, but what ONNX Runtime's int8 kernels on
    /// x86 CPUs without VNNI compute exactly (with 8 bits their u8 x s8 pair sums can saturate, and its
    /// answers go wrong; Auge's own kernels are exact with either).
    public let weightBits: Int
    /// Convolutions left in float, weights and input (the most sensitive ones, see `sensitivity`); what has
    /// no int8 kernel runs in float between a dequantize and a quantize.
    public var keptFloat: Set<String> = []

    public init(model: InspectionModel, method: RangeObserver.Method = .minMax, weightBits: Int = 8) {
        self.model = model
        self.graph = Quantization.foldingBatchNormalization(model.onnx.graph)
        self.method = method
        self.weightBits = weightBits
        convolutions = model.policy.kind == .gated ? Quantization.nodes(computing: graph.outputs[0], in: graph) : nil
    }

    /// The convolutions `convolutions` allows to quantize, in graph order.
    private var quantizable: [String] { graph.nodes.filter { Quantization.isQuantized($0, convolutions) }.map(\.name) }

    /// The convolutions that get int8 weights: `convolutions` less `keptFloat`.
    public var quantizedConvolutions: Set<String> { Set(quantizable).subtracting(keptFloat) }

    /// How many convolutions get int8 weights.
    public var quantizedConvolutionCount: Int { quantizedConvolutions.count }

    /// A photo's class: its folder's name, where that is one of `model`'s labels.
    private static func truth(of path: String, in model: InspectionModel) -> String? {
        let folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        return model.policy.labels.contains(folder) ? folder : nil
    }

    public struct Calibration: Sendable {
        public var ranges: [String: CalibrationRange]
        public var photos: Int
        public var failures: [(path: String, error: String)]
    }

    /// Runs the float model over `photos` and measures the values at every quantization point (of every
    /// convolution `convolutions` allows, `keptFloat` or not).
    public func calibrate(photos: [String], threads: Int, decoder: ImageDecoder = ImageDecoder()) throws -> Calibration {
        var calibrator = try Calibrator(graph: graph, threads: threads, convolutions: convolutions)
        var failures: [(String, String)] = []
        for path in photos {
            let tensor: Tensor
            do {
                tensor = try input(from: path, decoder: decoder)
            } catch {
                failures.append((path, (error as? ImageError)?.reasonText ?? "\(error)"))
                continue
            }
            try calibrator.observe(tensor)
        }
        return Calibration(ranges: calibrator.ranges(method), photos: calibrator.runs, failures: failures)
    }

    /// A photo as the model's input tensor (batch 1), through its own preprocessing.
    private func input(from path: String, decoder: ImageDecoder) throws -> Tensor {
        let shape = [1, model.preprocessing.color.channels, model.preprocessing.height, model.preprocessing.width]
        return Tensor(shape: shape, data: try model.preprocessing.tensor(from: try decoder.decode(fileAt: path, for: model.preprocessing)))
    }

    /// Leaves the `count` most sensitive convolutions in float, measured on up to 32 of `photos`; says
    /// which, and how far each moved the output, in words.
    public mutating func keepingFloat(_ count: Int, calibration: Calibration, photos: [String], threads: Int) throws -> String {
        let kept = try sensitivity(calibration, photos: Self.evenlyTaken(photos, count: 32), threads: threads).prefix(count)
        keptFloat = Set(kept.map(\.convolution))
        return "kept in float: " + Self.describe(kept)
    }

    /// Convolutions kept in float, each with how far quantizing it alone moved the output.
    private static func describe(_ kept: ArraySlice<(convolution: String, change: Float)>) -> String {
        kept.isEmpty ? "none" : kept.map { String(format: "%@ (moves the output by %.4f)", $0.convolution, $0.change) }.joined(separator: ", ")
    }

    /// Decisions of the quantized model that must agree with the float model's for `choosingKeptFloat`
    /// to stop, the most its accuracy on the labelled ones may fall below the float model's, and the most
    /// convolutions it leaves in float.
    public static let agreementTarget = 0.995
    public static let accuracyLossTarget = 0.002
    public static let mostKeptFloat = 5

    /// Leaves in float the fewest of the most sensitive convolutions (none to `mostKeptFloat`) with which
    /// the quantized model decides the held-out `photos` as the float model does on at least
    /// `agreementTarget` of them and loses at most `accuracyLossTarget` of accuracy on those of them that
    /// are labelled (or, if no count gets there, the count that agrees most); says what it chose and
    /// why, in words. The ranking is measured (on up to 32 of `rankingPhotos`) only when the
    /// fully quantized model falls short. Held-out photos: on the photos a model was fitted on, its
    /// decisions have margins that quantization rarely crosses (casting: every one of 300 training photos
    /// decided alike with nothing kept in float, 99.32 % of its test photos).
    public mutating func choosingKeptFloat(
        calibration: Calibration, photos: [String], rankingPhotos: [String], threads: Int, lanes: (InspectionModel) throws -> [Classifier]
    ) throws -> String {
        let float = try Self.records(of: model, photos: photos, lanes: lanes)
        func agreement(keeping kept: [String]) throws -> Agreement {
            keptFloat = Set(kept)
            let data = try quantizedFile(calibration)
            let quantized = try InspectionModel(path: "quantized.onnx", onnx: ONNXModel.load(data: data, name: "quantized.onnx"), overrides: .init())
            return self.agreement(float, try Self.records(of: quantized, photos: photos, lanes: lanes))
        }
        func meetsTargets(_ result: Agreement) -> Bool {
            result.decisionShare >= Self.agreementTarget && result.accuracyLoss <= Self.accuracyLossTarget
        }
        func percent(_ share: Double) -> String { String(format: "%.2f %%", 100 * share) }
        func describe(_ result: Agreement) -> String {
            percent(result.decisionShare) + (result.labelled > 0 ? String(format: ", accuracy %.2f points below", 100 * result.accuracyLoss) : "")
        }
        let none = try agreement(keeping: [])
        let basis = "decisions as the float model's on \(photos.count) held-out photos"
        guard !meetsTargets(none) else { return "every convolution int8: \(basis) on \(describe(none))" }
        let ranking = try sensitivity(calibration, photos: Self.evenlyTaken(rankingPhotos, count: 32), threads: threads)
        var best = (count: 0, result: none)
        for count in 1..<(min(Self.mostKeptFloat, ranking.count) + 1) {
            let result = try agreement(keeping: ranking.prefix(count).map(\.convolution))
            if meetsTargets(result) {
                best = (count, result)
                break
            }
            if result.decisionShare > best.result.decisionShare { best = (count, result) }
        }
        let kept = ranking.prefix(best.count)
        keptFloat = Set(kept.map(\.convolution))
        let reached =
            meetsTargets(best.result)
            ? ""
            : " (short of \(percent(Self.agreementTarget)) within \(100 * Self.accuracyLossTarget) points of accuracy, with up to \(Self.mostKeptFloat) kept)"
        return "kept in float, chosen for \(basis): \(describe(best.result))\(reached) against \(describe(none)) with none: " + Self.describe(kept)
    }

    /// How far quantizing each convolution alone (with the input it reads) moves the model's first output:
    /// the largest change of any output value, averaged over the readable `photos`. Most sensitive first.
    public func sensitivity(_ calibration: Calibration, photos: [String], threads: Int, decoder: ImageDecoder = ImageDecoder()) throws -> [(
        convolution: String, change: Float
    )] {
        let inputName = graph.inputs[0].name, outputName = graph.outputs[0]
        let inputs = photos.compactMap { try? input(from: $0, decoder: decoder) }
        let float = try Engine(graph: graph, batchSize: 1, threads: threads)
        let expected = try inputs.map { try float.run([inputName: $0])[outputName]?.data ?? [] }
        return try quantizable.map { name in
            let alone = Quantization.quantized(graph, ranges: calibration.ranges, convolutions: [name], weightBits: weightBits)
            let engine = try Engine(graph: alone, batchSize: 1, threads: threads)
            var total: Float = 0
            for (input, reference) in zip(inputs, expected) {
                let values = try engine.run([inputName: input])[outputName]?.data ?? []
                total += zip(values, reference).reduce(0) { max($0, abs($1.0 - $1.1)) }
            }
            return (name, total / Float(max(1, inputs.count)))
        }.sorted { $0.change > $1.change }
    }

    /// A threshold and review band set on the quantized model's own scores, and how.
    public struct Recalibration: Sendable {
        public var threshold: Float
        public var reviewBand: ModelMetadata.ReviewBand?
        /// What set it, in plain words, for the provenance.
        public var basis: String
        /// A gated model's anomaly gate, set again too.
        public var gate: GateRecalibration?

        public init(threshold: Float, reviewBand: ModelMetadata.ReviewBand?, basis: String, gate: GateRecalibration? = nil) {
            (self.threshold, self.reviewBand, self.basis, self.gate) = (threshold, reviewBand, basis, gate)
        }
    }

    /// A gated model's anomaly gate set on the quantized model's own anomaly scores: the scores that the
    /// new threshold passes are multiplied by `scale` so that the threshold reads 1.0 again.
    public struct GateRecalibration: Sendable {
        public var scale: Float
        public var reviewBand: ModelMetadata.ReviewBand
        public var basis: String

        public init(scale: Float, reviewBand: ModelMetadata.ReviewBand, basis: String) {
            (self.scale, self.reviewBand, self.basis) = (scale, reviewBand, basis)
        }
    }

    /// The quantized model as an ONNX file (QDQ), keeping the model's metadata (with the classifier's
    /// threshold and band of `recalibration` when given) and noting the quantization in its provenance.
    public func quantizedFile(_ calibration: Calibration, recalibration: Recalibration? = nil) throws -> Data {
        var quantized = Quantization.quantized(graph, ranges: calibration.ranges, convolutions: quantizedConvolutions, weightBits: weightBits)
        var metadata = model.resolvedMetadata
        var provenance = metadata.provenance ?? ModelMetadata.Provenance()
        provenance.quantization =
            "auge \(augeVersion) quantize: int8 weights per output channel (symmetric, \(weightBits) bits), uint8 activations "
            + "per tensor, \(method.name) ranges from \(calibration.photos) photos"
            + (keptFloat.isEmpty ? "" : "; kept in float, as the most sensitive: \(keptFloat.sorted().joined(separator: ", "))")
        if let recalibration {
            metadata.threshold = recalibration.threshold
            metadata.reviewBand = recalibration.reviewBand
            provenance.quantization! += "; threshold recalibrated on the quantized model: \(recalibration.basis)"
        }
        if let gate = recalibration?.gate {
            quantized = Self.scalingAnomalyHead(quantized, by: gate.scale)
            metadata.anomalyReviewBand = gate.reviewBand
            metadata.mapRange = metadata.mapRange.map { .init(lower: min(0.9, $0.lower * gate.scale), upper: $0.upper) }
            provenance.quantization! += "; anomaly gate recalibrated on the quantized model: \(gate.basis)"
        }
        metadata.provenance = provenance
        return try exportONNX(graph: quantized, metadata: metadata)
    }

    /// The anomaly head's score and map (a gated model's last two outputs) multiplied by `factor`, and
    /// the score computed from the scaled map: the gate's threshold, 1.0, moves to where 1 / factor was.
    static func scalingAnomalyHead(_ graph: Graph, by factor: Float) -> Graph {
        var graph = graph
        for output in graph.outputs.suffix(2) {
            let unscaled = output + "_before_recalibration", scale = output + "_recalibration"
            for index in graph.nodes.indices {
                graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0 == output ? unscaled : $0 }
                graph.nodes[index].outputs = graph.nodes[index].outputs.map { $0 == output ? unscaled : $0 }
            }
            graph.constants[scale] = Tensor(shape: [1], data: [factor])
            graph.nodes.append(Node(name: scale, operation: .mul, inputs: [unscaled, scale], outputs: [output]))
        }
        return graph
    }

    /// A model's scores of each photo in a folder named after one of its labels, and whether that label
    /// is a defect: what a threshold is calibrated on.
    public struct LabelledScores: Sendable {
        public var defectProbabilities: [Float] = []
        public var isDefect: [Bool] = []
        /// A gated model's anomaly scores of the same photos (else empty).
        public var anomalyScores: [Float] = []
    }

    /// Nil without OK labels (no threshold).
    public static func labelledScores(
        of model: InspectionModel, photos: [String], lanes: (InspectionModel) throws -> [Classifier]
    ) throws -> LabelledScores? {
        guard !model.policy.okLabels.isEmpty else { return nil }
        var result = LabelledScores()
        InspectionPipeline(lanes: try lanes(model)).run(photos) { record in
            guard let truth = truth(of: record.path, in: model), let score = record.defectProbability else { return }
            result.defectProbabilities.append(score)
            result.isDefect.append(!model.policy.okLabels.contains(truth))
            if let anomalyScore = record.anomalyScore { result.anomalyScores.append(anomalyScore) }
        }
        return result
    }

    /// How the quantized model's answers compare with the float one's on the same photos.
    public struct Agreement: Sendable {
        /// Photos both models decided (unreadable ones are left out).
        public var photos: Int
        public var sameDecision: Int
        public var sameLabel: Int
        /// Photos in a folder named after one of the model's labels, and how many each model got right.
        public var labelled: Int
        public var floatRight: Int
        public var quantizedRight: Int

        public var decisionShare: Double { Double(sameDecision) / Double(max(1, photos)) }
        /// How far the quantized model's accuracy falls below the float model's (0 without labelled photos).
        public var accuracyLoss: Double { Double(floatRight - quantizedRight) / Double(max(1, labelled)) }

        public var report: String {
            func percent(_ part: Int, _ whole: Int) -> String { String(format: "%.2f %%", 100 * Double(part) / Double(max(1, whole))) }
            var text = "check on \(photos) photos: decisions agree on \(percent(sameDecision, photos)), labels on \(percent(sameLabel, photos))"
            if labelled > 0 {
                text += "\naccuracy on \(labelled) labelled photos: float \(percent(floatRight, labelled)), int8 \(percent(quantizedRight, labelled))"
            }
            return text
        }
    }

    /// Runs the float and the quantized model over `photos`; a photo's class is its folder's name where
    /// that is one of the model's labels.
    public func agreement(with quantized: InspectionModel, photos: [String], lanes: (InspectionModel) throws -> [Classifier]) throws -> Agreement {
        agreement(try Self.records(of: model, photos: photos, lanes: lanes), try Self.records(of: quantized, photos: photos, lanes: lanes))
    }

    private static func records(of model: InspectionModel, photos: [String], lanes: (InspectionModel) throws -> [Classifier]) throws -> [InspectionRecord] {
        var result: [InspectionRecord] = []
        InspectionPipeline(lanes: try lanes(model)).run(photos) { result.append($0) }
        return result
    }

    /// The float model's and the quantized model's records of the same photos, compared.
    private func agreement(_ float: [InspectionRecord], _ quantized: [InspectionRecord]) -> Agreement {
        let decided = zip(float, quantized).filter { $0.0.error == nil && $0.1.error == nil }
        let labelled = decided.compactMap { pair -> (truth: String, float: String?, int8: String?)? in
            Self.truth(of: pair.0.path, in: model).map { ($0, pair.0.label, pair.1.label) }
        }
        return Agreement(
            photos: decided.count, sameDecision: decided.filter { $0.0.decision == $0.1.decision }.count,
            sameLabel: decided.filter { $0.0.label == $0.1.label }.count, labelled: labelled.count,
            floatRight: labelled.filter { $0.float == $0.truth }.count, quantizedRight: labelled.filter { $0.int8 == $0.truth }.count)
    }

    /// The float and the quantized model's latency on this machine: whether the int8 file is worth using here.
    public struct Speed: Sendable {
        public var threads: Int
        /// Median ms per photo (batch 1, the network alone), timed side by side.
        public var floatMs: Double
        public var quantizedMs: Double
        /// The int8 GEMM this CPU and build run (`avx512-vnni`, `avx2`, `portable`), and whether the quantized
        /// model ran on it (`Int8Execution.automatic`) or in float.
        public var int8Path: String
        public var int8Kernels: Bool

        public var report: String {
            let threadWord = threads == 1 ? "one thread" : "\(threads) threads"
            let how = int8Kernels ? "int8 kernels \(int8Path)" : "no AVX-512 VNNI: the int8 model runs in float"
            var text = String(format: "speed on this machine (%@, %@): float %.2f ms, int8 %.2f ms per photo", threadWord, how, floatMs, quantizedMs)
            // Within 5 %: the same, on a machine that is rarely quiet.
            if quantizedMs < 0.95 * floatMs {
                text += String(format: ": the int8 model is %.2fx as fast", floatMs / quantizedMs)
            } else {
                text += String(format: ": the int8 model is not faster here (%.2fx the float model's time)", quantizedMs / floatMs)
                if int8Path != "avx512-vnni" {
                    text += "; without AVX-512 VNNI this CPU multiplies int8 no faster than float: run the float model on it"
                }
            }
            return text
        }
    }

    /// Times this model's network and `quantized`'s side by side at batch 1 (about 2 s).
    public func speed(of quantized: InspectionModel, threads: Int = 1) throws -> Speed {
        let engines = try [model, quantized].map { try Engine(graph: $0.onnx.graph, batchSize: 1, threads: threads) }
        let times = Benchmark.sideBySide(engines)
        return Speed(
            threads: threads, floatMs: times[0], quantizedMs: times[1], int8Path: int8GemmPathName, int8Kernels: engines[1].runsInt8Kernels)
    }

    /// Up to `count` of `photos`, taken evenly.
    public static func evenlyTaken(_ photos: [String], count: Int) -> [String] {
        guard photos.count > count else { return photos }
        // Spread over the whole (sorted by class) list, so that every class is calibrated on.
        return (0..<count).map { photos[$0 * photos.count / count] }
    }
}
