import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// How a backbone's feature map becomes one feature vector per photo.
public enum FeaturePooling: String, Codable, Sendable, CaseIterable {
    /// The mean over the map: what an ImageNet classifier is trained on; suits defects that change much of the photo.
    case average
    /// The strongest response anywhere: finds small local marks that the mean dilutes.
    case max
    /// Both, side by side (twice the features).
    case both
}

/// A pretrained network cut where its features end. Its frozen part, `graph`, takes the image
/// "input" [N, 3, H, W] (normalised as `preprocessing` says) to `featuresValue`: the pooled feature
/// vector [N, F], or, when its last layers are fine-tuned, the feature map [N, C, H, W] those layers
/// start from (`trainableNodes` compute the rest, up to the cut, where pooling follows).
public struct Backbone: Sendable {
    /// The file it came from (its last path component), for messages and provenance.
    public let name: String
    public let graph: Graph
    /// One photo's features as the trainer stores them (NHWC; a pooled vector is 1 x 1 x F).
    public let featureShape: Shape
    /// The value the features are taken from, and the pooling applied to it.
    public let cut: String
    public let pooling: FeaturePooling
    /// The backbone's nodes from `featuresValue` to the cut that fine-tuning trains; empty when frozen.
    public let trainableNodes: [Node]
    /// The backbone's own preprocessing (from its Auge metadata; ImageNet statistics otherwise) at
    /// the requested input size.
    public let preprocessing: Preprocessing
    /// The file's Auge provenance method, or its producer, e.g. "EfficientNet-Lite0 ImageNet weights ...".
    public let origin: String

    /// The name of the frozen part's output; unlikely to clash with a name in an exported graph.
    public static let featuresValue = "auge_backbone_features"

    /// ImageNet's per-channel statistics, which torchvision and most exporters' models expect.
    static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    public var featureCount: Int { featureShape.count }

    /// Loads an ONNX classifier and cuts it at `featureNode` (a node or value name), or by default at
    /// the input of its last global average pooling. `fineTunedLayers` > 0 leaves that many of the
    /// last layers before the cut trainable (see `layerUnits`). `size` overrides the file's input size
    /// (the convolutions do not care); `region` and `resize` apply as for any model.
    public static func load(
        _ path: String, featureNode: String? = nil, pooling: FeaturePooling = .average, fineTunedLayers: Int = 0,
        size: (width: Int, height: Int)? = nil, resize: ResizePolicy = .stretch,
        region: Region? = nil
    ) throws -> Backbone {
        let url = URL(fileURLWithPath: path)
        let model = try ONNXModel.load(contentsOf: url)
        let name = url.lastPathComponent
        func fail(_ message: String) -> DatasetError { DatasetError(description: "backbone \(name): \(message)") }
        guard model.graph.inputs.count == 1, model.graph.inputs[0].shape.count == 4, model.graph.inputs[0].shape[1] == 3 else {
            throw fail("a backbone takes one RGB image input [N, 3, H, W]")
        }
        let metadata = model.metadata
        let declared = model.graph.inputs[0].shape
        guard
            let size = size ?? metadata?.inputSize.map({ ($0.width, $0.height) })
                ?? (declared[3] != nil && declared[2] != nil ? (declared[3]!, declared[2]!) : nil)
        else {
            throw fail("its input size is not fixed; give --size")
        }
        let preprocessing = Preprocessing(
            width: size.width, height: size.height, color: .rgb, resize: resize, region: region,
            mean: metadata?.mean ?? imageNetMean, std: metadata?.std ?? imageNetStd)
        try preprocessing.validate()

        var source = model.graph
        source.inputs[0].shape = [nil, 3, size.height, size.width]
        let cut = try cutValue(in: source, featureNode: featureNode, fail: fail)
        let computed = pruned(source, to: cut)
        var graph: Graph, trainable: [Node] = []
        if fineTunedLayers == 0 {
            graph = try pooled(computed, pooling: pooling, fail: fail)
        } else {
            let units = layerUnits(computed.nodes, input: source.inputs[0].name)
            guard fineTunedLayers <= units.count else {
                throw fail("has \(units.count) layers before \(cut) to fine-tune, not \(fineTunedLayers)")
            }
            let first = units[units.count - fineTunedLayers].lowerBound
            let boundary = first == 0 ? source.inputs[0].name : computed.nodes[first - 1].outputs[0]
            graph = pruned(source, to: boundary)
            graph.nodes.append(Node(name: "auge_backbone_frozen", operation: .identity, inputs: [boundary], outputs: [featuresValue]))
            graph.outputs = [featuresValue]
            trainable = computed.nodes[first...].map { node in
                var node = node
                node.inputs = node.inputs.map { $0 == boundary ? featuresValue : $0 }
                return node
            }
        }
        let shape = try inferShapes(graph, batchSize: 1)[featuresValue] ?? []
        let featureShape: Shape
        switch shape.count {
        case 2: featureShape = Shape(height: 1, width: 1, channels: shape[1])
        case 4: featureShape = Shape(height: shape[2], width: shape[3], channels: shape[1])
        default: throw fail("the features at \(cut) have shape \(shape), not [N, C, H, W] or [N, C]")
        }
        let origin = metadata?.provenance?.method ?? (model.producer.isEmpty ? name : "\(name) (\(model.producer))")
        return Backbone(
            name: name, graph: graph, featureShape: featureShape, cut: cut, pooling: pooling, trainableNodes: trainable,
            preprocessing: preprocessing, origin: origin)
    }

    /// The value whose feature map is pooled: the named node's output (or the named value), else the
    /// input of the last global average pooling.
    private static func cutValue(in graph: Graph, featureNode: String?, fail: (String) -> DatasetError) throws -> String {
        if let featureNode {
            if let node = graph.nodes.first(where: { $0.name == featureNode }) { return node.outputs[0] }
            if graph.nodes.contains(where: { $0.outputs.contains(featureNode) }) { return featureNode }
            let names = graph.nodes.suffix(8).map(\.name).joined(separator: ", ")
            throw fail("has no node or value named '\(featureNode)' (its last nodes: \(names))")
        }
        guard let pool = graph.nodes.last(where: { $0.operation == .globalAveragePool }) else {
            throw fail("has no global average pooling to cut at; name the feature node with --feature-node")
        }
        return pool.inputs[0]
    }

    /// Only the nodes (and constants) that compute `value`, which becomes the output.
    static func pruned(_ source: Graph, to value: String) -> Graph {
        pruned(source, to: [value])
    }

    /// Only the nodes (and constants) that compute `values`, which become the outputs.
    static func pruned(_ source: Graph, to values: [String]) -> Graph {
        var needed = Set(values)
        var kept: [Node] = []
        for node in source.nodes.reversed() where node.outputs.contains(where: needed.contains) {
            kept.append(node)
            needed.formUnion(node.inputs)
        }
        return Graph(
            name: source.name, inputs: source.inputs, nodes: kept.reversed(),
            constants: source.constants.filter { needed.contains($0.key) }, outputs: values)
    }

    /// `graph` with its output pooled into `featuresValue` [N, features].
    private static func pooled(_ graph: Graph, pooling: FeaturePooling, fail: (String) -> DatasetError) throws -> Graph {
        var graph = graph
        let cut = graph.outputs[0]
        let shape = try inferShapes(graph, batchSize: 1)[cut] ?? []
        let prefix = "auge_backbone_"
        func flatten(_ value: String) -> Node {
            Node(name: prefix + "flatten", operation: .flatten(axis: 1), inputs: [value], outputs: [featuresValue])
        }
        switch shape.count {
        case 2:
            graph.nodes.append(Node(name: prefix + "features", operation: .identity, inputs: [cut], outputs: [featuresValue]))
        case 4 where shape[2] == 1 && shape[3] == 1:
            graph.nodes.append(flatten(cut))
        case 4:
            let average = Node(name: prefix + "average", operation: .globalAveragePool, inputs: [cut], outputs: [prefix + "average"])
            let max = Node(
                name: prefix + "max", operation: .maxPool(Pooling(kernel: (shape[2], shape[3]))), inputs: [cut],
                outputs: [prefix + "max"])
            switch pooling {
            case .average: graph.nodes += [average, flatten(average.outputs[0])]
            case .max: graph.nodes += [max, flatten(max.outputs[0])]
            case .both:
                let concat = Node(
                    name: prefix + "concat", operation: .concat(axis: 1), inputs: [average.outputs[0], max.outputs[0]],
                    outputs: [prefix + "concat"])
                graph.nodes += [average, max, concat, flatten(concat.outputs[0])]
            }
        default:
            throw fail("the value \(cut) has shape \(shape); features need [N, C, H, W] or [N, C]")
        }
        graph.outputs = [featuresValue]
        return graph
    }

    /// Splits `nodes` (in order, computing from `input`) where one value carries everything onward:
    /// each segment is a single node, or a branching block such as a residual block.
    static func segments(_ nodes: [Node], input: String) -> [Range<Int>] {
        var usesLeft: [String: Int] = [:]
        for node in nodes { for value in node.inputs { usesLeft[value, default: 0] += 1 } }
        var live: Set<String> = [input], segments: [Range<Int>] = [], start = 0
        for (index, node) in nodes.enumerated() {
            for value in node.inputs {
                usesLeft[value, default: 1] -= 1
                if usesLeft[value] == 0 { live.remove(value) }
            }
            live.formUnion(node.outputs)
            if live == [node.outputs[0]] {
                segments.append(start..<(index + 1))
                start = index + 1
            }
        }
        if start < nodes.count { segments.append(start..<nodes.count) }
        return segments
    }

    /// The layers fine-tuning counts: a convolution with the normalisation and activations that
    /// follow it, or a whole branching (residual) block.
    static func layerUnits(_ nodes: [Node], input: String) -> [Range<Int>] {
        var units: [Range<Int>] = []
        for segment in segments(nodes, input: input) {
            let node = nodes[segment.lowerBound]
            let follows: Bool
            switch node.operation {
            case .batchNormalization, .activation, .identity: follows = segment.count == 1
            default: follows = false
            }
            if follows, let last = units.popLast() {
                units.append(last.lowerBound..<segment.upperBound)
            } else {
                units.append(segment)
            }
        }
        return units
    }
}
