import AugeEngine
import AugeONNX
import Foundation

/// What `auge info` shows about a model: inputs and outputs, the layers as the engine runs them (after
/// fusion), parameters, compute per image, activation memory and the Auge metadata.
public struct ModelDescription: Sendable, Encodable {
    public struct Value: Sendable, Encodable {
        public let name: String
        /// NCHW as in the file; nil where a dimension is symbolic (the batch).
        public let shape: [Int?]
    }

    public struct Layer: Sendable, Encodable {
        public let name: String
        public let kind: String
        public let outputShape: [Int]
        public let params: Int
        public let macs: Int
        /// A convolution's algorithm (`ConvolutionAlgorithm`'s text), else nil.
        public let algorithm: String?

        enum CodingKeys: String, CodingKey {
            case name, kind, params, macs, algorithm
            case outputShape = "output_shape"
        }
    }

    public let model: String
    public let producer: String
    /// The Auge that read the file and planned it.
    public let augeVersion = AugeONNX.augeVersion
    public let opset: Int
    public let inputs: [Value]
    public let outputs: [Value]
    public let layers: [Layer]
    public let totalParams: Int
    public let gflopPerImage: Double
    public let activationBytes: Int
    public let metadata: ModelMetadata?
    /// For a quantized model (convolutions with int8 weights), how they run on this CPU; else nil.
    public let int8: String?

    enum CodingKeys: String, CodingKey {
        case model, producer, opset, inputs, outputs, layers, metadata, int8
        case augeVersion = "auge_version"
        case totalParams = "total_params"
        case gflopPerImage = "gflop_per_image"
        case activationBytes = "activation_bytes"
    }

    /// Plans the graph for one image to describe it as it will run.
    public init(path: String, model onnx: ONNXModel) throws {
        let engine = try Engine(graph: onnx.graph, batchSize: 1, threads: 1)
        let outputShapes = try inferShapes(onnx.graph, batchSize: 1)
        model = path
        producer = onnx.producer
        opset = onnx.opsetVersion
        inputs = onnx.graph.inputs.map { Value(name: $0.name, shape: $0.shape) }
        outputs = onnx.graph.outputs.map { name in Value(name: name, shape: [nil] + (outputShapes[name] ?? []).dropFirst().map { $0 }) }
        layers = engine.layers.map {
            Layer(
                name: $0.name, kind: $0.kind, outputShape: $0.outputShape, params: $0.parameters, macs: $0.multiplyAccumulates,
                algorithm: $0.convolution.map(String.init(describing:)))
        }
        totalParams = layers.reduce(0) { $0 + $1.params }
        gflopPerImage = Double(layers.reduce(0) { $0 + $1.macs }) * 2 / 1e9
        activationBytes = engine.arenaBytes
        metadata = onnx.metadata
        let quantized = onnx.graph.nodes.contains { node in
            switch node.operation {
            case let .convolution(conv): conv.weightScales != nil
            case let .fullyConnected(fc): fc.weightScales != nil
            default: false
            }
        }
        int8 =
            !quantized
            ? nil
            : engine.runsInt8Kernels
                ? "on the int8 kernels (\(int8GemmPathName))"
                : "in float on this CPU (no AVX-512 VNNI: int8 is no faster than float, which runs most of this model as Winograd)"
    }
}
