import AugeEngine
import AugeImage
import AugeONNX
import Foundation

/// Which nearest-neighbour searches make the anomaly score.
public enum AnomalyScoring: String, Codable, Sendable, CaseIterable {
    /// The patch search alone: small local marks.
    case patches
    /// The whole-photo search alone: parts wrong as a whole.
    case photos
    /// The larger of the two, each scaled to its own threshold.
    case both
    /// The one of the three that separates the held-out defect photos from the held-out good ones best;
    /// `both` when there are no defect photos.
    case automatic
}

/// How the anomaly score is made: the searches, and whether the photo descriptor has the maps' skewness.
public struct AnomalyScoreRecipe: Hashable, Sendable, CustomStringConvertible {
    public var scoring: AnomalyScoring
    public var skewness: Bool

    public var description: String { scoring.rawValue + (scoring != .patches && skewness ? " with skewness" : "") }
}

/// How an anomaly model is fitted (`auge train --anomaly`).
public struct AnomalyOptions: Sendable {
    /// The pretrained backbone (ONNX classifier) whose feature maps describe the patches.
    public var backbone: String
    /// What the provenance calls the backbone; nil: the file's own provenance, or its name.
    public var backboneDescription: String?
    /// The model's input size; nil: 224 x 224.
    public var size: (width: Int, height: Int)?
    public var resize: ResizePolicy = .stretch
    public var region: Region?
    /// Backbone values whose maps are the features, finest first; nil: the stage ends at strides 8 and 16.
    public var taps: [String]?
    /// Side of each map's local average.
    public var aggregation = 3
    /// Dimensions the patch vectors are projected to (their leading principal axes, whitened); 0: kept as they
    /// are; nil: `defaultSearch`'s.
    public var projection: Int?
    /// The most patch vectors the memory bank holds: the search costs (patches x dimensions x bank) per photo.
    /// Nil: `defaultSearch`'s.
    public var bankSize: Int?
    /// Whether the bank search runs on int8 (the patch vectors on a uint8 grid spanning the fit patches', the
    /// bank on one int8 grid): on CPUs with VNNI, 4x the multiply-adds of float, so a bank 4x as large at
    /// the same cost, with the same results as float on the held-out photos. Nil: int8.
    public var int8Search: Bool?

    /// The search a model of this precision gets by default on this CPU: with the int8 search on AVX-512 VNNI,
    /// 16384 bank vectors of 48 dimensions (4x the multiply-adds of 3072 of 64, in about the time those take in
    /// float; on magnetic tile's held-out photos a larger bank beat more dimensions); else 3072 of 64.
    public var defaultSearch: (projection: Int, bankSize: Int) {
        int8Search != false && Self.int8SearchPays ? (48, 16384) : Self.baseSearch
    }
    /// The search that costs float on any CPU: 3072 bank vectors of 64 dimensions.
    public static let baseSearch = (projection: 64, bankSize: 3072)
    /// Whether this CPU runs the int8 search faster than float (AVX-512 VNNI: 4x the multiply-adds).
    public static var int8SearchPays: Bool { Int8GemmPath.best == .avx512VNNI }
    /// Patches the coreset is chosen from at most (a random share of each photo's, when the photos have more).
    public var maxPatches = 250_000
    /// Cells at each edge of the map that the patch score ignores.
    public var border = 2
    /// The map's Gaussian smoothing, in cells (0: none).
    public var smoothing: Float = 1
    public var scoring: AnomalyScoring = .automatic
    /// Whether the photo descriptor has each map's skewness besides its means and deviations; nil: chosen
    /// with the scoring, by the held-out photos (with skewness when there are no defect photos).
    public var skewness: Bool?
    /// The threshold lets at most this share of the held-out good photos be rejected.
    public var maxFalseRejectRate = 0.01
    public var seed: UInt64 = 1
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    public init(backbone: String) {
        self.backbone = backbone
    }
}

/// Progress of a fit, for a display.
public enum AnomalyEvent: Sendable {
    case features(set: String, done: Int, total: Int)
    case coreset(patches: Int, bank: Int)
    /// The score's recipe chosen (or given) and each candidate's image AUROC on the held-out photos.
    case scoring(chosen: AnomalyScoreRecipe, auroc: [AnomalyScoreRecipe: Double])
}

/// A fitted anomaly model: the ONNX file's graph and metadata, and how it did on the held-out photos.
public struct AnomalyModel: Sendable {
    public let graph: Graph
    public let metadata: ModelMetadata
    public let bankCount: Int
    public let featureCount: Int
    public let grid: (rows: Int, columns: Int)
    public let taps: [String]
    public let scoring: AnomalyScoring
    /// Whether the photo descriptor has the maps' skewness (where the photo search scores).
    public let skewness: Bool
    /// The held-out photos' normalised scores: good ones (which set the threshold) and defects (reported only).
    public let goodScores: [Float]
    public let defectScores: [Float]
    public let seconds: Double
    public let warnings: [String]

    public func onnxData() throws -> Data {
        try exportONNX(graph: graph, metadata: metadata)
    }
}

/// Fits a memory-bank anomaly model on good photos only: their patches' features, subsampled to a
/// fixed-size bank, and a Gaussian of their whole-photo descriptors; a new photo is as anomalous as its
/// patches are far from their nearest good ones (or the photo as a whole from the good photos' mean).
/// The threshold comes from held-out good photos, for a target false-reject rate.
public enum AnomalyTrainer {
    /// `fit`: the good photos the banks are made of; `calibration`: held-out good photos that set the
    /// threshold; `defects`: held-out defect photos, never fitted on; they only choose the scoring
    /// (`.automatic`) and the photo descriptor (`skewness` nil), and are measured.
    public static func fit(
        fit: [String], calibration: [String], defects: [String], okLabel: String, options: AnomalyOptions,
        dataset: String, events: (AnomalyEvent) -> Void = { _ in }
    ) throws -> AnomalyModel {
        let started = Date()
        guard fit.count >= 2 else { throw DatasetError(description: "anomaly training needs at least 2 good photos to fit on, got \(fit.count)") }
        guard !calibration.isEmpty else { throw DatasetError(description: "anomaly training needs held-out good photos to set the threshold") }
        let workers = Workers(count: max(1, options.threads))
        var generator = SeededGenerator(seed: options.seed)
        var (patchGraph, preprocessing, origin) = try loadBackbone(options)
        // The skewness choices the photo search is measured with (none where it does not score). Fitting reads
        // every statistic they need; the model keeps those of the recipe chosen.
        let skewnessChoices = options.scoring == .patches ? [] : options.skewness.map { [$0] } ?? [false, true]
        patchGraph.skewness = skewnessChoices.contains(true)
        let tapDimensions = patchGraph.tapChannels, tapStride = (tapDimensions + 15) / 16 * 16, g = patchGraph.photoFeatureCount
        let cells = patchGraph.grid.rows * patchGraph.grid.columns

        // 1. Every fit photo's patch vectors (a random share of them when there are too many) and descriptor.
        let keepPerPhoto = min(cells, max(1, options.maxPatches / fit.count))
        let features = try Engine(graph: patchGraph.featureGraph(), batchSize: 1, threads: workers.count)
        var patches: [Float] = [], photos: [Float] = []
        patches.reserveCapacity(fit.count * keepPerPhoto * tapStride)
        var fitted = 0
        try forEachTensor(fit, preprocessing: preprocessing, workers: workers, progress: { events(.features(set: "fit", done: $0, total: fit.count)) }) { tensor in
            let outputs = try features.run([features.inputNames[0]: tensor])
            let output = outputs[PatchGraph.featuresValue]!.data
            var chosen = Array(0..<cells)
            if keepPerPhoto < cells { chosen.shuffle(using: &generator); chosen = Array(chosen.prefix(keepPerPhoto)) }
            for cell in chosen {
                for channel in 0..<tapDimensions { patches.append(output[channel * cells + cell]) }
                patches.append(contentsOf: repeatElement(0, count: tapStride - tapDimensions))
            }
            photos += outputs[PatchGraph.photoFeaturesValue]!.data
            fitted += 1
        }
        let patchCount = patches.count / tapStride
        guard fitted >= 2 else { throw DatasetError(description: "fewer than 2 good photos could be read to fit on") }
        // The patch vectors on their leading principal axes, whitened (the model's first step after the taps).
        let dimensions = options.projection ?? options.defaultSearch.projection
        if dimensions > 0, dimensions < tapDimensions {
            let axes = PrincipalAxes(rows: patches, count: patchCount, dimensions: tapDimensions, stride: tapStride, workers: workers)
            let matrix = axes.whitening(count: dimensions, floor: Self.whiteningFloor)
            patches = Coreset.project(
                patches, count: patchCount, dimensions: tapDimensions, stride: tapStride, by: matrix, rows: dimensions, workers: workers)
            patchGraph.projection = Tensor(shape: [dimensions, tapDimensions, 1, 1], data: matrix)
        }
        let d = patchGraph.featureCount, stride = (d + 15) / 16 * 16
        if options.int8Search != false {
            var lower: Float = 0, upper: Float = 0
            for index in 0..<patchCount {
                for channel in 0..<d {
                    lower = min(lower, patches[index * stride + channel])
                    upper = max(upper, patches[index * stride + channel])
                }
            }
            patchGraph.searchRange = CalibrationRange(lower: lower, upper: upper)
        }

        // 2. The memory banks: coresets of the patches and of the photos.
        let bankCount = min(options.bankSize ?? options.defaultSearch.bankSize, patchCount)
        events(.coreset(patches: patchCount, bank: bankCount))
        let picked = Coreset.select(
            patches: patches, count: patchCount, dimensions: d, stride: stride, picks: bankCount,
            seed: options.seed, workers: workers)
        var patchBank = [Float](repeating: 0, count: bankCount * d)
        for (row, index) in picked.enumerated() {
            for channel in 0..<d { patchBank[row * d + channel] = patches[index * stride + channel] }
        }
        patches = []
        // The photos' Gaussians, one per skewness choice: of the whole descriptor, or of its means and deviations.
        var gaussians: [Bool: PhotoGaussian] = [:]
        for skewness in skewnessChoices {
            gaussians[skewness] = PhotoGaussian(
                descriptors: photos, count: fitted, dimensions: skewness ? g : 2 * tapDimensions, stride: g, workers: workers)
        }

        // 3. Raw scores of the held-out photos: each search's own scale, the recipe, then the threshold.
        let raw = try Engine(
            graph: patchGraph.calibrationGraph(
                patches: patchBank, count: bankCount, photos: skewnessChoices.map { gaussians[$0]!.padded(to: g) }, smoothing: options.smoothing,
                border: options.border),
            batchSize: 1, threads: workers.count)
        func measure(_ paths: [String], set: String) throws -> HeldOut {
            var measured = HeldOut()
            try forEachTensor(paths, preprocessing: preprocessing, workers: workers, progress: { events(.features(set: set, done: $0, total: paths.count)) }) { tensor in
                let outputs = try raw.run([raw.inputNames[0]: tensor])
                measured.patch.append(outputs[PatchGraph.patchScoreValue]!.data[0])
                for (index, skewness) in skewnessChoices.enumerated() {
                    measured.photo[skewness, default: []].append(outputs[PatchGraph.photoDistanceValue(index)]!.data[0])
                }
                measured.cells += outputs[PatchGraph.mapValue]!.data
            }
            return measured
        }
        let good = try measure(calibration, set: "held-out good")
        guard !good.patch.isEmpty else { throw DatasetError(description: "none of the held-out good photos could be read") }
        let bad = try measure(defects, set: "held-out defect")
        let level = 1 - options.maxFalseRejectRate
        let patchScale = 1 / max(quantile(good.patch, level), .leastNormalMagnitude)
        // The photo's squared distance from the good photos' median (0) to the same quantile (1).
        var photoScales: [Bool: (scale: Float, offset: Float)] = [:]
        for (skewness, distances) in good.photo {
            let typical = quantile(distances, 0.5)
            let scale = 1 / max(quantile(distances, level) - typical, .leastNormalMagnitude)
            photoScales[skewness] = (scale, -typical * scale)
        }
        func combined(_ recipe: AnomalyScoreRecipe, _ set: HeldOut) -> [Float] {
            if recipe.scoring == .patches { return set.patch.map { $0 * patchScale } }
            let photoScale = photoScales[recipe.skewness]!
            // A set of no photos has no distances.
            return zip(set.patch, set.photo[recipe.skewness] ?? []).map { patch, photo in
                let photo = max(0, photo * photoScale.scale + photoScale.offset)
                return recipe.scoring == .photos ? photo : max(patch * patchScale, photo)
            }
        }
        // Ties go to the later candidate: `both` covers what either finds alone, skewness adds to the descriptor.
        let scorings = options.scoring == .automatic ? [AnomalyScoring.patches, .photos, .both] : [options.scoring]
        let candidates = scorings.flatMap { scoring in
            scoring == .patches
                ? [AnomalyScoreRecipe(scoring: .patches, skewness: false)]
                : skewnessChoices.map { AnomalyScoreRecipe(scoring: scoring, skewness: $0) }
        }
        var aurocs: [AnomalyScoreRecipe: Double] = [:]
        if !bad.patch.isEmpty {
            for recipe in candidates {
                aurocs[recipe] = AnomalyMetrics.imageAUROC(
                    scores: combined(recipe, good) + combined(recipe, bad), isDefect: good.patch.map { _ in false } + bad.patch.map { _ in true })
            }
        }
        let recipe =
            aurocs.isEmpty
            ? candidates.last!
            : candidates.max { aurocs[$0]! < aurocs[$1]! }!
        let scoring = recipe.scoring
        events(.scoring(chosen: recipe, auroc: aurocs))
        let (rawThreshold, band) = thresholdAndBand(goodScores: combined(recipe, good), maxFalseRejectRate: options.maxFalseRejectRate)
        var warnings: [String] = []
        let needed = Int((1 / options.maxFalseRejectRate).rounded(.up))
        if good.patch.count < needed {
            warnings.append(
                "\(good.patch.count) held-out good photos cannot pin a \(percent(options.maxFalseRejectRate)) false-reject rate "
                    + "(that needs \(needed) or more): the threshold is near the highest good score seen, and the real rate may differ")
        }

        // 4. Normalised: 1.0 is the threshold.
        let goodScores = combined(recipe, good).map { $0 / rawThreshold }, defectScores = combined(recipe, bad).map { $0 / rawThreshold }
        // The map reads in the score's units where the patches score, else against the patch search's own threshold.
        let mapScale = scoring == .photos ? patchScale : patchScale / rawThreshold
        let coldCells = quantile(good.cells.map { $0 * mapScale }, 0.95)
        let mapRange = ModelMetadata.ReviewBand(lower: min(coldCells, 0.9), upper: 1.5)
        let photo = scoring == .patches ? nil : (scale: photoScales[recipe.skewness]!, gaussian: gaussians[recipe.skewness]!)
        let scales = PatchGraph.Scales(
            map: mapScale, scoresPatches: scoring != .photos, photo: photo.map { ($0.scale.scale / rawThreshold, $0.scale.offset / rawThreshold) })
        patchGraph.skewness = recipe.skewness
        let memory = PatchGraph.Memory(patches: patchBank, patchCount: bankCount, photos: photo?.gaussian)
        let graph = patchGraph.anomalyGraph(memory: memory, scales: scales, smoothing: options.smoothing, border: options.border)

        var metrics: [String: Double] = [
            "false_reject_rate": rate(goodScores) { $0 >= 1 },
            "review_rate": rate(goodScores + defectScores) { $0 >= band.lower && $0 < band.upper },
        ]
        if !defectScores.isEmpty {
            metrics["missed_defect_rate"] = rate(defectScores) { $0 < 1 }
            metrics["image_auroc"] = aurocs[recipe]
        }
        let seconds = Date().timeIntervalSince(started)
        let projection = d < patchGraph.tapChannels ? " projected to \(d)" : ""
        let method =
            "memory bank (PatchCore-style) on \(origin): taps \(patchGraph.taps.map(\.name).joined(separator: ", ")), "
            + "\(options.aggregation)x\(options.aggregation) aggregation, \(patchGraph.tapChannels) features per patch\(projection) on a "
            + "\(patchGraph.grid.columns)x\(patchGraph.grid.rows) grid, bank of \(bankCount)\(patchGraph.searchRange == nil ? "" : " searched in int8") (coreset of \(patchCount) patches from \(fitted) good photos), "
            + (scoring == .patches ? "" : "photo Gaussian of \(patchGraph.photoFeatureCount) statistics (means, deviations\(recipe.skewness ? ", skewness" : "")), ")
            + "scoring \(recipe), smoothing \(options.smoothing) cells, border \(options.border); "
            + "threshold at \(percent(options.maxFalseRejectRate)) false rejects of \(good.patch.count) held-out good photos"
        let provenance = ModelMetadata.Provenance(
            tool: "auge \(augeVersion) train --anomaly", method: method, trainedAt: ISO8601DateFormatter().string(from: Date()), dataset: dataset,
            samplesPerLabel: [okLabel: fitted], validationMetrics: metrics)
        let perChannel = { (values: [Float]) in values.count == 1 ? [Float](repeating: values[0], count: 3) : values }
        let metadata = ModelMetadata(
            labels: [okLabel, "anomaly"], okLabels: [okLabel],
            inputSize: .init(width: preprocessing.width, height: preprocessing.height), color: .rgb, resize: preprocessing.resize,
            roi: preprocessing.region, mean: perChannel(preprocessing.mean), std: perChannel(preprocessing.std), threshold: 1, reviewBand: band,
            provenance: provenance, kind: .anomaly, mapRange: mapRange)
        return AnomalyModel(
            graph: graph, metadata: metadata, bankCount: bankCount, featureCount: d,
            grid: patchGraph.grid, taps: patchGraph.taps.map(\.name), scoring: scoring, skewness: recipe.skewness, goodScores: goodScores,
            defectScores: defectScores, seconds: seconds, warnings: warnings)
    }

    /// Held-out photos' raw scores: the patch search's, the photo descriptor's squared distance to each
    /// Gaussian (by whether it has skewness), and every map cell.
    private struct HeldOut {
        var patch: [Float] = []
        var photo: [Bool: [Float]] = [:]
        var cells: [Float] = []
    }

    /// The backbone cut at its taps, and the preprocessing of its input at the model's size.
    static func loadBackbone(_ options: AnomalyOptions) throws -> (PatchGraph, Preprocessing, String) {
        let url = URL(fileURLWithPath: options.backbone)
        let model = try ONNXModel.load(contentsOf: url)
        let name = url.lastPathComponent
        guard model.graph.inputs.count == 1, model.graph.inputs[0].shape.count == 4, model.graph.inputs[0].shape[1] == 3 else {
            throw DatasetError(description: "backbone \(name): a backbone takes one RGB image input [N, 3, H, W]")
        }
        let size = options.size ?? (224, 224)
        var source = model.graph
        source.inputs[0].shape = [nil, 3, size.height, size.width]
        let taps = try options.taps ?? PatchGraph.defaultTaps(source, inputSize: size)
        for tap in taps where !source.nodes.contains(where: { $0.outputs.contains(tap) }) {
            throw DatasetError(description: "backbone \(name) has no value named '\(tap)'")
        }
        let backbone = Backbone.pruned(source, to: taps)
        let shapes = try inferShapes(backbone, batchSize: 1)
        let tapShapes = taps.map { (name: $0, shape: shapes[$0]!) }
        guard tapShapes.allSatisfy({ $0.shape.count == 4 }) else {
            throw DatasetError(description: "backbone \(name): every feature value must be a map [N, C, H, W]")
        }
        let metadata = model.metadata
        let preprocessing = Preprocessing(
            width: size.width, height: size.height, color: .rgb, resize: options.resize, region: options.region,
            mean: metadata?.mean ?? Backbone.imageNetMean, std: metadata?.std ?? Backbone.imageNetStd)
        try preprocessing.validate()
        let origin = options.backboneDescription ?? metadata?.provenance?.method ?? name
        return (PatchGraph(backbone: backbone, taps: tapShapes, aggregation: options.aggregation), preprocessing, origin)
    }

    /// Decodes the photos (in parallel, in chunks) and calls `body` with each one's input tensor, in order;
    /// photos that cannot be read are skipped.
    static func forEachTensor(
        _ paths: [String], preprocessing: Preprocessing, workers: Workers, progress: (Int) -> Void,
        _ body: (Tensor) throws -> Void
    ) throws {
        let shape = Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
        let chunk = 32
        let decoded = AlignedBuffer(count: chunk * shape.count)
        var planar = [Float](repeating: 0, count: shape.count)
        var done = 0
        while done < paths.count {
            let items = paths[done..<min(paths.count, done + chunk)].map { ImageFolder.Item(path: $0, label: 0) }
            let succeeded = decode(items, preprocessing: preprocessing, shape: shape, into: decoded.pointer, workers: workers)
            for slot in items.indices where succeeded[slot] {
                planar.withUnsafeMutableBufferPointer { interleavedToPlanar(decoded.pointer + slot * shape.count, into: $0.baseAddress!, shape: shape) }
                try body(Tensor(shape: [1, shape.channels, shape.height, shape.width], data: planar))
            }
            done += items.count
            progress(done)
        }
    }

    /// The whitening's floor, as a share of the largest variance (see `PrincipalAxes.whitening`): on magnetic
    /// tile's held-out photos 0.01 did better than 1 (nearly plain principal axes) and 0.001.
    static let whiteningFloor = 0.01

    /// The threshold that rejects `maxFalseRejectRate` of held-out good photos' `goodScores`, and the review
    /// band in units of it (1.0 = the threshold): from the good photos' top tail below 1.0 (their
    /// 1 - 5 x rate quantile, at most 0.95) up to where good photos stop (their 1 - rate / 5 quantile: with
    /// fewer photos than that needs, the highest), at least 1.05 and at most as far above 1.0 as the lower
    /// edge is below. Above that edge a part is unlike every good one, however near the threshold its score.
    public static func thresholdAndBand(goodScores: [Float], maxFalseRejectRate: Double) -> (threshold: Float, reviewBand: ModelMetadata.ReviewBand) {
        let threshold = max(quantile(goodScores, 1 - maxFalseRejectRate), .leastNormalMagnitude)
        let normalised = goodScores.map { $0 / threshold }
        let lower = min(0.95, quantile(normalised, 1 - 5 * maxFalseRejectRate))
        let goodTop = quantile(normalised, 1 - maxFalseRejectRate / 5)
        return (threshold, ModelMetadata.ReviewBand(lower: lower, upper: min(2 - lower, max(1.05, goodTop))))
    }

    /// The q-quantile of `values` (linear between order statistics).
    static func quantile(_ values: [Float], _ q: Double) -> Float {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = min(max(q, 0), 1) * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        let fraction = Float(position - Double(low))
        return sorted[low] + (sorted[high] - sorted[low]) * fraction
    }

    private static func rate(_ values: [Float], _ predicate: (Float) -> Bool) -> Double {
        values.isEmpty ? 0 : Double(values.filter(predicate).count) / Double(values.count)
    }

    private static func percent(_ value: Double) -> String { String(format: "%g %%", 100 * value) }
}
