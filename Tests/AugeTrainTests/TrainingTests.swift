@testable import AugeTrain
import AugeEngine
import AugeImage
import AugeONNX
import Foundation
import XCTest

/// End-to-end training on generated photos: bright squares are OK parts, dark squares defects.
final class TrainingTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("auge-train-\(UUID().uuidString)")
        try SyntheticSquares.write(into: folder, perClass: 40, seed: 3)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func options(epochs: Int, threads: Int = 2) -> TrainingOptions {
        var options = TrainingOptions()
        options.architecture = .tiny
        options.epochs = epochs
        options.batchSize = 16
        options.threads = threads
        options.optimizer.learningRate = 0.01
        options.seed = 7
        return options
    }

    func trainer(
        epochs: Int, threads: Int = 2, architecture: Architecture = .tiny, pooling: GlobalPooling = .average,
        selection: EpochSelection = .balanced
    ) throws -> Trainer {
        let dataset = try ImageFolder.scan(folder.path)
        let (train, validation) = dataset.split(validationEvery: 5)
        var options = options(epochs: epochs, threads: threads)
        options.architecture = architecture
        options.pooling = pooling
        options.selection = selection
        return try Trainer(
            train: train, validation: validation, preprocessing: SyntheticSquares.preprocessing,
            okLabels: ImageFolder.defaultOKLabels(dataset.classes), options: options)
    }

    func testScanSplitAndDefaultOKLabels() throws {
        let dataset = try ImageFolder.scan(folder.path)
        XCTAssertEqual(dataset.classes, ["dark_spot", "ok"])
        XCTAssertEqual(dataset.countsPerClass, [40, 40])
        let (train, validation) = dataset.split(validationEvery: 5)
        XCTAssertEqual(train.countsPerClass, [32, 32])
        XCTAssertEqual(validation.countsPerClass, [8, 8])
        XCTAssertTrue(validation.items[0].path.hasSuffix("dark_spot/004.png"))
        XCTAssertEqual(ImageFolder.defaultOKLabels(["Good_part", "OK", "passed", "scratch", "bad-ok"]), ["Good_part", "OK", "passed"])
    }

    /// Folders that cannot be a class are left out of training, each with its reason; the classes stay.
    func testFoldersThatAreNotClassesAreSkippedSayingWhy() throws {
        let manager = FileManager.default
        let photo = folder.appendingPathComponent("ok").appendingPathComponent("000.png")
        for name in ["incoming", "Unlabelled", "sorted-by-csv", "notes"] {
            try manager.createDirectory(at: folder.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try manager.copyItem(at: photo, to: folder.appendingPathComponent("incoming/part.png"))
        try manager.copyItem(at: photo, to: folder.appendingPathComponent("Unlabelled/part.png"))
        try manager.copyItem(at: photo, to: folder.appendingPathComponent("sorted-by-csv/part.png"))
        try Data("file,label\npart.png,ok\n".utf8).write(to: folder.appendingPathComponent("sorted-by-csv/LABELS.csv"))
        try Data("not a photo".utf8).write(to: folder.appendingPathComponent("notes/readme.txt"))
        let dataset = try ImageFolder.scan(folder.path)
        XCTAssertEqual(dataset.classes, ["dark_spot", "ok"])
        XCTAssertEqual(dataset.countsPerClass, [40, 40])
        let reasons = Dictionary(uniqueKeysWithValues: dataset.skippedFolders.map { ($0.name, $0.reason) })
        XCTAssertEqual(Set(reasons.keys), ["incoming", "Unlabelled", "sorted-by-csv", "notes"])
        XCTAssertTrue(reasons["incoming"]!.contains("no label"), reasons["incoming"]!)
        XCTAssertTrue(reasons["sorted-by-csv"]!.contains("LABELS.csv"), reasons["sorted-by-csv"]!)
        XCTAssertTrue(reasons["notes"]!.contains("no JPEG or PNG"), reasons["notes"]!)
        // Given classes (a trained model's), a folder is judged by its name alone.
        XCTAssertEqual(
            try ImageFolder.scan(folder.path, classes: ["dark_spot", "ok"], skippingOthers: true).skippedFolders.map(\.name),
            ["Unlabelled", "incoming", "notes", "sorted-by-csv"])
    }

    /// Two epochs that the three criteria rank differently: 9 common photos and 1 rare one.
    func testEpochSelectionCriteria() {
        let truths = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        func metrics(_ rows: [[Float]]) -> EvaluationMetrics {
            EvaluationMetrics(labels: ["ok", "rare"], okLabels: ["ok"], truths: truths, probabilities: rows)
        }
        // A: every common photo right, the rare one wrong; confident.
        let a = metrics(Array(repeating: [0.99, 0.01], count: 9) + [[0.9, 0.1]])
        // B: the rare one right, two common ones wrong; unsure everywhere.
        let b = metrics(Array(repeating: [0.6, 0.4], count: 7) + Array(repeating: [0.4, 0.6], count: 2) + [[0.4, 0.6]])
        func prefersB(_ selection: EpochSelection) -> Bool { selection.score(a).lexicographicallyPrecedes(selection.score(b)) }
        XCTAssertTrue(prefersB(.balanced), "B recalls both classes")
        XCTAssertFalse(prefersB(.accuracy), "A gets 9 of 10 right, B 8")
        XCTAssertFalse(prefersB(.loss), "A's loss is lower")
    }

    func testAFolderWithoutTheModelsClassesSaysWhichItHas() {
        XCTAssertThrowsError(try ImageFolder.scan(folder.path, classes: ["crack", "ok_front"], skippingOthers: true)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("no sub-folder named after a class (crack, ok_front)"), message)
            XCTAssertTrue(message.contains("it has dark_spot, ok"), message)
        }
    }

    func testTinyModelLearnsTheSyntheticTask() throws {
        let model = try trainer(epochs: 12).run()
        XCTAssertGreaterThanOrEqual(model.validation.accuracy, 0.95, "history: \(model.history.map(\.validationAccuracy))")
        XCTAssertLessThan(model.history.last!.trainLoss, model.history.first!.trainLoss / 2)
        XCTAssertEqual(model.validation.rocAUC ?? 0, 1, accuracy: 0.02)
        XCTAssertEqual(model.okLabels, ["ok"])
        XCTAssertEqual(model.provenance.trainImagesPerLabel, ["ok": 32, "dark_spot": 32])
        // 8 held-out defect photos cannot support a 1 % missed-defect target: the false-reject cap sets the threshold.
        XCTAssertEqual(model.calibration.basis, .falseRejectCap)
        XCTAssertTrue(model.warnings.contains { $0.contains("only 8 held-out defect photos") }, "\(model.warnings)")
        XCTAssertEqual(model.validation.falseRejectRate ?? 1, 0)
    }

    func testAnExhaustedTimeBudgetStopsAfterTheEpochInHand() throws {
        var options = options(epochs: 12)
        options.timeBudget = 1e-9  // spent before the first epoch ends, however fast the machine
        let dataset = try ImageFolder.scan(folder.path)
        let (train, validation) = dataset.split(validationEvery: 5)
        let trainer = try Trainer(
            train: train, validation: validation, preprocessing: SyntheticSquares.preprocessing, okLabels: ["ok"], options: options)
        var cuts: [Int] = []
        let model = try trainer.run { event in
            if case .budgetCut(let epochs) = event { cuts.append(epochs) }
        }
        XCTAssertEqual(cuts, [1])
        XCTAssertEqual(model.history.count, 1)
        XCTAssertEqual(model.provenance.bestEpoch, 1)
    }

    func testSameSeedAndThreadsGiveIdenticalModels() throws {
        let first = try trainer(epochs: 2).run()
        let second = try trainer(epochs: 2).run()
        XCTAssertEqual(first.state, second.state)
        XCTAssertEqual(first.history.map(\.trainLoss), second.history.map(\.trainLoss))
    }

    func testResumingFromACheckpointContinuesExactly() throws {
        var checkpoints: [TrainingCheckpoint] = []
        let uninterrupted = try trainer(epochs: 3).run(checkpoint: { checkpoints.append($0) })
        XCTAssertEqual(checkpoints.map(\.completedEpochs), [1, 2, 3])
        let path = folder.appendingPathComponent("run.checkpoint").path
        try checkpoints[0].save(to: path)
        let resumed = try trainer(epochs: 3).run(resume: try TrainingCheckpoint.load(from: path))
        XCTAssertEqual(resumed.state, uninterrupted.state)
        XCTAssertEqual(resumed.history.map(\.trainLoss), uninterrupted.history.map(\.trainLoss))
        // Its best score so far is a balanced accuracy: another selection cannot continue from it.
        XCTAssertThrowsError(try trainer(epochs: 3, selection: .loss).run(resume: try TrainingCheckpoint.load(from: path))) { error in
            XCTAssertTrue("\(error)".contains("--select balanced"), "\(error)")
        }
    }

    /// The model file (ONNX with metadata), read back and run by the engine on the photo files, gives
    /// the same validation results as the trainer computed.
    func testModelFileClassifiesFilesLikeTheTrainer() throws {
        let model = try trainer(epochs: 3).run()
        let onnx = try ONNXModel.load(data: model.onnxData(), name: "model.onnx")
        XCTAssertEqual(onnx.metadata?.labels, model.labels)
        XCTAssertEqual(onnx.metadata?.okLabels, model.okLabels)
        XCTAssertEqual(onnx.metadata?.threshold, Float(model.calibration.threshold))
        let preprocessing = try XCTUnwrap(
            onnx.metadata.map {
                Preprocessing(
                    width: $0.inputSize!.width, height: $0.inputSize!.height, color: $0.color!, resize: $0.resize!,
                    region: $0.roi, mean: $0.mean!, std: $0.std!)
            })
        let engine = try Engine(graph: onnx.graph, batchSize: 1, threads: 2)
        let validation = try ImageFolder.scan(folder.path).split(validationEvery: 5).validation
        let rows = try validation.items.map { item -> [Float] in
            let image = try ImageDecoder().decode(fileAt: item.path, for: preprocessing)
            let input = Tensor(shape: [1, 1, 24, 24], data: try preprocessing.tensor(from: image))
            return try engine.run([onnx.graph.inputs[0].name: input])[onnx.graph.outputs[0]]!.data
        }
        let metrics = EvaluationMetrics(
            labels: model.labels, okLabels: model.okLabels, truths: validation.items.map(\.label),
            probabilities: rows, threshold: model.calibration.threshold, reviewBand: model.calibration.reviewBand)
        XCTAssertEqual(metrics.confusion, model.validation.confusion)
        XCTAssertEqual(metrics.loss, model.validation.loss, accuracy: 1e-4)
    }

    /// The exported graph, run by a plain NCHW reference, gives the network's own probabilities.
    func testExportedGraphComputesTheSameProbabilities() throws {
        for (architecture, pooling) in [(Architecture.tiny, GlobalPooling.average), (.tiny, .max), (.base, .average)] {
            let model = try trainer(epochs: 1, architecture: architecture, pooling: pooling).run()
            let graph = model.exportGraph()
            XCTAssertEqual(graph.inputs.first?.shape, [nil, 1, 24, 24])
            XCTAssertEqual(graph.outputs, ["probabilities"])
            let network = model.makeNetwork()
            network.reserve(batch: 2, workers: Workers(count: 1))
            var generator = SeededGenerator(seed: 11)
            let nhwc = (0..<(2 * 24 * 24)).map { _ in generator.nextGaussian() }
            let expected = network.predict(count: 2, workers: Workers(count: 1)) { index, destination in
                for i in 0..<(24 * 24) { destination[i] = nhwc[index * 24 * 24 + i] }
            }
            // One channel: NHWC and NCHW hold the same order.
            let actual = try runReference(graph, inputs: [graph.inputs[0].name: Tensor(shape: [2, 1, 24, 24], data: nhwc)])[graph.outputs[0]]!
            for (row, reference) in zip(expected, stride(from: 0, to: actual.count, by: 2).map { Array(actual.data[$0..<($0 + 2)]) }) {
                for (a, b) in zip(row, reference) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(architecture) \(pooling)") }
            }
        }
    }
}

enum SyntheticSquares {
    static let preprocessing = Preprocessing(width: 24, height: 24, color: .gray, mean: [0.5], std: [0.25])

    /// Grey 32x32 photos with noise and one 10x10 square: bright in "ok", dark in "dark_spot".
    static func write(into folder: URL, perClass: Int, seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for (label, squareValue) in [("ok", 210), ("dark_spot", 40)] {
            let classFolder = folder.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for index in 0..<perClass {
                var pixels = (0..<(32 * 32)).map { _ in UInt8(clamping: 128 + Int(12 * generator.nextGaussian())) }
                let x0 = Int(generator.next() % 22), y0 = Int(generator.next() % 22)
                for y in y0..<(y0 + 10) {
                    for x in x0..<(x0 + 10) { pixels[y * 32 + x] = UInt8(clamping: squareValue + Int(8 * generator.nextGaussian())) }
                }
                let image = Image(width: 32, height: 32, color: .gray, pixels: pixels)
                let name = String(format: "%03d.png", index)
                try Data(PNGEncoder.encode(image)).write(to: classFolder.appendingPathComponent(name))
            }
        }
    }
}
