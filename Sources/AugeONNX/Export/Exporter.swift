import AugeEngine
import Foundation

/// This Auge's version: `auge --version`, the producer version of every file it writes, and the tool
/// in each trained model's provenance.
public let augeVersion = "0.4.0"

/// The opset the exporter writes: the oldest with every operator form it uses (HardSwish needs 14)
/// that current runtimes all read.
public let exportedOpsetVersion = 17

/// Writes an engine graph as an ONNX model (opset `exportedOpsetVersion`, batch left open where the
/// graph leaves it open), with `metadata` in metadata_props. Constant parameters become initializers
/// named after their node; `Graph.constants` keep their names.
public func exportONNX(graph: Graph, metadata: ModelMetadata?, producerVersion: String = augeVersion) throws(ONNXError) -> Data {
    var exporter = GraphExporter(graph: graph)
    var model = Onnx_ModelProto()
    model.irVersion = 8
    model.producerName = "auge"
    model.producerVersion = producerVersion
    model.opsetImport = [
        Onnx_OperatorSetIdProto.with {
            $0.domain = ""; $0.version = Int64(exportedOpsetVersion)
        }
    ]
    model.graph = try exporter.export()
    if let metadata {
        do {
            model.metadataProps = try metadata.properties().map { entry in
                Onnx_StringStringEntryProto.with {
                    $0.key = entry.key; $0.value = entry.value
                }
            }
        } catch {
            throw ONNXError(.invalidMetadata, file: graph.name, "metadata: \(error)")
        }
    }
    do {
        return try model.serializedBytes()
    } catch {
        throw ONNXError(.unexportable, file: graph.name, "cannot be serialized: \(error)")
    }
}

private struct GraphExporter {
    let graph: Graph
    var proto = Onnx_GraphProto()
    var names: NameTable

    init(graph: Graph) {
        self.graph = graph
        names = NameTable(Set(graph.nodes.flatMap { $0.inputs + $0.outputs + [$0.name] }).union(graph.constants.keys).union(graph.inputs.map(\.name)))
    }

    mutating func export() throws(ONNXError) -> Onnx_GraphProto {
        proto.name = graph.name
        for input in graph.inputs {
            proto.input.append(valueInfo(input.name, shape: input.shape))
        }
        for (name, tensor) in graph.constants.sorted(by: { $0.key < $1.key }) {
            proto.initializer.append(floatTensor(name, tensor))
        }
        for node in graph.nodes {
            try export(node)
        }
        let shapes = try outputShapes()
        for output in graph.outputs {
            proto.output.append(valueInfo(output, shape: shapes[output] ?? []))
        }
        return proto
    }

    /// Output shapes from the engine's shape inference (which also validates the graph). With an open
    /// batch, dimensions that follow the batch size are written as "N", others that vary as unknown.
    private func outputShapes() throws(ONNXError) -> [String: [Int?]] {
        do {
            if let fixedBatch = graph.inputs.first?.shape.first.flatMap({ $0 }) {
                return try inferShapes(graph, batchSize: fixedBatch).mapValues { $0.map(Optional.some) }
            }
            let one = try inferShapes(graph, batchSize: 1)
            let two = try inferShapes(graph, batchSize: 2)
            var shapes: [String: [Int?]] = [:]
            for (name, a) in one {
                shapes[name] = zip(a, two[name] ?? []).map { $0 == $1 ? $0 : nil }
            }
            return shapes
        } catch {
            throw ONNXError(.unexportable, file: graph.name, "the engine refuses the graph: \(error)")
        }
    }

    private func valueInfo(_ name: String, shape: [Int?]?) -> Onnx_ValueInfoProto {
        Onnx_ValueInfoProto.with { info in
            info.name = name
            info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            guard let shape else { return }
            info.type.tensorType.shape = Onnx_TensorShapeProto.with { proto in
                proto.dim = shape.enumerated().map { axis, size in
                    Onnx_TensorShapeProto.Dimension.with {
                        // A size, the batch "N", or (left empty) a size that depends on the batch otherwise.
                        if let size { $0.dimValue = Int64(size) } else if axis == 0 { $0.dimParam = "N" }
                    }
                }
            }
        }
    }

    private func floatTensor(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        Onnx_TensorProto.with { proto in
            proto.name = name
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.dims = tensor.shape.map { Int64($0) }
            var raw = Data(capacity: tensor.count * 4)
            for value in tensor.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            proto.rawData = raw
        }
    }

    /// A new initializer named after `base`, unique in the graph; returns its name.
    private mutating func initializer(_ base: String, _ tensor: Tensor) -> String {
        let name = names.unique(base)
        proto.initializer.append(floatTensor(name, tensor))
        return name
    }

    /// Weights that are int8 per output channel (symmetric): an INT8 initializer, its scales, and a
    /// DequantizeLinear (axis 0) giving the float weights; returns the float weights' name.
    private mutating func int8Weight(_ base: String, _ weight: Tensor, scales: [Float]) -> String {
        let perChannel = weight.count / max(1, scales.count)
        let integers = weight.data.indices.map { i in
            let steps = weight.data[i] / scales[i / perChannel]
            return steps.isFinite ? Int8(min(max(steps.rounded(.toNearestOrEven), -127), 127)) : 0
        }
        let quantized = names.unique(base + ".quantized")
        proto.initializer.append(
            Onnx_TensorProto.with {
                $0.name = quantized
                $0.dataType = Int32(Onnx_TensorProto.DataType.int8.rawValue)
                $0.dims = weight.shape.map { Int64($0) }
                $0.rawData = Data(integers.map { UInt8(bitPattern: $0) })
            })
        let scaleName = initializer(base + ".scale", Tensor(shape: [scales.count], data: scales))
        let zeroName = names.unique(base + ".zero_point")
        proto.initializer.append(
            Onnx_TensorProto.with {
                $0.name = zeroName
                $0.dataType = Int32(Onnx_TensorProto.DataType.int8.rawValue)
                $0.dims = [Int64(scales.count)]
                $0.rawData = Data(repeating: 0, count: scales.count)
            })
        let output = names.unique(base)
        append("DequantizeLinear", names.unique(base + "/dequantize"), inputs: [quantized, scaleName, zeroName], outputs: [output], [.int("axis", 0)])
        return output
    }

    private mutating func integerInitializer(_ base: String, _ values: [Int]) -> String {
        let name = names.unique(base)
        proto.initializer.append(
            Onnx_TensorProto.with {
                $0.name = name
                $0.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
                $0.dims = [Int64(values.count)]
                $0.int64Data = values.map { Int64($0) }
            })
        return name
    }

    private mutating func append(_ op: String, _ name: String, inputs: [String], outputs: [String], _ attributes: [Onnx_AttributeProto] = []) {
        proto.node.append(
            Onnx_NodeProto.with {
                $0.opType = op
                $0.name = name
                $0.input = inputs
                $0.output = outputs
                $0.attribute = attributes
            })
    }

    /// The height and width of an NCHW value, from shape inference at batch 1.
    private func spatialSize(of value: String, node: String) throws(ONNXError) -> (height: Int, width: Int) {
        let shape: [Int]?
        do { shape = try inferShapes(graph, batchSize: 1)[value] } catch {
            throw ONNXError(.unexportable, file: graph.name, "the engine refuses the graph: \(error)")
        }
        guard let shape, shape.count == 4 else {
            throw ONNXError(.unexportable, file: graph.name, node: node, "resizes \(value), which is not an NCHW tensor")
        }
        return (shape[2], shape[3])
    }

    private mutating func export(_ node: Node) throws(ONNXError) {
        guard let x = node.inputs.first, node.outputs.count == 1 else {
            throw ONNXError(.unexportable, file: graph.name, node: node.name, "has \(node.inputs.count) inputs and \(node.outputs.count) outputs; every engine operation reads at least one and writes one")
        }
        let name = node.name, outputs = node.outputs
        switch node.operation {
        case .convolution(let c):
            var inputs = [x, c.weightScales.map { int8Weight("\(name).weight", c.weight, scales: $0) } ?? initializer("\(name).weight", c.weight)]
            if let bias = c.bias { inputs.append(initializer("\(name).bias", bias)) }
            append(
                "Conv", name, inputs: inputs, outputs: outputs,
                [
                    .ints("kernel_shape", [c.kernel.0, c.kernel.1]), .ints("strides", [c.strides.0, c.strides.1]),
                    .ints("dilations", [c.dilations.0, c.dilations.1]), .ints("pads", [c.pads.top, c.pads.left, c.pads.bottom, c.pads.right]),
                    .int("group", c.groups),
                ])
        case .batchNormalization(let b):
            let parameters = [("scale", b.scale), ("bias", b.bias), ("mean", b.mean), ("var", b.variance)].map { role, values in
                initializer("\(name).\(role)", Tensor(shape: [values.count], data: values))
            }
            append("BatchNormalization", name, inputs: [x] + parameters, outputs: outputs, [.float("epsilon", b.epsilon)])
        case .activation(let activation):
            exportActivation(activation, name, x, outputs)
        case .add, .mul:
            append(node.operation == .add ? "Add" : "Mul", name, inputs: node.inputs, outputs: outputs)
        case .maxPool(let p), .averagePool(let p):
            var attributes: [Onnx_AttributeProto] = [
                .ints("kernel_shape", [p.kernel.0, p.kernel.1]), .ints("strides", [p.strides.0, p.strides.1]),
                .ints("pads", [p.pads.top, p.pads.left, p.pads.bottom, p.pads.right]), .int("ceil_mode", p.ceilMode ? 1 : 0),
            ]
            let isMax = if case .maxPool = node.operation { true } else { false }
            if !isMax { attributes.append(.int("count_include_pad", p.countIncludePad ? 1 : 0)) }
            append(isMax ? "MaxPool" : "AveragePool", name, inputs: [x], outputs: outputs, attributes)
        case .globalAveragePool:
            append("GlobalAveragePool", name, inputs: [x], outputs: outputs)
        case .concat(let axis):
            append("Concat", name, inputs: node.inputs, outputs: outputs, [.int("axis", axis)])
        case .pad(let pads, let value):
            let padsName = integerInitializer("\(name).pads", pads)
            let valueName = initializer("\(name).value", Tensor(shape: [], data: [value]))
            append("Pad", name, inputs: [x, padsName, valueName], outputs: outputs, [.string("mode", "constant")])
        case .flatten(let axis):
            append("Flatten", name, inputs: [x], outputs: outputs, [.int("axis", axis)])
        case .reshape(let shape):
            append("Reshape", name, inputs: [x, integerInitializer("\(name).shape", shape)], outputs: outputs)
        case .fullyConnected(let f):
            var inputs = [x, initializer("\(name).weight", f.weight)]
            if let bias = f.bias { inputs.append(initializer("\(name).bias", bias)) }
            append("Gemm", name, inputs: inputs, outputs: outputs, [.int("transB", f.transB ? 1 : 0), .float("alpha", f.alpha), .float("beta", f.beta)])
        case .matMul(let weight):
            append("MatMul", name, inputs: [x, initializer("\(name).weight", weight)], outputs: outputs)
        case .softmax(let axis):
            append("Softmax", name, inputs: [x], outputs: outputs, [.int("axis", axis)])
        case .reduce(let reduction, let axis):
            append(reduction == .min ? "ReduceMin" : "ReduceMax", name, inputs: [x], outputs: outputs, [.ints("axes", [axis]), .int("keepdims", 1)])
        case .resize(let height, let width):
            // Opset 13 form: X, roi (unused), scales. Scales rather than sizes, as the batch stays open;
            // out / in gives back exactly out on import (floor of in * scale).
            let input = try spatialSize(of: x, node: node.name)
            let scales = initializer(
                "\(name).scales",
                Tensor(
                    shape: [4],
                    data: [
                        1, 1, Float(height) / Float(input.height),
                        Float(width) / Float(input.width),
                    ]))
            append(
                "Resize", name, inputs: [x, "", scales], outputs: outputs,
                [.string("mode", "linear"), .string("coordinate_transformation_mode", "half_pixel")])
        case .identity:
            append("Identity", name, inputs: [x], outputs: outputs)
        }
    }

    private mutating func exportActivation(_ activation: Activation, _ name: String, _ x: String, _ outputs: [String]) {
        switch activation {
        case .relu: append("Relu", name, inputs: [x], outputs: outputs)
        case .clip(let low, let high):
            let bounds = [initializer("\(name).min", Tensor(shape: [], data: [low])), initializer("\(name).max", Tensor(shape: [], data: [high]))]
            append("Clip", name, inputs: [x] + bounds, outputs: outputs)
        case .leakyRelu(let alpha): append("LeakyRelu", name, inputs: [x], outputs: outputs, [.float("alpha", alpha)])
        case .sigmoid: append("Sigmoid", name, inputs: [x], outputs: outputs)
        case .hardSigmoid(let alpha, let beta):
            append("HardSigmoid", name, inputs: [x], outputs: outputs, [.float("alpha", alpha), .float("beta", beta)])
        case .hardSwish: append("HardSwish", name, inputs: [x], outputs: outputs)
        case .silu:
            // ONNX has no SiLU before opset 24: x · Sigmoid(x), which the engine's planner fuses back.
            let gate = names.unique("\(outputs[0])/sigmoid")
            append("Sigmoid", names.unique("\(name)/sigmoid"), inputs: [x], outputs: [gate])
            append("Mul", name, inputs: [x, gate], outputs: outputs)
        case .tanh: append("Tanh", name, inputs: [x], outputs: outputs)
        case .sqrt: append("Sqrt", name, inputs: [x], outputs: outputs)
        case .reciprocal: append("Reciprocal", name, inputs: [x], outputs: outputs)
        case let .fakeQuantize(scale, zeroPoint, lower, _):
            // QuantizeLinear then DequantizeLinear, sharing one scale and one typed zero point.
            let scaleName = initializer("\(name).scale", Tensor(shape: [], data: [scale]))
            let zeroName = names.unique("\(name).zero_point")
            proto.initializer.append(
                Onnx_TensorProto.with {
                    $0.name = zeroName
                    $0.dataType = Int32((lower < 0 ? Onnx_TensorProto.DataType.int8 : .uint8).rawValue)
                    $0.rawData = Data([UInt8(bitPattern: Int8(truncatingIfNeeded: Int(zeroPoint)))])
                })
            let quantized = names.unique("\(outputs[0])/quantized")
            append("QuantizeLinear", names.unique("\(name)/quantize"), inputs: [x, scaleName, zeroName], outputs: [quantized])
            append("DequantizeLinear", name, inputs: [quantized, scaleName, zeroName], outputs: outputs)
        }
    }
}

private extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Self {
        .with {
            $0.name = name; $0.type = .int; $0.i = Int64(value)
        }
    }

    static func ints(_ name: String, _ values: [Int]) -> Self {
        .with {
            $0.name = name; $0.type = .ints; $0.ints = values.map { Int64($0) }
        }
    }

    static func float(_ name: String, _ value: Float) -> Self {
        .with {
            $0.name = name; $0.type = .float; $0.f = value
        }
    }

    static func string(_ name: String, _ value: String) -> Self {
        .with {
            $0.name = name; $0.type = .string; $0.s = Data(value.utf8)
        }
    }
}
