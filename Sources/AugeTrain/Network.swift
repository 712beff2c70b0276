import AugeEngine
import Foundation

/// How the last feature map becomes one value per channel.
public enum GlobalPooling: String, Codable, Sendable, CaseIterable {
    /// The mean: suits defects that change much of the photo (texture, shape, colour).
    case average
    /// The maximum: suits small local marks (scratches, chips, spots) on a part that fills the photo.
    case max
}

/// The built-in architectures: a 3x3 stride-2 stem, then per stage a stride-2 block and a stride-1
/// block, global pooling and one fully connected layer.
public enum Architecture: String, Codable, Sendable, CaseIterable {
    /// Plain 3x3 convolutions, widths 8-16-32-64 (about 70 k parameters).
    case tiny
    /// Plain 3x3 convolutions, widths 16-32-64-128 (about 290 k parameters).
    case small
    /// Depthwise-separable blocks (MobileNet style), widths 32-64-128-256-512 (about 560 k parameters).
    case base

    var widths: [Int] {
        switch self {
        case .tiny: [8, 16, 32, 64]
        case .small: [16, 32, 64, 128]
        case .base: [32, 64, 128, 256, 512]
        }
    }

    func layers(input: Shape, classes: Int, pooling: GlobalPooling, generator: inout SeededGenerator) -> [Layer] {
        var layers: [Layer] = []
        var shape = input
        func append(_ layer: Layer) {
            layers.append(layer)
            shape = layer.outputShape
        }
        func normalizedReLU() {
            append(BatchNormalization2D(input: shape))
            append(ReLU(input: shape))
        }
        func block(width: Int, stride: Int) {
            switch self {
            case .tiny, .small:
                append(Convolution2D(input: shape, outputChannels: width, kernel: 3, stride: stride, padding: 1, generator: &generator))
                normalizedReLU()
            case .base:
                append(DepthwiseConvolution2D(input: shape, kernel: 3, stride: stride, padding: 1, generator: &generator))
                normalizedReLU()
                append(Convolution2D(input: shape, outputChannels: width, kernel: 1, stride: 1, padding: 0, generator: &generator))
                normalizedReLU()
            }
        }
        append(Convolution2D(input: shape, outputChannels: widths[0], kernel: 3, stride: 2, padding: 1, generator: &generator))
        normalizedReLU()
        for width in widths.dropFirst() {
            block(width: width, stride: 2)
            block(width: width, stride: 1)
        }
        switch pooling {
        case .average: append(GlobalAveragePooling(input: shape))
        case .max: append(GlobalMaxPooling(input: shape))
        }
        append(Dense(input: shape, outputs: classes, generator: &generator))
        return layers
    }
}

/// The trained values of a network: parameters and running statistics, in layer order.
public struct NetworkState: Codable, Sendable, Equatable {
    @PackedFloats public var parameters: [[Float]]
    @PackedFloats public var statistics: [[Float]]
}

/// Float arrays coded as their raw little-endian bytes (base64 in JSON): as decimal text, the
/// checkpoint of a fine-tuned backbone took seconds to write after every epoch.
@propertyWrapper
public struct PackedFloats: Codable, Sendable, Equatable {
    public var wrappedValue: [[Float]]

    public init(wrappedValue: [[Float]]) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: Decoder) throws {
        let packed = try decoder.singleValueContainer().decode([Data].self)
        wrappedValue = try packed.map { data in
            guard data.count % MemoryLayout<UInt32>.size == 0 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a whole number of floats"))
            }
            return data.withUnsafeBytes { bytes in
                (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(
            wrappedValue.map { values in
                var bits = values.map { $0.bitPattern.littleEndian }
                return Data(bytes: &bits, count: 4 * bits.count)
            })
    }
}

/// A sequence of layers with activation and gradient storage for batches up to a capacity.
final class Network {
    let inputShape: Shape
    let classCount: Int
    let layers: [Layer]
    /// activations[0] is the input batch; activations[i + 1] is layer i's output.
    private var activations: [AlignedBuffer] = []
    /// gradients[i] is the loss gradient with respect to activations[i] (index 0, the input, is unused).
    private var gradients: [AlignedBuffer] = []
    private(set) var capacity = 0

    init(layers: [Layer]) {
        precondition(!layers.isEmpty, "a network needs layers")
        self.layers = layers
        inputShape = layers[0].inputShape
        classCount = layers.last!.outputShape.count
    }

    convenience init(architecture: Architecture, input: Shape, classes: Int, pooling: GlobalPooling = .average, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        self.init(layers: architecture.layers(input: input, classes: classes, pooling: pooling, generator: &generator))
    }

    var parameters: [Parameter] { layers.flatMap(\.parameters) }
    var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    func reserve(batch: Int, workers: Workers) {
        guard batch > capacity else { return }
        capacity = batch
        activations = [AlignedBuffer(count: batch * inputShape.count)] + layers.map { AlignedBuffer(count: batch * $0.outputShape.count) }
        gradients = activations.map { AlignedBuffer(count: $0.count) }
        for layer in layers { layer.prepare(maxBatch: batch, workers: workers) }
    }

    /// Where the caller writes the input batch (NHWC) before `forward`.
    var input: UnsafeMutablePointer<Float> { activations[0].pointer }

    /// Runs all layers on the batch in `input`; returns the logits (batch x classes).
    @discardableResult
    func forward(batch: Int, training: Bool, workers: Workers) -> UnsafeMutablePointer<Float> {
        precondition(batch <= capacity, "reserve(batch:) first")
        for (i, layer) in layers.enumerated() {
            layer.forward(activations[i].pointer, activations[i + 1].pointer, batch: batch, training: training, workers: workers)
        }
        return activations[layers.count].pointer
    }

    /// Where the caller writes the loss gradient with respect to the logits before `backward`.
    var logitGradient: UnsafeMutablePointer<Float> { gradients[layers.count].pointer }

    /// Back-propagates `logitGradient` through the last `forward(training: true)`; parameter gradients
    /// are left in the parameters.
    func backward(batch: Int, workers: Workers) {
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            layers[i].backward(
                input: activations[i].pointer, output: activations[i + 1].pointer,
                outputGradient: gradients[i + 1].pointer, inputGradient: i == 0 ? nil : gradients[i].pointer,
                batch: batch, workers: workers)
        }
    }

    var state: NetworkState {
        get {
            NetworkState(parameters: parameters.map(\.value.array), statistics: layers.flatMap(\.state).map(\.array))
        }
        set {
            for (parameter, values) in zip(parameters, newValue.parameters) { parameter.value.load(values) }
            for (buffer, values) in zip(layers.flatMap(\.state), newValue.statistics) { buffer.load(values) }
        }
    }

    /// The optimiser's moment estimates, for resuming.
    var moments: [[Float]] {
        get { parameters.flatMap { [$0.firstMoment.array, $0.secondMoment.array] } }
        set {
            for (i, parameter) in parameters.enumerated() {
                parameter.firstMoment.load(newValue[2 * i])
                parameter.secondMoment.load(newValue[2 * i + 1])
            }
        }
    }

    /// The inference graph (logical NCHW): the layers with batch normalisation kept as nodes holding
    /// the running statistics, then Softmax. Input "input" [N, C, H, W], output "probabilities" [N, classes].
    func exportGraph(name: String) -> Graph {
        let input = GraphInput(name: "input", shape: [nil, inputShape.channels, inputShape.height, inputShape.width])
        return Graph(name: name, inputs: [input], nodes: graphNodes(input: "input"), outputs: ["probabilities"])
    }

    /// The layers as graph nodes reading value `input`, then Softmax into "probabilities"; node and
    /// intermediate value names start with `prefix`, so the nodes can follow another graph's.
    func graphNodes(input: String, prefix: String = "") -> [Node] {
        var nodes: [Node] = []
        var value = input
        for (i, layer) in layers.enumerated() {
            let output = prefix + (i == layers.count - 1 ? "logits" : "x\(i + 1)")
            nodes += layer.graphNodes(name: prefix + "\(i + 1)_\(String(describing: type(of: layer)))", input: value, output: output)
            value = output
        }
        nodes.append(Node(name: prefix + "softmax", operation: .softmax(axis: 1), inputs: [value], outputs: ["probabilities"]))
        return nodes
    }

    /// The trainable network on a backbone's features: its fine-tuned layers and their pooling (when
    /// any), then one fully connected layer, or two with ReLU between when `hiddenUnits` > 0.
    static func head(on backbone: Backbone, hiddenUnits: Int, classes: Int, seed: UInt64) throws -> Network {
        var generator = SeededGenerator(seed: seed)
        var layers = try backbone.trainableLayers()
        var shape = layers.last?.outputShape ?? backbone.featureShape
        // Fine-tuned layers end in a map, which the head pools even when it is 1x1 (the exported graph
        // then flattens it); a frozen backbone's features come pooled.
        if !layers.isEmpty {
            switch backbone.pooling {
            case .average: layers.append(GlobalAveragePooling(input: shape))
            case .max: layers.append(GlobalMaxPooling(input: shape))
            case .both: throw DatasetError(description: "fine-tuning pools the features by average or max, not both")
            }
            shape = layers[layers.count - 1].outputShape
        }
        if hiddenUnits > 0 {
            let hidden = Dense(input: shape, outputs: hiddenUnits, generator: &generator)
            layers += [hidden, ReLU(input: hidden.outputShape)]
            shape = hidden.outputShape
        }
        return Network(layers: layers + [Dense(input: shape, outputs: classes, generator: &generator)])
    }
}
