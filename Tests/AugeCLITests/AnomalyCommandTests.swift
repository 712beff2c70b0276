import AugeEngine
import AugeImage
import AugeInspect
import AugeONNX
import Foundation
import XCTest

/// `auge train --anomaly` and an anomaly model everywhere a model goes (info, classify, eval, bench),
/// end to end with the real binary, on synthetic photos and a small random backbone; the model file
/// runs in ONNX Runtime with the same outputs.
final class AnomalyCommandTests: XCTestCase {
    var root: URL!
    var dataset: URL { root.appendingPathComponent("parts") }
    var masks: URL { root.appendingPathComponent("masks") }
    var backbone: URL { root.appendingPathComponent("backbone.onnx") }
    var model: URL { root.appendingPathComponent("anomaly.onnx") }
    static let spots = [(8, 8), (30, 12), (12, 34), (36, 36), (22, 22), (40, 8)]

    override func setUpWithError() throws {
        root = try temporaryFolder("auge-anomaly")
        try exportONNX(graph: Zoo.inspectSmall(resolution: 64, classes: 3, seed: 9), metadata: nil).write(to: backbone)
        for folder in ["parts/good", "parts/spot", "masks/spot"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for i in 0..<40 { try photo("good/g\(String(format: "%02d", i)).png", seed: UInt64(i), spot: nil) }
        for (i, spot) in Self.spots.enumerated() { try photo("spot/s\(i).png", seed: UInt64(100 + i), spot: spot) }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    /// A 64x64 grey texture, with a 10x10 bright spot (and its mask) where given, or a dark bar 6 rows
    /// high from row `bar` (a kind of defect no class shows).
    func photo(_ name: String, seed: UInt64, spot: (Int, Int)?, bar: Int? = nil) throws {
        var generator = SeededGenerator(seed: seed)
        var pixels = (0..<(64 * 64)).map { i in UInt8(110 + 20 * sin(Double(i % 64) * 0.4) + Double(generator.nextFloat(in: 0...12))) }
        if let bar { for i in (bar * 64)..<((bar + 6) * 64) { pixels[i] = 20 } }
        var mask = [UInt8](repeating: 0, count: 64 * 64)
        if let (sx, sy) = spot {
            for y in sy..<(sy + 10) { for x in sx..<(sx + 10) { pixels[y * 64 + x] = 250; mask[y * 64 + x] = 255 } }
            try Data(PNGEncoder.encode(Image(width: 64, height: 64, color: .gray, pixels: mask))).write(to: masks.appendingPathComponent(name))
        }
        try Data(PNGEncoder.encode(Image(width: 64, height: 64, color: .gray, pixels: pixels))).write(to: dataset.appendingPathComponent(name))
    }

    func train(_ extra: [String] = []) throws -> AugeProcess.Result {
        try AugeProcess.run(
            [
                "train", dataset.path, "--anomaly", "--backbone", backbone.path, "--size", "64", "--bank-size", "400",
                "--max-false-reject-rate", "0.1", "--out", model.path,
            ] + extra)
    }

    func testTrainClassifyEvalInfoBench() throws {
        let trained = try train()
        XCTAssertEqual(trained.status, 0, trained.stderr + trained.stdout)
        XCTAssertTrue(trained.stdout.contains("fit on 32 good photos"), trained.stdout)
        XCTAssertTrue(trained.stdout.contains("memory bank: 400 of"), trained.stdout)
        // The candidates are printed with their AUROCs: both photo descriptors.
        XCTAssertTrue(trained.stdout.contains("photos with skewness"), trained.stdout)
        let contradictory = try train(["--scoring", "patches", "--skewness"])
        XCTAssertEqual(contradictory.status, 64)
        XCTAssertTrue(contradictory.stderr.contains("--scoring patches leaves out"), contradictory.stderr)

        let info = try AugeProcess.run(["info", model.path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("kind:       anomaly"), info.stdout)
        XCTAssertTrue(info.stdout.contains("labels:     good, anomaly"), info.stdout)

        // Every spot photo is a defect with its hotspot on the spot; the good ones mostly pass.
        let classified = try AugeProcess.run(["classify", "--model", model.path, dataset.path, "--format", "jsonl", "--hotspots"])
        XCTAssertEqual(classified.status, 0, classified.stderr)
        let results = try records(classified.stdout)
        XCTAssertEqual(results.count, 46)
        for record in results {
            let path = record["path"] as! String
            let score = try XCTUnwrap(record["anomaly_score"] as? Double, path)
            XCTAssertEqual(record["score"] as? Double, score)
            guard path.contains("/spot/") else { continue }
            XCTAssertEqual(record["decision"] as? String, "defect", "\(path): \(score)")
            XCTAssertEqual(record["label"] as? String, "anomaly")
            let index = Int(((path as NSString).lastPathComponent as NSString).deletingPathExtension.dropFirst())!
            let (sx, sy) = Self.spots[index]
            let hotspot = try XCTUnwrap(record["hotspot"] as? [String: Any], path)
            let (x, y) = (hotspot["x"] as! Int, hotspot["y"] as! Int), (w, h) = (hotspot["width"] as! Int, hotspot["height"] as! Int)
            XCTAssertTrue(x < sx + 10 && sx < x + w && y < sy + 10 && sy < y + h, "\(path): hotspot \(hotspot) misses the spot at \(sx),\(sy)")
            XCTAssertLessThanOrEqual(w * h, 64 * 64 / 4, "\(path): the hotspot \(hotspot) is a place, not the whole photo")
        }
        let goodRejected = results.filter { ($0["path"] as! String).contains("/good/") && $0["decision"] as? String == "defect" }
        XCTAssertLessThanOrEqual(goodRejected.count, 4)

        let csv = try AugeProcess.run(["classify", "--model", model.path, dataset.appendingPathComponent("spot").path, "--format", "csv"])
        XCTAssertTrue(csv.stdout.split(separator: "\n").first!.hasSuffix(",anomaly_score"), csv.stdout)

        let eval = try AugeProcess.run(["eval", "--model", model.path, dataset.path, "--masks", masks.path, "--format", "json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let metrics = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(metrics["good_photos"] as? Int, 40)
        XCTAssertEqual(metrics["defect_photos"] as? Int, 6)
        XCTAssertEqual(metrics["image_auroc"] as? Double, 1)
        XCTAssertEqual(metrics["missed_defect_rate"] as? Double, 0)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["pixel_auroc"] as? Double), 0.9)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["pro"] as? Double), 0.5)
        for key in ["false_reject_rate", "review_rate"] { XCTAssertNotNil(metrics[key] as? Double, key) }
        // The one defect class measures as the whole set does.
        let byClass = try XCTUnwrap(metrics["by_class"] as? [String: [String: Any]])
        XCTAssertEqual(Array(byClass.keys), ["spot"])
        XCTAssertEqual(byClass["spot"]?["photos"] as? Int, 6)
        for key in ["image_auroc", "missed_defect_rate", "pixel_auroc", "pro"] {
            XCTAssertEqual(byClass["spot"]?[key] as? Double, metrics[key] as? Double, key)
        }
        let text = try AugeProcess.run(["eval", "--model", model.path, dataset.path, "--masks", masks.path])
        XCTAssertTrue(text.stdout.contains("defect class  photos   missed   review  image AUROC  pixel AUROC     PRO\nspot"), text.stdout)

        let bench = try AugeProcess.run(["bench", "--model", model.path, "--threads", "1", "--seconds", "0.2"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
    }

    /// ONNX Runtime runs the file as it is and gives the score and map Auge gives.
    func testONNXRuntimeAgrees() throws {
        let runtime = try ONNXRuntimeClassifier()
        // Both searches in the score: every operator of the file.
        XCTAssertEqual(try train(["--scoring", "both"]).status, 0)
        try assertONNXRuntimeAgrees(runtime, outputs: 2)
    }

    /// Auge and ONNX Runtime give the model file's `outputs` outputs alike for a random input.
    func assertONNXRuntimeAgrees(_ runtime: ONNXRuntimeClassifier, outputs: Int) throws {
        let onnx = try ONNXModel.load(contentsOf: model)
        var generator = SeededGenerator(seed: 8)
        let input = Tensor(shape: [1, 3, 64, 64], data: (0..<(3 * 64 * 64)).map { _ in generator.nextGaussian() })
        let ours = try Engine(graph: onnx.graph, threads: 1).run([onnx.graph.inputs[0].name: input])
        let inputURL = root.appendingPathComponent("input.npy")
        try NPY.write(input, to: inputURL)
        let theirs = try runtime.allOutputs(model: model, input: inputURL, in: root.appendingPathComponent("ort"))
        XCTAssertEqual(theirs.count, outputs)
        for (name, reference) in zip(onnx.graph.outputs, theirs) {
            let mine = try XCTUnwrap(ours[name])
            XCTAssertEqual(mine.shape, reference.shape, name)
            for (a, b) in zip(mine.data, reference.data) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), name) }
        }
    }

    /// On the line: the watcher decides with the anomaly model, logs `anomaly_score` and sorts.
    func testWatchSortsWithAnAnomalyModel() throws {
        XCTAssertEqual(try train().status, 0)
        let inbox = root.appendingPathComponent("inbox"), out = root.appendingPathComponent("sorted")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let watcher = try WatchCommandTests.WatchProcess(
            [inbox.path, "--out", out.path, "--model", model.path, "--settle", "0"],
            log: root.appendingPathComponent("watch.log"))
        for name in ["good/g00.png", "spot/s3.png"] {
            let target = inbox.appendingPathComponent((name as NSString).lastPathComponent)
            try FileManager.default.copyItem(at: dataset.appendingPathComponent(name), to: target.appendingPathExtension("tmp"))
            XCTAssertEqual(rename(target.path + ".tmp", target.path), 0)
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, ((try? FileManager.default.contentsOfDirectory(atPath: inbox.path)) ?? []).count > 0 { usleep(50_000) }
        XCTAssertEqual(watcher.stop(), 0, watcher.logText)
        let lines = try records(String(contentsOf: out.appendingPathComponent("results.jsonl"), encoding: .utf8))
        let decisions = Dictionary(uniqueKeysWithValues: lines.map { (($0["path"] as! String as NSString).lastPathComponent, $0) })
        XCTAssertEqual(decisions["s3.png"]?["decision"] as? String, "defect")
        XCTAssertNotNil(decisions["s3.png"]?["anomaly_score"] as? Double)
        XCTAssertEqual(decisions["s3.png"]?["threshold"] as? Double, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("defect/s3.png").path))
    }

    /// `--anomaly-gate`: a classifier of good and spot photos with an anomaly head on its own backbone
    /// pass. Photos of a kind of defect it was never shown (a dark bar) are rejected, as `unknown`
    /// where the classifier alone would pass them; ONNX Runtime gives the same three outputs; eval
    /// compares the gated decisions with each head's alone.
    func testAnomalyGateOnAClassifier() throws {
        let unseen = root.appendingPathComponent("unseen")
        try FileManager.default.createDirectory(at: unseen, withIntermediateDirectories: true)
        for (i, bar) in [10, 24, 40, 50].enumerated() { try photo("../unseen/b\(i).png", seed: UInt64(200 + i), spot: nil, bar: bar) }
        let trained = try AugeProcess.run([
            "train", dataset.path, "--backbone", backbone.path, "--size", "64", "--ok-labels", "good", "--epochs", "4",
            "--anomaly-gate", "--bank-size", "400", "--max-false-reject-rate", "0.1", "--out", model.path,
        ])
        XCTAssertEqual(trained.status, 0, trained.stderr + trained.stdout)
        XCTAssertTrue(trained.stdout.contains("anomaly gate: fit on 32 good training photos"), trained.stdout)
        XCTAssertTrue(trained.stdout.contains("scoring: patches"), "the gate scores by its patch search: \(trained.stdout)")
        let info = try AugeProcess.run(["info", model.path])
        XCTAssertTrue(info.stdout.contains("kind:       gated"), info.stdout)
        XCTAssertTrue(info.stdout.contains("review:     anomaly score from"), info.stdout)

        let classified = try AugeProcess.run(["classify", "--model", model.path, unseen.path, "--format", "jsonl", "--scores", "--hotspots"])
        XCTAssertEqual(classified.status, 0, classified.stderr)
        let results = try records(classified.stdout)
        XCTAssertEqual(results.count, 4)
        let policy = try InspectionModel.load(path: model.path).policy
        for record in results {
            let path = record["path"] as! String
            XCTAssertEqual(record["decision"] as? String, "defect", "\(path): \(record)")
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(record["anomaly_score"] as? Double), 1, path)
            XCTAssertNotNil(record["hotspot"], path)
            // The classifier's own label where it alone rejects the part, else unknown.
            let scores = try XCTUnwrap(record["scores"] as? [String: Double])
            let classifierAlone = policy.decide(policy.labels.map { Float(scores[$0]!) }).decision
            XCTAssertEqual(record["label"] as? String, classifierAlone == .defect ? "spot" : "unknown", "\(path): \(record)")
        }
        XCTAssertTrue(results.contains { $0["label"] as? String == "unknown" }, "\(results)")

        let eval = try AugeProcess.run(["eval", "--model", model.path, dataset.path, "--format", "json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let metrics = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let gate = try XCTUnwrap(metrics["gate"] as? [String: Any])
        XCTAssertEqual(gate["good_photos"] as? Int, 40)
        XCTAssertEqual(gate["defect_photos"] as? Int, 6)
        for way in ["gated", "classifier_alone", "anomaly_alone"] {
            let rates = try XCTUnwrap(gate[way] as? [String: Any], way)
            for key in ["missed_defect_rate", "false_reject_rate", "review_rate"] { XCTAssertNotNil(rates[key] as? Double, "\(way) \(key)") }
        }
        for key in ["accuracy", "unknown_rate", "image_auroc"] { XCTAssertNotNil(gate[key] as? Double, key) }
        // INT8: the class scores' convolutions run on int8 kernels, the anomaly head's stay float.
        let quantizedModel = root.appendingPathComponent("gated.int8.onnx")
        let quantized = try AugeProcess.run(["quantize", model.path, "--calibrate", dataset.path, "-o", quantizedModel.path])
        XCTAssertEqual(quantized.status, 0, quantized.stderr)
        XCTAssertTrue(quantized.stderr.contains("the anomaly gate stays as trained"), quantized.stderr)
        let quantizedInfo = try AugeProcess.run(["info", quantizedModel.path]).stdout
        let layers = quantizedInfo.split(separator: "\n")
        // On a CPU without AVX-512 VNNI the quantized convolutions run in float (Int8Execution.automatic).
        if quantizedInfo.contains("int8:       quantized convolutions run on the int8 kernels") {
            XCTAssertTrue(layers.contains { $0.contains("int8 gemm") }, quantizedInfo)
        } else {
            XCTAssertTrue(quantizedInfo.contains("int8:       quantized convolutions run in float on this CPU"), quantizedInfo)
        }
        // The gate's search is as trained: int8 where the training CPU has VNNI, else float.
        let bankSearch = try XCTUnwrap(layers.first { $0.contains("auge_anomaly_patch_bank_distances") })
        let trainedInfo = try AugeProcess.run(["info", model.path]).stdout
        let trainedSearch = try XCTUnwrap(trainedInfo.split(separator: "\n").first { $0.contains("auge_anomaly_patch_bank_distances") })
        XCTAssertEqual(bankSearch.contains("int8"), trainedSearch.contains("int8"), "\(bankSearch) / \(trainedSearch)")
        XCTAssertEqual(trainedSearch.contains("int8"), Int8GemmPath.best == .avx512VNNI, String(trainedSearch))
        XCTAssertEqual(try AugeProcess.run(["eval", "--model", quantizedModel.path, dataset.path]).status, 0)
        // With --recalibrate the gate is set again on the quantized model's own anomaly scores of the good
        // photos, by auge train --anomaly's rule: here 10 % false rejects, 4 of the 40 good photos.
        let recalibratedModel = root.appendingPathComponent("gated.recalibrated.int8.onnx")
        let recalibrated = try AugeProcess.run([
            "quantize", model.path, "--calibrate", dataset.path, "--recalibrate", dataset.path, "--max-false-reject-rate", "0.1",
            "-o", recalibratedModel.path,
        ])
        XCTAssertEqual(recalibrated.status, 0, recalibrated.stderr)
        XCTAssertTrue(recalibrated.stderr.contains("anomaly gate: threshold at"), recalibrated.stderr)
        XCTAssertFalse(recalibrated.stderr.contains("the anomaly gate stays float"), recalibrated.stderr)
        let goodScores = try records(
            try AugeProcess.run(["classify", "--model", recalibratedModel.path, dataset.appendingPathComponent("good").path, "--format", "jsonl"])
                .stdout
        ).map { try XCTUnwrap($0["anomaly_score"] as? Double) }
        XCTAssertEqual(goodScores.count, 40)
        XCTAssertEqual(goodScores.filter { $0 >= 1 }.count, 4, "\(goodScores.sorted())")
        XCTAssertTrue(try AugeProcess.run(["info", recalibratedModel.path]).stdout.contains("anomaly gate recalibrated"))
        // Last: it skips without ONNX Runtime.
        try assertONNXRuntimeAgrees(try ONNXRuntimeClassifier(), outputs: 3)
    }

    func testGoodOnlyDatasetTrainsAnAnomalyModelWithoutTheFlag() throws {
        try FileManager.default.removeItem(at: dataset.appendingPathComponent("spot"))
        let trained = try AugeProcess.run(["train", dataset.path, "--backbone", backbone.path, "--size", "64", "--out", model.path])
        XCTAssertEqual(trained.status, 0, trained.stderr + trained.stdout)
        XCTAssertTrue(trained.stdout.contains("anomaly model: fit on 32 good photos"), trained.stdout)
        XCTAssertTrue(trained.stdout.contains("0 defect photos"), trained.stdout)
    }
}
