import AugeImage
import Foundation
import XCTest

/// Whole-run correctness: for photos already at the model's input size (so no resize is involved),
/// the probabilities `auge classify --scores` prints match ONNX Runtime's for the same model, to 1e-4.
/// Needs the project's Python venv (scripts/python-env.sh); skips, saying so, without it.
final class ClassifyMatchesONNXRuntimeTests: XCTestCase {
    func testScoresMatchONNXRuntime() throws {
        let runtime = try ONNXRuntimeClassifier()
        let folder = try temporaryFolder("auge-ort-classify")
        defer { try? FileManager.default.removeItem(at: folder) }
        // A reduced MobileNetV2 (32x32 RGB, 5 classes, logits) from the ONNX fixtures.
        let model = repositoryRoot.appendingPathComponent("Tests/AugeONNXTests/Fixtures/mobilenetv2_small.onnx").path
        var state: UInt64 = 42
        var photos: [String] = []
        for index in 0..<6 {
            let pixels = (0..<(32 * 32 * 3)).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let path = folder.appendingPathComponent("photo\(index).png").path
            try Data(PNGEncoder.encode(Image(width: 32, height: 32, color: .rgb, pixels: pixels))).write(to: URL(fileURLWithPath: path))
            photos.append(path)
        }
        let mean = "0.485,0.456,0.406", std = "0.229,0.224,0.225"
        let auge = try AugeProcess.run(["classify", "--model", model, "--mean", mean, "--std", std, "--scores", "--format", "jsonl"] + photos)
        XCTAssertEqual(auge.status, 0, auge.stderr)

        let reference = try runtime.probabilities(model: model, color: "rgb", mean: mean, std: std, photos: photos)

        for line in auge.stdout.split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let path = record["path"] as! String
            let scores = record["scores"] as! [String: Double]
            let expected = reference[path]!
            XCTAssertEqual(scores.count, expected.count)
            for (index, probability) in expected.enumerated() {
                XCTAssertEqual(scores[String(index)]!, probability, accuracy: 1e-4, "\(path) class \(index)")
            }
        }
        XCTAssertEqual(auge.stdout.split(separator: "\n").count, photos.count)
    }
}
