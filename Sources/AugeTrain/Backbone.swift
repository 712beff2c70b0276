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

/// A pretrained network cut where its features end, with the pooling that turns the cut feature map
/// into one vector: input "input" [N, 3, H, W] (normalised as `preprocessing` says), output
/// `featuresValue` [N, featureCount].
public struct Backbone: Sendable {
    /// The file it came from (its last path component), for messages and provenance.
    public let name: String
    public let graph: Graph
    public let featureCount: Int
    /// The value the features are taken from, and the pooling applied to it.
    public let cut: String
    public let pooling: FeaturePooling
    /// The backbone's own preprocessing (from its Auge metadata; ImageNet statistics otherwise) at
    /// the requested input size.
    public let preprocessing: Preprocessing
    /// The file's Auge provenance method, or its producer, e.g. "EfficientNet-Lite0 ImageNet weights ...".
    public let origin: String

    /// The name of the pooled feature value; unlikely to clash with a name in an exported graph.
    public static let featuresValue = "auge_backbone_features"

    /// ImageNet's per-channel statistics, which torchvision and most exporters' models expect.
    static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// Loads an ONNX classifier and cuts it at `featureNode` (a node or value name), or by default at
    /// the input of its last global average pooling. `size` overrides the file's input size (the
    /// convolutions do not care); `region` and `resize` apply as for any model.
    public static func load(_ path: String, featureNode: String? = nil, pooling: FeaturePooling = .average,
                            size: (width: Int, height: Int)? = nil, resize: ResizePolicy = .stretch,
                            region: Region? = nil) throws -> Backbone {
        let url = URL(fileURLWithPath: path)
        let model = try ONNXModel.load(contentsOf: url)
        let name = url.lastPathComponent
        func fail(_ message: String) -> DatasetError { DatasetError(description: "backbone \(name): \(message)") }
        guard model.graph.inputs.count == 1, model.graph.inputs[0].shape.count == 4, model.graph.inputs[0].shape[1] == 3 else {
            throw fail("a backbone takes one RGB image input [N, 3, H, W]")
        }
        let metadata = model.metadata
        let declared = model.graph.inputs[0].shape
        guard let size = size ?? metadata?.inputSize.map({ ($0.width, $0.height) })
                ?? (declared[3] != nil && declared[2] != nil ? (declared[3]!, declared[2]!) : nil) else {
            throw fail("its input size is not fixed; give --size")
        }
        let preprocessing = Preprocessing(width: size.width, height: size.height, color: .rgb, resize: resize, region: region,
                                          mean: metadata?.mean ?? imageNetMean, std: metadata?.std ?? imageNetStd)
        try preprocessing.validate()

        var source = model.graph
        source.inputs[0].shape = [nil, 3, size.height, size.width]
        let cut = try cutValue(in: source, featureNode: featureNode, fail: fail)
        let graph = try pooledGraph(source, cut: cut, pooling: pooling, fail: fail)
        let shapes = try inferShapes(graph, batchSize: 1)
        guard let features = shapes[featuresValue], features.count == 2 else { throw fail("the features at \(cut) are not a vector per photo") }
        let origin = metadata?.provenance?.method ?? (model.producer.isEmpty ? name : "\(name) (\(model.producer))")
        return Backbone(name: name, graph: graph, featureCount: features[1], cut: cut, pooling: pooling,
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

    /// The nodes that compute `cut`, then its pooling into [N, features].
    private static func pooledGraph(_ source: Graph, cut: String, pooling: FeaturePooling,
                                    fail: (String) -> DatasetError) throws -> Graph {
        var needed: Set<String> = [cut]
        var kept: [Node] = []
        for node in source.nodes.reversed() where node.outputs.contains(where: needed.contains) {
            kept.append(node)
            needed.formUnion(node.inputs)
        }
        var graph = Graph(name: source.name, inputs: source.inputs, nodes: kept.reversed(),
                          constants: source.constants.filter { needed.contains($0.key) }, outputs: [cut])
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
            let max = Node(name: prefix + "max", operation: .maxPool(Pooling(kernel: (shape[2], shape[3]))), inputs: [cut],
                           outputs: [prefix + "max"])
            switch pooling {
            case .average: graph.nodes += [average, flatten(average.outputs[0])]
            case .max: graph.nodes += [max, flatten(max.outputs[0])]
            case .both:
                let concat = Node(name: prefix + "concat", operation: .concat(axis: 1), inputs: [average.outputs[0], max.outputs[0]],
                                  outputs: [prefix + "concat"])
                graph.nodes += [average, max, concat, flatten(concat.outputs[0])]
            }
        default:
            throw fail("the value \(cut) has shape \(shape); features need [N, C, H, W] or [N, C]")
        }
        graph.outputs = [featuresValue]
        return graph
    }
}
