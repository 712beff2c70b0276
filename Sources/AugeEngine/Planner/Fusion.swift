// Graph rewrites at load time: Identity removal, Sigmoid x Mul -> SiLU, MatMul + Add -> Gemm,
// BatchNormalization folded
// into the preceding convolution, and activation / residual Add / activation fused into the
// convolution's epilogue.

/// A node after fusion: the operation plus the epilogue absorbed from the nodes that followed it.
struct FusedNode {
    var name: String
    var operation: Operation
    var inputs: [String]
    var output: String
    var activation: Activation?
    /// Value added after `activation` (same shape as the output).
    var residual: String?
    var postActivation: Activation?
    /// For a convolution with int8 weights whose output only a ReduceMin over channels reads (a memory-bank
    /// search): that output [N, C, H, W], which `output` ([N, 1, H, W]) is the minimum of. The int8 kernel
    /// never stores it.
    var reducedProducts: String?
    /// Names of the nodes folded into this one.
    var absorbed: [String] = []

    /// The activation the output ends on (for a convolution, the last of its epilogue).
    var finalActivation: Activation? {
        if case let .activation(activation) = operation { return activation }
        return residual == nil ? postActivation ?? activation : postActivation
    }
}

/// The fused node list of `graph` and the value each graph output now refers to.
func fuseNodes(_ graph: Graph, shapes: [String: [Int]]) -> (nodes: [FusedNode], outputs: [String]) {
    // Identity: its output is another name for its input.
    var alias: [String: String] = [:]
    func resolve(_ name: String) -> String { alias[name].map(resolve) ?? name }
    var nodes: [FusedNode] = []
    for node in graph.nodes {
        if case .identity = node.operation {
            alias[node.outputs[0]] = resolve(node.inputs[0])
            continue
        }
        nodes.append(FusedNode(name: node.name, operation: node.operation, inputs: node.inputs.map(resolve), output: node.outputs[0]))
    }
    let outputs = graph.outputs.map(resolve)
    let pinned = Set(outputs)

    func consumerCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in nodes { for input in node.inputs + (node.residual.map { [$0] } ?? []) { counts[input, default: 0] += 1 } }
        return counts
    }
    func fusable(_ value: String, _ counts: [String: Int]) -> Bool { counts[value] == 1 && !pinned.contains(value) }

    // Sigmoid(x) * x -> SiLU(x).
    var counts = consumerCounts()
    var producer: [String: Int] = [:]
    for (index, node) in nodes.enumerated() { producer[node.output] = index }
    var removed = Set<Int>()
    for (index, node) in nodes.enumerated() {
        guard case .mul = node.operation, node.inputs.count == 2 else { continue }
        for (gate, other) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
            guard let p = producer[gate], case .activation(.sigmoid) = nodes[p].operation, nodes[p].inputs == [other],
                fusable(gate, counts)
            else { continue }
            nodes[index] = FusedNode(
                name: node.name, operation: .activation(.silu), inputs: [other], output: node.output,
                absorbed: [nodes[p].name])
            removed.insert(p)
            break
        }
    }
    nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)

    // MatMul(x, W) + constant bias -> Gemm with that bias (how PyTorch exports Linear on 2-D inputs).
    counts = consumerCounts()
    producer = [:]
    for (index, node) in nodes.enumerated() { producer[node.output] = index }
    removed = []
    for (index, node) in nodes.enumerated() {
        guard case .add = node.operation, node.inputs.count == 2 else { continue }
        for (product, biasName) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
            guard let p = producer[product], case let .matMul(weight) = nodes[p].operation, fusable(product, counts),
                let bias = graph.constants[biasName], let input = shapes[nodes[p].inputs[0]], input.count == 2,
                let output = shapes[product], broadcastShape(output, bias.shape) == output
            else { continue }
            nodes[p].operation = .fullyConnected(FullyConnected(weight: weight, bias: bias, transB: false))
            nodes[p].output = node.output
            nodes[p].absorbed.append(node.name)
            removed.insert(index)
            break
        }
    }
    nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)

    // Convolution epilogues, walking forward from each convolution.
    counts = consumerCounts()
    var fused: [FusedNode] = []
    var producedBy: [String: Int] = [:]
    var consumed = Set<Int>()
    var firstConsumer: [String: Int] = [:]
    for (index, node) in nodes.enumerated().reversed() { for input in node.inputs { firstConsumer[input] = index } }
    for (index, node) in nodes.enumerated() where !consumed.contains(index) {
        var current = node
        if case var .convolution(conv) = current.operation {
            while fusable(current.output, counts), let next = firstConsumer[current.output], !consumed.contains(next) {
                let candidate = nodes[next]
                var absorbed = false, last = false
                switch candidate.operation {
                case let .reduce(.min, axis)
                where conv.weightScales != nil && current.activation == nil && current.residual == nil && current.postActivation == nil
                    && shapes[current.output]?.count == 4 && (axis == 1 || axis == -3):
                    current.reducedProducts = current.output
                    absorbed = true
                    last = true
                case let .batchNormalization(bn) where current.activation == nil && current.residual == nil:
                    conv = foldBatchNormalization(bn, into: conv)
                    absorbed = true
                case let .activation(activation) where current.activation == nil && current.residual == nil:
                    current.activation = activation
                    absorbed = true
                case let .activation(activation) where current.postActivation == nil && (current.residual != nil || activation.isFakeQuantize):
                    // After an Add, or a quantized model's ReLU / Clip then fake-quantize (one int8 epilogue).
                    current.postActivation = activation
                    absorbed = true
                case .add where current.residual == nil && candidate.inputs.count == 2:
                    let other = candidate.inputs[0] == current.output ? candidate.inputs[1] : candidate.inputs[0]
                    // The other operand must exist before this convolution runs and match its shape.
                    let ready = graph.inputs.contains { $0.name == other } || producedBy[other] != nil
                    if ready, other != current.output, shapes[other] == shapes[current.output] {
                        current.residual = other
                        absorbed = true
                    }
                default:
                    break
                }
                guard absorbed else { break }
                current.output = candidate.output
                current.absorbed.append(candidate.name)
                consumed.insert(next)
                if last { break }
            }
            current.operation = .convolution(conv)
        }
        producedBy[current.output] = fused.count
        fused.append(current)
    }
    return (fused, outputs)
}

/// W' = W * s, b' = (b - mean) * s + beta with s = scale / sqrt(variance + epsilon), per output channel.
func foldBatchNormalization(_ bn: BatchNormalization, into conv: Convolution) -> Convolution {
    var folded = conv
    let outChannels = conv.outChannels, perChannel = conv.weight.count / outChannels
    var bias = conv.bias?.data ?? [Float](repeating: 0, count: outChannels)
    for o in 0..<outChannels {
        let s = Double(bn.scale[o]) / (Double(bn.variance[o]) + Double(bn.epsilon)).squareRoot()
        for i in 0..<perChannel { folded.weight.data[o * perChannel + i] = Float(Double(conv.weight.data[o * perChannel + i]) * s) }
        bias[o] = Float((Double(bias[o]) - Double(bn.mean[o])) * s + Double(bn.bias[o]))
    }
    folded.bias = Tensor(shape: [outChannels], data: bias)
    // The scaled weights are no longer the int8 grid's: quantize after folding, never before.
    folded.weightScales = nil
    return folded
}
