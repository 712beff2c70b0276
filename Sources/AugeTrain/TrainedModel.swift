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

    public static func load(from path: String) throws -> TrainedModel {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let model = try? JSONDecoder().decode(TrainedModel.self, from: data) else {
            throw DatasetError(description: "\(path) is not a model file written by auge train")
        }
        return model
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    var inputShape: Shape {
        Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
    }

    func makeNetwork() -> Network {
        let network = Network(architecture: architecture, input: inputShape, classes: labels.count, seed: 0)
        network.state = state
        return network
    }

    /// The inference graph: input "input" [N, C, H, W] (the preprocessing's normalised tensor),
    /// output "probabilities" [N, labels]. Batch normalisation stays as nodes with running statistics.
    public func exportGraph() -> Graph {
        makeNetwork().exportGraph(name: "auge-\(architecture.rawValue)")
    }
}

/// Runs a trained model on photos, decoding and preprocessing them exactly as training did.
public final class Classifier {
    public let model: TrainedModel
    private let network: Network
    private let workers: Workers
    public let batchSize: Int

    public init(model: TrainedModel, threads: Int, batchSize: Int = 32) {
        self.model = model
        network = model.makeNetwork()
        workers = Workers(count: threads)
        self.batchSize = batchSize
        network.reserve(batch: batchSize, workers: workers)
    }

    /// Class probabilities per photo, or the error that stopped its decoding.
    public func classify(_ paths: [String], progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) -> [Result<[Float], Error>] {
        let preprocessing = model.preprocessing
        var results: [Result<[Float], Error>] = []
        results.reserveCapacity(paths.count)
        let shape = model.inputShape
        var start = 0
        while start < paths.count {
            let chunk = Array(paths[start..<min(paths.count, start + batchSize)])
            var errors = [Error?](repeating: nil, count: chunk.count)
            let input = network.input
            errors.withUnsafeMutableBufferPointer { errors in
                workers.forEachShare(of: chunk.count) { _, slots in
                    let decoder = ImageDecoder()
                    var planar = [Float](repeating: 0, count: shape.count)
                    for slot in slots {
                        do {
                            try writeModelInput(chunk[slot], preprocessing: preprocessing, decoder: decoder, scratch: &planar,
                                                into: input + slot * shape.count)
                        } catch {
                            errors[slot] = error
                            (input + slot * shape.count).update(repeating: 0, count: shape.count)
                        }
                    }
                }
            }
            // The chunk fits one batch and its inputs are in place already.
            let rows = network.predict(count: chunk.count, workers: workers) { _, _ in }
            for (slot, row) in rows.enumerated() {
                results.append(errors[slot].map { .failure($0) } ?? .success(row))
            }
            start += chunk.count
            progress(start, paths.count)
        }
        return results
    }
}
