import AugeEngine
import AugeImage
import AugeONNX
import Foundation
import XCTest

/// `auge train --backbone`: a head on a frozen backbone, exported with it as one ONNX model that
/// `auge classify` and ONNX Runtime run alike. The backbone is the reduced EfficientNet-Lite fixture
/// (32x32 RGB, random weights, no metadata: ImageNet statistics apply).
final class TrainCommandTests: XCTestCase {
    let backbone = repositoryRoot.appendingPathComponent("Tests/AugeONNXTests/Fixtures/efficientnet_lite_small.onnx").path
    let imageNet = (mean: "0.485,0.456,0.406", std: "0.229,0.224,0.225")

    /// A temporary folder, removed after the test, with `photos/` (`writeDataset`) and the path of a model beside it.
    func photoFolder(_ name: String, perClass: Int) throws -> (folder: URL, dataset: URL, model: String) {
        let folder = try temporaryFolder(name)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let dataset = folder.appendingPathComponent("photos")
        try writeDataset(into: dataset, perClass: perClass)
        return (folder, dataset, folder.appendingPathComponent("model.onnx").path)
    }

    /// 32x32 RGB photos: a bright square on grey is OK, a dark one is a defect.
    func writeDataset(into folder: URL, perClass: Int) throws {
        var state: UInt64 = 9
        func random() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for (label, value) in [("ok", 230), ("dark_spot", 20)] {
            let classFolder = folder.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for index in 0..<perClass {
                var pixels = (0..<(32 * 32 * 3)).map { _ in UInt8(clamping: 118 + random() % 20) }
                let x0 = random() % 20, y0 = random() % 20
                for y in y0..<(y0 + 12) {
                    for x in x0..<(x0 + 12) {
                        for c in 0..<3 { pixels[(y * 32 + x) * 3 + c] = UInt8(value) }
                    }
                }
                let path = classFolder.appendingPathComponent(String(format: "%03d.png", index))
                try Data(PNGEncoder.encode(Image(width: 32, height: 32, color: .rgb, pixels: pixels))).write(to: path)
            }
        }
    }

    func testBackboneHeadIsOneModelThatClassifiesLikeONNXRuntime() throws {
        let (_, dataset, model) = try photoFolder("auge-train-backbone", perClass: 30)

        let train = try AugeProcess.run([
            "train", dataset.path, "--out", model, "--backbone", backbone, "--feature-pool", "both",
            "--hidden", "16", "--variants", "2", "--epochs", "60", "--batch", "8", "--lr", "0.01", "--threads", "2",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("backbone: efficientnet_lite_small.onnx"), train.stdout)
        XCTAssertTrue(train.stdout.contains("backbone features of 48 train photos"), train.stdout)

        let info = try AugeProcess.run(["info", model])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("MLP head (16 hidden units) on frozen efficientnet_lite_small.onnx"), info.stdout)
        XCTAssertTrue(info.stdout.contains("labels:     dark_spot, ok"), info.stdout)

        // The classes are easy: the trained model must tell them apart, not just run.
        let evaluation = try AugeProcess.run(["eval", "--model", model, dataset.path, "--format", "json"])
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let metrics = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        XCTAssertGreaterThanOrEqual(metrics["accuracy"] as! Double, 0.9, evaluation.stdout)

        let runtime = try ONNXRuntimeClassifier()
        let photos =
            try FileManager.default.contentsOfDirectory(atPath: dataset.appendingPathComponent("ok").path).sorted().prefix(3)
            .map { dataset.appendingPathComponent("ok/\($0)").path }
            + ["000.png", "001.png", "002.png"].map { dataset.appendingPathComponent("dark_spot/\($0)").path }
        let auge = try AugeProcess.run(["classify", "--model", model, "--scores", "--format", "jsonl"] + photos)
        XCTAssertEqual(auge.status, 0, auge.stderr)
        let reference = try runtime.probabilities(model: model, color: "rgb", mean: imageNet.mean, std: imageNet.std, photos: photos)
        let records = auge.stdout.split(separator: "\n")
        XCTAssertEqual(records.count, photos.count)
        for line in records {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let scores = record["scores"] as! [String: Double]
            let expected = try XCTUnwrap(reference[record["path"] as! String])
            for (label, probability) in zip(["dark_spot", "ok"], expected) {
                XCTAssertEqual(scores[label]!, probability, accuracy: 1e-4, "\(record["path"]!) \(label)")
            }
        }
    }

    func testBackboneErrorsNameTheProblem() throws {
        let (folder, dataset, _) = try photoFolder("auge-train-backbone-errors", perClass: 4)
        let out = folder.appendingPathComponent("m.onnx").path
        let unknownNode = try AugeProcess.run(["train", dataset.path, "--out", out, "--backbone", backbone, "--feature-node", "no_such_node"])
        XCTAssertNotEqual(unknownNode.status, 0)
        XCTAssertTrue(unknownNode.stderr.contains("efficientnet_lite_small.onnx: has no node or value named 'no_such_node'"), unknownNode.stderr)
        let gray = try AugeProcess.run(["train", dataset.path, "--out", out, "--backbone", backbone, "--color", "gray"])
        XCTAssertEqual(gray.status, 64, gray.stderr)
        let missing = try AugeProcess.run(["train", dataset.path, "--out", out, "--backbone", folder.appendingPathComponent("none.onnx").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("none.onnx"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Without recipe flags, `auge train` chooses from the data, says what and why, and keeps it (and how
    /// the threshold was set) in the model's provenance; flags override the choice.
    func testChosenRecipeAndCalibrationAreSaidAndKeptInTheModel() throws {
        let (_, dataset, model) = try photoFolder("auge-train-recipe", perClass: 30)

        let transfer = try AugeProcess.run(["train", dataset.path, "--out", model, "--backbone", backbone, "--epochs", "2", "--threads", "2"])
        XCTAssertEqual(transfer.status, 0, transfer.stderr)
        XCTAssertTrue(transfer.stdout.contains("chosen from the data (flags given override them: --backbone \(backbone)):"), transfer.stdout)
        XCTAssertTrue(transfer.stdout.contains("32x32 input (the backbone's own) and the last 3 layers fine-tuned"), transfer.stdout)
        XCTAssertTrue(transfer.stdout.contains("last 3 layers fine-tuned (from its"), transfer.stdout)
        // 6 held-out defect photos cannot measure a 1 % miss rate: the threshold comes from the false-reject cap.
        XCTAssertTrue(transfer.stdout.contains("only 6 held-out defect photos, too few to measure a 1 % missed-defect target"), transfer.stdout)
        let info = try AugeProcess.run(["info", model])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("chosen from the data: pretrained backbone"), info.stdout)
        XCTAssertTrue(info.stdout.contains("threshold set instead to reject at most 1 % of the held-out good photos"), info.stdout)

        let scratch = try AugeProcess.run([
            "train", dataset.path, "--out", model, "--backbone", "none", "--size", "32", "--epochs", "2", "--threads", "2",
            "--select", "loss",
        ])
        XCTAssertEqual(scratch.status, 0, scratch.stderr)
        XCTAssertTrue(scratch.stdout.contains("from scratch (no pretrained backbone)"), scratch.stdout)
        XCTAssertTrue(scratch.stdout.contains("model: small, max pooling"), scratch.stdout)
        XCTAssertTrue(scratch.stdout.contains("input 32x32 rgb; best epoch by loss"), scratch.stdout)
        let conflicting = try AugeProcess.run(["train", dataset.path, "--out", model, "--backbone", backbone, "--arch", "tiny"])
        XCTAssertEqual(conflicting.status, 64, conflicting.stderr)
        XCTAssertTrue(conflicting.stderr.contains("leave out --arch, --pool and --color"), conflicting.stderr)
    }

    /// An installed binary (/opt/auge/bin/auge) trains on the backbone installed beside it
    /// (/opt/auge/share/auge/backbones/); without one, it says where it looked and trains from scratch.
    func testInstalledBinaryFindsItsBackboneOrSaysItHasNone() throws {
        let (folder, dataset, model) = try photoFolder("auge-train-installed", perClass: 10)
        let bin = folder.appendingPathComponent("opt/bin"), backbones = folder.appendingPathComponent("opt/share/auge/backbones")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let installed = bin.appendingPathComponent("auge")
        do { try FileManager.default.linkItem(at: AugeProcess.binary, to: installed) } catch {
            try FileManager.default.copyItem(at: AugeProcess.binary, to: installed)
        }
        let arguments = ["train", dataset.path, "--out", model, "--epochs", "1", "--size", "32", "--threads", "2"]

        let bare = try AugeProcess.run(arguments, in: folder, executable: installed)
        XCTAssertEqual(bare.status, 0, bare.stderr)
        XCTAssertTrue(bare.stdout.hasPrefix("no pretrained backbone (looked for "), bare.stdout)
        XCTAssertTrue(bare.stdout.contains(backbones.appendingPathComponent("efficientnet-lite0.onnx").path), bare.stdout)
        XCTAssertTrue(bare.stdout.contains("from scratch (no pretrained backbone)"), bare.stdout)

        try FileManager.default.createDirectory(at: backbones, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: backbone), to: backbones.appendingPathComponent("efficientnet-lite0.onnx"))
        let equipped = try AugeProcess.run(arguments, in: folder, executable: installed)
        XCTAssertEqual(equipped.status, 0, equipped.stderr)
        XCTAssertFalse(equipped.stdout.contains("no pretrained backbone"), equipped.stdout)
        XCTAssertTrue(equipped.stdout.contains("backbone: efficientnet-lite0.onnx, last 3 layers fine-tuned"), equipped.stdout)
    }

    /// The real pretrained backbone (scripts/setup-backbone.sh makes it; skipped, saying so, without it):
    /// a head learns OK against stained washers from SampleImages, and the exported model gives ONNX
    /// Runtime's probabilities.
    func testEfficientNetLite0HeadOnSampleWashers() throws {
        let lite0 = repositoryRoot.appendingPathComponent("Models/backbones/efficientnet-lite0.onnx")
        guard FileManager.default.fileExists(atPath: lite0.path) else {
            throw XCTSkip("no Models/backbones/efficientnet-lite0.onnx (run scripts/setup-backbone.sh): the pretrained backbone is not tested")
        }
        let runtime = try ONNXRuntimeClassifier()
        let folder = try temporaryFolder("auge-train-lite0")
        defer { try? FileManager.default.removeItem(at: folder) }
        let dataset = folder.appendingPathComponent("washers"), model = folder.appendingPathComponent("washers.onnx")
        for label in ["ok", "stain"] {
            try FileManager.default.copyItem(
                at: repositoryRoot.appendingPathComponent("SampleImages/\(label)"),
                to: dataset.appendingPathComponent(label))
        }
        let train = try AugeProcess.run([
            "train", dataset.path, "--out", model.path, "--backbone", lite0.path, "--variants", "2", "--finetune", "0",
            "--batch", "8", "--lr", "0.01", "--epochs", "40", "--threads", "2",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("1280 features"), train.stdout)
        let evaluation = try AugeProcess.run(["eval", "--model", model.path, dataset.path, "--format", "json"])
        let metrics = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        XCTAssertGreaterThanOrEqual(metrics["accuracy"] as! Double, 0.9, evaluation.stdout)

        var generator = SeededGenerator(seed: 4)
        let input = Tensor(shape: [2, 3, 224, 224], data: (0..<(2 * 3 * 224 * 224)).map { _ in generator.nextGaussian() })
        let inputURL = folder.appendingPathComponent("x.npy"), outputURL = folder.appendingPathComponent("auge.npy")
        try NPY.write(input, to: inputURL)
        let run = try AugeProcess.run(["run", model.path, "--input", inputURL.path, "-o", outputURL.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let auge = try NPY.read(contentsOf: outputURL)
        let reference = try runtime.outputs(model: model, input: inputURL, in: folder.appendingPathComponent("ort"))
        XCTAssertEqual(auge.shape, [2, 2])
        XCTAssertEqual(auge.shape, reference.shape)
        for (a, b) in zip(auge.data, reference.data) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }
}
