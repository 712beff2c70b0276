// Runs a graph op by op on logical tensors with the naive operations: the oracle for the engine.

/// Runs `graph` with the reference (naive) operations and returns every graph output by name.
/// The batch size is taken from the inputs.
public func runReference(_ graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
    let values = try referenceValues(graph, inputs: inputs)
    var outputs: [String: Tensor] = [:]
    for name in graph.outputs { outputs[name] = values[name] }
    return outputs
}

/// Every value of the graph (inputs, constants and node outputs) computed by the reference operations.
func referenceValues(_ graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
    guard let firstInput = graph.inputs.first else { throw EngineError.invalidGraph("graph has no inputs") }
    guard let batch = inputs[firstInput.name]?.shape.first else {
        throw EngineError.invalidInput("missing input \"\(firstInput.name)\"")
    }
    let shapes = try inferShapes(graph, batchSize: batch)
    var values = graph.constants
    for input in graph.inputs {
        guard let tensor = inputs[input.name] else { throw EngineError.invalidInput("missing input \"\(input.name)\"") }
        guard tensor.shape == shapes[input.name] else {
            throw EngineError.invalidInput("input \"\(input.name)\" has shape \(tensor.shape), expected \(shapes[input.name]!)")
        }
        values[input.name] = tensor
    }
    for node in graph.nodes {
        let arguments = node.inputs.map { values[$0]! }
        let shape = shapes[node.outputs[0]]!
        values[node.outputs[0]] = referenceOutput(of: node.operation, arguments: arguments, outputShape: shape)
    }
    return values
}

/// One operation on already shape-checked arguments.
func referenceOutput(of operation: Operation, arguments: [Tensor], outputShape: [Int]) -> Tensor {
    let x = arguments[0]
    switch operation {
    case let .convolution(conv): return Reference.convolution(x, conv, outputShape: outputShape)
    case let .batchNormalization(bn): return Reference.batchNormalization(x, bn)
    case let .activation(activation): return Reference.activation(x, activation)
    case .add: return Reference.binary(x, arguments[1], outputShape: outputShape, +)
    case .mul: return Reference.binary(x, arguments[1], outputShape: outputShape, *)
    case let .maxPool(pool): return Reference.pool(x, pool, isMax: true, outputShape: outputShape)
    case let .averagePool(pool): return Reference.pool(x, pool, isMax: false, outputShape: outputShape)
    case .globalAveragePool: return Reference.globalAveragePool(x, outputShape: outputShape)
    case let .concat(axis):
        return Reference.concat(arguments, axis: normalizedAxis(axis, rank: outputShape.count)!, outputShape: outputShape)
    case let .pad(pads, value): return Reference.pad(x, pads: pads, value: value, outputShape: outputShape)
    case .flatten, .reshape, .identity: return Tensor(shape: outputShape, data: x.data)
    case let .fullyConnected(fc): return Reference.fullyConnected(x, fc, outputShape: outputShape)
    case let .matMul(weight): return Reference.matMul(x, weight: weight, outputShape: outputShape)
    case let .softmax(axis): return Reference.softmax(x, axis: normalizedAxis(axis, rank: x.shape.count)!)
    case let .reduce(reduction, axis):
        return Reference.reduce(x, reduction, axis: normalizedAxis(axis, rank: x.shape.count)!, outputShape: outputShape)
    case .resize: return Reference.resizeBilinear(x, outputShape: outputShape)
    }
}
