import AugeEngine

extension Backbone {
    /// Pretrained layers learn at this share of the head's learning rate, so fine-tuning adjusts
    /// their features instead of overwriting them.
    static let fineTuningRateScale: Float = 0.1

    /// The trainable nodes as trainer layers (NHWC) holding the pretrained weights, with batch
    /// normalisation's statistics frozen.
    func trainableLayers() throws -> [Layer] {
        let layers = try Self.layers(from: trainableNodes, input: Self.featuresValue, shape: featureShape, backbone: name)
        for parameter in layers.flatMap(\.parameters) { parameter.learningRateScale = Self.fineTuningRateScale }
        return layers
    }

    private static func layers(from nodes: [Node], input: String, shape: Shape, backbone: String) throws -> [Layer] {
        func fail(_ node: Node, _ message: String) -> DatasetError {
            DatasetError(description: "backbone \(backbone): cannot fine-tune node \(node.name): \(message)")
        }
        var layers: [Layer] = []
        var shape = shape, value = input
        for segment in segments(nodes, input: input) {
            let last = nodes[segment.upperBound - 1]
            if segment.count == 1 {
                if let layer = try layer(for: last, input: shape, fail: { fail(last, $0) }) {
                    layers.append(layer)
                    shape = layer.outputShape
                }
            } else {
                // A residual block: a chain of nodes from the block's input, added to that input.
                guard last.operation == .add, last.inputs.count == 2, let skip = last.inputs.firstIndex(of: value) else {
                    throw fail(last, "only branching blocks of the form x + f(x) can be fine-tuned")
                }
                let chain = Array(nodes[segment.dropLast()])
                guard zip(chain, [value] + chain.map { $0.outputs[0] }).allSatisfy({ $0.inputs.first == $1 && $0.inputs.count == 1 }),
                    chain.last?.outputs[0] == last.inputs[1 - skip]
                else {
                    throw fail(last, "the branch of this residual block is not a chain of single-input layers")
                }
                let inner = try Self.layers(from: chain, input: value, shape: shape, backbone: backbone)
                guard let output = inner.last?.outputShape, output == shape else { throw fail(last, "the residual branch changes the shape") }
                layers.append(Residual(layers: inner))
            }
            value = last.outputs[0]
        }
        return layers
    }

    /// One node as a layer with its weights (nil for an identity).
    private static func layer(for node: Node, input: Shape, fail: (String) -> DatasetError) throws -> Layer? {
        switch node.operation {
        case .identity:
            return nil
        case .activation(.relu):
            return ReLU(input: input)
        case .activation(.clip(let low, let high)) where low == 0:
            return ReLU(input: input, ceiling: high)
        case .batchNormalization(let b):
            let layer = BatchNormalization2D(input: input, epsilon: b.epsilon, frozenStatistics: true)
            layer.scale.value.load(b.scale)
            layer.shift.value.load(b.bias)
            layer.runningMean.load(b.mean)
            layer.runningVariance.load(b.variance)
            return layer
        case .convolution(let c):
            let (kh, kw) = c.kernel
            let p = c.pads
            guard kh == kw, c.strides.0 == c.strides.1, c.dilations == (1, 1), p.top == p.left, p.top == p.bottom, p.top == p.right else {
                throw fail("only square kernels with equal strides and padding on every side, without dilation, can be fine-tuned")
            }
            var generator = SeededGenerator(seed: 0)
            let w = c.weight.data, ci = input.channels, co = c.outChannels
            let bias = c.bias.map { values in
                let bias = Parameter(name: "bias", count: co, decays: false)
                bias.value.load(values.data)
                return bias
            }
            if c.groups == 1 {
                let layer = Convolution2D(input: input, outputChannels: co, kernel: kh, stride: c.strides.0, padding: p.top, generator: &generator)
                // ONNX [out, in, ky, kx] -> the trainer's [ky, kx, in, out].
                let target = layer.weight.value.pointer
                for o in 0..<co {
                    for i in 0..<ci {
                        for k in 0..<(kh * kw) { target[(k * ci + i) * co + o] = w[(o * ci + i) * kh * kw + k] }
                    }
                }
                layer.bias = bias
                return layer
            }
            guard c.groups == ci, co == ci else { throw fail("grouped convolutions other than depthwise cannot be fine-tuned") }
            let layer = DepthwiseConvolution2D(input: input, kernel: kh, stride: c.strides.0, padding: p.top, generator: &generator)
            // ONNX [channel, 1, ky, kx] -> the trainer's [ky, kx, channel].
            let target = layer.weight.value.pointer
            for channel in 0..<ci {
                for k in 0..<(kh * kw) { target[k * ci + channel] = w[channel * kh * kw + k] }
            }
            layer.bias = bias
            return layer
        default:
            throw fail("its operation is not one fine-tuning supports (convolution, batch normalisation, ReLU, ReLU6, residual add)")
        }
    }
}

/// x + f(x), where f is a chain of layers: the skip connection of a residual block.
final class Residual: Layer {
    let layers: [Layer]
    var inputShape: Shape { layers[0].inputShape }
    var outputShape: Shape { layers[layers.count - 1].outputShape }
    /// outputs[i] is layer i's output; gradients[i] the loss gradient with respect to layer i's input.
    private var outputs: [AlignedBuffer] = []
    private var gradients: [AlignedBuffer] = []

    init(layers: [Layer]) {
        precondition(!layers.isEmpty && layers[0].inputShape == layers[layers.count - 1].outputShape, "x + f(x) needs f to keep the shape")
        self.layers = layers
    }

    var parameters: [Parameter] { layers.flatMap(\.parameters) }
    var state: [AlignedBuffer] { layers.flatMap(\.state) }

    func prepare(maxBatch: Int, workers: Workers) {
        if (outputs.first?.count ?? 0) < maxBatch * layers[0].outputShape.count {
            outputs = layers.map { AlignedBuffer(count: maxBatch * $0.outputShape.count) }
            gradients = layers.map { AlignedBuffer(count: maxBatch * $0.inputShape.count) }
        }
        for layer in layers { layer.prepare(maxBatch: maxBatch, workers: workers) }
    }

    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, workers: Workers) {
        var x = input
        for (layer, result) in zip(layers, outputs) {
            layer.forward(x, result.pointer, batch: batch, training: training, workers: workers)
            x = UnsafePointer(result.pointer)
        }
        for i in 0..<(batch * outputShape.count) { output[i] = x[i] + input[i] }
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, workers: Workers
    ) {
        var dy = outputGradient
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let x = i == 0 ? input : UnsafePointer(outputs[i - 1].pointer)
            layers[i].backward(
                input: x, output: outputs[i].pointer, outputGradient: dy, inputGradient: gradients[i].pointer,
                batch: batch, workers: workers)
            dy = UnsafePointer(gradients[i].pointer)
        }
        guard let dx = inputGradient else { return }
        for i in 0..<(batch * inputShape.count) { dx[i] = dy[i] + outputGradient[i] }
    }

    func graphNodes(name: String, input: String, output: String) -> [Node] {
        var nodes: [Node] = []
        var value = input
        for (i, layer) in layers.enumerated() {
            let result = "\(name)_\(i + 1)"
            nodes += layer.graphNodes(name: "\(name)_\(i + 1)_\(String(describing: type(of: layer)))", input: value, output: result)
            value = result
        }
        return nodes + [Node(name: name + "_add", operation: .add, inputs: [value, input], outputs: [output])]
    }
}
