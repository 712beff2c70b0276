import AugeEngine
import Foundation

/// The graphs of a memory-bank anomaly model, in plain ONNX operators. Two searches share one backbone pass:
///
///     patches: backbone maps at a few depths -> 3x3 average of each -> resized to the finest grid ->
///     concatenated (optionally projected to fewer dimensions): one vector per patch -> squared distance
///     to every bank vector as one 1x1 convolution (weight -2·M, bias |M|²) plus |q|² -> minimum over the
///     bank (ReduceMin) -> square root -> scaled -> Gaussian smoothing = anomaly_map [N, 1, h, w]
///     (PatchCore: finds small local marks, and says where).
///     photo: each map's global mean and standard deviation (and skewness), concatenated -> squared Mahalanobis distance
///     to the good photos' mean, as a 1x1 convolution by the whitening matrix and a sum of squares -> scaled
///     and offset so that a typical good photo reads 0 (finds a part that is wrong as a whole, posed
///     wrongly, or whose texture differs from every good one's).
///
/// anomaly_score [N, 1] is the larger of the two scaled scores (the patch score being the map's largest
/// value away from the border); the scales make each read 1.0 at the threshold. The distance trick
/// turns the patch search into the engine's fastest kernel, a GEMM.
struct PatchGraph {
    /// The backbone computing every tap (its outputs are the taps).
    let backbone: Graph
    /// Values of the backbone whose maps are the features, finest first, with their shapes at batch 1.
    let taps: [(name: String, shape: [Int])]
    /// Side of the local average of each map (PatchCore's neighbourhood aggregation); 1 for none.
    let aggregation: Int
    /// A fixed random projection of the patch vectors [projected, featureCount, 1, 1], or nil.
    var projection: Tensor? = nil
    /// Whether the photo descriptor carries each channel's skewness after its means and deviations.
    var skewness = false
    /// The range of the patch vectors that the bank search quantizes them on (uint8, with the bank on one
    /// int8 grid: the search on the int8 kernels), or nil for a float search.
    var searchRange: CalibrationRange? = nil

    static let featuresValue = "auge_patch_features"
    static let photoFeaturesValue = "auge_photo_features"
    static let scoreValue = "anomaly_score"
    static let mapValue = "anomaly_map"
    private static let prefix = "auge_anomaly_"

    /// The patch grid (the finest tap's map) and the feature count per patch (after the projection).
    var grid: (rows: Int, columns: Int) { (taps[0].shape[2], taps[0].shape[3]) }
    var tapChannels: Int { taps.reduce(0) { $0 + $1.shape[1] } }
    var featureCount: Int { projection?.shape[0] ?? tapChannels }
    /// Values per photo descriptor: every tap channel's mean and standard deviation, and its skewness.
    var photoFeatureCount: Int { (skewness ? 3 : 2) * tapChannels }
    /// What a standard deviation is floored by before the skewness divides by it: this share of the
    /// map's root mean square, and this constant. A channel that is flat, or flat but for rounding, then
    /// has skewness near 0 rather than its rounding's, and in every runtime alike.
    static let relativeDeviationFloor: Float = 1e-3
    static let absoluteDeviationFloor: Float = 1e-6

    /// The backbone up to the patch features [N, D, h, w] and the photo descriptor [N, G, 1, 1].
    func featureGraph() -> Graph {
        var builder = Builder(graph: backbone)
        var parts: [String] = [], means: [String] = [], deviations: [String] = [], skews: [String] = []
        let minusOne = builder.constant("minus_one", -1)
        for (index, tap) in taps.enumerated() {
            // The centred map gives the standard deviation (without E[x²] - E[x]²'s cancellation) and the skewness.
            let mean = builder.node("photo_mean\(index)", .globalAveragePool, [tap.name])
            let negatedMean = builder.node("photo_map_negated_mean\(index)", .mul, [mean, minusOne])
            let centred = builder.node("photo_map_centred\(index)", .add, [tap.name, negatedMean])
            let variance = builder.node("photo_variance\(index)", .globalAveragePool, [builder.node("photo_square\(index)", .mul, [centred, centred])])
            let deviation = builder.node("photo_deviation\(index)", .activation(.sqrt), [variance])
            means.append(mean)
            deviations.append(deviation)
            guard skewness else { continue }
            // Skewness, the mean cube of the standardised map: a few bright or dark marks on a surface
            // tilt it where they barely move the mean and deviation.
            let meanSquare = builder.node("photo_squared_mean\(index)", .mul, [mean, mean])
            let rootMeanSquare = builder.node("photo_root_mean_square\(index)", .activation(.sqrt), [builder.node("photo_mean_square\(index)", .add, [variance, meanSquare])])
            let relativeFloor = builder.node(
                "photo_relative_floor\(index)", .mul, [rootMeanSquare, builder.constant("relative_deviation_floor", Self.relativeDeviationFloor)])
            let floored = builder.node(
                "photo_floored_deviation\(index)", .add,
                [builder.node("photo_deviation_plus_floor\(index)", .add, [deviation, relativeFloor]), builder.constant("absolute_deviation_floor", Self.absoluteDeviationFloor)])
            let inverse = builder.node("photo_inverse_deviation\(index)", .activation(.reciprocal), [floored])
            let standardised = builder.node("photo_standardised\(index)", .mul, [centred, inverse])
            let cube = builder.node("photo_cube\(index)", .mul, [builder.node("photo_standardised_square\(index)", .mul, [standardised, standardised]), standardised])
            skews.append(builder.node("photo_skewness\(index)", .globalAveragePool, [cube]))
        }
        builder.output(Self.photoFeaturesValue, .concat(axis: 1), means + deviations + skews)
        for (index, tap) in taps.enumerated() {
            var value = tap.name
            if aggregation > 1 {
                let pad = aggregation / 2
                value = builder.node("aggregate\(index)", .averagePool(Pooling(kernel: (aggregation, aggregation), pads: (pad, pad, pad, pad))), [value])
            }
            if tap.shape[2] != grid.rows || tap.shape[3] != grid.columns {
                value = builder.node("resize\(index)", .resize(height: grid.rows, width: grid.columns), [value])
            }
            parts.append(value)
        }
        let concat: AugeEngine.Operation = parts.count == 1 ? .identity : .concat(axis: 1)
        if let projection {
            builder.output(Self.featuresValue, .convolution(Convolution(weight: projection)), [builder.node("patch_concat", concat, parts)])
        } else {
            builder.output(Self.featuresValue, concat, parts)
        }
        builder.graph.outputs = [Self.featuresValue, Self.photoFeaturesValue]
        return builder.graph
    }

    /// What the two searches compare with: the patch bank (vectors row by row) and the good photos' Gaussian
    /// (nil where the photo search is left out).
    struct Memory {
        var patches: [Float]
        var patchCount: Int
        var photos: PhotoGaussian?
    }

    /// How the searches' raw distances are scaled: the map (whose inner maximum is the patch score) by
    /// `map`, the photo score as max(0, squared distance x `photo.scale` + `photo.offset`); nil leaves the
    /// photo search out of the anomaly score.
    struct Scales {
        var map: Float
        var scoresPatches: Bool
        var photo: (scale: Float, offset: Float)?
    }

    /// The whole model. Each score is scaled as `scales` says, so that 1.0 is the threshold; the map is
    /// smoothed by a Gaussian of `smoothing` cells (0: none), and the patch score ignores `border` cells at
    /// each edge. The map always comes from the patch search (with the patch scale, or 1 where the patches
    /// are left out of the score).
    func anomalyGraph(memory: Memory, scales: Scales, smoothing: Float, border: Int, alsoOutput: [String] = []) -> Graph {
        precondition(scales.scoresPatches || scales.photo != nil, "at least one search scores")
        precondition(scales.photo == nil || memory.photos != nil, "the photo search needs the photos' Gaussian")
        var builder = Builder(graph: featureGraph())
        let distance = nearestDistance(
            Self.featuresValue, bank: memory.patches, count: memory.patchCount, dimensions: featureCount, name: "patch", builder: &builder)
        var map = builder.node("normalised", .mul, [distance, builder.constant("map_scale", scales.map)])
        if smoothing > 0 {
            let radius = max(1, Int((2 * smoothing).rounded(.up)))
            map = builder.node(
                "smoothed",
                .convolution(
                    Convolution(
                        weight: Self.gaussian(radius: radius, sigma: smoothing),
                        pads: (radius, radius, radius, radius))), [map])
        }
        builder.output(Self.mapValue, .identity, [map])
        // The score: the largest map value inside the border (the backbone's zero padding makes edge patches look unusual).
        let (rows, columns) = grid
        let margin = min(border, (min(rows, columns) - 1) / 2)
        var mask = [Float](repeating: 0, count: rows * columns)
        for r in margin..<(rows - margin) { for c in margin..<(columns - margin) { mask[r * columns + c] = 1 } }
        let maskName = builder.constant("border_mask", Tensor(shape: [1, 1, rows, columns], data: mask))
        let inner = builder.node("inner", .mul, [Self.mapValue, maskName])
        let patchScore = builder.node("patch_score", .maxPool(Pooling(kernel: (rows, columns))), [inner])
        var score = patchScore
        if let photo = scales.photo {
            let squared = mahalanobisSquared(memory.photos!, builder: &builder)
            let scaled = builder.node("photo_scaled", .mul, [squared, builder.constant("photo_scale", photo.scale)])
            let shifted = builder.node("photo_shifted", .add, [scaled, builder.constant("photo_offset", photo.offset)])
            let photoScore = builder.node("photo_score", .activation(.relu), [shifted])
            if !scales.scoresPatches {
                score = photoScore
            } else {
                // max(a, b) = relu(a - b) + b, in the operators every runtime has.
                let negated = builder.node("photo_negated", .mul, [photoScore, builder.constant("minus_one", -1)])
                let excess = builder.node("patch_excess", .activation(.relu), [builder.node("patch_minus_photo", .add, [patchScore, negated])])
                score = builder.node("larger_score", .add, [excess, photoScore])
            }
        }
        builder.output(Self.scoreValue, .flatten(axis: 1), [score])
        // Without the photo score, its statistics are not needed.
        return Backbone.pruned(builder.graph, to: [Self.scoreValue, Self.mapValue] + alsoOutput)
    }

    static let patchScoreValue = prefix + "patch_score"

    /// The raw searches, for calibrating the scales: `patchScoreValue` [N, 1, 1, 1], `mapValue`, and the
    /// squared distance to each of `photos` (`photoDistanceValue(i)`, [N, 1, 1, 1]; each Gaussian of
    /// this graph's whole descriptor, see `PhotoGaussian.padded`), besides the unscaled `scoreValue`.
    func calibrationGraph(patches: [Float], count: Int, photos: [PhotoGaussian], smoothing: Float, border: Int) -> Graph {
        var graph = anomalyGraph(
            memory: Memory(patches: patches, patchCount: count, photos: nil), scales: Scales(map: 1, scoresPatches: true, photo: nil),
            smoothing: smoothing, border: border, alsoOutput: [Self.patchScoreValue] + (photos.isEmpty ? [] : [Self.photoFeaturesValue]))
        guard !photos.isEmpty else { return graph }
        // The descriptor's nodes were kept as an output; the distances replace it.
        var builder = Builder(graph: graph)
        let distances = photos.indices.map { mahalanobisSquared(photos[$0], name: "\($0)", builder: &builder) }
        graph = builder.graph
        graph.outputs = [Self.scoreValue, Self.mapValue, Self.patchScoreValue] + distances
        return graph
    }

    static func photoDistanceValue(_ index: Int) -> String { prefix + "photo_squared_distance\(index)" }

    /// The photo descriptor's squared distance to the good photos' mean [N, 1, 1, 1], in units of their spread:
    /// squared, because the distance's root would squeeze a defect's excess over the many dimensions' sum.
    private func mahalanobisSquared(_ gaussian: PhotoGaussian, name: String = "", builder: inout Builder) -> String {
        let g = photoFeatureCount
        precondition(gaussian.mean.count == g && gaussian.whitening.count == g * g, "a Gaussian of \(g) dimensions")
        // The mean is subtracted before W, not folded into a bias: W x and W mean can be large and close.
        let negatedMean = builder.constant("photo_negated_mean" + name, Tensor(shape: [1, g, 1, 1], data: gaussian.mean.map { -$0 }))
        let centred = builder.node("photo_centred" + name, .add, [Self.photoFeaturesValue, negatedMean])
        let whitening = Convolution(weight: Tensor(shape: [g, g, 1, 1], data: gaussian.whitening))
        let whitened = builder.node("photo_whitened" + name, .convolution(whitening), [centred])
        let ones = Tensor(shape: [1, g, 1, 1], data: [Float](repeating: 1, count: g))
        let squares = builder.node("photo_whitened_squares" + name, .mul, [whitened, whitened])
        return builder.node("photo_squared_distance" + name, .convolution(Convolution(weight: ones)), [squares])
    }

    /// The distance from each vector of `value` ([N, d, h, w]) to its nearest of `count` bank vectors [N, 1, h, w]:
    /// |q - m|² = |q|² - 2 q·m + |m|², the last two terms for every bank vector m in one 1x1 convolution.
    /// With a `searchRange`, q is rounded onto its uint8 grid and the bank onto one int8 grid first, and
    /// the three terms are those of the rounded vectors: the distance between them, whatever runtime sums it.
    private func nearestDistance(
        _ value: String, bank: [Float], count: Int, dimensions d: Int, name: String, builder: inout Builder
    ) -> String {
        precondition(bank.count == count * d, "bank of \(count) x \(d)")
        var query = value
        var cross = Convolution(weight: Tensor(shape: [count, d, 1, 1], data: bank.map { -2 * $0 }))
        if let searchRange {
            let (scale, zeroPoint) = searchRange.uint8Parameters
            query = builder.node(name + "_quantized", .activation(.fakeQuantize(scale: scale, zeroPoint: zeroPoint, lower: 0, upper: 255)), [value])
            // One int8 step for the whole bank (its vectors are whitened alike): the kernel then takes the
            // minimum on the integer sums. On magnetic tile's held-out photos it scored as one step a vector.
            cross = Quantization.quantizingWeights(cross, sharedScale: true)
        }
        // |m|² of the bank as the convolution holds it (-2m, rounded or not: exact halves).
        var squaredNorms = [Float](repeating: 0, count: count)
        for k in 0..<count {
            var sum: Float = 0
            for i in 0..<d { sum += cross.weight.data[k * d + i] * cross.weight.data[k * d + i] }
            squaredNorms[k] = sum / 4
        }
        cross.bias = Tensor(shape: [count], data: squaredNorms)
        let products = builder.node(name + "_bank_distances", .convolution(cross), [query])
        let nearest = builder.node(name + "_nearest", .reduce(.min, axis: 1), [products])
        let squares = builder.node(name + "_squares", .mul, [query, query])
        let ones = Tensor(shape: [1, d, 1, 1], data: [Float](repeating: 1, count: d))
        let queryNorm = builder.node(name + "_query_norm", .convolution(Convolution(weight: ones)), [squares])
        let squared = builder.node(name + "_squared_distance", .add, [nearest, queryNorm])
        // Rounding can leave a tiny negative for a vector equal to a bank vector.
        return builder.node(name + "_distance", .activation(.sqrt), [builder.node(name + "_clamped", .activation(.relu), [squared])])
    }

    /// Appends nodes and constants to a graph under the model's prefix, in order (so topologically).
    private struct Builder {
        var graph: Graph

        /// A node with one output named after it; returns that name.
        mutating func node(_ name: String, _ operation: AugeEngine.Operation, _ inputs: [String]) -> String {
            output(PatchGraph.prefix + name, operation, inputs)
            return PatchGraph.prefix + name
        }

        /// A node whose output has a public name of its own.
        mutating func output(_ name: String, _ operation: AugeEngine.Operation, _ inputs: [String]) {
            graph.nodes.append(Node(name: name, operation: operation, inputs: inputs, outputs: [name]))
        }

        mutating func constant(_ name: String, _ value: Float) -> String {
            constant(name, Tensor(shape: [1, 1, 1, 1], data: [value]))
        }

        mutating func constant(_ name: String, _ tensor: Tensor) -> String {
            graph.constants[PatchGraph.prefix + name] = tensor
            return PatchGraph.prefix + name
        }
    }

    /// A normalised 2-D Gaussian [1, 1, 2r+1, 2r+1].
    static func gaussian(radius: Int, sigma: Float) -> Tensor {
        let side = 2 * radius + 1
        var weights = [Float](repeating: 0, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                let (dy, dx) = (Float(y - radius), Float(x - radius))
                weights[y * side + x] = expf(-(dx * dx + dy * dy) / (2 * sigma * sigma))
            }
        }
        let total = weights.reduce(0, +)
        return Tensor(shape: [1, 1, side, side], data: weights.map { $0 / total })
    }

    /// The default taps of a backbone: at strides 8 and 16, the end of every stage, i.e. the output of
    /// its last residual block (one per channel width: EfficientNet-Lite0 has one stage at stride 8 and
    /// two at 16), or where a stride has no residual block, its last narrowest value.
    static func defaultTaps(_ graph: Graph, inputSize: (width: Int, height: Int), strides: [Int] = [8, 16]) throws -> [String] {
        let shapes = try inferShapes(graph, batchSize: 1)
        let producedByAdd = Set(
            graph.nodes.filter { $0.operation == .add && $0.inputs.allSatisfy { graph.constants[$0] == nil } }
                .map { $0.outputs[0] })
        return try strides.flatMap { stride -> [String] in
            let atStride = graph.nodes.map { $0.outputs[0] }.filter { value in
                guard let shape = shapes[value], shape.count == 4 else { return false }
                return shape[2] * stride == inputSize.height && shape[3] * stride == inputSize.width
            }
            guard !atStride.isEmpty else {
                throw DatasetError(
                    description: "the backbone has no feature map at stride \(stride) for a \(inputSize.width)x\(inputSize.height) input; "
                        + "choose an input size divisible by \(stride) or name the feature values")
            }
            let residuals = atStride.filter(producedByAdd.contains)
            if !residuals.isEmpty {
                // The last residual output of each channel width, in order.
                var widths: [Int] = []
                for value in residuals where !widths.contains(shapes[value]![1]) { widths.append(shapes[value]![1]) }
                return widths.map { width in residuals.last { shapes[$0]![1] == width }! }
            }
            let narrowest = atStride.map { shapes[$0]![1] }.min()!
            return [atStride.last { shapes[$0]![1] == narrowest }!]
        }
    }
}
