import AugeEngine
import AugeONNX
import Foundation
import XCTest

/// `auge run` and `auge info` on the ONNX fixtures (made by scripts/make_onnx_fixtures.py with
/// ONNX Runtime's outputs); tolerance 1e-4 relative to the output's largest magnitude.
final class ModelCommandTests: XCTestCase {
    let fixtures = repositoryRoot.appendingPathComponent("Tests/AugeONNXTests/Fixtures")

    func testRunMatchesONNXRuntimeOnWholeNetworks() throws {
        let folder = try temporaryFolder("auge-run")
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["mobilenetv2_small", "resnet18_small", "efficientnet_lite_small", "squeezenet_small"] {
            let out = folder.appendingPathComponent("\(name).npy").path
            let result = try AugeProcess.run([
                "run", fixtures.appendingPathComponent("\(name).onnx").path,
                "--input", fixtures.appendingPathComponent("\(name).in0.npy").path, "-o", out,
            ])
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            let got = try NPY.read(contentsOf: URL(fileURLWithPath: out))
            let want = try NPY.read(contentsOf: fixtures.appendingPathComponent("\(name).out0.npy"))
            XCTAssertEqual(got.shape, want.shape, name)
            let scale = max(1, want.data.map(abs).max() ?? 1)
            let worst = zip(got.data, want.data).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst / scale, 1e-4, "\(name): largest difference \(worst)")
        }
    }

    func testRunNamesAMissingInput() throws {
        let result = try AugeProcess.run([
            "run", fixtures.appendingPathComponent("conv_basic.onnx").path,
            "--input", "nope=/tmp/x.npy", "-o", "/tmp/never.npy",
        ])
        XCTAssertEqual(result.status, 64)
        XCTAssertTrue(result.stderr.contains("no input 'nope'"), result.stderr)
    }

    func testInfoReportsLayersComputeAndMetadata() throws {
        let result = try AugeProcess.run(["info", "--format", "json", fixtures.appendingPathComponent("resnet18_small.onnx").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let info = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let layers = info["layers"] as! [[String: Any]]
        XCTAssertFalse(layers.isEmpty)
        let macs = layers.reduce(0) { $0 + ($1["macs"] as! Int) }
        XCTAssertEqual(info["gflop_per_image"] as! Double, Double(macs) * 2 / 1e9, accuracy: 1e-12)
        XCTAssertGreaterThan(info["total_params"] as! Int, 0)
        XCTAssertGreaterThan(info["activation_bytes"] as! Int, 0)
        // BatchNormalization is folded into the convolutions: no layer is a batch norm.
        XCTAssertFalse(layers.contains { ($0["kind"] as! String).contains("batch") })
        // Each convolution names its algorithm (its text is in the kind too); other layers have none.
        let algorithms = layers.compactMap { $0["algorithm"] as? String }
        XCTAssertEqual(algorithms.count, layers.filter { ($0["kind"] as! String).hasPrefix("conv ") }.count)
        XCTAssertTrue(algorithms.allSatisfy { algorithm in layers.contains { ($0["kind"] as! String).contains("(\(algorithm))") } }, "\(algorithms)")
        XCTAssertEqual(info["auge_version"] as? String, augeVersion)

        let table = try AugeProcess.run(["info", fixtures.appendingPathComponent("resnet18_small.onnx").path])
        XCTAssertTrue(table.stdout.contains("metadata:   none"), table.stdout)
        let malformed = try AugeProcess.run(["info", fixtures.appendingPathComponent("malformed/truncated.onnx").path])
        XCTAssertEqual(malformed.status, 1)
        XCTAssertTrue(malformed.stderr.contains("truncated.onnx"), malformed.stderr)
    }
}
