import AugeEngine
import Foundation

/// Times training steps (forward, loss, backward, AdamW update) on random inputs, without decoding
/// or augmentation: the compute part of training throughput.
public enum TrainingBenchmark {
    public struct LayerTime: Sendable {
        public var layer: String
        public var output: Shape
        public var forwardMilliseconds: Double
        public var backwardMilliseconds: Double
    }

    public struct Result: Sendable {
        /// Median over the timed steps.
        public var stepMilliseconds: Double
        public var imagesPerSecond: Double
        /// Medians per layer (timed in separate passes).
        public var layers: [LayerTime]
        public var parameterCount: Int
    }

    public static func run(architecture: Architecture, input: Shape, batch: Int, threads: Int, steps: Int) -> Result {
        let workers = Workers(count: threads)
        let network = Network(architecture: architecture, input: input, classes: 2, seed: 1)
        network.reserve(batch: batch, workers: workers)
        var generator = SeededGenerator(seed: 2)
        for i in 0..<(batch * input.count) { network.input[i] = generator.nextGaussian() }
        let labels = (0..<batch).map { $0 % 2 }
        let probabilities = Buffer(count: batch * 2)
        var optimizer = Optimizer(settings: OptimizerSettings())
        func step() {
            let logits = network.forward(batch: batch, training: true, workers: workers)
            _ = SoftmaxCrossEntropy.evaluate(logits: logits, labels: labels, classWeights: [1, 1], classes: 2,
                                             probabilities: probabilities.pointer, logitGradient: network.logitGradient)
            network.backward(batch: batch, workers: workers)
            optimizer.update(network.parameters, learningRate: 1e-4)
        }
        step()
        let stepTimes = (0..<steps).map { _ in milliseconds(step) }

        let layers = network.layers
        var forward = [[Double]](repeating: [], count: layers.count), backward = forward
        let activations = [Buffer(count: batch * input.count)] + layers.map { Buffer(count: batch * $0.outputShape.count) }
        let gradients = activations.map { Buffer(count: $0.count, value: 1e-3) }
        for _ in 0..<steps {
            for (i, layer) in layers.enumerated() {
                forward[i].append(milliseconds {
                    layer.forward(activations[i].pointer, activations[i + 1].pointer, batch: batch, training: true, workers: workers)
                })
            }
            for (i, layer) in layers.enumerated().reversed() {
                backward[i].append(milliseconds {
                    layer.backward(input: activations[i].pointer, output: activations[i + 1].pointer, outputGradient: gradients[i + 1].pointer,
                                   inputGradient: i == 0 ? nil : gradients[i].pointer, batch: batch, workers: workers)
                })
            }
        }
        let layerTimes = layers.indices.map {
            LayerTime(layer: String(describing: type(of: layers[$0])), output: layers[$0].outputShape,
                      forwardMilliseconds: median(forward[$0]), backwardMilliseconds: median(backward[$0]))
        }
        let stepMedian = median(stepTimes)
        return Result(stepMilliseconds: stepMedian, imagesPerSecond: Double(batch) / stepMedian * 1000, layers: layerTimes,
                      parameterCount: network.parameterCount)
    }

    private static func milliseconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    private static func median(_ values: [Double]) -> Double {
        values.sorted()[values.count / 2]
    }
}
