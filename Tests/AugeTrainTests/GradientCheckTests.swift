import AugeEngine
@testable import AugeTrain
import XCTest

/// Every backward pass against central finite differences of L = sum(output * r) for a random r.
final class GradientCheckTests: XCTestCase {
    let workers = Workers(count: 2)

    func testConvolutionStride2Padding1WithOddChannels() {
        var generator = SeededGenerator(seed: 1)
        let layer = Convolution2D(
            input: Shape(height: 7, width: 6, channels: 3), outputChannels: 5, kernel: 3, stride: 2, padding: 1,
            generator: &generator)
        checkGradients(of: layer, batch: 3)
    }

    func testConvolutionStride1WithFullRegisterTiles() {
        var generator = SeededGenerator(seed: 2)
        let layer = Convolution2D(
            input: Shape(height: 5, width: 9, channels: 8), outputChannels: 16, kernel: 3, stride: 1, padding: 1,
            generator: &generator)
        checkGradients(of: layer, batch: 3)
    }

    func testConvolutionWithoutPadding() {
        var generator = SeededGenerator(seed: 3)
        let layer = Convolution2D(
            input: Shape(height: 6, width: 5, channels: 4), outputChannels: 24, kernel: 3, stride: 1, padding: 0,
            generator: &generator)
        checkGradients(of: layer, batch: 2)
    }

    func testPointwiseConvolution() {
        var generator = SeededGenerator(seed: 4)
        let layer = Convolution2D(
            input: Shape(height: 3, width: 5, channels: 16), outputChannels: 8, kernel: 1, stride: 1, padding: 0,
            generator: &generator)
        checkGradients(of: layer, batch: 3)
    }

    func testConvolutionWithBias() {
        var generator = SeededGenerator(seed: 12)
        let layer = Convolution2D(
            input: Shape(height: 5, width: 4, channels: 3), outputChannels: 5, kernel: 3, stride: 1, padding: 1,
            generator: &generator)
        layer.bias = randomBias(count: 5, generator: &generator)
        checkGradients(of: layer, batch: 2)
    }

    func testDepthwiseConvolutionWithBias() {
        var generator = SeededGenerator(seed: 13)
        let layer = DepthwiseConvolution2D(input: Shape(height: 5, width: 6, channels: 7), kernel: 3, stride: 2, padding: 1, generator: &generator)
        layer.bias = randomBias(count: 7, generator: &generator)
        checkGradients(of: layer, batch: 2)
    }

    private func randomBias(count: Int, generator: inout SeededGenerator) -> Parameter {
        let bias = Parameter(name: "bias", count: count, decays: false)
        for i in 0..<count { bias.value.pointer[i] = generator.nextGaussian() }
        return bias
    }

    func testDepthwiseConvolution() {
        var generator = SeededGenerator(seed: 5)
        let layer = DepthwiseConvolution2D(input: Shape(height: 6, width: 7, channels: 8), kernel: 3, stride: 1, padding: 1, generator: &generator)
        checkGradients(of: layer, batch: 3)
    }

    func testDepthwiseConvolutionStride2() {
        var generator = SeededGenerator(seed: 6)
        let layer = DepthwiseConvolution2D(input: Shape(height: 7, width: 6, channels: 3), kernel: 3, stride: 2, padding: 1, generator: &generator)
        checkGradients(of: layer, batch: 3)
    }

    func testBatchNormalizationInTrainingMode() {
        let layer = BatchNormalization2D(input: Shape(height: 4, width: 3, channels: 6))
        var generator = SeededGenerator(seed: 7)
        for i in 0..<6 {
            layer.scale.value.pointer[i] = generator.nextFloat(in: 0.5...2)
            layer.shift.value.pointer[i] = generator.nextFloat(in: -1...1)
        }
        checkGradients(of: layer, batch: 3)
    }

    func testReLU() {
        checkGradients(of: ReLU(input: Shape(height: 3, width: 4, channels: 5)), batch: 3, kinks: [0])
    }

    func testReLU6() {
        // A ceiling of 1 puts many standard-normal inputs above it.
        checkGradients(of: ReLU(input: Shape(height: 3, width: 4, channels: 5), ceiling: 1), batch: 3, kinks: [0, 1])
    }

    func testBatchNormalizationWithFrozenStatistics() {
        let layer = BatchNormalization2D(input: Shape(height: 3, width: 4, channels: 5), epsilon: 1e-3, frozenStatistics: true)
        var generator = SeededGenerator(seed: 10)
        for i in 0..<5 {
            layer.scale.value.pointer[i] = generator.nextFloat(in: 0.5...2)
            layer.shift.value.pointer[i] = generator.nextFloat(in: -1...1)
            layer.runningMean.pointer[i] = generator.nextFloat(in: -1...1)
            layer.runningVariance.pointer[i] = generator.nextFloat(in: 0.2...3)
        }
        let statistics = layer.state.map(\.array)
        checkGradients(of: layer, batch: 3)
        XCTAssertEqual(layer.state.map(\.array), statistics, "training forward passes leave frozen statistics alone")
    }

    func testResidualBlock() {
        var generator = SeededGenerator(seed: 11)
        let shape = Shape(height: 5, width: 4, channels: 3)
        let normalization = BatchNormalization2D(input: shape, frozenStatistics: true)
        normalization.runningVariance.load([0.5, 2, 1])
        let block = Residual(layers: [
            Convolution2D(input: shape, outputChannels: 3, kernel: 3, stride: 1, padding: 1, generator: &generator),
            normalization,
            DepthwiseConvolution2D(input: shape, kernel: 3, stride: 1, padding: 1, generator: &generator),
        ])
        checkGradients(of: block, batch: 2)
    }

    func testMaxPooling() {
        checkGradients(of: MaxPooling2D(input: Shape(height: 6, width: 8, channels: 3), kernel: 2, stride: 2), batch: 2, step: 1e-3)
    }

    func testOverlappingMaxPooling() {
        checkGradients(of: MaxPooling2D(input: Shape(height: 7, width: 7, channels: 2), kernel: 3, stride: 2), batch: 2, step: 1e-3)
    }

    func testGlobalAveragePooling() {
        checkGradients(of: GlobalAveragePooling(input: Shape(height: 3, width: 5, channels: 7)), batch: 3)
    }

    func testGlobalMaxPooling() {
        checkGradients(of: GlobalMaxPooling(input: Shape(height: 3, width: 5, channels: 7)), batch: 3, step: 1e-3)
    }

    func testDense() {
        var generator = SeededGenerator(seed: 8)
        checkGradients(of: Dense(input: Shape(height: 1, width: 1, channels: 10), outputs: 4, generator: &generator), batch: 5)
    }

    func testWeightedSoftmaxCrossEntropy() {
        let classes = 3, labels = [0, 2, 1, 2]
        let weights: [Float] = [0.5, 2, 1]
        var generator = SeededGenerator(seed: 9)
        var logits = (0..<(labels.count * classes)).map { _ in 2 * generator.nextGaussian() }
        var probabilities = [Float](repeating: 0, count: logits.count)
        var gradient = [Float](repeating: 0, count: logits.count)
        func loss(_ z: [Float]) -> Double {
            // Reference in double precision: sum_n w * -log softmax / sum_n w.
            var total = 0.0, weightSum = 0.0
            for (n, label) in labels.enumerated() {
                let row = z[(n * classes)..<((n + 1) * classes)].map(Double.init)
                let logSum = log(row.map { exp($0) }.reduce(0, +))
                total += Double(weights[label]) * (logSum - row[label])
                weightSum += Double(weights[label])
            }
            return total / weightSum
        }
        let value = SoftmaxCrossEntropy.evaluate(
            logits: logits, labels: labels, classWeights: weights, classes: classes,
            probabilities: &probabilities, logitGradient: &gradient)
        XCTAssertEqual(Double(value), loss(logits), accuracy: 1e-5)
        for i in logits.indices {
            let saved = logits[i]
            logits[i] = saved + 1e-2
            let up = loss(logits)
            logits[i] = saved - 1e-2
            let down = loss(logits)
            logits[i] = saved
            XCTAssertEqual(Double(gradient[i]), (up - down) / 2e-2, accuracy: 1e-4, "logit \(i)")
        }
    }

    /// Compares the analytic input and parameter gradients with central differences at up to 60
    /// positions per tensor.
    /// Inputs stay 0.1 away from `kinks`, where a finite difference is not a derivative.
    private func checkGradients(
        of layer: Layer, batch: Int, step: Float = 1e-2, kinks: [Float] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var generator = SeededGenerator(seed: 42)
        let inputCount = batch * layer.inputShape.count, outputCount = batch * layer.outputShape.count
        let input = AlignedBuffer(count: inputCount), output = AlignedBuffer(count: outputCount)
        let weights = AlignedBuffer(count: outputCount), inputGradient = AlignedBuffer(count: inputCount)
        for i in 0..<inputCount {
            var x = generator.nextGaussian()
            for kink in kinks where abs(x - kink) < 0.1 { x += x < kink ? -0.1 : 0.1 }
            input.pointer[i] = x
        }
        for i in 0..<outputCount { weights.pointer[i] = generator.nextGaussian() }
        layer.prepare(maxBatch: batch, workers: workers)

        func loss() -> Double {
            layer.forward(input.pointer, output.pointer, batch: batch, training: true, workers: workers)
            var total = 0.0
            for i in 0..<outputCount { total += Double(output.pointer[i]) * Double(weights.pointer[i]) }
            return total
        }
        _ = loss()
        layer.backward(
            input: input.pointer, output: output.pointer, outputGradient: weights.pointer,
            inputGradient: inputGradient.pointer, batch: batch, workers: workers)
        let analytic = [("input", inputGradient.array, input)] + layer.parameters.map { ($0.name, $0.gradient.array, $0.value) }
        for (name, gradient, values) in analytic {
            let positions = values.count <= 60 ? Array(0..<values.count) : (0..<60).map { _ in Int(generator.next() % UInt64(values.count)) }
            for i in positions {
                let saved = values.pointer[i]
                values.pointer[i] = saved + step
                let up = loss()
                values.pointer[i] = saved - step
                let down = loss()
                values.pointer[i] = saved
                let numeric = (up - down) / Double(2 * step)
                let tolerance = 2e-2 * max(1, abs(numeric))
                XCTAssertEqual(Double(gradient[i]), numeric, accuracy: tolerance, "\(type(of: layer)) d/d\(name)[\(i)]", file: file, line: line)
            }
        }
    }
}
