import AugeEngine
import AugeImage
import AugeONNX
import Foundation

public struct TrainingOptions: Codable, Sendable, Equatable {
    public var architecture: Architecture = .small
    public var pooling: GlobalPooling = .average
    public var epochs = 30
    public var batchSize = 32
    public var optimizer = OptimizerSettings()
    /// Epochs of linear learning-rate warm-up before the cosine decay.
    public var warmupEpochs = 1.0
    public var seed: UInt64 = 1
    /// Results repeat exactly for the same seed and thread count.
    public var threads = 1
    public var augmentation = AugmentationSettings.productPhotos
    /// Weight the loss by inverse class frequency, so rare defects count as much as common ones.
    public var balanceClasses = true
    /// Stop after this many epochs without a better validation score.
    public var patience = 8
    /// Which validation score picks the kept epoch (and what `patience` waits for).
    public var selection = EpochSelection.balanced
    /// Calibration target: the largest share of defect photos the threshold may pass as OK.
    public var maxMissRate = 0.01
    /// Calibration target: the largest share of photos the review band may hold.
    public var maxReviewRate = 0.02
    /// Calibration with too few held-out defect photos for `maxMissRate`: the largest share of
    /// held-out good photos the threshold may reject.
    public var maxFalseRejectRate = 0.01
    /// Wall-clock seconds training may take (nil: no limit); epochs are cut to fit after the first.
    public var timeBudget: Double?
    /// Train a head on a pretrained backbone instead of a network from scratch.
    public var transfer: TransferOptions?

    public init() {}
}

/// The validation score that makes an epoch the best so far.
public enum EpochSelection: String, Codable, Sendable, CaseIterable {
    /// Mean per-class recall (ties: lower loss): rare classes count as much as common ones.
    case balanced
    /// Share of photos right (ties: lower loss).
    case accuracy
    /// Validation loss, lowest first: smooth where a few photos per class make accuracies jump.
    case loss

    func score(_ metrics: EvaluationMetrics) -> [Double] {
        switch self {
        case .balanced: [metrics.balancedAccuracy, -metrics.loss]
        case .accuracy: [metrics.accuracy, -metrics.loss]
        case .loss: [-metrics.loss]
        }
    }
}

/// Transfer learning: a classifier head trained on the features of a pretrained backbone, whose last
/// layers may be fine-tuned with it.
public struct TransferOptions: Codable, Sendable, Equatable {
    /// The backbone's ONNX file, as given.
    public var backbone: String
    /// The node (or value) whose output are the features; nil cuts at the last global average pooling.
    public var featureNode: String?
    public var pooling = FeaturePooling.average
    /// Units of the head's hidden layer; 0 for a linear head.
    public var hiddenUnits = 0
    /// Feature vectors per training photo: the photo itself and augmented copies, each computed once.
    public var variants = 4
    /// The backbone's last layers trained along with the head (a convolution with its normalisation
    /// and activation, or a residual block, counts as one); 0 keeps the backbone frozen.
    public var fineTunedLayers = 0

    public init(backbone: String) {
        self.backbone = backbone
    }
}

/// One line of training history.
public struct EpochSummary: Codable, Sendable, Equatable {
    public var epoch: Int
    public var learningRate: Double
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double
    public var validationAccuracy: Double
    public var validationBalancedAccuracy: Double
    /// Share of validation defect photos whose defect probability reaches 0.5 (nil without OK labels).
    public var defectRecall: Double?
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Whether this epoch's model became the best so far.
    public var improved: Bool
}

/// What a person can follow while training runs.
public enum TrainingEvent: Sendable {
    case decoding(set: String, done: Int, total: Int)
    /// Decoding and running the backbone on every photo (and its augmented variants), once.
    case extracting(set: String, done: Int, total: Int)
    case batch(epoch: Int, batch: Int, batches: Int, loss: Double)
    case epoch(EpochSummary, of: Int)
    case undecodable(paths: [String])
    /// The time budget leaves room for this many epochs in all (fewer than asked).
    case budgetCut(epochs: Int)
}

/// Where a model came from.
public struct Provenance: Codable, Sendable, Equatable {
    public var tool = "auge \(augeVersion) train"
    public var trainedAt: String
    public var dataset: String
    public var validation: String
    public var trainImagesPerLabel: [String: Int]
    public var validationImagesPerLabel: [String: Int]
    public var epochsRun: Int
    public var bestEpoch: Int
    public var trainingSeconds: Double
}

/// Everything needed to resume training after the last completed epoch.
public struct TrainingCheckpoint: Codable, Sendable {
    public var format = "auge-train-checkpoint-2"
    public var options: TrainingOptions
    public var labels: [String]
    public var preprocessing: Preprocessing
    public var completedEpochs: Int
    public var optimizerStep: Int
    public var state: NetworkState
    @PackedFloats public var moments: [[Float]]
    public var best: NetworkState
    public var bestEpoch: Int
    public var bestScore: [Double]
    public var history: [EpochSummary]
    public var trainingSeconds: Double

    public static func load(from path: String) throws -> TrainingCheckpoint {
        try JSONDecoder().decode(TrainingCheckpoint.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    public func save(to path: String) throws {
        // Atomic: an interrupted save never leaves a broken checkpoint.
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Trains a classifier on an ImageFolder dataset, validating every epoch and keeping the best model.
public final class Trainer {
    public let train: ImageFolder
    public let validation: ImageFolder
    public let preprocessing: Preprocessing
    public let okLabels: [String]
    public let options: TrainingOptions
    /// The pretrained backbone whose features the head learns from (transfer learning), or nil.
    public let backbone: Backbone?
    let workers: Workers
    let network: Network

    /// Trains the built-in architecture `options.architecture` from scratch.
    public convenience init(
        train: ImageFolder, validation: ImageFolder, preprocessing: Preprocessing, okLabels: [String],
        options: TrainingOptions
    ) throws {
        let input = Shape(height: preprocessing.height, width: preprocessing.width, channels: preprocessing.color.channels)
        let network = Network(
            architecture: options.architecture, input: input, classes: train.classes.count, pooling: options.pooling,
            seed: options.seed)
        try self.init(
            train: train, validation: validation, preprocessing: preprocessing, backbone: nil, network: network,
            okLabels: okLabels, options: options)
    }

    /// Trains a head on `backbone`'s features, with the backbone's preprocessing; `options.transfer` says how.
    public convenience init(
        train: ImageFolder, validation: ImageFolder, backbone: Backbone, okLabels: [String],
        options: TrainingOptions
    ) throws {
        guard let transfer = options.transfer, transfer.variants >= 1 else {
            throw DatasetError(description: "transfer training needs transfer options with at least one variant per photo")
        }
        let network = try Network.head(on: backbone, hiddenUnits: transfer.hiddenUnits, classes: train.classes.count, seed: options.seed)
        try self.init(
            train: train, validation: validation, preprocessing: backbone.preprocessing, backbone: backbone, network: network,
            okLabels: okLabels, options: options)
    }

    private init(
        train: ImageFolder, validation: ImageFolder, preprocessing: Preprocessing, backbone: Backbone?, network: Network,
        okLabels: [String], options: TrainingOptions
    ) throws {
        guard train.classes.count >= 2 else { throw DatasetError(description: "training needs at least two classes, found \(train.classes)") }
        guard validation.classes == train.classes else { throw DatasetError(description: "validation classes differ from training classes") }
        guard !validation.items.isEmpty else { throw DatasetError(description: "the validation set is empty") }
        if let unknown = okLabels.first(where: { !train.classes.contains($0) }) {
            throw DatasetError(description: "OK label '\(unknown)' is not a class of \(train.classes)")
        }
        try preprocessing.validate()
        self.train = train
        self.validation = validation
        self.preprocessing = preprocessing
        self.okLabels = okLabels
        self.options = options
        self.backbone = backbone
        self.network = network
        workers = Workers(count: options.threads)
    }

    public var parameterCount: Int { network.parameterCount }

    /// Trains (or continues `resume`), calling `events` as it goes and `checkpoint` after each epoch.
    public func run(
        resume: TrainingCheckpoint? = nil, events: (TrainingEvent) -> Void = { _ in },
        checkpoint: (TrainingCheckpoint) throws -> Void = { _ in }
    ) throws -> TrainedModel {
        if let resume {
            guard resume.labels == train.classes, resume.options.architecture == options.architecture, resume.options.pooling == options.pooling,
                resume.options.transfer == options.transfer, resume.preprocessing == preprocessing
            else {
                throw DatasetError(description: "the checkpoint was made for other classes, architecture, backbone or preprocessing")
            }
            // The best score so far is only comparable with scores of the same kind.
            guard resume.options.selection == options.selection else {
                throw DatasetError(description: "the checkpoint kept epochs by --select \(resume.options.selection.rawValue); resume with it")
            }
        }
        let preparationStarted = Date()
        let (trainSamples, validationSamples) = try samples(events: events)
        let preparationSeconds = Date().timeIntervalSince(preparationStarted)
        let undecodable = trainSamples.failures + validationSamples.failures
        if !undecodable.isEmpty { events(.undecodable(paths: undecodable)) }
        guard trainSamples.count >= 2, validationSamples.count >= 1 else { throw DatasetError(description: "too few photos could be decoded") }

        let batchSize = min(options.batchSize, trainSamples.count)
        let batchesPerEpoch = trainSamples.count / batchSize
        network.reserve(batch: batchSize, workers: workers)
        var schedule = LearningRateSchedule(
            peak: options.optimizer.learningRate,
            warmupSteps: Int(options.warmupEpochs * Double(batchesPerEpoch)),
            totalSteps: options.epochs * batchesPerEpoch)
        var optimizer = Optimizer(settings: options.optimizer)
        let classWeights = weights(for: trainSamples.labels)

        var history: [EpochSummary] = []
        var best = network.state, bestEpoch = 0, bestScore = [-Double.infinity]
        // Training time includes decoding (and backbone features), which every run, resumed or not, spends.
        var firstEpoch = 1, trainingSeconds = preparationSeconds
        if let resume {
            network.state = resume.state
            network.moments = resume.moments
            optimizer.step = resume.optimizerStep
            (best, bestEpoch, bestScore) = (resume.best, resume.bestEpoch, resume.bestScore)
            history = resume.history
            firstEpoch = resume.completedEpochs + 1
            trainingSeconds = resume.trainingSeconds + preparationSeconds
        }
        let classes = train.classes.count
        let probabilities = AlignedBuffer(count: batchSize * classes)
        var epoch = firstEpoch, lastEpoch = options.epochs, epochSecondsSum = 0.0
        while epoch <= lastEpoch && epoch - bestEpoch <= options.patience {
            let started = Date()
            let epochGenerator = SeededGenerator(seed: options.seed).derived(epoch)
            var orderGenerator = epochGenerator.derived(-1)
            let order = shuffled(Array(0..<trainSamples.count), using: &orderGenerator)
            var lossSum = 0.0, correct = 0, learningRate: Float = 0
            for batch in 0..<batchesPerEpoch {
                let positions = (batch * batchSize)..<((batch + 1) * batchSize)
                let input = network.input, count = network.inputShape.count
                workers.forEachShare(of: batchSize) { _, slots in
                    for slot in slots {
                        var generator = epochGenerator.derived(positions.lowerBound + slot)
                        trainSamples.writeVaried(order[positions.lowerBound + slot], into: input + slot * count, generator: &generator)
                    }
                }
                let labels = positions.map { trainSamples.labels[order[$0]] }
                let logits = network.forward(batch: batchSize, training: true, workers: workers)
                let loss = SoftmaxCrossEntropy.evaluate(
                    logits: logits, labels: labels, classWeights: classWeights, classes: classes,
                    probabilities: probabilities.pointer, logitGradient: network.logitGradient)
                network.backward(batch: batchSize, workers: workers)
                learningRate = schedule.rate(atStep: optimizer.step)
                optimizer.update(network.parameters, learningRate: learningRate)
                lossSum += Double(loss)
                for (n, label) in labels.enumerated() {
                    let row = Array(UnsafeBufferPointer(start: probabilities.pointer + n * classes, count: classes))
                    if EvaluationMetrics.argmax(row) == label { correct += 1 }
                }
                events(.batch(epoch: epoch, batch: batch + 1, batches: batchesPerEpoch, loss: lossSum / Double(batch + 1)))
            }
            let metrics = EvaluationMetrics(
                labels: train.classes, okLabels: okLabels, truths: validationSamples.labels,
                probabilities: predict(validationSamples))
            let score = options.selection.score(metrics)
            let improved = bestScore.lexicographicallyPrecedes(score)
            if improved {
                (best, bestEpoch, bestScore) = (network.state, epoch, score)
            }
            let seconds = Date().timeIntervalSince(started)
            trainingSeconds += seconds
            let summary = EpochSummary(
                epoch: epoch, learningRate: Double(learningRate), trainLoss: lossSum / Double(batchesPerEpoch),
                trainAccuracy: Double(correct) / Double(batchesPerEpoch * batchSize),
                validationLoss: metrics.loss, validationAccuracy: metrics.accuracy,
                validationBalancedAccuracy: metrics.balancedAccuracy,
                defectRecall: metrics.missedDefectRate.map { 1 - $0 }, seconds: seconds,
                imagesPerSecond: Double(batchesPerEpoch * batchSize) / seconds, improved: improved)
            history.append(summary)
            epochSecondsSum += seconds
            if let budget = options.timeBudget {
                // The epochs that still fit the budget at the pace so far (measured again every epoch, as
                // the machine's load changes); the learning-rate decay is shortened to end with them.
                let pace = epochSecondsSum / Double(epoch - firstEpoch + 1)
                let fitting = epoch + Int(max(0, budget - trainingSeconds) / max(pace, 1e-3))
                if fitting < lastEpoch {
                    lastEpoch = max(epoch, fitting)
                    schedule.totalSteps = max(1, lastEpoch * batchesPerEpoch)
                    events(.budgetCut(epochs: lastEpoch))
                }
            }
            events(.epoch(summary, of: lastEpoch))
            try checkpoint(
                TrainingCheckpoint(
                    options: options, labels: train.classes, preprocessing: preprocessing, completedEpochs: epoch,
                    optimizerStep: optimizer.step, state: network.state, moments: network.moments, best: best,
                    bestEpoch: bestEpoch, bestScore: bestScore, history: history, trainingSeconds: trainingSeconds))
            epoch += 1
        }

        network.state = best
        let validationProbabilities = predict(validationSamples)
        let calibration = calibrate(truths: validationSamples.labels, probabilities: validationProbabilities)
        let metrics = EvaluationMetrics(
            labels: train.classes, okLabels: okLabels, truths: validationSamples.labels,
            probabilities: validationProbabilities, threshold: calibration.threshold,
            reviewBand: calibration.reviewBand)
        func perLabel(_ samples: TrainingSamples) -> [String: Int] {
            Dictionary(grouping: samples.labels, by: { train.classes[$0] }).mapValues(\.count)
        }
        let provenance = Provenance(
            trainedAt: ISO8601DateFormatter().string(from: Date()), dataset: train.root,
            validation: validation.root == train.root ? "held out from \(train.root)" : validation.root,
            trainImagesPerLabel: perLabel(trainSamples), validationImagesPerLabel: perLabel(validationSamples),
            epochsRun: history.count, bestEpoch: bestEpoch, trainingSeconds: trainingSeconds)
        return TrainedModel(
            architecture: options.architecture, backbone: backbone, labels: train.classes, okLabels: okLabels, preprocessing: preprocessing,
            calibration: calibration, validation: metrics, options: options, provenance: provenance, history: history,
            parameterCount: network.parameterCount, state: network.state)
    }

    /// Inverse class frequency, normalised so the average photo weighs 1 (all 1 when balancing is off).
    private func weights(for labels: [Int]) -> [Float] {
        let classes = train.classes.count
        guard options.balanceClasses else { return [Float](repeating: 1, count: classes) }
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[label] += 1 }
        return counts.map { $0 == 0 ? 0 : Float(labels.count) / Float(classes * $0) }
    }

    private func calibrate(truths: [Int], probabilities: [[Float]]) -> Calibration {
        let okIndices = Set(okLabels.compactMap { train.classes.firstIndex(of: $0) })
        guard !okIndices.isEmpty else {
            // Without OK labels the label is the answer; the threshold is the smallest top probability
            // the inspection module accepts without review.
            return Calibration(threshold: 0.5, reviewBand: 0, maxMissRate: options.maxMissRate, maxReviewRate: options.maxReviewRate)
        }
        return Calibration.calibrate(
            defectScores: probabilities.map { EvaluationMetrics.defectProbability($0, okIndices: okIndices) },
            isDefect: truths.map { !okIndices.contains($0) },
            maxMissRate: options.maxMissRate, maxReviewRate: options.maxReviewRate, maxFalseRejectRate: options.maxFalseRejectRate)
    }

    /// The training and validation inputs: decoded photos, or the backbone's features of them.
    private func samples(events: (TrainingEvent) -> Void) throws -> (train: TrainingSamples, validation: TrainingSamples) {
        if let backbone, let transfer = options.transfer {
            func features(_ folder: ImageFolder, set: String, variants: Int) throws -> FeatureSamples {
                try FeatureSamples(
                    folder, backbone: backbone, augmentation: options.augmentation, variants: variants, seed: options.seed,
                    workers: workers
                ) { events(.extracting(set: set, done: $0, total: $1)) }
            }
            return (try features(train, set: "train", variants: transfer.variants), try features(validation, set: "validation", variants: 1))
        }
        let augmenter = Augmenter(settings: options.augmentation, preprocessing: preprocessing)
        func photos(_ folder: ImageFolder, set: String) -> PhotoSamples {
            PhotoSamples(
                cache: TensorCache(folder, preprocessing: preprocessing, workers: workers) { events(.decoding(set: set, done: $0, total: $1)) },
                augmenter: augmenter)
        }
        return (photos(train, set: "train"), photos(validation, set: "validation"))
    }

    /// Inference-mode probabilities for every sample, unvaried.
    private func predict(_ samples: TrainingSamples) -> [[Float]] {
        network.predict(count: samples.count, workers: workers) { index, destination in samples.write(index, into: destination) }
    }
}

/// Fisher-Yates with our own generator, so the order never depends on the standard library's algorithm.
func shuffled<T>(_ items: [T], using generator: inout SeededGenerator) -> [T] {
    var items = items
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        items.swapAt(i, Int(generator.next() % UInt64(i + 1)))
    }
    return items
}

extension Network {
    /// Probabilities for `count` inputs that `fill(index, destination)` writes, in batches of the capacity.
    func predict(count: Int, workers: Workers, fill: (Int, UnsafeMutablePointer<Float>) -> Void) -> [[Float]] {
        var rows: [[Float]] = []
        rows.reserveCapacity(count)
        let probabilities = AlignedBuffer(count: capacity * classCount)
        var start = 0
        while start < count {
            let batch = min(capacity, count - start)
            for slot in 0..<batch { fill(start + slot, input + slot * inputShape.count) }
            let logits = forward(batch: batch, training: false, workers: workers)
            SoftmaxCrossEntropy.softmax(logits, batch: batch, classes: classCount, into: probabilities.pointer)
            for slot in 0..<batch {
                rows.append(Array(UnsafeBufferPointer(start: probabilities.pointer + slot * classCount, count: classCount)))
            }
            start += batch
        }
        return rows
    }
}
