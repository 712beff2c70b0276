// Static shape rules of every operation (ONNX semantics). Used by the reference executor and the planner.

/// The logical (NCHW) shape of every value of `graph` for the given batch size: graph inputs, constants
/// and every node output.
public func inferShapes(_ graph: Graph, batchSize: Int) throws -> [String: [Int]] {
    guard batchSize >= 1 else { throw EngineError.invalidGraph("batch size must be at least 1, got \(batchSize)") }
    var shapes: [String: [Int]] = [:]
    for (name, constant) in graph.constants { shapes[name] = constant.shape }
    for input in graph.inputs { shapes[input.name] = try concreteShape(of: input, batchSize: batchSize) }
    for node in graph.nodes {
        let inputShapes = try node.inputs.map { name -> [Int] in
            guard let shape = shapes[name] else {
                throw EngineError.invalidNode(node: node.name, message: "input \"\(name)\" is not produced by any earlier node")
            }
            return shape
        }
        guard let output = node.outputs.first else {
            throw EngineError.invalidNode(node: node.name, message: "has no outputs")
        }
        shapes[output] = try outputShape(of: node, inputShapes: inputShapes)
    }
    for output in graph.outputs where shapes[output] == nil {
        throw EngineError.invalidGraph("output \"\(output)\" is not produced by any node")
    }
    return shapes
}

/// The input's shape with the open batch dimension filled in.
func concreteShape(of input: GraphInput, batchSize: Int) throws -> [Int] {
    guard !input.shape.isEmpty else { throw EngineError.invalidGraph("input \"\(input.name)\" has rank 0") }
    var shape: [Int] = []
    for (axis, dimension) in input.shape.enumerated() {
        if axis == 0 {
            if let fixed = dimension, fixed != batchSize {
                throw EngineError.invalidGraph("input \"\(input.name)\" has a fixed batch of \(fixed), asked for \(batchSize)")
            }
            shape.append(batchSize)
        } else {
            guard let dimension, dimension > 0 else {
                throw EngineError.invalidGraph("input \"\(input.name)\" has an open or empty dimension \(axis)")
            }
            shape.append(dimension)
        }
    }
    return shape
}

/// Normalises a possibly negative ONNX axis against `rank`.
func normalizedAxis(_ axis: Int, rank: Int, allowEnd: Bool = false) -> Int? {
    let resolved = axis < 0 ? axis + rank : axis
    let upper = allowEnd ? rank : rank - 1
    return resolved >= 0 && resolved <= upper ? resolved : nil
}

/// Numpy broadcasting of two shapes, or nil when they are incompatible.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    let paddedA = [Int](repeating: 1, count: rank - a.count) + a
    let paddedB = [Int](repeating: 1, count: rank - b.count) + b
    var result: [Int] = []
    for (x, y) in zip(paddedA, paddedB) {
        if x == y || y == 1 { result.append(x) } else if x == 1 { result.append(y) } else { return nil }
    }
    return result
}

/// Output size of a sliding window along one axis (convolution and pooling), before validation.
func slidingOutputSize(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, ceilMode: Bool) -> Int {
    let span = dilation * (kernel - 1) + 1
    let room = input + padBegin + padEnd - span
    guard room >= 0 else { return 0 }
    if !ceilMode { return room / stride + 1 }
    var size = (room + stride - 1) / stride + 1
    // As in PyTorch and ONNX Runtime: the last window must start inside the input or the begin padding.
    if (size - 1) * stride >= input + padBegin { size -= 1 }
    return size
}

/// The shape of the (first) output of `node` given its input shapes.
func outputShape(of node: Node, inputShapes: [[Int]]) throws -> [Int] {
    func fail(_ message: String) -> EngineError { .invalidNode(node: node.name, message: message) }
    func expectInputs(_ count: Int) throws {
        guard inputShapes.count == count else { throw fail("expects \(count) input(s), got \(inputShapes.count)") }
    }
    switch node.operation {
    case let .convolution(conv):
        try expectInputs(1)
        let x = inputShapes[0], w = conv.weight.shape
        guard x.count == 4 else { throw fail("convolution input must be NCHW, got shape \(x)") }
        guard w.count == 4, w.allSatisfy({ $0 > 0 }) else { throw fail("convolution weight must be [O, I/groups, kH, kW], got \(w)") }
        guard conv.groups >= 1, x[1] % conv.groups == 0, w[0] % conv.groups == 0, w[1] * conv.groups == x[1] else {
            throw fail("input has \(x[1]) channels, weight \(w) with groups \(conv.groups) does not fit")
        }
        if let bias = conv.bias, bias.count != w[0] { throw fail("bias has \(bias.count) values for \(w[0]) output channels") }
        guard conv.strides.0 >= 1, conv.strides.1 >= 1, conv.dilations.0 >= 1, conv.dilations.1 >= 1 else {
            throw fail("strides and dilations must be positive")
        }
        let p = conv.pads
        guard p.top >= 0, p.left >= 0, p.bottom >= 0, p.right >= 0 else { throw fail("negative convolution padding") }
        let h = slidingOutputSize(
            input: x[2], kernel: w[2], stride: conv.strides.0, dilation: conv.dilations.0,
            padBegin: p.top, padEnd: p.bottom, ceilMode: false)
        let wo = slidingOutputSize(
            input: x[3], kernel: w[3], stride: conv.strides.1, dilation: conv.dilations.1,
            padBegin: p.left, padEnd: p.right, ceilMode: false)
        guard h > 0, wo > 0 else { throw fail("kernel \(w[2])x\(w[3]) does not fit input \(x)") }
        return [x[0], w[0], h, wo]
    case let .batchNormalization(bn):
        try expectInputs(1)
        let x = inputShapes[0]
        guard x.count >= 2 else { throw fail("batch normalisation needs at least [N, C], got \(x)") }
        let c = x[1]
        guard bn.scale.count == c, bn.bias.count == c, bn.mean.count == c, bn.variance.count == c else {
            throw fail("parameters do not have \(c) channels")
        }
        return x
    case .activation, .identity:
        try expectInputs(1)
        return inputShapes[0]
    case .add, .mul:
        try expectInputs(2)
        guard let shape = broadcastShape(inputShapes[0], inputShapes[1]) else {
            throw fail("shapes \(inputShapes[0]) and \(inputShapes[1]) do not broadcast")
        }
        return shape
    case let .maxPool(pool), let .averagePool(pool):
        try expectInputs(1)
        let x = inputShapes[0]
        guard x.count == 4 else { throw fail("pooling input must be NCHW, got shape \(x)") }
        guard pool.kernel.0 >= 1, pool.kernel.1 >= 1, pool.strides.0 >= 1, pool.strides.1 >= 1 else {
            throw fail("pooling kernel and strides must be positive")
        }
        let p = pool.pads
        guard p.top >= 0, p.left >= 0, p.bottom >= 0, p.right >= 0,
            p.top < pool.kernel.0, p.bottom < pool.kernel.0, p.left < pool.kernel.1, p.right < pool.kernel.1
        else {
            throw fail("pooling pads must be non-negative and smaller than the kernel")
        }
        let h = slidingOutputSize(
            input: x[2], kernel: pool.kernel.0, stride: pool.strides.0, dilation: 1,
            padBegin: p.top, padEnd: p.bottom, ceilMode: pool.ceilMode)
        let w = slidingOutputSize(
            input: x[3], kernel: pool.kernel.1, stride: pool.strides.1, dilation: 1,
            padBegin: p.left, padEnd: p.right, ceilMode: pool.ceilMode)
        guard h > 0, w > 0 else { throw fail("pooling window does not fit input \(x)") }
        return [x[0], x[1], h, w]
    case .globalAveragePool:
        try expectInputs(1)
        let x = inputShapes[0]
        guard x.count >= 3 else { throw fail("global pooling needs [N, C, spatial...], got \(x)") }
        return [x[0], x[1]] + [Int](repeating: 1, count: x.count - 2)
    case let .concat(axis):
        guard let first = inputShapes.first else { throw fail("concat needs at least one input") }
        guard let a = normalizedAxis(axis, rank: first.count) else { throw fail("axis \(axis) out of range for rank \(first.count)") }
        var result = first
        for shape in inputShapes.dropFirst() {
            guard shape.count == first.count,
                zip(shape, first).enumerated().allSatisfy({ $0.offset == a || $0.element.0 == $0.element.1 })
            else {
                throw fail("cannot concatenate \(shape) to \(first) along axis \(a)")
            }
            result[a] += shape[a]
        }
        return result
    case let .pad(pads, _):
        try expectInputs(1)
        let x = inputShapes[0]
        guard pads.count == 2 * x.count else { throw fail("pads has \(pads.count) values for rank \(x.count)") }
        let result = x.indices.map { x[$0] + pads[$0] + pads[$0 + x.count] }
        guard result.allSatisfy({ $0 > 0 }) else { throw fail("padding \(pads) leaves an empty tensor from \(x)") }
        return result
    case let .flatten(axis):
        try expectInputs(1)
        let x = inputShapes[0]
        guard let a = normalizedAxis(axis, rank: x.count, allowEnd: true) else { throw fail("axis \(axis) out of range") }
        return [x[..<a].reduce(1, *), x[a...].reduce(1, *)]
    case let .reshape(target):
        try expectInputs(1)
        let x = inputShapes[0]
        var result: [Int] = []
        var inferred: Int? = nil
        for (i, d) in target.enumerated() {
            if d == 0 {
                guard i < x.count else { throw fail("reshape copies dimension \(i) that the input \(x) lacks") }
                result.append(x[i])
            } else if d == -1 {
                guard inferred == nil else { throw fail("reshape target \(target) has more than one -1") }
                inferred = i
                result.append(1)
            } else if d > 0 {
                result.append(d)
            } else {
                throw fail("invalid reshape dimension \(d)")
            }
        }
        let total = x.reduce(1, *), known = result.reduce(1, *)
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw fail("cannot reshape \(x) to \(target)") }
            result[i] = total / known
        }
        guard result.reduce(1, *) == total else { throw fail("cannot reshape \(x) (\(total) values) to \(target)") }
        return result
    case let .fullyConnected(fc):
        try expectInputs(1)
        let x = inputShapes[0], w = fc.weight.shape
        guard x.count == 2 else { throw fail("Gemm input must be [N, K], got \(x)") }
        guard w.count == 2 else { throw fail("Gemm weight must be 2-D, got \(w)") }
        let (k, m) = fc.transB ? (w[1], w[0]) : (w[0], w[1])
        guard k == x[1] else { throw fail("input has \(x[1]) features, weight \(w) (transB \(fc.transB)) expects \(k)") }
        if let bias = fc.bias, broadcastShape([x[0], m], bias.shape) != [x[0], m] {
            throw fail("bias shape \(bias.shape) does not broadcast to [\(x[0]), \(m)]")
        }
        return [x[0], m]
    case let .matMul(weight):
        try expectInputs(1)
        let x = inputShapes[0], w = weight.shape
        guard w.count == 2, x.count >= 1, x.last == w[0] else { throw fail("cannot multiply \(x) by constant \(w)") }
        return x.dropLast() + [w[1]]
    case let .softmax(axis):
        try expectInputs(1)
        guard normalizedAxis(axis, rank: inputShapes[0].count) != nil else { throw fail("axis \(axis) out of range") }
        return inputShapes[0]
    case let .reduce(_, axis):
        try expectInputs(1)
        guard let resolved = normalizedAxis(axis, rank: inputShapes[0].count) else { throw fail("axis \(axis) out of range") }
        var shape = inputShapes[0]
        shape[resolved] = 1
        return shape
    case let .resize(height, width):
        try expectInputs(1)
        let x = inputShapes[0]
        guard x.count == 4 else { throw fail("Resize is implemented for NCHW tensors, input is \(x)") }
        guard height > 0, width > 0 else { throw fail("Resize to \(width)x\(height) is not a size") }
        return [x[0], x[1], height, width]
    }
}
