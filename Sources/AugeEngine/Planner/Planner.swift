// Load-time planning: chooses each value's layout, emits one kernel step per fused node (plus layout
// conversions where a consumer needs another layout), and places every activation in one arena,
// reusing memory between values whose lifetimes do not overlap.

/// A description of one executed step, for `auge info` and profiles.
public struct LayerDescription: Sendable, Equatable {
    public let name: String
    /// The kernel that runs it, e.g. "conv 3x3/2 (gemm) + relu".
    public let kind: String
    /// Logical NCHW shape of the step's output.
    public let outputShape: [Int]
    public let multiplyAccumulates: Int
    public let parameters: Int
    /// For a convolution, the algorithm the planner chose (its text is part of `kind`).
    public var convolution: ConvolutionAlgorithm? = nil
}

/// Where a value lives: its buffer, element count and layout.
private struct BufferRecord {
    var count: Int
    var firstUse: Int
    var lastUse: Int
    /// Constant data in the buffer's layout; constants live outside the arena.
    var constant: [Float]?
}

/// Resolves buffer ids to pointers once the arena exists.
struct BufferResolver {
    fileprivate let pointers: [UnsafeMutablePointer<Float>]
    func callAsFunction(_ id: Int) -> UnsafeMutablePointer<Float> { pointers[id] }
}

/// The result of planning: steps over one arena, ready to run.
final class Plan {
    let steps: [Step]
    let layers: [LayerDescription]
    let arena: AlignedBuffer
    let constants: [AlignedBuffer]
    let inputs: [(name: String, shape: [Int], pointer: UnsafeMutablePointer<Float>)]
    let outputs: [(name: String, shape: [Int], pointer: UnsafeMutablePointer<Float>)]

    init(
        steps: [Step], layers: [LayerDescription], arena: AlignedBuffer, constants: [AlignedBuffer],
        inputs: [(name: String, shape: [Int], pointer: UnsafeMutablePointer<Float>)],
        outputs: [(name: String, shape: [Int], pointer: UnsafeMutablePointer<Float>)]
    ) {
        self.steps = steps
        self.layers = layers
        self.arena = arena
        self.constants = constants
        self.inputs = inputs
        self.outputs = outputs
    }

    var arenaBytes: Int { arena.count * 4 }
}

struct Planner {
    let graph: Graph
    let shapes: [String: [Int]]
    private var buffers: [BufferRecord] = []
    private var materialized: [String: [Layout: Int]] = [:]
    private var builders: [(BufferResolver) -> Step] = []
    private var layers: [LayerDescription] = []
    /// The uint8 grid of each value a fake-quantize produced: such a value may also be kept as codes.
    private var valueQuantization: [String: ValueQuantization] = [:]
    /// Values of a fake-quantize node read only by convolutions with int8 weights (a quantized model's
    /// input, say): quantized straight to codes, with no float copy (a float reader would dequantize them).
    private var codesOnly: Set<String> = []
    /// Codes-only values whose quantize step is not planned yet: the first int8 convolution that reads one
    /// from plain floats through a padded copy quantizes it there (a quantized model's input); any other
    /// reader gets the quantize step (`require`).
    private var deferredCodes: [String: DeferredQuantize] = [:]

    /// A quantize step: the layer's name, the grid, and the float buffer it reads.
    struct DeferredQuantize {
        var node: String
        var quantization: ValueQuantization
        var source: Int
        var sourceLayout: Layout
    }

    /// Threads the kernels will run on (per-thread scratch memory).
    let threads: Int
    /// How quantized convolutions run; `int8Kernels` is its answer for this graph (set by `build`).
    let int8: Int8Execution
    private var int8Kernels = false

    init(graph: Graph, batchSize: Int, threads: Int, int8: Int8Execution) throws {
        self.graph = graph
        self.threads = threads
        self.int8 = int8
        shapes = try inferShapes(graph, batchSize: batchSize)
    }

    /// The largest activation arena planned, in floats (1 GiB): far beyond any inspection model at batch 1,
    /// and a bound on what a hostile or broken file can make the engine allocate.
    static let maximumArenaFloats = 1 << 28

    /// Plans the whole graph.
    static func plan(_ graph: Graph, batchSize: Int, threads: Int, int8: Int8Execution) throws -> Plan {
        var planner = try Planner(graph: graph, batchSize: batchSize, threads: threads, int8: int8)
        return try planner.build()
    }

    private mutating func build() throws -> Plan {
        let (nodes, outputNames) = fuseNodes(graph, shapes: shapes)
        int8Kernels =
            switch int8 {
            case .kernels: true
            case .float: false
            case .automatic: Int8GemmPath.best == .avx512VNNI || winogradShare(of: nodes) < 0.5
            }
        codesOnly = int8Kernels ? Self.codesOnlyValues(nodes, outputs: Set(outputNames)) : []
        var inputIDs: [Int] = []
        for input in graph.inputs {
            let id = newBuffer(count: shapes[input.name]!.reduce(1, *), first: -1)
            materialized[input.name] = [.plain: id]
            inputIDs.append(id)
        }
        for node in nodes { try emit(node) }
        let outputIDs = try outputNames.map { name -> Int in
            let id = try require(name, .plain, node: "output \(name)")
            buffers[id].lastUse = Int.max
            return id
        }
        // Arena placement, largest buffers first, each at the lowest offset free during its lifetime.
        var offsets = [Int](repeating: 0, count: buffers.count)
        var placed: [Int] = []
        var arenaCount = 0
        for id in buffers.indices.filter({ buffers[$0].constant == nil }).sorted(by: { buffers[$0].count > buffers[$1].count }) {
            let size = roundedSize(buffers[id].count)
            let conflicts = placed.filter { buffers[$0].firstUse <= buffers[id].lastUse && buffers[id].firstUse <= buffers[$0].lastUse }
                .map { (offsets[$0], roundedSize(buffers[$0].count)) }.sorted { $0.0 < $1.0 }
            var offset = 0
            for (start, length) in conflicts {
                if offset + size <= start { break }
                offset = max(offset, start + length)
            }
            offsets[id] = offset
            placed.append(id)
            arenaCount = max(arenaCount, offset + size)
        }
        guard arenaCount <= Self.maximumArenaFloats else {
            throw EngineError.invalidGraph(
                String(
                    format: "the activations of one run need %.1f GB; the engine plans at most %.0f GB (a larger input or batch than the model was made for?)",
                    Double(arenaCount) * 4 / 1e9, Double(Self.maximumArenaFloats) * 4 / 1e9))
        }
        let arena = AlignedBuffer(count: arenaCount)
        var constants: [AlignedBuffer] = []
        var pointers: [UnsafeMutablePointer<Float>] = []
        for (id, record) in buffers.enumerated() {
            if let data = record.constant {
                let storage = AlignedBuffer(count: roundedSize(data.count))
                storage.pointer.update(from: data, count: data.count)
                constants.append(storage)
                pointers.append(storage.pointer)
            } else {
                pointers.append(arena.pointer + offsets[id])
            }
        }
        let resolver = BufferResolver(pointers: pointers)
        return Plan(
            steps: builders.map { $0(resolver) }, layers: layers, arena: arena, constants: constants,
            inputs: zip(graph.inputs, inputIDs).map { ($0.name, shapes[$0.name]!, pointers[$1]) },
            outputs: zip(graph.outputs, outputIDs).map { ($0, shapes[$0]!, pointers[$1]) })
    }

    /// Room for a buffer: whole vectors plus one vector of slack for partial-lane reads at the end.
    private func roundedSize(_ count: Int) -> Int { paddedChannels(count) + vectorWidth }

    /// Floats a value of `shape` takes in `layout` (codes: four per float).
    private func elementCount(_ shape: [Int], _ layout: Layout) -> Int {
        switch layout {
        case .plain: shape.reduce(1, *)
        // [N, C] as [N, C, 1, 1].
        case .channelsLast: shape[0] * shape[2...].reduce(1, *) * paddedChannels(shape[1])
        case .codes: (shape[0] * shape[2...].reduce(1, *) * paddedChannels(shape[1]) + 3) / 4
        }
    }

    private mutating func newBuffer(count: Int, first: Int? = nil) -> Int {
        let step = first ?? builders.count
        buffers.append(BufferRecord(count: count, firstUse: step, lastUse: step))
        return buffers.count - 1
    }

    private mutating func use(_ id: Int) { buffers[id].lastUse = max(buffers[id].lastUse, builders.count) }

    private func isAvailable(_ value: String, _ layout: Layout) -> Bool { materialized[value]?[layout] != nil }

    /// The buffer holding `value` in `layout`, converting (or laying out a constant) if needed.
    private mutating func require(_ value: String, _ layout: Layout, node: String) throws -> Int {
        if let deferred = deferredCodes.removeValue(forKey: value) {
            materialized[value] = [.codes: appendQuantize(value, deferred)]
        }
        if let id = materialized[value]?[layout] {
            use(id)
            return id
        }
        guard let shape = shapes[value] else { throw EngineError.invalidNode(node: node, message: "unknown value \"\(value)\"") }
        if let constant = graph.constants[value] {
            let data = layout == .plain ? constant.data : channelsLastData(constant)
            buffers.append(BufferRecord(count: data.count, firstUse: 0, lastUse: Int.max, constant: data))
            materialized[value, default: [:]][layout] = buffers.count - 1
            return buffers.count - 1
        }
        guard let available = materialized[value], !available.isEmpty else {
            throw EngineError.invalidNode(node: node, message: "value \"\(value)\" is used before it is computed")
        }
        if layout == .codes {
            guard let quantization = valueQuantization[value] else {
                throw EngineError.invalidNode(node: node, message: "value \"\(value)\" has no uint8 grid to be kept as codes")
            }
            let sourceLayout: Layout = available[.channelsLast] != nil ? .channelsLast : .plain
            let source = try require(value, sourceLayout, node: node)
            let id = appendQuantize(
                value, DeferredQuantize(node: "\(value) -> codes", quantization: quantization, source: source, sourceLayout: sourceLayout))
            materialized[value, default: [:]][.codes] = id
            use(id)
            return id
        }
        guard let floatLayout = [Layout.channelsLast, .plain].first(where: { available[$0] != nil }) else {
            // Codes only: dequantize to channels-last, then convert from there if need be.
            let (codesID, quantization) = (available[.codes]!, valueQuantization[value]!)
            let id = newBuffer(count: elementCount(shape, .channelsLast))
            use(codesID)
            let count = elementCount(shape, .channelsLast)
            builders.append { DequantizeStep(quantization: quantization, count: count, input: bytes($0(codesID)), output: $0(id)) }
            layers.append(LayerDescription(name: "\(value) -> channelsLast", kind: "dequantize", outputShape: shape, multiplyAccumulates: 0, parameters: 0))
            materialized[value, default: [:]][.channelsLast] = id
            use(id)
            return try require(value, layout, node: node)
        }
        let sourceID = available[floatLayout]!
        let id = newBuffer(count: elementCount(shape, layout))
        use(sourceID)
        let toChannelsLast = layout == .channelsLast
        builders.append { LayoutConversionStep(toChannelsLast: toChannelsLast, shape: shape, input: $0(sourceID), output: $0(id)) }
        layers.append(
            LayerDescription(
                name: "\(value) -> \(layout)", kind: toChannelsLast ? "to channels-last" : "to plain",
                outputShape: shape, multiplyAccumulates: 0, parameters: 0))
        materialized[value, default: [:]][layout] = id
        use(id)
        return id
    }

    /// Appends the step that quantizes `value` to codes; returns their buffer.
    private mutating func appendQuantize(_ value: String, _ step: DeferredQuantize) -> Int {
        let shape = shapes[value]!
        let id = newBuffer(count: elementCount(shape, .codes))
        append(LayerDescription(name: step.node, kind: "quantize", outputShape: shape, multiplyAccumulates: 0, parameters: 0), reads: [step.source]) {
            QuantizeStep(quantization: step.quantization, shape: shape, sourceLayout: step.sourceLayout, input: $0(step.source), output: bytes($0(id)))
        }
        return id
    }

    /// The share of the quantized convolutions' multiply-adds that float would run as Winograd (which
    /// does fewer of them than any GEMM); 0 without quantized convolutions.
    private func winogradShare(of nodes: [FusedNode]) -> Double {
        var all = 0, winograd = 0
        for node in nodes {
            guard case let .convolution(conv) = node.operation, conv.weightScales != nil else { continue }
            // A search's products, not the minimum it is reduced to, are what the convolution computes.
            let g = geometry(conv, input: shapes[node.inputs[0]]!, output: shapes[node.reducedProducts ?? node.output]!)
            all += g.multiplyAccumulates
            if WinogradStep.applies(to: g) { winograd += g.multiplyAccumulates }
        }
        return all == 0 ? 0 : Double(winograd) / Double(all)
    }

    private func geometry(_ conv: Convolution, input x: [Int], output y: [Int]) -> ConvolutionGeometry {
        ConvolutionGeometry(
            batch: x[0], inHeight: x[2], inWidth: x[3], inChannels: x[1], outHeight: y[2], outWidth: y[3], outChannels: y[1],
            kernelHeight: conv.kernel.0, kernelWidth: conv.kernel.1, strideY: conv.strides.0, strideX: conv.strides.1,
            dilationY: conv.dilations.0, dilationX: conv.dilations.1,
            padTop: conv.pads.top, padLeft: conv.pads.left, padBottom: conv.pads.bottom, padRight: conv.pads.right, groups: conv.groups)
    }

    /// See `codesOnly`.
    static func codesOnlyValues(_ nodes: [FusedNode], outputs: Set<String>) -> Set<String> {
        var readers: [String: [FusedNode]] = [:]
        for node in nodes { for input in node.inputs + [node.residual].compactMap({ $0 }) { readers[input, default: []].append(node) } }
        func readsCodes(_ reader: FusedNode, _ value: String) -> Bool {
            guard case let .convolution(conv) = reader.operation else { return false }
            return conv.weightScales != nil && reader.inputs == [value] && reader.residual != value
        }
        return Set(
            nodes.compactMap { node in
                guard case let .activation(activation) = node.operation, ValueQuantization(activation) != nil, !outputs.contains(node.output),
                    let nodeReaders = readers[node.output], nodeReaders.allSatisfy({ readsCodes($0, node.output) })
                else { return nil }
                return node.output
            })
    }

    /// Registers the output buffer of the step about to be appended.
    private mutating func define(_ value: String, _ layout: Layout) -> Int {
        let id = newBuffer(count: elementCount(shapes[value]!, layout))
        materialized[value] = [layout: id]
        return id
    }

    /// Appends a step; `reads` are the buffers it reads (their lifetimes extend to this step).
    private mutating func append(_ layer: LayerDescription, reads: [Int], _ builder: @escaping (BufferResolver) -> Step) {
        for id in reads { use(id) }
        layers.append(layer)
        builders.append(builder)
    }

    private mutating func emit(_ node: FusedNode) throws {
        if let quantization = ValueQuantization(node.finalActivation) { valueQuantization[node.output] = quantization }
        let outputShape = shapes[node.output]!
        let inputShapes = node.inputs.map { shapes[$0]! }
        func describe(_ kind: String, macs: Int = 0, parameters: Int = 0) -> LayerDescription {
            let fused = [node.activation.map { "\($0)" }, node.residual.map { _ in "add" }, node.postActivation.map { "\($0)" }]
                .compactMap { $0 }
            return LayerDescription(
                name: node.name, kind: ([kind] + fused).joined(separator: " + "), outputShape: outputShape,
                multiplyAccumulates: macs, parameters: parameters)
        }
        switch node.operation {
        case let .convolution(conv):
            try emitConvolution(node, conv, inputShape: inputShapes[0], outputShape: outputShape, describe: describe)
        case let .batchNormalization(bn):
            let channels = inputShapes[0][1]
            let layout: Layout = inputShapes[0].count == 4 ? .channelsLast : .plain
            let input = try require(node.inputs[0], layout, node: node.name)
            let output = define(node.output, layout)
            var scale = [Float](repeating: 0, count: layout == .plain ? channels : paddedChannels(channels)), shift = scale
            for c in 0..<channels {
                let s = Double(bn.scale[c]) / (Double(bn.variance[c]) + Double(bn.epsilon)).squareRoot()
                scale[c] = Float(s)
                shift[c] = Float(Double(bn.bias[c]) - Double(bn.mean[c]) * s)
            }
            let (outer, inner) =
                layout == .plain
                ? (inputShapes[0][0], inputShapes[0][2...].reduce(1, *))
                : (elementCount(inputShapes[0], .channelsLast) / scale.count, 1)
            append(describe("batch normalization", parameters: 2 * channels), reads: [input]) { [scale, shift] in
                AffineStep(outer: outer, channels: scale.count, inner: inner, scale: scale, shift: shift, input: $0(input), output: $0(output))
            }
        case let .activation(activation):
            if let grid = ValueQuantization(activation), let values = valueQuantization[node.inputs[0]], values.scale == grid.scale,
                values.zeroPoint == grid.zeroPoint, grid.range.contains(values.range.lowerBound), grid.range.contains(values.range.upperBound),
                let available = materialized[node.inputs[0]]
            {
                // A fake-quantize onto the grid its input is already on changes nothing: the same buffers.
                materialized[node.output] = available
                valueQuantization[node.output] = values
                return
            }
            let layout: Layout = isAvailable(node.inputs[0], .channelsLast) ? .channelsLast : .plain
            let input = try require(node.inputs[0], layout, node: node.name)
            if codesOnly.contains(node.output), let quantization = valueQuantization[node.output] {
                // QuantizeLinear of the fake-quantized value gives the codes the fake-quantize rounded to.
                deferredCodes[node.output] = DeferredQuantize(node: node.name, quantization: quantization, source: input, sourceLayout: layout)
                return
            }
            let output = define(node.output, layout)
            let count = elementCount(outputShape, layout)
            append(describe("\(activation)"), reads: [input]) { ActivationStep(activation: activation, input: $0(input), output: $0(output), count: count) }
        case .add, .mul:
            try emitBinary(node, op: node.operation == .add ? .add : .mul, inputShapes: inputShapes, outputShape: outputShape, describe: describe)
        case let .maxPool(pooling), let .averagePool(pooling):
            let isMax: Bool
            if case .maxPool = node.operation { isMax = true } else { isMax = false }
            let inputShape = inputShapes[0]
            if isMax, let quantization = valueQuantization[node.inputs[0]], materialized[node.inputs[0]]?[.codes] != nil,
                CodesMaxPoolStep.applies(pooling, inputShape: inputShape, outputShape: outputShape)
            {
                // A quantized model's max pool between two int8 layers: on the codes, onto the same grid.
                let input = try require(node.inputs[0], .codes, node: node.name)
                let output = define(node.output, .codes)
                valueQuantization[node.output] = quantization
                append(describe("max pool (codes)"), reads: [input]) {
                    CodesMaxPoolStep(pooling: pooling, inputShape: inputShape, outputShape: outputShape, input: bytes($0(input)), output: bytes($0(output)))
                }
                break
            }
            let input = try require(node.inputs[0], .channelsLast, node: node.name)
            let output = define(node.output, .channelsLast)
            append(describe(isMax ? "max pool" : "average pool"), reads: [input]) {
                PoolingStep(pooling: pooling, isMax: isMax, inputShape: inputShape, outputShape: outputShape, input: $0(input), output: $0(output))
            }
        case .globalAveragePool:
            guard inputShapes[0].count == 4 else {
                throw EngineError.invalidNode(node: node.name, message: "global average pooling is implemented for rank-4 inputs only")
            }
            let inputShape = inputShapes[0]
            if let available = materialized[node.inputs[0]], available[.codes] != nil, available[.channelsLast] == nil,
                let quantization = valueQuantization[node.inputs[0]], inputShape[2...].reduce(1, *) <= Int(Int32.max) / 255
            {
                // A quantized model's pooling head: averaged from the codes, with no dequantized copy of the map.
                let input = try require(node.inputs[0], .codes, node: node.name)
                let output = define(node.output, .channelsLast)
                append(describe("global average pool (codes)"), reads: [input]) {
                    CodesGlobalAveragePoolStep(inputShape: inputShape, quantization: quantization, input: bytes($0(input)), output: $0(output))
                }
                break
            }
            let input = try require(node.inputs[0], .channelsLast, node: node.name)
            let output = define(node.output, .channelsLast)
            append(describe("global average pool"), reads: [input]) { GlobalAveragePoolStep(inputShape: inputShape, input: $0(input), output: $0(output)) }
        case let .concat(axis):
            try emitConcat(
                node, axis: normalizedAxis(axis, rank: outputShape.count)!, inputShapes: inputShapes, outputShape: outputShape,
                describe: describe)
        case let .pad(pads, value):
            let input = try require(node.inputs[0], .plain, node: node.name)
            let output = define(node.output, .plain)
            let inputShape = inputShapes[0]
            append(describe("pad"), reads: [input]) {
                PadStep(inputShape: inputShape, outputShape: outputShape, pads: pads, value: value, input: $0(input), output: $0(output))
            }
        case .flatten, .reshape, .identity:
            // Plain data is already in the target order: the output is another name for the same buffer.
            let input = try require(node.inputs[0], .plain, node: node.name)
            materialized[node.output] = [.plain: input]
        case let .fullyConnected(fc):
            if let (conv, geometry) = Self.int8Form(fc, inputShape: inputShapes[0]), let choice = int8Choice(node, conv, geometry) {
                try emitInt8Convolution(node, conv, geometry: geometry, choice: choice, kind: "gemm", describe: describe)
                break
            }
            let input = try require(node.inputs[0], .plain, node: node.name)
            let output = define(node.output, .plain)
            let (rows, k, m) = (inputShapes[0][0], inputShapes[0][1], outputShape[1])
            let biasShape = fc.bias?.shape ?? []
            let biasStrides = broadcastStrides(of: biasShape, over: [rows, m])
            append(describe("gemm", macs: rows * k * m, parameters: fc.weight.count + (fc.bias?.count ?? 0)), reads: [input]) {
                FullyConnectedStep(
                    rows: rows, inFeatures: k, outFeatures: m,
                    weight: { i, j in fc.alpha * (fc.transB ? fc.weight.data[j * k + i] : fc.weight.data[i * m + j]) },
                    biasValue: { r, j in fc.bias.map { fc.beta * $0.data[r * biasStrides[0] + j * biasStrides[1]] } ?? 0 },
                    input: $0(input), output: $0(output))
            }
        case let .matMul(weight):
            let input = try require(node.inputs[0], .plain, node: node.name)
            let output = define(node.output, .plain)
            let (k, m) = (weight.shape[0], weight.shape[1])
            let rows = outputShape.reduce(1, *) / m
            append(describe("matmul", macs: rows * k * m, parameters: weight.count), reads: [input]) {
                FullyConnectedStep(
                    rows: rows, inFeatures: k, outFeatures: m, weight: { i, j in weight.data[i * m + j] },
                    biasValue: { _, _ in 0 }, input: $0(input), output: $0(output))
            }
        case let .softmax(axis):
            let input = try require(node.inputs[0], .plain, node: node.name)
            let output = define(node.output, .plain)
            let resolvedAxis = normalizedAxis(axis, rank: outputShape.count)!
            append(describe("softmax"), reads: [input]) { SoftmaxStep(shape: outputShape, axis: resolvedAxis, input: $0(input), output: $0(output)) }
        case let .reduce(reduction, axis):
            let resolvedAxis = normalizedAxis(axis, rank: outputShape.count)!
            let inputShape = inputShapes[0]
            if resolvedAxis == 1, inputShape.count == 4, isAvailable(node.inputs[0], .channelsLast) {
                let input = try require(node.inputs[0], .channelsLast, node: node.name)
                let output = define(node.output, .plain)
                append(describe("reduce \(reduction) over channels"), reads: [input]) {
                    ChannelReductionStep(reduction: reduction, inputShape: inputShape, input: $0(input), output: $0(output))
                }
            } else {
                let input = try require(node.inputs[0], .plain, node: node.name)
                let output = define(node.output, .plain)
                append(describe("reduce \(reduction)"), reads: [input]) {
                    AxisReductionStep(reduction: reduction, shape: inputShape, axis: resolvedAxis, input: $0(input), output: $0(output))
                }
            }
        case .resize:
            let input = try require(node.inputs[0], .channelsLast, node: node.name)
            let output = define(node.output, .channelsLast)
            let inputShape = inputShapes[0]
            append(describe("resize bilinear"), reads: [input]) {
                ResizeBilinearStep(inputShape: inputShape, outputShape: outputShape, input: $0(input), output: $0(output))
            }
        }
    }

    private mutating func emitConvolution(
        _ node: FusedNode, _ conv: Convolution, inputShape x: [Int], outputShape y: [Int],
        describe: (String, Int, Int) -> LayerDescription
    ) throws {
        if let products = node.reducedProducts {
            return try emitChannelMinimum(node, conv, products: products, inputShape: x, describe: describe)
        }
        let geometry = geometry(conv, input: x, output: y)
        if let choice = int8Choice(node, conv, geometry) {
            return try emitInt8Convolution(node, conv, geometry: geometry, choice: choice, describe: describe)
        }
        let inputIsChannelsLast = isAvailable(node.inputs[0], .channelsLast)
        let algorithm = ConvolutionAlgorithm.choose(for: geometry, inputIsChannelsLast: inputIsChannelsLast)
        let sourceLayout = algorithm.sourceLayout(inputIsChannelsLast: inputIsChannelsLast)
        let input = try require(node.inputs[0], sourceLayout, node: node.name)
        let residual = try node.residual.map { try require($0, .channelsLast, node: node.name) }
        let gathered: Int? =
            switch algorithm {
            case .depthwise: DepthwiseStep.needsPaddedCopy(geometry) ? newBuffer(count: DepthwiseStep.paddedCount(geometry)) : nil
            case .gemm: nil
            case .winograd: newBuffer(count: WinogradStep.workingCount(geometry, threads: threads))
            case .firstLayerPlanar, .implicitGemm: newBuffer(count: geometry.paddedCopyCount(pixelStride: geometry.inChannels))
            case .int8Gemm, .int8Depthwise: preconditionFailure("int8 convolutions are emitted by emitInt8Convolution")
            }
        let output = define(node.output, .channelsLast)
        let weight = conv.weight.data
        let bias = conv.bias?.data ?? [Float](repeating: 0, count: y[1])
        let (activation, postActivation) = (node.activation, node.postActivation)
        let threads = self.threads
        let kind =
            "conv \(conv.kernel.0)x\(conv.kernel.1)/\(conv.strides.0)" + (conv.groups > 1 && algorithm != .depthwise ? " g\(conv.groups)" : "")
            + " (\(algorithm))"
        var layer = describe(kind, geometry.multiplyAccumulates, conv.weight.count + y[1])
        layer.convolution = algorithm
        append(layer, reads: [input] + [residual, gathered].compactMap { $0 }) { resolve in
            let epilogue = Epilogue(activation: activation, residual: residual.map { UnsafePointer(resolve($0)) }, postActivation: postActivation)
            switch algorithm {
            case .winograd:
                return WinogradStep(
                    geometry: geometry, weight: weight, biasValues: bias, source: resolve(input), sourceLayout: sourceLayout,
                    working: resolve(gathered!), output: resolve(output), epilogue: epilogue, threads: threads)
            case .depthwise:
                return DepthwiseStep(
                    geometry: geometry, weight: weight, biasValues: bias, input: resolve(input),
                    gathered: gathered.map { resolve($0) }, output: resolve(output), epilogue: epilogue)
            case .int8Gemm, .int8Depthwise:
                preconditionFailure("int8 convolutions are emitted by emitInt8Convolution")
            case .gemm, .firstLayerPlanar, .implicitGemm:
                return ConvolutionGemmStep(
                    geometry: geometry, weight: weight, biasValues: bias, source: resolve(input), sourceLayout: sourceLayout,
                    gathered: gathered.map { resolve($0) }, output: resolve(output), epilogue: epilogue)
            }
        }
    }

    /// What a quantized model's convolution writes: codes requantized in the kernel (an epilogue that
    /// ends on a fake-quantize, with at most a ReLU or Clip before it), codes after adding a residual
    /// kept as codes, or float for any other epilogue.
    private enum Int8Result {
        case codes(ValueQuantization, range: ClosedRange<Int32>)
        case residualCodes(ValueQuantization, residual: ValueQuantization)
        case float
    }

    /// How a quantized model's convolution runs on codes, or nil (it runs in float) without the int8
    /// kernels, without int8 weights, for an input that is not on a uint8 grid, for grouped convolutions,
    /// and for depthwise ones that do not end on a grid.
    private func int8Choice(
        _ node: FusedNode, _ conv: Convolution, _ g: ConvolutionGeometry
    ) -> (algorithm: ConvolutionAlgorithm, input: ValueQuantization, result: Int8Result)? {
        guard int8Kernels, conv.weightScales != nil, let input = valueQuantization[node.inputs[0]] else { return nil }
        var result = Int8Result.float
        if let residual = node.residual {
            if let output = ValueQuantization(node.postActivation), let skip = valueQuantization[residual] {
                result = .residualCodes(output, residual: skip)
            }
        } else if let output = ValueQuantization(node.postActivation ?? node.activation),
            let range = output.range(after: node.postActivation != nil ? node.activation : nil)
        {
            result = .codes(output, range: range)
        }
        if g.groups > 1 && g.groups == g.inChannels && g.groups == g.outChannels {
            guard case .codes = result, Int8DepthwiseStep.applies(g) else { return nil }
            return (.int8Depthwise, input, result)
        }
        return g.groups == 1 ? (.int8Gemm, input, result) : nil
    }

    /// A fully connected layer with int8 weights per output feature as the 1x1 convolution it is (each
    /// input row a 1x1 image, channels-last [N, C] the same bytes), or nil.
    static func int8Form(_ fc: FullyConnected, inputShape: [Int]) -> (Convolution, ConvolutionGeometry)? {
        guard let scales = fc.weightScales, fc.transB, fc.alpha == 1, inputShape.count == 2 else { return nil }
        let (rows, k, m) = (inputShape[0], inputShape[1], fc.weight.shape[0])
        var conv = Convolution(
            weight: Tensor(shape: [m, k, 1, 1], data: fc.weight.data),
            bias: fc.bias.map { Tensor(shape: [m], data: $0.data.map { $0 * fc.beta }) })
        conv.weightScales = scales
        let geometry = ConvolutionGeometry(
            batch: rows, inHeight: 1, inWidth: 1, inChannels: k, outHeight: 1, outWidth: 1, outChannels: m, kernelHeight: 1, kernelWidth: 1,
            strideY: 1, strideX: 1, dilationY: 1, dilationX: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, groups: 1)
        return (conv, geometry)
    }

    /// A convolution and the minimum of its output over channels: in one int8 step that keeps only the
    /// minimum where the convolution runs on the int8 GEMM, else the convolution and then the reduction.
    private mutating func emitChannelMinimum(
        _ node: FusedNode, _ conv: Convolution, products: String, inputShape x: [Int], describe: (String, Int, Int) -> LayerDescription
    ) throws {
        var convolution = node
        (convolution.output, convolution.reducedProducts) = (products, nil)
        let productShape = shapes[products]!
        let geometry = geometry(conv, input: x, output: productShape)
        if let choice = int8Choice(convolution, conv, geometry), choice.algorithm == .int8Gemm, case .float = choice.result {
            return try emitInt8Convolution(node, conv, geometry: geometry, choice: choice, minimum: true, describe: describe)
        }
        try emitConvolution(convolution, conv, inputShape: x, outputShape: productShape, describe: describe)
        let input = try require(products, .channelsLast, node: node.name)
        let output = define(node.output, .plain)
        append(describe("reduce min over channels", 0, 0), reads: [input]) {
            ChannelReductionStep(reduction: .min, inputShape: productShape, input: $0(input), output: $0(output))
        }
    }

    private mutating func emitInt8Convolution(
        _ node: FusedNode, _ conv: Convolution, geometry: ConvolutionGeometry,
        choice: (algorithm: ConvolutionAlgorithm, input: ValueQuantization, result: Int8Result), kind: String? = nil, minimum: Bool = false,
        describe: (String, Int, Int) -> LayerDescription
    ) throws {
        let source: (id: Int, quantizesFloats: Bool)
        if let deferred = deferredCodes[node.inputs[0]], deferred.sourceLayout == .plain, choice.algorithm == .int8Gemm,
            !ConvolutionGemmStep.readsDirectly(geometry)
        {
            use(deferred.source)
            source = (deferred.source, true)
        } else {
            source = (try require(node.inputs[0], .codes, node: node.name), false)
        }
        let residualLayout: Layout
        if case .residualCodes = choice.result { residualLayout = .codes } else { residualLayout = .channelsLast }
        let residual = try node.residual.map { try require($0, residualLayout, node: node.name) }
        let output: Int
        if minimum {
            output = define(node.output, .plain)
        } else if case .float = choice.result {
            output = define(node.output, .channelsLast)
        } else {
            output = define(node.output, .codes)
        }
        let weights = Int8ConvolutionWeights(conv, inputScale: choice.input.scale)
        let (activation, postActivation, threads) = (node.activation, node.postActivation, self.threads)
        var layer = describe(
            (source.quantizesFloats ? "quantize + " : "") + "\(kind ?? "conv \(conv.kernel.0)x\(conv.kernel.1)/\(conv.strides.0)") (\(choice.algorithm))"
                + (minimum ? " + reduce min over channels" : ""),
            geometry.multiplyAccumulates,
            conv.weight.count + geometry.outChannels)
        layer.convolution = choice.algorithm
        append(layer, reads: [source.id] + (residual.map { [$0] } ?? [])) { resolve in
            let codes = UnsafePointer(bytes(resolve(source.id)))
            let input: Int8ConvolutionSource = source.quantizesFloats ? .plainFloats(UnsafePointer(resolve(source.id))) : .codes(codes)
            let target: Int8ConvolutionOutput
            switch choice.result {
            case let .codes(quantization, range):
                if choice.algorithm == .int8Depthwise {
                    return Int8DepthwiseStep(
                        geometry: geometry, weights: weights, input: choice.input, source: codes, output: bytes(resolve(output)),
                        outputQuantization: quantization, range: range, threads: threads)
                }
                target = .codes(bytes(resolve(output)), quantization, range: range)
            case let .residualCodes(quantization, skip):
                target = .residualCodes(
                    bytes(resolve(output)), quantization, activation: activation, residual: UnsafePointer(bytes(resolve(residual!))),
                    residualQuantization: skip)
            case .float where minimum:
                target = .channelMinimum(resolve(output))
            case .float:
                target = .float(
                    resolve(output), Epilogue(activation: activation, residual: residual.map { UnsafePointer(resolve($0)) }, postActivation: postActivation))
            }
            return Int8ConvolutionStep(geometry: geometry, weights: weights, input: choice.input, source: input, output: target, threads: threads)
        }
    }

    private mutating func emitBinary(
        _ node: FusedNode, op: BinaryOperator, inputShapes: [[Int]], outputShape: [Int],
        describe: (String, Int, Int) -> LayerDescription
    ) throws {
        let name = op == .add ? "add" : "mul"
        // Put the full-size operand first (both operators commute).
        var (a, b) = (node.inputs[0], node.inputs[1])
        var (shapeA, shapeB) = (inputShapes[0], inputShapes[1])
        if shapeA != outputShape {
            swap(&a, &b)
            swap(&shapeA, &shapeB)
        }
        let paddedB = [Int](repeating: 1, count: max(0, 4 - shapeB.count)) + shapeB
        let rank4 = outputShape.count == 4 && shapeA == outputShape
        let output: Int
        if rank4 && shapeB == outputShape && (isAvailable(a, .channelsLast) || isAvailable(b, .channelsLast)) {
            let idA = try require(a, .channelsLast, node: node.name), idB = try require(b, .channelsLast, node: node.name)
            output = define(node.output, .channelsLast)
            let count = elementCount(outputShape, .channelsLast)
            append(describe(name, 0, 0), reads: [idA, idB]) { BinaryStep(op: op, pattern: .same(count: count), a: $0(idA), b: $0(idB), output: $0(output)) }
        } else if rank4 && paddedB.count == 4 && paddedB[1] == outputShape[1] && paddedB[2] == 1 && paddedB[3] == 1
            && (paddedB[0] == 1 || paddedB[0] == outputShape[0]) && (graph.constants[b] != nil || shapeB.count == 4)
        {
            // Channel broadcast (squeeze-excitation): one channel vector per image or for all images.
            let idA = try require(a, .channelsLast, node: node.name)
            let idB: Int
            if let constant = graph.constants[b] {
                var data = [Float](repeating: 0, count: paddedChannels(outputShape[1]))
                data.replaceSubrange(0..<constant.count, with: constant.data)
                buffers.append(BufferRecord(count: data.count, firstUse: 0, lastUse: Int.max, constant: data))
                idB = buffers.count - 1
            } else {
                idB = try require(b, .channelsLast, node: node.name)
            }
            output = define(node.output, .channelsLast)
            let pattern = BinaryPattern.channelBroadcast(
                batch: outputShape[0], pixels: outputShape[2] * outputShape[3],
                stride: paddedChannels(outputShape[1]), perImage: paddedB[0] != 1)
            append(describe(name + " (channel broadcast)", 0, 0), reads: [idA, idB]) { BinaryStep(op: op, pattern: pattern, a: $0(idA), b: $0(idB), output: $0(output)) }
        } else {
            let idA = try require(node.inputs[0], .plain, node: node.name), idB = try require(node.inputs[1], .plain, node: node.name)
            output = define(node.output, .plain)
            let pattern: BinaryPattern =
                inputShapes[0] == inputShapes[1]
                ? .same(count: outputShape.reduce(1, *))
                : .general(
                    shape: outputShape, stridesA: broadcastStrides(of: inputShapes[0], over: outputShape),
                    stridesB: broadcastStrides(of: inputShapes[1], over: outputShape))
            append(describe(name, 0, 0), reads: [idA, idB]) { BinaryStep(op: op, pattern: pattern, a: $0(idA), b: $0(idB), output: $0(output)) }
        }
    }

    private mutating func emitConcat(
        _ node: FusedNode, axis: Int, inputShapes: [[Int]], outputShape: [Int],
        describe: (String, Int, Int) -> LayerDescription
    ) throws {
        let channelsLast = outputShape.count == 4 && axis == 1
        let layout: Layout = channelsLast ? .channelsLast : .plain
        let ids = try node.inputs.map { try require($0, layout, node: node.name) }
        let output = define(node.output, layout)
        let inner = channelsLast ? 1 : outputShape[(axis + 1)...].reduce(1, *)
        let outer = channelsLast ? outputShape[0] * outputShape[2] * outputShape[3] : outputShape[..<axis].reduce(1, *)
        let outputStride = channelsLast ? paddedChannels(outputShape[1]) : outputShape[axis] * inner
        var layouts: [(id: Int, stride: Int, length: Int, offset: Int)] = []
        var offset = 0
        for (id, shape) in zip(ids, inputShapes) {
            let length = shape[axis] * inner
            layouts.append((id, channelsLast ? paddedChannels(shape[1]) : length, length, offset))
            offset += length
        }
        append(describe("concat", 0, 0), reads: ids) { [layouts] resolve in
            ConcatStep(
                parts: layouts.map { .init(input: resolve($0.id), inputStride: $0.stride, length: $0.length, offset: $0.offset) },
                outer: outer, outputStride: outputStride, output: resolve(output))
        }
    }
}

/// Element strides of a tensor of `shape` broadcast over `target` (0 along broadcast axes).
func broadcastStrides(of shape: [Int], over target: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    let strides = rowMajorStrides(padded)
    return padded.indices.map { padded[$0] == 1 ? 0 : strides[$0] }
}

/// A rank-4 constant in channels-last order with padded channels; other ranks stay as they are.
func channelsLastData(_ tensor: Tensor) -> [Float] {
    guard tensor.shape.count == 4 else { return tensor.data }
    let (n, c, h, w) = (tensor.shape[0], tensor.shape[1], tensor.shape[2], tensor.shape[3])
    let stride = paddedChannels(c)
    var data = [Float](repeating: 0, count: n * h * w * stride)
    for i in 0..<tensor.count {
        let (image, channel, pixel) = (i / (c * h * w), (i / (h * w)) % c, i % (h * w))
        data[(image * h * w + pixel) * stride + channel] = tensor.data[i]
    }
    return data
}
