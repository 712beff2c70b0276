import Foundation
import XCTest

/// `auge bench --format json`: the keys scripts rely on, and a profile whose layer times add up to the
/// run time. The layers run inside the timed runs, so their sum can only fall short of the run time by
/// the time between layers: stated margin 20 %.
final class BenchCommandTests: XCTestCase {
    func testJSONSchemaAndProfileAddsUp() throws {
        let model = repositoryRoot.appendingPathComponent("Tests/AugeONNXTests/Fixtures/resnet18_small.onnx").path
        var arguments = [
            "bench", "--model", model, "--threads", "1,2", "--batch", "1,3", "--runs", "30", "--warmup", "3",
            "--profile", "--format", "json",
            "--images", repositoryRoot.appendingPathComponent("Tests/AugeImageTests/Fixtures/jpeg").path,
            "--mean", "0.5", "--std", "0.25",
        ]
        #if DEBUG
            arguments.append("--allow-debug")
        #endif
        let result = try AugeProcess.run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        for key in ["load_ms", "first_run_ms", "peak_rss_mb"] {
            XCTAssertGreaterThan(report[key] as? Double ?? -1, 0, key)
        }
        let runs = report["runs"] as! [[String: Any]]
        XCTAssertEqual(runs.map { "\($0["threads"]!)x\($0["batch"]!)" }, ["1x1", "1x3", "2x1", "2x3"])
        for run in runs {
            let latency = run["latency_ms"] as! [String: Double]
            let ordered = ["min", "p50", "p90", "p99", "max"].map { latency[$0]! }
            XCTAssertEqual(ordered, ordered.sorted(), "min <= p50 <= p90 <= p99 <= max")
            XCTAssertGreaterThan(run["images_per_s"] as! Double, 0)
        }
        let profile = report["layers"] as! [String: Any]
        let layers = profile["layers"] as! [[String: Any]]
        XCTAssertFalse(layers.isEmpty)
        let sum = layers.reduce(0) { $0 + ($1["ms"] as! Double) }
        let runMs = profile["run_ms"] as! Double
        XCTAssertEqual(sum, profile["layer_sum_ms"] as! Double, accuracy: 1e-9)
        XCTAssertLessThanOrEqual(sum, runMs * 1.0001)
        XCTAssertGreaterThanOrEqual(sum, runMs * 0.8, "layer times cover the run within 20 %")
        XCTAssertEqual(layers.reduce(0) { $0 + ($1["percent"] as! Double) }, 100, accuracy: 1e-6)
        let pipeline = report["pipeline"] as! [String: Any]
        XCTAssertGreaterThan(pipeline["images"] as! Int, 10)
        XCTAssertEqual(pipeline["errors"] as! Int, 0)
    }
}
