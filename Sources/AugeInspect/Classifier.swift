import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// A model ready to inspect photos: the planned network, the preprocessing its input needs and the
/// policy that turns its answer into decisions. The answer is class probabilities (a classifier),
/// an anomaly score with its map (an anomaly model, `policy.kind == .anomaly`), or both (`.gated`).
public final class Classifier: @unchecked Sendable {
    public let preprocessing: Preprocessing
    public let policy: DecisionPolicy
    public let engine: Engine
    /// Whether the network ends in its own Softmax; otherwise its outputs are logits and a softmax is applied.
    public let outputsProbabilities: Bool
    /// An anomaly model's map: cells down and across its input, and the values heatmaps draw from cold to hot.
    public let anomalyMap: (rows: Int, columns: Int, range: ClosedRange<Float>)?
    /// The preprocessed photo of `inspect`, reused: like the engine, a classifier serves one photo at a time.
    private let input: UnsafeMutablePointer<Float>
    /// The outputs, reused: a gated model's class scores, then an anomaly head's score and map.
    private let classScores: UnsafeMutablePointer<Float>
    private let score: UnsafeMutablePointer<Float>
    private let map: UnsafeMutablePointer<Float>
    private let outputBuffers: [UnsafeMutablePointer<Float>]

    public struct ModelMismatch: Error, CustomStringConvertible {
        public let description: String
    }

    /// What the network says of one input.
    public enum Answer: Sendable, Equatable {
        case probabilities([Float])
        /// The anomaly score (1.0 = the threshold the model was calibrated for) and the map it is the
        /// largest value of (row-major, `anomalyMap.rows` x `anomalyMap.columns`).
        case anomaly(score: Float, map: [Float])
        /// A gated model's class probabilities and anomaly head.
        case gated(probabilities: [Float], score: Float, map: [Float])

        public var values: [Float] {
            switch self {
            case let .probabilities(p): return p
            case let .anomaly(score, map): return [score] + map
            case let .gated(p, score, map): return p + [score] + map
            }
        }
    }

    /// `mapRange`: an anomaly model's heatmap range (from its metadata); by default 0.5...1.5 of the threshold.
    public init(
        graph: Graph, preprocessing: Preprocessing, policy: DecisionPolicy, threads: Int,
        mapRange: ModelMetadata.ReviewBand? = nil
    ) throws {
        try preprocessing.validate()
        try policy.validate()
        let outputs = policy.kind.outputCount
        guard graph.inputs.count == 1, graph.outputs.count == outputs else {
            throw ModelMismatch(
                description: "this kind of model (\(policy.kind.rawValue)) has one input and \(outputs) output(s); this one has "
                    + "\(graph.inputs.count) inputs and \(graph.outputs.count) outputs")
        }
        let engine = try Engine(graph: graph, batchSize: 1, threads: threads)
        let inputShape = engine.inputShapes[engine.inputNames[0]]!
        let expected = [1, preprocessing.color.channels, preprocessing.height, preprocessing.width]
        guard inputShape == expected else {
            throw ModelMismatch(description: "the model's input is \(inputShape) (NCHW) but the preprocessing gives \(expected)")
        }
        let outputCount = engine.outputShapes[engine.outputNames[0]]!.reduce(1, *)
        if policy.kind.hasAnomalyHead {
            let scoreCount = engine.outputShapes[engine.outputNames[outputs - 2]]!.reduce(1, *)
            let mapShape = engine.outputShapes[engine.outputNames[outputs - 1]]!
            guard scoreCount == 1, mapShape.count == 4, mapShape[1] == 1 else {
                throw ModelMismatch(description: "an anomaly head outputs a score [1, 1] and a map [1, 1, h, w], not \(scoreCount) values and \(mapShape)")
            }
            // The anomaly score's threshold: the policy's for an anomaly model, 1.0 for a gated one.
            let threshold = policy.kind == .anomaly ? policy.threshold : DecisionPolicy.gateThreshold
            let range = mapRange.map { $0.lower...$0.upper } ?? (0.5 * threshold)...(1.5 * threshold)
            anomalyMap = (mapShape[2], mapShape[3], range)
        } else {
            anomalyMap = nil
        }
        if policy.kind != .anomaly, outputCount != policy.labels.count {
            throw ModelMismatch(description: "the model outputs \(outputCount) scores but has \(policy.labels.count) labels")
        }
        self.engine = engine
        self.preprocessing = preprocessing
        self.policy = policy
        outputsProbabilities =
            graph.nodes.last { $0.outputs.contains(graph.outputs[0]) }.map {
                if case .softmax = $0.operation { return true } else { return false }
            } ?? false
        input = .allocate(capacity: preprocessing.tensorCount)
        classScores = .allocate(capacity: policy.labels.count)
        score = .allocate(capacity: 1)
        map = .allocate(capacity: max(1, (anomalyMap?.rows ?? 1) * (anomalyMap?.columns ?? 1)))
        outputBuffers = policy.kind == .gated ? [classScores, score, map] : [score, map]
    }

    deinit {
        input.deallocate()
        classScores.deallocate()
        score.deallocate()
        map.deallocate()
    }

    /// Class probabilities for one preprocessed input tensor (planar, `preprocessing.tensorCount` floats);
    /// classifiers and gated models.
    public func probabilities(for tensor: UnsafePointer<Float>) -> [Float] {
        precondition(policy.kind != .anomaly, "an anomaly model gives an anomaly score, not probabilities: use answer(for:)")
        if policy.kind == .gated {
            engine.run(input: tensor, outputs: outputBuffers)
        } else {
            engine.run(input: tensor, output: classScores)
        }
        let scores = Array(UnsafeBufferPointer(start: classScores, count: policy.labels.count))
        return outputsProbabilities ? scores : softmax(scores)
    }

    /// The network's answer for one preprocessed input tensor, whatever the kind of model.
    public func answer(for tensor: UnsafePointer<Float>) -> Answer {
        guard let anomalyMap else { return .probabilities(probabilities(for: tensor)) }
        let cells = { Array(UnsafeBufferPointer(start: self.map, count: anomalyMap.rows * anomalyMap.columns)) }
        if policy.kind == .gated {
            let probabilities = probabilities(for: tensor)
            return .gated(probabilities: probabilities, score: score[0], map: cells())
        }
        engine.run(input: tensor, outputs: outputBuffers)
        return .anomaly(score: score[0], map: cells())
    }

    /// The record for one photo whose probabilities are known.
    public func record(path: String, probabilities: [Float], ms: Double, includeScores: Bool) -> InspectionRecord {
        let (label, score, defectProbability, decision) = policy.decide(probabilities)
        return InspectionRecord(
            path: path, label: label, score: score, decision: decision, ms: ms,
            defectProbability: defectProbability,
            scores: includeScores ? Dictionary(uniqueKeysWithValues: zip(policy.labels, probabilities)) : nil)
    }

    /// The record for one answer: `score` is the chosen label's probability, or the anomaly score.
    public func record(path: String, answer: Answer, ms: Double, includeScores: Bool) -> InspectionRecord {
        switch answer {
        case let .probabilities(probabilities):
            return record(path: path, probabilities: probabilities, ms: ms, includeScores: includeScores)
        case let .anomaly(score, map):
            let (label, decision) = policy.decide(anomalyScore: score)
            var record = InspectionRecord(path: path, label: label, score: score, decision: decision, ms: ms)
            record.anomalyScore = score
            if includeScores { record.anomalyMap = map }
            return record
        case let .gated(probabilities, score, map):
            let decided = policy.decide(probabilities: probabilities, anomalyScore: score)
            var record = InspectionRecord(
                path: path, label: decided.label, score: decided.score, decision: decided.decision, ms: ms,
                defectProbability: decided.defectProbability,
                scores: includeScores ? Dictionary(uniqueKeysWithValues: zip(policy.labels, probabilities)) : nil)
            record.anomalyScore = score
            if includeScores { record.anomalyMap = map }
            return record
        }
    }

    /// Reads, decodes, preprocesses and inspects one photo; a photo that cannot be read gets an error
    /// record. With `explanation`, photos whose decision it names are also explained (`explain`); `ms`
    /// is the time to the decision, without the explanation.
    public func inspect(
        path: String, decoder: ImageDecoder, includeScores: Bool = false,
        explanation: ExplanationSettings? = nil
    ) -> InspectionRecord {
        let start = DispatchTime.now().uptimeNanoseconds
        let image: Image
        do {
            image = try decoder.decode(fileAt: path, for: preprocessing)
            try preprocessing.writeTensor(from: image, to: input)
        } catch {
            return .failure(
                path: path, error: (error as? ImageError)?.reasonText ?? "\(error)",
                ms: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let answer = self.answer(for: input)
        var record = record(
            path: path, answer: answer, ms: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6,
            includeScores: includeScores)
        if let explanation, explanation.decisions.contains(record.decision) {
            explain(&record, image: image, tensor: input, answer: answer, settings: explanation)
        }
        return record
    }

    private func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let exps = logits.map { expf($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
