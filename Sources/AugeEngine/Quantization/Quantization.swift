// Post-training static quantization at the graph level: the graph a quantized model computes, with
// convolution weights int8 per output channel (symmetric) and the inputs of convolutions uint8 per
// tensor (asymmetric, from calibrated ranges). Exporters write it in ONNX's QDQ format; the engine
// runs it in float (fake quantization) until int8 kernels take those layers.

/// The range of values a tensor took over the calibration photos, and how to turn it into a scale.
public struct CalibrationRange: Sendable, Equatable {
    public var lower: Float
    public var upper: Float

    public init(lower: Float, upper: Float) {
        self.lower = lower
        self.upper = upper
    }

    /// uint8 parameters: a scale and a zero point such that 0 is represented exactly (padding with
    /// zeros must stay zero) and [lower, upper] spans 0...255.
    public var uint8Parameters: (scale: Float, zeroPoint: Float) {
        let low = min(lower, 0), high = max(upper, 0)
        let scale = max(high - low, 1e-8) / 255
        return (scale, min(max((-low / scale).rounded(.toNearestOrEven), 0), 255))
    }
}

/// Collects the values of tensors over calibration runs and gives each a range: the minimum and maximum
/// seen, or (`percentile`) the range that leaves out the given share of the most extreme values.
public struct RangeObserver: Sendable {
    public enum Method: Sendable, Equatable {
        case minMax
        /// Two-sided: e.g. 99.99 keeps the values between the 0.005th and 99.995th percentiles.
        case percentile(Double)

        public var name: String {
            switch self {
            case .minMax: "min-max"
            case let .percentile(kept): "\(kept) % percentile"
            }
        }
    }

    /// Every `stride`-th value of each tensor is kept for percentiles; minimum and maximum see them all.
    private var samples: [String: [Float]] = [:]
    private var extremes: [String: (Float, Float)] = [:]
    private let samplesPerRun: Int

    public init(samplesPerRun: Int = 4096) {
        self.samplesPerRun = samplesPerRun
    }

    public mutating func observe(_ name: String, _ values: [Float]) {
        // Non-finite values say nothing about the range; a tensor of none but them is not observed.
        guard let first = values.first(where: \.isFinite) else { return }
        var (low, high) = extremes[name] ?? (first, first)
        for value in values where value.isFinite {
            low = min(low, value)
            high = max(high, value)
        }
        extremes[name] = (low, high)
        let stride = max(1, values.count / samplesPerRun)
        samples[name, default: []].append(contentsOf: Swift.stride(from: 0, to: values.count, by: stride).map { values[$0] }.filter(\.isFinite))
    }

    public var names: [String] { extremes.keys.sorted() }

    public func range(_ name: String, method: Method) -> CalibrationRange? {
        guard let (low, high) = extremes[name] else { return nil }
        switch method {
        case .minMax:
            return CalibrationRange(lower: low, upper: high)
        case let .percentile(kept):
            let sorted = (samples[name] ?? []).sorted()
            guard sorted.count > 1 else { return CalibrationRange(lower: low, upper: high) }
            let cut = (100 - kept) / 200 * Double(sorted.count - 1)
            return CalibrationRange(lower: sorted[Int(cut.rounded(.down))], upper: sorted[Int((Double(sorted.count - 1) - cut).rounded(.up))])
        }
    }
}

/// Runs a graph on calibration inputs and observes the values at its quantization points (the graph
/// input's own values included).
public struct Calibrator {
    public let graph: Graph
    public let points: [String]
    private let engine: Engine
    private var observer = RangeObserver()
    public private(set) var runs = 0

    /// `convolutions`: the names of the convolution nodes that get quantized; nil: all.
    public init(graph: Graph, threads: Int, convolutions: Set<String>? = nil) throws {
        self.graph = graph
        points = Quantization.quantizationPoints(in: graph, convolutions: convolutions)
        var observed = graph
        observed.outputs += points.filter { point in !graph.inputs.contains { $0.name == point } && !graph.outputs.contains(point) }
        engine = try Engine(graph: observed, batchSize: 1, threads: threads)
    }

    /// One input of batch 1 for the graph's only input.
    public mutating func observe(_ input: Tensor) throws {
        let name = graph.inputs[0].name
        let values = try engine.run([name: input])
        for point in points { observer.observe(point, point == name ? input.data : values[point]?.data ?? []) }
        runs += 1
    }

    public func ranges(_ method: RangeObserver.Method) -> [String: CalibrationRange] {
        var ranges: [String: CalibrationRange] = [:]
        for point in points { ranges[point] = observer.range(point, method: method) }
        return ranges
    }
}

public enum Quantization {
    /// Folds every BatchNormalization that follows a convolution (whose output nothing else reads) into
    /// it, so that the weights quantized are the ones that run.
    public static func foldingBatchNormalization(_ graph: Graph) -> Graph {
        var readers: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs { readers[input, default: 0] += 1 } }
        for output in graph.outputs { readers[output, default: 0] += 1 }
        var producer: [String: Int] = [:]
        var nodes = graph.nodes
        var removed = Set<Int>()
        for (index, node) in nodes.enumerated() {
            if case let .batchNormalization(bn) = node.operation, let source = producer[node.inputs[0]], readers[node.inputs[0]] == 1,
                case let .convolution(conv) = nodes[source].operation
            {
                nodes[source].operation = .convolution(foldBatchNormalization(bn, into: conv))
                nodes[source].outputs = node.outputs
                removed.insert(index)
                for output in node.outputs { producer[output] = source }
                continue
            }
            for output in node.outputs { producer[output] = index }
        }
        var folded = graph
        folded.nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return folded
    }

    /// The values that get quantized: the data inputs of the convolutions (those named in `convolutions`, if given).
    public static func quantizationPoints(in graph: Graph, convolutions: Set<String>? = nil) -> [String] {
        var points: [String] = []
        for node in graph.nodes where isQuantized(node, convolutions) {
            if !points.contains(node.inputs[0]) { points.append(node.inputs[0]) }
        }
        return points
    }

    /// Whether `node` is a convolution that gets int8 weights (one named in `convolutions`, if given).
    public static func isQuantized(_ node: Node, _ convolutions: Set<String>?) -> Bool {
        guard case .convolution = node.operation else { return false }
        return convolutions?.contains(node.name) ?? true
    }

    /// The nodes `output` depends on: for a model with several heads, the ones a head's result needs.
    public static func nodes(computing output: String, in graph: Graph) -> Set<String> {
        var needed: Set<String> = [output], names: Set<String> = []
        for node in graph.nodes.reversed() where node.outputs.contains(where: needed.contains) {
            names.insert(node.name)
            needed.formUnion(node.inputs)
        }
        return names
    }

    /// Per-output-channel symmetric int8 weights: the scale of each channel and the weights rounded to it.
    /// `bits` 8: -127...127; 7: -63...63, which keeps every u8 x s8 pair sum within Int16, as the int8
    /// kernels of CPUs without VNNI (`vpmaddubsw`, ONNX Runtime's on AVX2) need to be exact. `sharedScale`:
    /// one scale, the whole weight's, for every channel (the int8 kernels then compare channels' sums
    /// as they are).
    public static func quantizingWeights(_ conv: Convolution, bits: Int = 8, sharedScale: Bool = false) -> Convolution {
        precondition(bits == 7 || bits == 8, "int8 weights have 7 or 8 bits")
        let levels = Float((1 << (bits - 1)) - 1)
        var quantized = conv
        let channels = conv.weight.shape[0], perChannel = conv.weight.count / max(1, channels)
        var scales = [Float](repeating: 1, count: channels)
        var data = conv.weight.data
        func peak(_ slice: Range<Int>) -> Float { data[slice].reduce(0) { $1.isFinite ? max($0, abs($1)) : $0 } }
        let shared = sharedScale ? peak(0..<data.count) : nil
        for c in 0..<channels {
            let slice = (c * perChannel)..<((c + 1) * perChannel)
            let largest = shared ?? peak(slice)
            let scale = largest > 0 ? largest / levels : 1
            scales[c] = scale
            // A non-finite weight (a broken file) becomes 0 rather than a NaN that no int8 can hold.
            for i in slice { data[i] = data[i].isFinite ? min(max((data[i] / scale).rounded(.toNearestOrEven), -levels), levels) * scale : 0 }
        }
        quantized.weight = Tensor(shape: conv.weight.shape, data: data)
        quantized.weightScales = scales
        return quantized
    }

    /// The quantized graph: BatchNormalization folded, every convolution's weights int8, and a uint8
    /// fake quantization in front of every convolution whose input has a range in `ranges`; with
    /// `convolutions`, only the convolutions so named (the others stay float); weights of `weightBits` (see
    /// `quantizingWeights`).
    public static func quantized(_ graph: Graph, ranges: [String: CalibrationRange], convolutions: Set<String>? = nil, weightBits: Int = 8) -> Graph {
        var result = foldingBatchNormalization(graph)
        var names = Set(result.nodes.map(\.name)).union(result.nodes.flatMap(\.outputs)).union(result.inputs.map(\.name))
        func unique(_ base: String) -> String {
            var name = base, suffix = 1
            while names.contains(name) { suffix += 1; name = "\(base)_\(suffix)" }
            names.insert(name)
            return name
        }
        let points = Set(quantizationPoints(in: result, convolutions: convolutions))
        var quantizedValue: [String: String] = [:]
        var nodes: [Node] = []
        // Graph inputs first: their quantization node comes before every node.
        for input in result.inputs.map(\.name) where points.contains(input) {
            if let range = ranges[input] { nodes.append(fakeQuantizeNode(input, range, unique, &quantizedValue)) }
        }
        for var node in result.nodes {
            if isQuantized(node, convolutions), case let .convolution(conv) = node.operation { node.operation = .convolution(quantizingWeights(conv, bits: weightBits)) }
            nodes.append(node)
            for output in node.outputs where points.contains(output) {
                if let range = ranges[output] { nodes.append(fakeQuantizeNode(output, range, unique, &quantizedValue)) }
            }
        }
        // Convolutions read the quantized values (each is produced before its readers: topological order),
        // and so do residual Adds: a skip connection on the grid the next convolution reads anyway lets an
        // int8 runtime end the block on codes (Auge's int8 kernels add the skip's codes in the convolution's
        // epilogue) instead of keeping a float copy of the value and adding in float.
        for index in nodes.indices {
            if isQuantized(nodes[index], convolutions), let quantized = quantizedValue[nodes[index].inputs[0]] {
                nodes[index].inputs[0] = quantized
            } else if case .add = nodes[index].operation {
                nodes[index].inputs = nodes[index].inputs.map { quantizedValue[$0] ?? $0 }
            }
        }
        result.nodes = nodes
        return result
    }

    private static func fakeQuantizeNode(
        _ value: String, _ range: CalibrationRange, _ unique: (String) -> String,
        _ quantizedValue: inout [String: String]
    ) -> Node {
        let (scale, zeroPoint) = range.uint8Parameters
        let output = unique("\(value)/quantized")
        quantizedValue[value] = output
        return Node(
            name: unique("\(value)/quantize"), operation: .activation(.fakeQuantize(scale: scale, zeroPoint: zeroPoint, lower: 0, upper: 255)),
            inputs: [value], outputs: [output])
    }
}
