import AugeEngine
import AugeImage
import Foundation

/// A model ready to inspect photos: the planned network, the preprocessing its input needs and the
/// policy that turns its class probabilities into decisions.
public final class Classifier: @unchecked Sendable {
    public let preprocessing: Preprocessing
    public let policy: DecisionPolicy
    public let engine: Engine
    /// Whether the network ends in its own Softmax; otherwise its outputs are logits and a softmax is applied.
    public let outputsProbabilities: Bool
    /// The preprocessed photo of `inspect`, reused: like the engine, a classifier serves one photo at a time.
    private let input: UnsafeMutablePointer<Float>

    public struct ModelMismatch: Error, CustomStringConvertible {
        public let description: String
    }

    public init(graph: Graph, preprocessing: Preprocessing, policy: DecisionPolicy, threads: Int) throws {
        try preprocessing.validate()
        try policy.validate()
        guard graph.inputs.count == 1, graph.outputs.count == 1 else {
            throw ModelMismatch(description: "an inspection model has one input and one output; this one has "
                + "\(graph.inputs.count) inputs and \(graph.outputs.count) outputs")
        }
        let engine = try Engine(graph: graph, batchSize: 1, threads: threads)
        let inputShape = engine.inputShapes[engine.inputNames[0]]!
        let expected = [1, preprocessing.color.channels, preprocessing.height, preprocessing.width]
        guard inputShape == expected else {
            throw ModelMismatch(description: "the model's input is \(inputShape) (NCHW) but the preprocessing gives \(expected)")
        }
        let outputCount = engine.outputShapes[engine.outputNames[0]]!.reduce(1, *)
        guard outputCount == policy.labels.count else {
            throw ModelMismatch(description: "the model outputs \(outputCount) scores but has \(policy.labels.count) labels")
        }
        self.engine = engine
        self.preprocessing = preprocessing
        self.policy = policy
        outputsProbabilities = graph.nodes.last { $0.outputs.contains(graph.outputs[0]) }.map {
            if case .softmax = $0.operation { return true } else { return false }
        } ?? false
        input = .allocate(capacity: preprocessing.tensorCount)
    }

    deinit { input.deallocate() }

    /// Class probabilities for one preprocessed input tensor (planar, `preprocessing.tensorCount` floats).
    public func probabilities(for tensor: UnsafePointer<Float>) -> [Float] {
        var scores = [Float](repeating: 0, count: policy.labels.count)
        scores.withUnsafeMutableBufferPointer { engine.run(input: tensor, output: $0.baseAddress!) }
        return outputsProbabilities ? scores : softmax(scores)
    }

    /// The record for one photo whose probabilities are known.
    public func record(path: String, probabilities: [Float], ms: Double, includeScores: Bool) -> InspectionRecord {
        let (label, score, defectProbability, decision) = policy.decide(probabilities)
        return InspectionRecord(path: path, label: label, score: score, decision: decision, ms: ms,
                                defectProbability: defectProbability,
                                scores: includeScores ? Dictionary(uniqueKeysWithValues: zip(policy.labels, probabilities)) : nil)
    }

    /// Reads, decodes, preprocesses and classifies one photo; a photo that cannot be read gets an error
    /// record. With `explanation`, photos whose decision it names are also explained (`explain`); `ms`
    /// is the time to the decision, without the explanation.
    public func inspect(path: String, decoder: ImageDecoder, includeScores: Bool = false,
                        explanation: ExplanationSettings? = nil) -> InspectionRecord {
        let start = DispatchTime.now().uptimeNanoseconds
        let image: Image
        do {
            image = try decoder.decode(fileAt: path, for: preprocessing)
            try preprocessing.writeTensor(from: image, to: input)
        } catch {
            return .failure(path: path, error: (error as? ImageError)?.reasonText ?? "\(error)",
                            ms: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let probabilities = self.probabilities(for: input)
        var record = record(path: path, probabilities: probabilities, ms: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6,
                            includeScores: includeScores)
        if let explanation, explanation.decisions.contains(record.decision) {
            explain(&record, image: image, tensor: input, probabilities: probabilities, settings: explanation)
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
