import Foundation
import XCTest

/// `auge quantize` on the shipped washer model: the INT8 file decides as the float model does, keeps its
/// metadata, and ONNX Runtime's int8 kernels give what Auge gives on the same file.
final class QuantizeCommandTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try temporaryFolder("auge-quantize")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    var samples: String { repositoryRoot.appendingPathComponent("SampleImages").path }
    var model: String { repositoryRoot.appendingPathComponent("Models/default.onnx").path }

    func percentage(after words: String, in text: String) throws -> Double {
        let tail = try XCTUnwrap(text.range(of: words).map { text[$0.upperBound...] }, text)
        return try XCTUnwrap(Double(tail.prefix { "0123456789.".contains($0) }), text)
    }

    func testTheQuantizedWasherModelAgreesWithTheFloatOneAndWithONNXRuntime() throws {
        let output = folder.appendingPathComponent("default.int8.onnx").path
        // 7-bit weights: ONNX Runtime's int8 kernels compute them exactly on every x86 CPU, with VNNI or without.
        let result = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--check", samples, "--weight-bits", "7", "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("7 convolutions int8"), result.stderr)
        // Both models timed on this machine, and the verdict follows the times.
        XCTAssertTrue(result.stderr.contains("auge quantize: speed on this machine (one thread, "), result.stderr)
        let floatMs = try percentage(after: "): float ", in: result.stderr), int8Ms = try percentage(after: " ms, int8 ", in: result.stderr)
        XCTAssertGreaterThan(floatMs, 0)
        XCTAssertGreaterThan(int8Ms, 0)
        XCTAssertEqual(result.stderr.contains("as fast"), int8Ms < 0.95 * floatMs, result.stderr)
        XCTAssertGreaterThanOrEqual(try percentage(after: "decisions agree on ", in: result.stdout), 97, result.stdout)
        XCTAssertGreaterThanOrEqual(try percentage(after: "int8 ", in: result.stdout), 95, result.stdout)

        let info = try AugeProcess.run(["info", output])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("quantized:  auge") && info.stdout.contains("(symmetric, 7 bits)"), info.stdout)
        XCTAssertFalse(result.stderr.contains("--weight-bits 7"), "no advice to use what was used: \(result.stderr)")
        XCTAssertTrue(info.stdout.contains("labels:") && info.stdout.contains("scratch"), "the labels stay: \(info.stdout)")

        // The same file in ONNX Runtime, which fuses the QDQ pairs into its int8 convolutions.
        let runtime = try ONNXRuntimeClassifier()
        let photos = try ["ok", "crack", "dent", "scratch", "stain", "chip"].flatMap { label in
            try FileManager.default.contentsOfDirectory(atPath: samples + "/" + label).sorted().prefix(4).map { "\(samples)/\(label)/\($0)" }
        }
        let expected = try runtime.probabilities(model: output, color: "rgb", mean: "0.5,0.5,0.5", std: "0.25,0.25,0.25", photos: photos)
        let classified = try AugeProcess.run(["classify", "--model", output, "--format", "jsonl", "--scores"] + photos)
        XCTAssertEqual(classified.status, 0, classified.stderr)
        let description = try JSONSerialization.jsonObject(with: Data(try AugeProcess.run(["info", "--format", "json", output]).stdout.utf8))
        let labels = try XCTUnwrap(((description as? [String: Any])?["metadata"] as? [String: Any])?["labels"] as? [String])
        var largest = 0.0
        XCTAssertEqual(try records(classified.stdout).count, photos.count)
        for record in try records(classified.stdout) {
            let path = record["path"] as! String, scores = record["scores"] as! [String: Double]
            let reference = try XCTUnwrap(expected[path], path)
            for (index, label) in labels.enumerated() { largest = max(largest, abs(scores[label]! - reference[index])) }
            let top = reference.indices.max { reference[$0] < reference[$1] }!
            XCTAssertEqual(record["label"] as? String, labels[top], path)
        }
        XCTAssertLessThan(largest, 0.05, "Auge's float emulation against ONNX Runtime's int8 kernels, on the same file")
    }

    /// `--keep-float N` ranks the convolutions by how far quantizing each alone moves the output, leaves the
    /// N first in float, says which, and notes them in the file.
    func testKeepFloatLeavesTheMostSensitiveConvolutionsInFloat() throws {
        func kept(_ count: Int) throws -> (stderr: String, ranked: [(name: String, change: Double)], file: String) {
            let file = folder.appendingPathComponent("kept\(count).onnx").path
            let result = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--keep-float", "\(count)", "--no-speed", "-o", file])
            XCTAssertEqual(result.status, 0, result.stderr)
            let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("kept in float: ") }, result.stderr)
            let ranked = try line.components(separatedBy: "kept in float: ")[1].components(separatedBy: "), ").map { entry in
                let parts = entry.components(separatedBy: " (moves the output by ")
                return (parts[0], try XCTUnwrap(Double(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: ")"))), entry))
            }
            return (result.stderr, ranked, file)
        }
        let all = try kept(7)
        XCTAssertTrue(all.stderr.contains(": 0 convolutions int8"), all.stderr)
        XCTAssertEqual(Set(all.ranked.map(\.name)).count, 7)
        XCTAssertEqual(all.ranked.map(\.change), all.ranked.map(\.change).sorted(by: >), "most sensitive first")
        XCTAssertGreaterThan(all.ranked[0].change, 0)

        let one = try kept(1)
        XCTAssertTrue(one.stderr.contains(": 6 convolutions int8"), one.stderr)
        XCTAssertEqual(one.ranked.map(\.name), [all.ranked[0].name])
        let info = try AugeProcess.run(["info", one.file])
        XCTAssertTrue(info.stdout.contains("kept in float, as the most sensitive: \(all.ranked[0].name)"), info.stdout)
    }

    /// `--keep-float auto` needs held-out photos (`--recalibrate`), measures how many decisions on them the
    /// quantized model shares with the float one and how much accuracy it loses, keeps the fewest
    /// convolutions in float that bring those to 99.5 % and 0.2 points (or the best of up to 5), says so,
    /// and the file has the rest in int8.
    func testKeepFloatAutoChoosesOnHeldOutPhotos() throws {
        let file = folder.appendingPathComponent("auto.onnx").path
        let refused = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--keep-float", "auto", "--no-speed", "-o", file])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--keep-float auto chooses on held-out photos"), refused.stderr)
        XCTAssertNotEqual(try AugeProcess.run(["quantize", model, "--calibrate", samples, "--keep-float", "some", "-o", file]).status, 0)

        let result = try AugeProcess.run(
            ["quantize", model, "--calibrate", samples, "--recalibrate", samples, "--keep-float", "auto", "--no-speed", "-o", file])
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.contains("decisions as the float model's on 96 held-out photos") }, result.stderr)
        let kept = line.contains("every convolution int8") ? 0 : line.components(separatedBy: " (moves the output by ").count - 1
        XCTAssertTrue(kept <= 5, String(line))
        // The photos are labelled, so the accuracy the quantized model loses counts too.
        XCTAssertTrue(line.contains("points below"), String(line))
        XCTAssertTrue(result.stderr.contains(": \(7 - kept) convolutions int8"), result.stderr)
    }

    /// `--recalibrate` sets the threshold again on the quantized model's own scores, by auge train's rule:
    /// the sample photos hold 12 good ones and too few defects (60) for a 1 % miss rate, so the threshold
    /// rejects none of the good photos and passes as few defects as that allows, and the file and `auge
    /// info` carry it.
    func testRecalibrateSetsTheThresholdOnTheQuantizedModelsScores() throws {
        let output = folder.appendingPathComponent("default.int8.onnx").path
        let result = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--recalibrate", samples, "--no-speed", "-o", output])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("threshold set instead to reject at most 1 % of the held-out good photos"), result.stderr)
        XCTAssertFalse(result.stderr.contains("speed on this machine"), "--no-speed: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("for a file that must run there, --weight-bits 7"), "8-bit weights by default: \(result.stderr)")
        let description = try JSONSerialization.jsonObject(with: Data(try AugeProcess.run(["info", "--format", "json", output]).stdout.utf8))
        let metadata = try XCTUnwrap((description as? [String: Any])?["metadata"] as? [String: Any], "\(description)")
        let threshold = try XCTUnwrap(metadata["threshold"] as? Double, "\(metadata)")
        XCTAssertTrue(result.stderr.contains(String(format: "threshold %.4f", threshold)), result.stderr)
        let classified = try AugeProcess.run(["classify", "--model", output, "--format", "jsonl", samples])
        XCTAssertEqual(classified.status, 0, classified.stderr)
        let all = try records(classified.stdout)
        func scores(good: Bool) -> [Double] {
            let folders = good ? ["ok"] : ["crack", "dent", "scratch", "stain", "chip"]  // not incoming/: unlabelled
            return all.filter { folders.contains((($0["path"] as! String) as NSString).deletingLastPathComponent.components(separatedBy: "/").last!) }
                .map { $0["defect_probability"] as! Double }
        }
        XCTAssertEqual(scores(good: true).count, 12)
        XCTAssertEqual(scores(good: false).count, 60)
        XCTAssertLessThan(scores(good: true).max()!, threshold, "no good photo is rejected")
        // The rule: up to the lowest defect score, but at least just above the highest good one; at most 0.5.
        let expected = min(0.5, max(scores(good: false).min()!, Double(Float(scores(good: true).max()!).nextUp)))
        XCTAssertEqual(threshold, expected, accuracy: 1e-6)
        XCTAssertTrue(try AugeProcess.run(["info", output]).stdout.contains("threshold recalibrated on the quantized model"))
    }

    /// `auge train --int8` writes OUT.int8.onnx beside OUT, its threshold set again on the validation photos,
    /// and says how it compares on them.
    func testTrainWritesAnInt8ModelBesideTheFloatOne() throws {
        let output = folder.appendingPathComponent("washer.onnx").path
        let train = try AugeProcess.run(["train", samples, "--out", output, "--size", "32", "--epochs", "2", "--arch", "tiny", "--threads", "2", "--int8", "--keep-float", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("int8 model \(folder.appendingPathComponent("washer.int8.onnx").path)"), train.stdout)
        XCTAssertTrue(train.stdout.contains("on the validation photos:\ncheck on 12 photos: decisions agree on"), train.stdout)
        XCTAssertTrue(train.stdout.contains("int8 threshold "), "recalibrated on the validation photos: \(train.stdout)")
        XCTAssertTrue(train.stdout.contains("int8 speed on this machine (one thread, "), train.stdout)
        XCTAssertTrue(train.stdout.contains("int8 kept in float: "), train.stdout)
        let info = try AugeProcess.run(["info", folder.appendingPathComponent("washer.int8.onnx").path])
        XCTAssertTrue(info.stdout.contains("quantized:  auge") && info.stdout.contains("from 60 photos"), info.stdout)
        XCTAssertTrue(info.stdout.contains("kept in float, as the most sensitive: "), info.stdout)
        let anomaly = try AugeProcess.run(["train", samples, "--out", output, "--anomaly", "--int8"])
        XCTAssertEqual(anomaly.status, 64, anomaly.stderr)
        let floatOnly = try AugeProcess.run(["train", samples, "--out", output, "--keep-float", "1"])
        XCTAssertEqual(floatOnly.status, 64, floatOnly.stderr)
        XCTAssertTrue(floatOnly.stderr.contains("--keep-float goes with --int8"), floatOnly.stderr)
    }

    func testBadCalibrationInputs() throws {
        let output = folder.appendingPathComponent("q.onnx").path
        let none = try AugeProcess.run(["quantize", model, "-o", output])
        XCTAssertEqual(none.status, 64, none.stderr)
        XCTAssertTrue(none.stderr.contains("--calibrate"), none.stderr)
        let empty = folder.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let nothing = try AugeProcess.run(["quantize", model, "--calibrate", empty, "-o", output])
        XCTAssertEqual(nothing.status, 1, nothing.stderr)
        XCTAssertTrue(nothing.stderr.contains("no photos found in \(empty)"), nothing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing is written")
        let bits = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--weight-bits", "6", "-o", output])
        XCTAssertEqual(bits.status, 64, bits.stderr)
        XCTAssertTrue(bits.stderr.contains("--weight-bits must be 7 or 8, not 6"), bits.stderr)
        let kept = try AugeProcess.run(["quantize", model, "--calibrate", samples, "--keep-float=-1", "-o", output])
        XCTAssertEqual(kept.status, 64, kept.stderr)
        XCTAssertTrue(kept.stderr.contains("--keep-float must be 0 or more"), kept.stderr)
    }
}
