import AugeEngine
import AugeImage
import Foundation

/// Labelled inputs the training loop feeds to the network: decoded photos (varied by augmentation
/// every epoch) or a backbone's features (computed once per photo and variant).
protocol TrainingSamples {
    var count: Int { get }
    var labels: [Int] { get }
    /// Paths of photos that could not be decoded (left out).
    var failures: [String] { get }
    /// Writes sample `index` unchanged, for validation.
    func write(_ index: Int, into target: UnsafeMutablePointer<Float>)
    /// Writes a random variation of sample `index`, for training.
    func writeVaried(_ index: Int, into target: UnsafeMutablePointer<Float>, generator: inout SeededGenerator)
}

/// Decoded photos, augmented on the fly.
struct PhotoSamples: TrainingSamples {
    let cache: TensorCache
    let augmenter: Augmenter

    var count: Int { cache.count }
    var labels: [Int] { cache.labels }
    var failures: [String] { cache.failures }

    func write(_ index: Int, into target: UnsafeMutablePointer<Float>) {
        target.update(from: cache.image(index), count: cache.shape.count)
    }

    func writeVaried(_ index: Int, into target: UnsafeMutablePointer<Float>, generator: inout SeededGenerator) {
        augmenter.apply(cache.image(index), into: target, generator: &generator)
    }
}

/// A backbone's features (pooled vectors, or the feature map its fine-tuned layers start from),
/// computed once per photo and variant: variant 0 is the photo as inspected, the others are augmented copies. Training draws a random variant every epoch, so
/// augmentation costs one backbone run per variant instead of one per epoch.
final class FeatureSamples: TrainingSamples {
    let featureCount: Int
    let variants: Int
    private(set) var count = 0
    private(set) var labels: [Int] = []
    private(set) var failures: [String] = []
    private var storage: [Float] = []

    /// Decodes every photo once (in chunks, so only a chunk of full-size tensors is ever in memory)
    /// and runs the backbone on it and on `variants - 1` augmented copies.
    init(
        _ folder: ImageFolder, backbone: Backbone, augmentation: AugmentationSettings, variants: Int, seed: UInt64,
        workers: Workers, progress: (_ done: Int, _ total: Int) -> Void
    ) throws {
        precondition(variants >= 1, "at least the photo itself")
        featureCount = backbone.featureCount
        let featureShape = backbone.featureShape
        self.variants = variants
        let preprocessing = backbone.preprocessing
        let shape = Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
        let batch = 8, chunk = 64
        let engine = try Engine(graph: backbone.graph, batchSize: batch, threads: workers.count)
        let augmenter = Augmenter(settings: augmentation, preprocessing: preprocessing)
        let photos = AlignedBuffer(count: chunk * shape.count)
        let varied = AlignedBuffer(count: batch * shape.count)
        let input = AlignedBuffer(count: batch * shape.count)
        let output = AlignedBuffer(count: batch * featureCount)
        storage.reserveCapacity(folder.items.count * variants * featureCount)
        let generator = SeededGenerator(seed: seed).derived(0xFEA7)

        var done = 0
        while done < folder.items.count {
            let items = Array(folder.items[done..<min(folder.items.count, done + chunk)])
            let decoded = decode(items, preprocessing: preprocessing, shape: shape, into: photos.pointer, workers: workers)
            let slots = decoded.indices.filter { decoded[$0] }
            // Backbone runs over (photo, variant) pairs in batches; the engine's batch is fixed, so a
            // short last batch leaves stale rows whose outputs are not read.
            let pairs = slots.flatMap { slot in (0..<variants).map { (slot, $0) } }
            var features = [Float](repeating: 0, count: pairs.count * featureCount)
            for start in stride(from: 0, to: pairs.count, by: batch) {
                let group = Array(pairs[start..<min(pairs.count, start + batch)])
                // Augmenting and reordering a batch is per-row work: spread it over the workers too.
                workers.forEachShare(of: group.count) { _, rows in
                    for row in rows {
                        let (slot, variant) = group[row]
                        let photo = UnsafePointer(photos.pointer + slot * shape.count), copy = varied.pointer + row * shape.count
                        if variant == 0 {
                            copy.update(from: photo, count: shape.count)
                        } else {
                            var random = generator.derived(done + slot).derived(variant)
                            augmenter.apply(photo, into: copy, generator: &random)
                        }
                        interleavedToPlanar(copy, into: input.pointer + row * shape.count, shape: shape)
                    }
                }
                engine.run(input: input.pointer, output: output.pointer)
                features.withUnsafeMutableBufferPointer { features in
                    // The engine's maps are NCHW, the trainer's NHWC.
                    for row in 0..<group.count {
                        planarToInterleaved(
                            output.pointer + row * featureCount, into: features.baseAddress! + (start + row) * featureCount,
                            shape: featureShape)
                    }
                }
            }
            storage += features
            for (slot, item) in items.enumerated() {
                if decoded[slot] {
                    labels.append(item.label)
                    count += 1
                } else {
                    failures.append(item.path)
                }
            }
            done += items.count
            progress(done, folder.items.count)
        }
    }

    func write(_ index: Int, into target: UnsafeMutablePointer<Float>) {
        copy(index, variant: 0, into: target)
    }

    func writeVaried(_ index: Int, into target: UnsafeMutablePointer<Float>, generator: inout SeededGenerator) {
        copy(index, variant: Int(generator.next() % UInt64(variants)), into: target)
    }

    private func copy(_ index: Int, variant: Int, into target: UnsafeMutablePointer<Float>) {
        storage.withUnsafeBufferPointer { storage in
            target.update(from: storage.baseAddress! + (index * variants + variant) * featureCount, count: featureCount)
        }
    }
}
