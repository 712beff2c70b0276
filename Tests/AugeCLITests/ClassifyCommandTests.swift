import AugeEngine
import AugeImage
import AugeONNX
import Foundation
import XCTest

/// `auge classify` end to end, with a tiny model whose answer is known: it calls a photo "ok" when its
/// mean brightness is above one half and "defect" below (logits 20 m - 10 and 10 - 20 m).
final class ClassifyCommandTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try temporaryFolder("auge-classify")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    static func brightnessGraph(size: Int) -> Graph {
        let fc = FullyConnected(weight: Tensor(shape: [2, 1], data: [20, -20]), bias: Tensor(shape: [2], data: [-10, 10]))
        return Graph(
            name: "brightness",
            inputs: [GraphInput(name: "image", shape: [nil, 1, size, size])],
            nodes: [
                Node(name: "gap", operation: .globalAveragePool, inputs: ["image"], outputs: ["pooled"]),
                Node(name: "flat", operation: .flatten(axis: 1), inputs: ["pooled"], outputs: ["features"]),
                Node(name: "fc", operation: .fullyConnected(fc), inputs: ["features"], outputs: ["logits"]),
                Node(name: "softmax", operation: .softmax(axis: 1), inputs: ["logits"], outputs: ["probabilities"]),
            ],
            outputs: ["probabilities"])
    }

    func writeModel(metadata: ModelMetadata?) throws -> String {
        let path = folder.appendingPathComponent(metadata == nil ? "plain.onnx" : "model.onnx").path
        try exportONNX(graph: Self.brightnessGraph(size: 16), metadata: metadata).write(to: URL(fileURLWithPath: path))
        return path
    }

    func writePhoto(_ name: String, value: UInt8) throws {
        let image = Image(width: 40, height: 30, color: .gray, pixels: [UInt8](repeating: value, count: 1200))
        let bytes = try PNGEncoder.encode(image)
        try Data(bytes).write(to: folder.appendingPathComponent("photos/" + name))
    }

    /// photos/: two bright (ok), one dark (defect), one corrupt, one text file and a .DS_Store.
    func makePhotos() throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("photos/sub"), withIntermediateDirectories: true)
        try writePhoto("bright.png", value: 230)
        try writePhoto("sub/bright.png", value: 200)
        try writePhoto("dark.png", value: 20)
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]).write(to: folder.appendingPathComponent("photos/broken.png"))
        try Data("notes".utf8).write(to: folder.appendingPathComponent("photos/notes.txt"))
        try Data([0]).write(to: folder.appendingPathComponent("photos/.DS_Store"))
    }

    var metadata: ModelMetadata {
        ModelMetadata(
            labels: ["ok", "defect"], okLabels: ["ok"], inputSize: .init(width: 16, height: 16), color: .gray,
            threshold: 0.5)
    }

    func testJSONLinesForAFolderMixingGoodBadAndNonImageFiles() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let result = try AugeProcess.run(["classify", "--model", model, "--format", "jsonl", "--scores", folder.appendingPathComponent("photos").path])
        XCTAssertEqual(result.status, 3, "some photos could not be read: \(result.stderr)")
        let rows = try records(result.stdout)
        let byName = Dictionary(uniqueKeysWithValues: rows.map { (($0["path"] as! String).replacingOccurrences(of: folder.path + "/photos/", with: ""), $0) })
        XCTAssertEqual(Set(byName.keys), ["bright.png", "sub/bright.png", "dark.png", "broken.png"])
        XCTAssertEqual(byName["bright.png"]?["decision"] as? String, "ok")
        XCTAssertEqual(byName["bright.png"]?["label"] as? String, "ok")
        XCTAssertEqual(byName["sub/bright.png"]?["decision"] as? String, "ok")
        XCTAssertEqual(byName["dark.png"]?["decision"] as? String, "defect")
        XCTAssertEqual(byName["broken.png"]?["decision"] as? String, "error")
        XCTAssertTrue((byName["broken.png"]?["error"] as? String)?.contains("corrupt") ?? false)
        // softmax of (20 m - 10, 10 - 20 m) for m = 230/255
        let m = 230.0 / 255, expected = 1 / (1 + exp(-(40 * m - 20)))
        XCTAssertEqual(byName["bright.png"]?["score"] as! Double, expected, accuracy: 1e-4)
        let scores = byName["dark.png"]?["scores"] as! [String: Double]
        XCTAssertEqual(scores["ok"]! + scores["defect"]!, 1, accuracy: 1e-5)
        XCTAssertNotNil(byName["dark.png"]?["ms"] as? Double)
        XCTAssertTrue(result.stderr.contains("2 non-photo files skipped"), result.stderr)
    }

    /// `-o results.csv` writes CSV without `--format`; a `--format` the file name contradicts is refused.
    func testOutputFormatFollowsTheFileName() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let csv = folder.appendingPathComponent("results.csv").path
        let written = try AugeProcess.run(["classify", "--model", model, folder.appendingPathComponent("photos").path, "-o", csv])
        XCTAssertEqual(written.status, 3, written.stderr)  // broken.png
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("path,label,score,decision,ms,error"), text)
        let clash = try AugeProcess.run([
            "classify", "--model", model, folder.appendingPathComponent("photos").path,
            "--format", "jsonl", "-o", folder.appendingPathComponent("r.csv").path,
        ])
        XCTAssertEqual(clash.status, 64)
        XCTAssertTrue(clash.stderr.contains("does not match -o"), clash.stderr)
    }

    /// Two dark photos of one name in two folders: each heatmap keeps its folder, whatever the finishing order.
    func testHeatmapsKeepThePhotosFolders() throws {
        for sub in ["a", "b/c"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("photos/" + sub), withIntermediateDirectories: true)
            try writePhoto(sub + "/part.png", value: sub == "a" ? 20 : 40)
        }
        let model = try writeModel(metadata: metadata)
        let heatmaps = folder.appendingPathComponent("why").path
        let result = try AugeProcess.run([
            "classify", "--model", model, "--format", "jsonl", "--heatmaps", heatmaps, "--heatmap-grid", "4",
            "--workers", "2", "--threads", "1", folder.appendingPathComponent("photos").path,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let written = try records(result.stdout).reduce(into: [String: String]()) { $0[$1["path"] as! String] = $1["heatmap"] as? String }
        XCTAssertEqual(written[folder.appendingPathComponent("photos/a/part.png").path], heatmaps + "/a/part.heatmap.png")
        XCTAssertEqual(written[folder.appendingPathComponent("photos/b/c/part.png").path], heatmaps + "/b/c/part.heatmap.png")
        for name in ["a/part.heatmap.png", "b/c/part.heatmap.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: heatmaps + "/" + name), name)
        }
    }

    /// --workers and --threads mean the same in classify and eval; classify's old --decode-threads still works, with a note.
    func testWorkerFlagsAndTheDeprecatedName() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let photos = folder.appendingPathComponent("photos").path
        let new = try AugeProcess.run(["classify", "--model", model, "--format", "jsonl", "--workers", "2", "--threads", "1", photos])
        let old = try AugeProcess.run(["classify", "--model", model, "--format", "jsonl", "--decode-threads", "2", "--threads", "1", photos])
        XCTAssertEqual(new.status, 3, new.stderr)  // broken.png
        XCTAssertEqual(old.status, 3, old.stderr)
        XCTAssertEqual(try records(old.stdout).map { $0["decision"] as! String }, try records(new.stdout).map { $0["decision"] as! String })
        XCTAssertTrue(old.stderr.contains("--decode-threads is deprecated"), old.stderr)
        XCTAssertFalse(new.stderr.contains("deprecated"), new.stderr)
        XCTAssertFalse(try AugeProcess.run(["classify", "--help"]).stdout.contains("decode-threads"), "the old name is hidden")
        for bad in [["--workers", "0"], ["--threads", "0"], ["--workers", "2", "--decode-threads", "2"]] {
            XCTAssertEqual(try AugeProcess.run(["classify", "--model", model] + bad + [photos]).status, 64, "\(bad)")
        }
        for (name, value) in [("set/ok/bright.png", UInt8(230)), ("set/defect/dark.png", 20), ("set/defect/darker.png", 10)] {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent("photos/" + name).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try writePhoto(name, value: value)
        }
        let eval = try AugeProcess.run(["eval", "--model", model, "--workers", "2", "--threads", "1", "--format", "json", photos + "/set"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let metrics = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(metrics["accuracy"] as? Double, 1, eval.stdout)
    }

    /// --size and --roi are one argument type each: every subcommand refuses a bad value the same way (exit 64).
    func testSizeAndRegionErrorsAreTheSameEverywhere() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let photo = folder.appendingPathComponent("photos/dark.png").path
        let out = folder.appendingPathComponent("seen.png").path
        let commands: [[String]] = [["classify", "--model", model, photo], ["preview", photo, "-o", out], ["train", photo, "--out", out]]
        for command in commands {
            for (flag, value, shown) in [("--size", "12xq", "--size <WxH>"), ("--roi", "1,2,3", "--roi <x,y,w,h>")] {
                let result = try AugeProcess.run(command + [flag, value])
                XCTAssertEqual(result.status, 64, "\(command[0]) \(flag) \(value): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("The value '\(value)' is invalid for '\(shown)'"), "\(command[0]): \(result.stderr)")
            }
        }
        XCTAssertEqual(try AugeProcess.run(["preview", photo, "-o", out, "--size", "24", "--roi", "0,0,20,10"]).status, 0)
    }

    /// A copied binary away from the checkout, in a folder without Models/: the error names every place
    /// the demo model was looked for; installed as bin/auge beside share/auge/default.onnx, it finds it.
    func testTheDefaultModelIsLookedForBesideAnInstalledBinary() throws {
        let prefix = folder.appendingPathComponent("opt")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        let installed = prefix.appendingPathComponent("bin/auge")
        try FileManager.default.copyItem(at: AugeProcess.binary, to: installed)
        let photo = repositoryRoot.appendingPathComponent("SampleImages/ok/ok_0.jpg").path
        let lost = try AugeProcess.run(["classify", photo], in: folder, executable: installed)
        XCTAssertEqual(lost.status, 1, lost.stderr)
        for place in [folder.appendingPathComponent("Models/default.onnx").path, prefix.appendingPathComponent("share/auge/default.onnx").path] {
            XCTAssertTrue(lost.stderr.contains(place), "names \(place): \(lost.stderr)")
        }
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("share/auge"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: repositoryRoot.appendingPathComponent("Models/default.onnx"),
            to: prefix.appendingPathComponent("share/auge/default.onnx"))
        let found = try AugeProcess.run(["classify", "--format", "jsonl", photo], in: folder, executable: installed)
        XCTAssertEqual(found.status, 0, found.stderr)
        XCTAssertEqual(try records(found.stdout).first?["decision"] as? String, "ok")
    }

    /// `auge --version` says the version every trained model's provenance names.
    func testVersion() throws {
        let version = try AugeProcess.run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines), augeVersion)
    }

    func testExitCodesAndFailOnDefect() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let bright = folder.appendingPathComponent("photos/bright.png").path
        let dark = folder.appendingPathComponent("photos/dark.png").path
        XCTAssertEqual(try AugeProcess.run(["classify", "--model", model, bright, dark]).status, 0)
        XCTAssertEqual(try AugeProcess.run(["classify", "--model", model, "--fail-on-defect", bright]).status, 0)
        XCTAssertEqual(try AugeProcess.run(["classify", "--model", model, "--fail-on-defect", bright, dark]).status, 2)
        XCTAssertEqual(try AugeProcess.run(["classify", "--model", model, "--bogus", bright]).status, 64)
        let missing = try AugeProcess.run(["classify", "--model", folder.appendingPathComponent("none.onnx").path, bright])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("none.onnx"), missing.stderr)
    }

    func testCSVAndSortIntoWithNameClashes() throws {
        try makePhotos()
        let model = try writeModel(metadata: metadata)
        let out = folder.appendingPathComponent("sorted").path
        let csv = folder.appendingPathComponent("results.csv").path
        let result = try AugeProcess.run([
            "classify", "--model", model, "--format", "csv", "--output", csv,
            "--sort-into", out, folder.appendingPathComponent("photos").path,
        ])
        XCTAssertEqual(result.status, 3, result.stderr)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "path,label,score,decision,ms,error,defect_probability")
        XCTAssertEqual(lines.count, 5)
        let okFiles = try FileManager.default.contentsOfDirectory(atPath: out + "/ok").sorted()
        XCTAssertEqual(okFiles, ["bright-1.png", "bright.png"], "two files named bright.png both kept")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/defect"), ["dark.png"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/error"), ["broken.png"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("photos/dark.png").path), "copy, not move")
    }

    func testPlainONNXModelTakesItsSettingsFromFlags() throws {
        try makePhotos()
        let model = try writeModel(metadata: nil)
        let dark = folder.appendingPathComponent("photos/dark.png").path
        let plain = try AugeProcess.run(["classify", "--model", model, "--format", "jsonl", dark])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        // Without metadata: labels are the output indices and there are no OK labels.
        XCTAssertEqual(try records(plain.stdout)[0]["label"] as? String, "1")
        let flagged = try AugeProcess.run([
            "classify", "--model", model, "--labels", "good,bad", "--ok-labels", "good",
            "--format", "jsonl", dark,
        ])
        let row = try records(flagged.stdout)[0]
        XCTAssertEqual(row["label"] as? String, "bad")
        XCTAssertEqual(row["decision"] as? String, "defect")
        // `auge annotate` writes the flags into the file; afterwards no flags are needed.
        let annotated = folder.appendingPathComponent("annotated.onnx").path
        let annotate = try AugeProcess.run([
            "annotate", model, "--labels", "good,bad", "--ok-labels", "good", "--review-band", "0.1",
            "-o", annotated,
        ])
        XCTAssertEqual(annotate.status, 0, annotate.stderr)
        let metadata = try ONNXModel.load(contentsOf: URL(fileURLWithPath: annotated)).metadata
        XCTAssertEqual(metadata?.labels, ["good", "bad"])
        XCTAssertEqual(metadata?.inputSize, .init(width: 16, height: 16))
        XCTAssertEqual(metadata?.reviewBand, .init(lower: 0.4, upper: 0.6))
        let plainAgain = try AugeProcess.run(["classify", "--model", annotated, "--format", "jsonl", dark])
        XCTAssertEqual(try records(plainAgain.stdout)[0]["label"] as? String, "bad")

        let wrong = try AugeProcess.run(["classify", "--model", model, "--labels", "a,b,c", dark])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("outputs 2 scores but 3 labels"), wrong.stderr)
        // annotate refuses what classify would refuse, and writes nothing.
        let badSize = try AugeProcess.run([
            "annotate", model, "--labels", "good,bad", "--size", "224x224",
            "-o", folder.appendingPathComponent("bad.onnx").path,
        ])
        XCTAssertEqual(badSize.status, 1, badSize.stderr)
        XCTAssertTrue(badSize.stderr.contains("but the preprocessing gives"), badSize.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("bad.onnx").path))
    }

    /// The shipped default model on demo photos: defects get a hotspot and a heatmap file; OK parts get
    /// neither; CSV gains the explanation columns at the end.
    func testHeatmapsForDefectsWithTheDefaultModel() throws {
        let crack = repositoryRoot.appendingPathComponent("SampleImages/crack/crack_0.jpg").path
        let intact = repositoryRoot.appendingPathComponent("SampleImages/ok/ok_0.jpg").path
        let heatmaps = folder.appendingPathComponent("heatmaps").path
        let result = try AugeProcess.run(["classify", "--format", "jsonl", "--heatmaps", heatmaps, "--heatmap-grid", "8", crack, intact])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try records(result.stdout)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0]["decision"] as? String, "defect")
        let hotspot = try XCTUnwrap(lines[0]["hotspot"] as? [String: Any], "\(lines[0])")
        XCTAssertEqual(Set(hotspot.keys), ["x", "y", "width", "height", "evidence"])
        XCTAssertEqual(lines[0]["heatmap"] as? String, (heatmaps as NSString).appendingPathComponent("crack_0.heatmap.png"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: heatmaps + "/crack_0.heatmap.png"))
        XCTAssertEqual(lines[1]["decision"] as? String, "ok")
        XCTAssertNil(lines[1]["hotspot"])
        XCTAssertNil(lines[1]["heatmap"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: heatmaps), ["crack_0.heatmap.png"])

        let csv = try AugeProcess.run(["classify", "--format", "csv", "--hotspots", crack])
        let rows = csv.stdout.split(separator: "\n")
        XCTAssertEqual(
            rows.first,
            "path,label,score,decision,ms,error,defect_probability,"
                + "hotspot_x,hotspot_y,hotspot_width,hotspot_height,hotspot_evidence,heatmap,heatmap_error")
        let fields = rows[1].split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertEqual(fields.count, 14)
        XCTAssertNotNil(Int(fields[7]), "hotspot_x is a number: \(rows[1])")
        XCTAssertEqual(fields[12], "", "--hotspots writes no heatmap")

        XCTAssertEqual(try AugeProcess.run(["classify", "--heatmap-grid", "1", "--hotspots", crack]).status, 64)
    }
}
