@testable import AugeTrain
import AugeEngine
import AugeImage
import AugeONNX
import Foundation
import XCTest

/// The patch-memory anomaly model: its graph against a naive nearest-neighbour search, the coreset,
/// and a fit on synthetic photos whose defects it must find.
final class AnomalyTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-anomaly-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// The benchmark network inspect-small as a backbone: stride 8 and 16 maps, no residual blocks.
    static func backbone(size: Int = 64) -> Graph { Zoo.inspectSmall(resolution: size, classes: 3, seed: 9) }

    func patchGraph(size: Int = 64) throws -> PatchGraph {
        let graph = Self.backbone(size: size)
        let taps = try PatchGraph.defaultTaps(graph, inputSize: (size, size))
        let pruned = Backbone.pruned(graph, to: taps)
        let shapes = try inferShapes(pruned, batchSize: 1)
        return PatchGraph(backbone: pruned, taps: taps.map { ($0, shapes[$0]!) }, aggregation: 3)
    }

    func testDefaultTapsAreTheStride8And16Maps() throws {
        let patches = try patchGraph()
        XCTAssertEqual(patches.taps.map { Array($0.shape[1...]) }, [[64, 8, 8], [128, 4, 4]])
        XCTAssertEqual(patches.featureCount, 192)
        XCTAssertEqual(patches.grid.rows, 8)
    }

    /// The nearest distance of `query` to the rows of `bank`, squared, by trying every row.
    func naiveNearest(_ query: [Double], _ bank: [Float], dimensions d: Int) -> Double {
        var nearest = Double.infinity
        for k in 0..<(bank.count / d) {
            var sum = 0.0
            for i in 0..<d { sum += (query[i] - Double(bank[k * d + i])) * (query[i] - Double(bank[k * d + i])) }
            nearest = min(nearest, sum)
        }
        return nearest
    }

    /// The squared Mahalanobis distance of `query` from the mean of `rows` (each `d` long) under their
    /// covariance shrunk as `PhotoGaussian` does, by solving S x = q - mean with Gaussian elimination.
    func naiveMahalanobis(_ query: [Double], _ rows: [[Float]], dimensions d: Int) -> Double {
        let n = Double(rows.count)
        let mean = (0..<d).map { i in rows.reduce(0) { $0 + Double($1[i]) } / n }
        var matrix = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: d)
        for i in 0..<d {
            for j in 0..<d {
                matrix[i][j] = rows.reduce(0) { $0 + (Double($1[i]) - mean[i]) * (Double($1[j]) - mean[j]) } / (n - 1) * (1 - PhotoGaussian.shrinkage)
            }
        }
        let meanVariance = (0..<d).reduce(0) { $0 + matrix[$1][$1] } / Double(d) / (1 - PhotoGaussian.shrinkage)
        for i in 0..<d {
            matrix[i][i] += PhotoGaussian.shrinkage * meanVariance
            matrix[i][d] = query[i] - mean[i]
        }
        for column in 0..<d {
            let pivot = (column..<d).max { abs(matrix[$0][column]) < abs(matrix[$1][column]) }!
            matrix.swapAt(column, pivot)
            for row in 0..<d where row != column {
                let factor = matrix[row][column] / matrix[column][column]
                for k in column...d { matrix[row][k] -= factor * matrix[column][k] }
            }
        }
        return (0..<d).reduce(0) { $0 + (query[$1] - mean[$1]) * matrix[$1][d] / matrix[$1][$1] }
    }

    /// The map (before smoothing, at scale 0.5) is each patch's distance to its nearest bank vector,
    /// found here by trying every bank vector; the patch score is its largest value inside the border,
    /// the photo score the Mahalanobis distance of the photo's descriptor (each tap's means, standard
    /// deviations and skewnesses) from the good photos' mean, and the anomaly score the larger of the two.
    func testTheGraphsSearchIsTheNaiveNearestNeighbour() throws {
        var patches = try patchGraph()
        patches.skewness = true
        var generator = SeededGenerator(seed: 3)
        // A projection to 21 dimensions (an odd count) exercises the projection too.
        patches.projection = Tensor(shape: [21, patches.tapChannels, 1, 1], data: (0..<(21 * patches.tapChannels)).map { _ in generator.nextGaussian() * 0.2 })
        let input = Tensor(shape: [1, 3, 64, 64], data: (0..<(3 * 64 * 64)).map { _ in generator.nextGaussian() })
        let extracted = try Engine(graph: patches.featureGraph(), threads: 1).run(["input": input])
        let features = extracted[PatchGraph.featuresValue]!, descriptor = extracted[PatchGraph.photoFeaturesValue]!.data
        let d = patches.featureCount, g = patches.photoFeatureCount, cells = 64
        XCTAssertEqual(features.shape, [1, 21, 8, 8])
        XCTAssertEqual(descriptor.count, 3 * 192)
        // The descriptor: each tap channel's mean, then its standard deviation, then its skewness, over the map.
        let tapMaps = try Engine(graph: patches.backbone, threads: 1).run(["input": input])
        for (index, tap) in patches.taps.enumerated() {
            let map = tapMaps[tap.name]!.data, area = tap.shape[2] * tap.shape[3]
            let offset = patches.taps[..<index].reduce(0) { $0 + $1.shape[1] }
            for channel in [0, tap.shape[1] - 1] {
                let values = map[(channel * area)..<((channel + 1) * area)].map(Double.init)
                let mean = values.reduce(0, +) / Double(area)
                let deviation = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(area)).squareRoot()
                XCTAssertEqual(Double(descriptor[offset + channel]), mean, accuracy: 1e-4 * max(1, abs(mean)))
                let rootMeanSquare = (values.reduce(0) { $0 + $1 * $1 } / Double(area)).squareRoot()
                let floored = deviation + Double(PatchGraph.relativeDeviationFloor) * rootMeanSquare + Double(PatchGraph.absoluteDeviationFloor)
                let skewness = values.reduce(0) { $0 + pow(($1 - mean) / floored, 3) } / Double(area)
                XCTAssertEqual(Double(descriptor[patches.tapChannels + offset + channel]), deviation, accuracy: 1e-3 * max(1, deviation))
                XCTAssertEqual(Double(descriptor[2 * patches.tapChannels + offset + channel]), skewness, accuracy: 1e-3 * max(1, abs(skewness)))
            }
        }
        // Bank: 37 vectors (an odd count), some of them copies of this photo's own patches.
        var bank: [Float] = []
        for k in 0..<37 {
            for i in 0..<d { bank.append(k % 5 == 0 ? features.data[i * cells + k] : generator.nextGaussian()) }
        }
        // Fewer good photos (29) than dimensions: the shrinkage keeps the covariance invertible.
        let goodPhotos = (0..<29).map { _ in descriptor.map { $0 + generator.nextGaussian() * 0.3 * abs($0) } }
        let memory = PatchGraph.Memory(
            patches: bank, patchCount: 37,
            photos: PhotoGaussian(descriptors: goodPhotos.flatMap { $0 }, count: 29, dimensions: g, stride: g, workers: Workers(count: 2)))
        let photoSquared = Float(naiveMahalanobis(descriptor.map(Double.init), goodPhotos, dimensions: g))
        let photoScales = (scale: 2 / photoSquared, offset: Float(-0.5))  // 1.5 for this photo
        let graph = patches.anomalyGraph(memory: memory, scales: .init(map: 0.5, scoresPatches: true, photo: photoScales), smoothing: 0, border: 1)
        for threads in [1, 2] {
            let outputs = try Engine(graph: graph, threads: threads).run(["input": input])
            let map = outputs[PatchGraph.mapValue]!.data
            var expectedScore: Float = 0
            for cell in 0..<cells {
                let query = (0..<d).map { Double(features.data[$0 * cells + cell]) }
                let queryNorm = query.reduce(0) { $0 + $1 * $1 }
                let nearest = naiveNearest(query, bank, dimensions: d)
                // Compared squared: |q|² - 2 q·m + |m|² loses float digits relative to |q|² (a square root
                // near 0 would magnify that), so the tolerance scales with |q|².
                let found = Double(map[cell] / 0.5) * Double(map[cell] / 0.5)
                XCTAssertEqual(found, nearest, accuracy: 1e-5 * queryNorm + 1e-4 * nearest, "cell \(cell), \(threads) threads")
                let (row, column) = (cell / 8, cell % 8)
                if (1..<7).contains(row) && (1..<7).contains(column) { expectedScore = max(expectedScore, Float(nearest.squareRoot() * 0.5)) }
            }
            let score = max(expectedScore, 1.5)
            XCTAssertEqual(outputs[PatchGraph.scoreValue]!.data[0], score, accuracy: 1e-3 * max(1, score))
            // The photo search alone, and floored at 0 below the offset.
            for (scales, expected) in [((3 / photoSquared, Float(-1)), Float(2)), ((1 / photoSquared, Float(-2)), 0)] {
                let photoOnly = patches.anomalyGraph(memory: memory, scales: .init(map: 0.5, scoresPatches: false, photo: scales), smoothing: 0, border: 1)
                let photoScore = try Engine(graph: photoOnly, threads: threads).run(["input": input])[PatchGraph.scoreValue]!.data[0]
                XCTAssertEqual(photoScore, expected, accuracy: 1e-3)
            }
        }
        // The calibration graph's distances: to the whole descriptor's Gaussian, and to one of its means and
        // deviations alone read from the whole descriptor (padded).
        let plain = 2 * patches.tapChannels
        let meansAndDeviations = PhotoGaussian(descriptors: goodPhotos.flatMap { $0 }, count: 29, dimensions: plain, stride: g, workers: Workers(count: 2))
        let calibration = patches.calibrationGraph(
            patches: bank, count: 37, photos: [memory.photos!, meansAndDeviations.padded(to: g)], smoothing: 0, border: 1)
        let raw = try Engine(graph: calibration, threads: 2).run(["input": input])
        XCTAssertEqual(raw[PatchGraph.photoDistanceValue(0)]!.data[0], photoSquared, accuracy: 1e-3 * photoSquared)
        let plainSquared = Float(naiveMahalanobis(descriptor[..<plain].map(Double.init), goodPhotos.map { Array($0[..<plain]) }, dimensions: plain))
        XCTAssertEqual(raw[PatchGraph.photoDistanceValue(1)]!.data[0], plainSquared, accuracy: 1e-3 * plainSquared)
        XCTAssertNotEqual(plainSquared, photoSquared, accuracy: 1e-2 * photoSquared)
        let patchesOnly = patches.anomalyGraph(memory: memory, scales: .init(map: 0.5, scoresPatches: true, photo: nil), smoothing: 1, border: 1)
        XCTAssertFalse(patchesOnly.nodes.contains { $0.name.contains("photo") }, "a patch-only model computes no photo statistics")
        // The whole graph, smoothing included, against the reference executor.
        let smoothed = patches.anomalyGraph(memory: memory, scales: .init(map: 0.5, scoresPatches: true, photo: photoScales), smoothing: 1, border: 1)
        let reference = try runReference(smoothed, inputs: ["input": input])
        let engine = try Engine(graph: smoothed, threads: 2).run(["input": input])
        for name in smoothed.outputs {
            for (a, b) in zip(engine[name]!.data, reference[name]!.data) { XCTAssertEqual(a, b, accuracy: 2e-3 * max(1, abs(b)), name) }
        }
    }

    /// The int8 search: every patch's distance to the nearest bank vector, both rounded as the file says (the
    /// patch onto the uint8 grid of `searchRange`, the bank onto one int8 grid), computed
    /// naively; the engine runs it as one int8 step that keeps only the minimum.
    func testTheInt8SearchIsTheNearestOfTheRoundedVectors() throws {
        var patches = try patchGraph()
        var generator = SeededGenerator(seed: 5)
        patches.projection = Tensor(shape: [21, patches.tapChannels, 1, 1], data: (0..<(21 * patches.tapChannels)).map { _ in generator.nextGaussian() * 0.2 })
        let input = Tensor(shape: [1, 3, 64, 64], data: (0..<(3 * 64 * 64)).map { _ in generator.nextGaussian() })
        let features = try Engine(graph: patches.featureGraph(), threads: 1).run(["input": input])[PatchGraph.featuresValue]!
        let d = patches.featureCount, cells = 64, count = 301
        var bank: [Float] = []
        for k in 0..<count {
            for i in 0..<d { bank.append(k % 7 == 0 ? features.data[i * cells + k % cells] : generator.nextGaussian()) }
        }
        // A range narrower than the patches' own: the clamped values are rounded too.
        let range = CalibrationRange(lower: features.data.min()! * 0.8, upper: features.data.max()! * 0.9)
        patches.searchRange = range
        let graph = patches.anomalyGraph(
            memory: .init(patches: bank, patchCount: count, photos: nil), scales: .init(map: 1, scoresPatches: true, photo: nil), smoothing: 0, border: 0)
        let (scale, zeroPoint) = range.uint8Parameters
        func rounded(_ x: Float) -> Double { Double((min(max((x / scale).rounded(.toNearestOrEven) + zeroPoint, 0), 255) - zeroPoint) * scale) }
        // The convolution holds -2m on one symmetric int8 grid for the whole bank; the bank vector is that halved.
        let step = bank.map { abs(2 * $0) }.max()! / 127
        let roundedBank = bank.map { (-2 * $0 / step).rounded(.toNearestOrEven) * step / -2 }
        // The bias |m|² is held on the accumulator grid (input step x weight step), as in every int8 runtime.
        let biasRounding = 0.5 * Double(scale * step)
        let engine = try Engine(graph: graph, batchSize: 1, threads: 2, int8: .kernels)
        XCTAssert(engine.layers.contains { $0.kind.hasSuffix("(int8 gemm) + reduce min over channels") }, "\(engine.layers.map(\.kind))")
        let map = try engine.run(["input": input])[PatchGraph.mapValue]!.data
        for cell in 0..<cells {
            let query = (0..<d).map { rounded(features.data[$0 * cells + cell]) }
            let nearest = naiveNearest(query, roundedBank, dimensions: d)
            let queryNorm = query.reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(Double(map[cell]) * Double(map[cell]), nearest, accuracy: 1e-5 * queryNorm + 1e-4 * nearest + biasRounding, "cell \(cell)")
        }
        // Not a trivial comparison: the nearest distances differ from patch to patch.
        XCTAssertGreaterThan(Set(map).count, cells / 2)
    }

    /// Greedy k-centre keeps one point of every far-apart cluster before a second of any.
    func testCoresetCoversEveryCluster() {
        var generator = SeededGenerator(seed: 4)
        let clusters = 7, perCluster = [500, 3, 40, 1, 200, 9, 60], d = 20, stride = 32
        var points: [Float] = [], owner: [Int] = []
        for c in 0..<clusters {
            let centre = (0..<d).map { _ in 50 * generator.nextGaussian() }
            for _ in 0..<perCluster[c] {
                points += centre.map { $0 + generator.nextGaussian() } + [Float](repeating: 0, count: stride - d)
                owner.append(c)
            }
        }
        for projected in [64, 8] {
            let picked = Coreset.select(
                patches: points, count: owner.count, dimensions: d, stride: stride, picks: clusters,
                projectedDimensions: projected, seed: 1, workers: Workers(count: 2))
            XCTAssertEqual(Set(picked.map { owner[$0] }).count, clusters, "projected to \(projected)")
        }
        XCTAssertEqual(
            Coreset.select(
                patches: points, count: owner.count, dimensions: d, stride: stride, picks: 5000, seed: 1,
                workers: Workers(count: 1)
            ).count, owner.count, "asking for more than there are keeps them all")
    }

    /// The principal axes of correlated vectors of odd length: each axis is an eigenvector of the
    /// covariance (A v = λ v, checked in plain loops), they are orthonormal and sorted by variance; the
    /// whitening, applied by the SIMD projection, leaves the leading axes with unit variance.
    func testPrincipalAxesWhitenTheLeadingDirections() {
        var generator = SeededGenerator(seed: 11)
        let d = 19, stride = 32, count = 3001
        // Independent sources of very different spread, mixed by a random matrix: a correlated cloud.
        let spreads: [Float] = (0..<d).map { 20 / Float($0 + 1) }
        let mixing = (0..<(d * d)).map { _ in generator.nextGaussian() }
        var rows = [Float](repeating: 0, count: count * stride)
        for row in 0..<count {
            let sources = spreads.map { $0 * generator.nextGaussian() }
            for i in 0..<d { rows[row * stride + i] = 3 + (0..<d).reduce(0) { $0 + mixing[i * d + $1] * sources[$1] } }
        }
        let workers = Workers(count: 2)
        let covariance = PrincipalAxes.moments(rows: rows, count: count, dimensions: d, stride: stride, sample: count, workers: workers).covariance
        let axes = PrincipalAxes(rows: rows, count: count, dimensions: d, stride: stride, sample: count, workers: workers)
        XCTAssertEqual(axes.variances, axes.variances.sorted(by: >))
        let largest = axes.variances[0]
        for (value, vector) in zip(axes.variances, axes.axes) {
            for i in 0..<d {
                let product = (0..<d).reduce(0.0) { $0 + covariance[i * d + $1] * vector[$1] }
                XCTAssertEqual(product, value * vector[i], accuracy: 1e-9 * largest)
            }
        }
        for a in 0..<d {
            for b in 0..<d {
                let dot = zip(axes.axes[a], axes.axes[b]).reduce(0.0) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(dot, a == b ? 1 : 0, accuracy: 1e-9)
            }
        }
        let kept = 5
        let projected = Coreset.project(
            rows, count: count, dimensions: d, stride: stride, by: axes.whitening(count: kept, floor: 0), rows: kept, workers: workers)
        let width = 16
        XCTAssertEqual(projected.count, count * width)
        for axis in 0..<kept {
            let values = (0..<count).map { Double(projected[$0 * width + axis]) }
            let mean = values.reduce(0, +) / Double(count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count - 1)
            XCTAssertEqual(variance, 1, accuracy: 1e-3, "axis \(axis)")
        }
        XCTAssertTrue((0..<count).allSatisfy { row in projected[(row * width + kept)..<(row * width + width)].allSatisfy { $0 == 0 } }, "padding stays zero")
    }

    /// Plain textured 64x64 photos: 24 to fit on, 12 held out, and 4 with a bright 10x10 spot at `spots`.
    func spotPhotos() throws -> (fit: [String], calibration: [String], defects: [String], spots: [(Int, Int)], options: AnomalyOptions) {
        let backbone = folder.appendingPathComponent("backbone.onnx")
        try exportONNX(graph: Self.backbone(), metadata: nil).write(to: backbone)
        func photo(_ name: String, seed: UInt64, spot: (x: Int, y: Int)?) throws -> String {
            var generator = SeededGenerator(seed: seed)
            var pixels = (0..<(64 * 64)).map { i in UInt8(110 + 20 * sin(Double(i % 64) * 0.4) + Double(generator.nextFloat(in: 0...12))) }
            if let spot { for y in spot.y..<(spot.y + 10) { for x in spot.x..<(spot.x + 10) { pixels[y * 64 + x] = 250 } } }
            let path = folder.appendingPathComponent(name).path
            try Data(PNGEncoder.encode(Image(width: 64, height: 64, color: .gray, pixels: pixels))).write(to: URL(fileURLWithPath: path))
            return path
        }
        let fit = try (0..<24).map { try photo("fit\($0).png", seed: UInt64($0), spot: nil) }
        let calibration = try (0..<12).map { try photo("cal\($0).png", seed: UInt64(100 + $0), spot: nil) }
        let spots = [(20, 20), (34, 16), (16, 36), (30, 30)]
        let defects = try spots.enumerated().map { try photo("bad\($0.offset).png", seed: UInt64(200 + $0.offset), spot: $0.element) }
        var options = AnomalyOptions(backbone: backbone.path)
        options.size = (64, 64)
        options.bankSize = 300
        options.threads = 2
        options.maxFalseRejectRate = 0.1
        return (fit, calibration, defects, spots, options)
    }

    /// Fitted on plain textured photos, the model scores photos with a bright spot above 1 and puts
    /// the map's peak on the spot; held-out good photos mostly stay below 1.
    func testFitFindsSpotsItNeverSaw() throws {
        let (fit, calibration, defects, spots, options) = try spotPhotos()
        let model = try AnomalyTrainer.fit(
            fit: fit, calibration: calibration, defects: defects, okLabel: "good", options: options,
            dataset: folder.path)
        XCTAssertEqual(model.bankCount, 300)
        XCTAssertEqual(model.metadata.kind, .anomaly)
        XCTAssertEqual(model.metadata.threshold, 1)
        XCTAssertLessThanOrEqual(model.goodScores.filter { $0 >= 1 }.count, 2, "the threshold passes most held-out good photos")
        XCTAssertEqual(model.defectScores.filter { $0 >= 1 }.count, spots.count, "every spot is found: \(model.defectScores)")
        XCTAssertEqual(model.metadata.provenance?.validationMetrics?["image_auroc"], 1)

        // The exported file loads back and its map peaks where the spot is.
        let loaded = try ONNXModel.load(data: try model.onnxData(), name: "anomaly.onnx")
        XCTAssertEqual(loaded.metadata, model.metadata)
        let engine = try Engine(graph: loaded.graph, threads: 1)
        let preprocessing = Preprocessing(width: 64, height: 64, color: .rgb, mean: model.metadata.mean!, std: model.metadata.std!)
        for (path, spot) in zip(defects, spots) {
            let image = try ImageDecoder().decode(fileAt: path, for: preprocessing)
            var tensor = [Float](repeating: 0, count: preprocessing.tensorCount)
            try preprocessing.writeTensor(from: image, to: &tensor)
            let map = try engine.run([engine.inputNames[0]: Tensor(shape: [1, 3, 64, 64], data: tensor)])[PatchGraph.mapValue]!.data
            let peak = map.indices.max { map[$0] < map[$1] }!
            let (row, column) = (peak / 8, peak % 8)
            // Cells are 8 pixels; the spot's centre is 5 pixels in.
            XCTAssertLessThanOrEqual(abs(row - (spot.1 + 5) / 8), 1, "\(path): peak row \(row)")
            XCTAssertLessThanOrEqual(abs(column - (spot.0 + 5) / 8), 1, "\(path): peak column \(column)")
        }
    }

    /// Left to choose, the fit measures the photo score with and without the maps' skewness and builds the
    /// graph of the one chosen; given, it measures only that one. The graph has skewness nodes exactly when
    /// the recipe has skewness.
    func testSkewnessIsChosenOrGiven() throws {
        var (fit, calibration, defects, _, options) = try spotPhotos()
        options.scoring = .photos
        for given in [nil, false, true] as [Bool?] {
            options.skewness = given
            var measured: [AnomalyScoreRecipe: Double] = [:], chosen: AnomalyScoreRecipe?
            let model = try AnomalyTrainer.fit(fit: fit, calibration: calibration, defects: defects, okLabel: "good", options: options, dataset: "spots") {
                if case let .scoring(recipe, auroc) = $0 { (chosen, measured) = (recipe, auroc) }
            }
            XCTAssertEqual(Set(measured.keys), Set((given.map { [$0] } ?? [false, true]).map { AnomalyScoreRecipe(scoring: .photos, skewness: $0) }))
            XCTAssertEqual(chosen, AnomalyScoreRecipe(scoring: .photos, skewness: model.skewness))
            if let given { XCTAssertEqual(model.skewness, given) }
            if given == nil { XCTAssertEqual(measured[chosen!], measured.values.max()) }
            let skewnessNodes = model.graph.nodes.filter { $0.name.contains("skewness") }.count
            XCTAssertEqual(skewnessNodes, model.skewness ? model.taps.count : 0, "one per tap")
        }
    }

    /// The threshold rejects 1 % of the good scores; the review band runs from their 95th percentile (at most
    /// 0.95) to where they stop (their 99.8th percentile), at least 1.05 and at most the lower edge's mirror.
    /// The scores follow a piecewise-linear quantile function with knots at exactly those percentiles.
    func testReviewBandEndsWhereGoodPhotosStop() {
        func scores(_ knots: [(Double, Float)]) -> [Float] {
            (0...5000).map { i in
                let u = Double(i) / 5000
                let upper = knots.firstIndex { $0.0 >= u }!
                guard upper > 0 else { return knots[0].1 }
                let ((u0, s0), (u1, s1)) = (knots[upper - 1], knots[upper])
                return s0 + (s1 - s0) * Float((u - u0) / (u1 - u0))
            }
        }
        let cases: [(knots: [(Double, Float)], lower: Float, upper: Float)] = [
            ([(0, 0), (0.95, 1), (0.99, 2), (0.998, 2.4), (1, 2.5)], 0.5, 1.2),  // the good photos stop at 1.2
            ([(0, 0), (0.95, 0.4), (0.99, 2), (0.998, 10), (1, 12)], 0.2, 1.8),  // a long tail: the mirror of 0.2
            ([(0, 0), (0.95, 1.94), (0.99, 2), (0.998, 2.02), (1, 2.03)], 0.95, 1.05),  // a tight one: ±5 %
        ]
        for (knots, lower, upper) in cases {
            let (threshold, band) = AnomalyTrainer.thresholdAndBand(goodScores: scores(knots), maxFalseRejectRate: 0.01)
            XCTAssertEqual(threshold, 2, accuracy: 1e-4)
            XCTAssertEqual(band.lower, lower, accuracy: 1e-4, "\(knots)")
            XCTAssertEqual(band.upper, upper, accuracy: 1e-4, "\(knots)")
        }
    }

    func testTooFewGoodPhotosIsAClearError() throws {
        let options = AnomalyOptions(backbone: folder.appendingPathComponent("none.onnx").path)
        XCTAssertThrowsError(
            try AnomalyTrainer.fit(
                fit: ["a.png"], calibration: ["b.png"], defects: [], okLabel: "ok", options: options,
                dataset: "d")
        ) { error in
            XCTAssertTrue("\(error)".contains("at least 2 good photos"), "\(error)")
        }
    }
}
