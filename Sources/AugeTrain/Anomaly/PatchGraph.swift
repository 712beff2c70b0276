import AugeEngine
import Foundation

/// The graphs of a patch-memory anomaly model (PatchCore-style), in plain ONNX operators:
///
///     image -> backbone, cut at two depths -> 3x3 average of each map -> the deeper map resized to
///     the finer grid -> concatenated: one feature vector per patch ("patch features")
///     -> squared distance to every bank vector as one 1x1 convolution (weight -2·M, bias |M|²) plus |q|²
///     -> minimum over the bank (ReduceMin) -> square root -> times 1 / threshold -> Gaussian smoothing
///     = anomaly_map [N, 1, h, w]; anomaly_score [N, 1] = its largest value away from the border.
///
/// The distance trick turns the nearest-neighbour search into the engine's fastest kernel, a GEMM.
struct PatchGraph {
    /// The backbone computing every tap (its outputs are the taps).
    let backbone: Graph
    /// Values of the backbone whose maps are the features, finest first, with their shapes at batch 1.
    let taps: [(name: String, shape: [Int])]
    /// Side of the local average of each map (PatchCore's neighbourhood aggregation); 1 for none.
    let aggregation: Int

    static let featuresValue = "auge_patch_features"
    static let scoreValue = "anomaly_score"
    static let mapValue = "anomaly_map"
    private static let prefix = "auge_anomaly_"

    /// The patch grid (the finest tap's map) and the feature count per patch.
    var grid: (rows: Int, columns: Int) { (taps[0].shape[2], taps[0].shape[3]) }
    var featureCount: Int { taps.reduce(0) { $0 + $1.shape[1] } }

    /// The backbone up to the patch features [N, D, h, w].
    func featureGraph() -> Graph {
        var graph = backbone
        var parts: [String] = []
        for (index, tap) in taps.enumerated() {
            var value = tap.name
            if aggregation > 1 {
                let pad = aggregation / 2
                let pooled = Self.prefix + "aggregate\(index)"
                graph.nodes.append(Node(name: pooled, operation: .averagePool(Pooling(kernel: (aggregation, aggregation), pads: (pad, pad, pad, pad))),
                                        inputs: [value], outputs: [pooled]))
                value = pooled
            }
            if tap.shape[2] != grid.rows || tap.shape[3] != grid.columns {
                let resized = Self.prefix + "resize\(index)"
                graph.nodes.append(Node(name: resized, operation: .resize(height: grid.rows, width: grid.columns), inputs: [value], outputs: [resized]))
                value = resized
            }
            parts.append(value)
        }
        if parts.count == 1 {
            graph.nodes.append(Node(name: Self.featuresValue, operation: .identity, inputs: parts, outputs: [Self.featuresValue]))
        } else {
            graph.nodes.append(Node(name: Self.featuresValue, operation: .concat(axis: 1), inputs: parts, outputs: [Self.featuresValue]))
        }
        graph.outputs = [Self.featuresValue]
        return graph
    }

    /// The whole model: `bank` holds `bankCount` vectors of `featureCount` values, row by row; the map
    /// is multiplied by `scale` (1 / the threshold's raw distance, so that 1.0 reads as the threshold),
    /// smoothed by a Gaussian of `smoothing` cells (0: none), and the score ignores `border` cells at each edge.
    func anomalyGraph(bank: [Float], bankCount: Int, scale: Float, smoothing: Float, border: Int) -> Graph {
        let d = featureCount
        precondition(bank.count == bankCount * d, "bank of \(bankCount) x \(d)")
        var graph = featureGraph()
        let features = Self.featuresValue
        var nodes: [Node] = []
        func node(_ name: String, _ operation: AugeEngine.Operation, _ inputs: [String]) -> String {
            let output = Self.prefix + name
            nodes.append(Node(name: output, operation: operation, inputs: inputs, outputs: [output]))
            return output
        }
        // |q - m|² = |q|² - 2 q·m + |m|²: the last two terms for every bank vector m in one 1x1 convolution.
        var squaredNorms = [Float](repeating: 0, count: bankCount)
        for k in 0..<bankCount {
            var sum: Float = 0
            for i in 0..<d { sum += bank[k * d + i] * bank[k * d + i] }
            squaredNorms[k] = sum
        }
        let cross = node("bank_distances", .convolution(Convolution(
            weight: Tensor(shape: [bankCount, d, 1, 1], data: bank.map { -2 * $0 }), bias: Tensor(shape: [bankCount], data: squaredNorms))), [features])
        let nearest = node("nearest", .reduce(.min, axis: 1), [cross])
        let squares = node("squares", .mul, [features, features])
        let queryNorm = node("query_norm", .convolution(Convolution(weight: Tensor(shape: [1, d, 1, 1], data: [Float](repeating: 1, count: d)))), [squares])
        let squared = node("squared_distance", .add, [nearest, queryNorm])
        // Rounding can leave a tiny negative for a patch equal to a bank vector.
        let clamped = node("clamped", .activation(.relu), [squared])
        let distance = node("distance", .activation(.sqrt), [clamped])
        let scaleName = Self.prefix + "scale"
        graph.constants[scaleName] = Tensor(shape: [1, 1, 1, 1], data: [scale])
        var map = node("normalised", .mul, [distance, scaleName])
        if smoothing > 0 {
            let radius = max(1, Int((2 * smoothing).rounded(.up)))
            map = node("smoothed", .convolution(Convolution(weight: Self.gaussian(radius: radius, sigma: smoothing),
                                                            pads: (radius, radius, radius, radius))), [map])
        }
        nodes.append(Node(name: Self.mapValue, operation: .identity, inputs: [map], outputs: [Self.mapValue]))
        // The score: the largest map value inside the border (the backbone's zero padding makes edge patches look unusual).
        let (rows, columns) = grid
        let margin = min(border, (min(rows, columns) - 1) / 2)
        var mask = [Float](repeating: 0, count: rows * columns)
        for r in margin..<(rows - margin) { for c in margin..<(columns - margin) { mask[r * columns + c] = 1 } }
        let maskName = Self.prefix + "border_mask"
        graph.constants[maskName] = Tensor(shape: [1, 1, rows, columns], data: mask)
        let inner = node("inner", .mul, [Self.mapValue, maskName])
        let peak = node("peak", .maxPool(Pooling(kernel: (rows, columns))), [inner])
        nodes.append(Node(name: Self.scoreValue, operation: .flatten(axis: 1), inputs: [peak], outputs: [Self.scoreValue]))
        graph.nodes += nodes
        graph.outputs = [Self.scoreValue, Self.mapValue]
        return graph
    }

    /// A normalised 2-D Gaussian [1, 1, 2r+1, 2r+1].
    static func gaussian(radius: Int, sigma: Float) -> Tensor {
        let side = 2 * radius + 1
        var weights = [Float](repeating: 0, count: side * side)
        for y in 0..<side { for x in 0..<side {
            let (dy, dx) = (Float(y - radius), Float(x - radius))
            weights[y * side + x] = expf(-(dx * dx + dy * dy) / (2 * sigma * sigma))
        } }
        let total = weights.reduce(0, +)
        return Tensor(shape: [1, 1, side, side], data: weights.map { $0 / total })
    }

    /// The default taps of a backbone: the output of the last residual block at strides 8 and 16 (the
    /// ends of those stages), or where a stage has no residual block, its last narrowest value.
    static func defaultTaps(_ graph: Graph, inputSize: (width: Int, height: Int), strides: [Int] = [8, 16]) throws -> [String] {
        let shapes = try inferShapes(graph, batchSize: 1)
        let producedByAdd = Set(graph.nodes.filter { $0.operation == .add && $0.inputs.allSatisfy { graph.constants[$0] == nil } }
            .map { $0.outputs[0] })
        return try strides.map { stride in
            let atStride = graph.nodes.map { $0.outputs[0] }.filter { value in
                guard let shape = shapes[value], shape.count == 4 else { return false }
                return shape[2] * stride == inputSize.height && shape[3] * stride == inputSize.width
            }
            guard !atStride.isEmpty else {
                throw DatasetError(description: "the backbone has no feature map at stride \(stride) for a \(inputSize.width)x\(inputSize.height) input; "
                    + "choose an input size divisible by \(stride) or name the feature values")
            }
            if let residual = atStride.last(where: producedByAdd.contains) { return residual }
            let narrowest = atStride.map { shapes[$0]![1] }.min()!
            return atStride.last { shapes[$0]![1] == narrowest }!
        }
    }
}
