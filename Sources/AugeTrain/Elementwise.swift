import AugeEngine

/// min(max(0, x), ceiling): ReLU, or ReLU6 (ONNX Clip(0, 6)) with a ceiling of 6.
final class ReLU: Layer {
    let inputShape: Shape
    var outputShape: Shape { inputShape }
    let ceiling: Float

    init(input: Shape, ceiling: Float = .infinity) {
        inputShape = input
        self.ceiling = ceiling
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let count = inputShape.count, ceiling = ceiling
        workers.forEachShare(of: batch) { _, images in
            for i in (images.lowerBound &* count)..<(images.upperBound &* count) { output[i] = min(max(input[i], 0), ceiling) }
        }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        guard let dx = inputGradient else { return }
        let count = inputShape.count, ceiling = ceiling
        workers.forEachShare(of: batch) { _, images in
            for i in (images.lowerBound &* count)..<(images.upperBound &* count) {
                dx[i] = output[i] > 0 && output[i] < ceiling ? outputGradient[i] : 0
            }
        }
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let activation: Activation = ceiling == .infinity ? .relu : .clip(min: 0, max: ceiling)
        return [Node(name: name, operation: .activation(activation), inputs: [input], outputs: [output])]
    }
}

/// Max pooling over k x k windows (no padding).
final class MaxPooling2D: Layer {
    let inputShape: Shape
    let outputShape: Shape
    let geometry: WindowGeometry

    convenience init(input: Shape, kernel: Int, stride: Int) {
        self.init(
            input: input,
            window: WindowGeometry(
                inputHeight: input.height, inputWidth: input.width, channels: input.channels,
                kernel: kernel, stride: stride, padding: 0))
    }

    init(input: Shape, window: WindowGeometry) {
        inputShape = input
        geometry = window
        outputShape = Shape(height: window.outputHeight, width: window.outputWidth, channels: input.channels)
    }

    /// Calls `body(outputOffset, inputOffset)` for each output channel value and the input offset of its
    /// window's maximum (the first one on ties).
    @inline(__always)
    private func forEachMaximum(_ x: UnsafePointer<Float>, _ body: (Int, Int) -> Void) {
        let g = geometry, c = g.channels
        for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
                for ch in 0..<c {
                    var best = -Float.infinity, bestOffset = 0
                    for ky in 0..<g.kernelHeight {
                        for kx in 0..<g.kernelWidth {
                            let offset = ((oy &* g.stride &+ ky) &* g.inputWidth &+ ox &* g.stride &+ kx) &* c &+ ch
                            if x[offset] > best { best = x[offset]; bestOffset = offset }
                        }
                    }
                    body((oy &* g.outputWidth &+ ox) &* c &+ ch, bestOffset)
                }
            }
        }
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let (inputCount, outputCount) = (inputShape.count, outputShape.count)
        workers.forEachShare(of: batch) { _, images in
            for n in images {
                let x = input + n &* inputCount, y = output + n &* outputCount
                forEachMaximum(x) { o, i in y[o] = x[i] }
            }
        }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        guard let inputGradient else { return }
        let (inputCount, outputCount) = (inputShape.count, outputShape.count)
        workers.forEachShare(of: batch) { _, images in
            for n in images {
                let x = input + n &* inputCount, dx = inputGradient + n &* inputCount, dy = outputGradient + n &* outputCount
                dx.update(repeating: 0, count: inputCount)
                forEachMaximum(x) { o, i in dx[i] += dy[o] }
            }
        }
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let k = (geometry.kernelHeight, geometry.kernelWidth), s = (geometry.stride, geometry.stride)
        return [Node(name: name, operation: .maxPool(Pooling(kernel: k, strides: s)), inputs: [input], outputs: [output])]
    }
}

/// Mean over all pixels per channel: H x W x C -> 1 x 1 x C.
final class GlobalAveragePooling: Layer {
    let inputShape: Shape
    var outputShape: Shape { Shape(height: 1, width: 1, channels: inputShape.channels) }

    init(input: Shape) {
        inputShape = input
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let c = inputShape.channels, pixels = inputShape.height * inputShape.width, inverse = 1 / Float(pixels)
        for n in 0..<batch {
            let x = input + n &* inputShape.count, y = output + n &* c
            y.update(repeating: 0, count: c)
            for p in 0..<pixels {
                for ch in 0..<c { y[ch] += x[p &* c &+ ch] }
            }
            for ch in 0..<c { y[ch] *= inverse }
        }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        guard let dx = inputGradient else { return }
        let c = inputShape.channels, pixels = inputShape.height * inputShape.width, inverse = 1 / Float(pixels)
        for n in 0..<batch {
            let dy = outputGradient + n &* c, d = dx + n &* inputShape.count
            for p in 0..<pixels {
                for ch in 0..<c { d[p &* c &+ ch] = dy[ch] * inverse }
            }
        }
    }

    /// ONNX GlobalAveragePool keeps 1 x 1 spatial axes; Flatten makes the N x C matrix Gemm expects.
    func graphNodes(name: String, input: String, output: String) -> [Node] {
        [
            Node(name: name, operation: .globalAveragePool, inputs: [input], outputs: [name + "_pooled"]),
            Node(name: name + "_flatten", operation: .flatten(axis: 1), inputs: [name + "_pooled"], outputs: [output]),
        ]
    }
}

/// Maximum over all pixels per channel: H x W x C -> 1 x 1 x C. A defect that covers a few pixels
/// moves the maximum of a channel that responds to it, where an average would dilute it to nothing.
/// It is max pooling with one window over the whole map, exported with a Flatten for the dense layer.
final class GlobalMaxPooling: Layer {
    private let pooling: MaxPooling2D
    var inputShape: Shape { pooling.inputShape }
    var outputShape: Shape { pooling.outputShape }

    init(input: Shape) {
        pooling = MaxPooling2D(
            input: input,
            window: WindowGeometry(
                inputHeight: input.height, inputWidth: input.width, channels: input.channels,
                kernelHeight: input.height, kernelWidth: input.width, stride: max(input.height, input.width), padding: 0))
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        pooling.forward(input, output, batch: batch, training: training, workers: workers)
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        pooling.backward(
            input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
            batch: batch, workers: workers)
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        pooling.graphNodes(name: name, input: input, output: name + "_pooled")
            + [Node(name: name + "_flatten", operation: .flatten(axis: 1), inputs: [name + "_pooled"], outputs: [output])]
    }
}

/// Fully connected layer y = x W + b, W stored [inputs, outputs].
final class Dense: Layer {
    let inputShape: Shape
    let outputShape: Shape
    let weight: Parameter
    let bias: Parameter

    init(input: Shape, outputs: Int, generator: inout SeededGenerator) {
        inputShape = input
        outputShape = Shape(height: 1, width: 1, channels: outputs)
        weight = Parameter(name: "weight", count: input.count * outputs, decays: true)
        bias = Parameter(name: "bias", count: outputs, decays: false)
        // Glorot-style scale: the logits start small, so the first loss is close to log(classes).
        let deviation = (1 / Float(input.count)).squareRoot()
        for i in 0..<weight.count { weight.value.pointer[i] = deviation * generator.nextGaussian() }
    }

    var parameters: [Parameter] { [weight, bias] }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        let (i, o) = (inputShape.count, outputShape.count)
        multiply(
            m: batch, n: o, k: i, a: input, aRowStride: i, aColumnStride: 1, b: weight.value.pointer, bRowStride: o,
            c: output, cRowStride: o, accumulate: false)
        for n in 0..<batch {
            for j in 0..<o { output[n &* o &+ j] += bias.value.pointer[j] }
        }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        let (i, o) = (inputShape.count, outputShape.count), dy = outputGradient
        multiply(
            m: i, n: o, k: batch, a: input, aRowStride: 1, aColumnStride: i, b: dy, bRowStride: o,
            c: weight.gradient.pointer, cRowStride: o, accumulate: false)
        let db = bias.gradient.pointer, w = weight.value.pointer
        db.update(repeating: 0, count: o)
        for n in 0..<batch {
            for j in 0..<o { db[j] += dy[n &* o &+ j] }
        }
        guard let dx = inputGradient else { return }
        for n in 0..<batch {
            for k in 0..<i {
                var sum: Float = 0
                for j in 0..<o { sum = sum.addingProduct(dy[n &* o &+ j], w[k &* o &+ j]) }
                dx[n &* i &+ k] = sum
            }
        }
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        let (i, o) = (inputShape.count, outputShape.count)
        let layer = FullyConnected(
            weight: Tensor(shape: [i, o], data: weight.value.array),
            bias: Tensor(shape: [o], data: bias.value.array), transB: false)
        return [Node(name: name, operation: .fullyConnected(layer), inputs: [input], outputs: [output])]
    }
}
