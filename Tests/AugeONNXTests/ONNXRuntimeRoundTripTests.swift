import AugeEngine
import AugeTestSupport
import Foundation
import XCTest
@testable import AugeONNX

/// Models exported by Auge load in ONNX Runtime (after onnx.checker's full check) with the same
/// outputs as Auge's reference run, to 1e-4. Needs Python with onnx and onnxruntime: set AUGE_PYTHON
/// or create .venv with scripts/python-env.sh; without them these tests skip, saying so.
final class ONNXRuntimeRoundTripTests: XCTestCase {
    private static let tolerance: Float = 1e-4

    private func python() throws -> URL {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["AUGE_PYTHON"], repositoryRoot.appendingPathComponent(".venv/bin/python").path]
        for case let path? in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let url = URL(fileURLWithPath: path)
            if (try? run(url, ["-c", "import onnx, onnxruntime, numpy"])) != nil { return url }
        }
        throw XCTSkip("no Python with onnx and onnxruntime (set AUGE_PYTHON or run scripts/python-env.sh): ONNX Runtime round trip not tested")
    }

    private func run(_ executable: URL, _ arguments: [String]) throws {
        let result = try runProcess(executable, arguments)
        guard result.status == 0 else {
            throw NSError(domain: "python", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: result.stderr])
        }
    }

    private struct RuntimeResult: Decodable {
        let outputs: [String]
        let metadata: [String: String]
        let opset: Int
    }

    private struct Job: Encodable {
        let model: String
        let inputs: [String: String]
        let outdir: String
        let exact: Bool
    }

    /// Runs every model in ONNX Runtime (one Python process) and returns, per model, its outputs by name.
    /// `exact`: with graph optimizations off, so that a QDQ model computes in float exactly as written rather
    /// than on ONNX Runtime's int8 kernels (on x86 without VNNI those saturate on 8-bit weights).
    private func runONNXRuntime(_ python: URL, _ models: [(data: Data, inputs: [String: Tensor])], exact: Bool = false) throws
        -> [(outputs: [String: Tensor], result: RuntimeResult)]
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auge-onnx-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var jobs: [Job] = []
        for (index, model) in models.enumerated() {
            let jobDirectory = directory.appendingPathComponent("\(index)")
            try FileManager.default.createDirectory(at: jobDirectory, withIntermediateDirectories: true)
            let modelURL = jobDirectory.appendingPathComponent("model.onnx")
            try model.data.write(to: modelURL)
            var feeds: [String: String] = [:]
            for (position, (name, tensor)) in model.inputs.enumerated() {
                let url = jobDirectory.appendingPathComponent("input\(position).npy")
                try NPY.write(tensor, to: url)
                feeds[name] = url.path
            }
            jobs.append(Job(model: modelURL.path, inputs: feeds, outdir: jobDirectory.path, exact: exact))
        }
        let jobsURL = directory.appendingPathComponent("jobs.json")
        try JSONEncoder().encode(jobs).write(to: jobsURL)
        try run(python, [repositoryRoot.appendingPathComponent("scripts/run_onnxruntime.py").path, jobsURL.path])
        return try jobs.map { job in
            let jobDirectory = URL(fileURLWithPath: job.outdir)
            let result = try JSONDecoder().decode(RuntimeResult.self, from: Data(contentsOf: jobDirectory.appendingPathComponent("result.json")))
            var outputs: [String: Tensor] = [:]
            for (index, name) in result.outputs.enumerated() {
                outputs[name] = try NPY.read(contentsOf: jobDirectory.appendingPathComponent("output\(index).npy"))
            }
            return (outputs, result)
        }
    }

    func testTrainerGraphRunsInONNXRuntimeWithMetadata() throws {
        let python = try python()
        let graph = ExportTests.trainerGraph()
        let metadata = ModelMetadataTests.complete
        let input = Tensor(shape: [2, 3, 12, 12], data: (0..<864).map { Float(cos(Double($0) * 0.37)) })
        let expected = try runReference(graph, inputs: ["image": input])
        let (outputs, result) = try runONNXRuntime(python, [(try exportONNX(graph: graph, metadata: metadata), ["image": input])])[0]
        XCTAssertEqual(result.opset, exportedOpsetVersion)
        XCTAssertEqual(result.outputs, graph.outputs)
        XCTAssertEqual(try ModelMetadata(properties: result.metadata), metadata)
        for name in graph.outputs {
            let difference = maxAbsoluteDifference(try XCTUnwrap(outputs[name]), try XCTUnwrap(expected[name]))
            XCTAssertLessThanOrEqual(difference, Self.tolerance, "output \(name)")
        }
    }

    /// A network quantized by Auge and written as QDQ: ONNX Runtime runs it (on its int8 kernels where the
    /// CPU has VNNI) and agrees with Auge's int8 kernels (a value on a rounding edge may land one step away,
    /// and the steps add up over the layers: the residual blocks' skips and sums are both on grids, and on
    /// this input Auge's int8 answer is 4.7 % of the output spread from the file's own float arithmetic,
    /// ONNX Runtime's 5.4 %); read back, every convolution is int8 again.
    func testQuantizedNetworkRunsOnONNXRuntimesInt8Kernels() throws {
        let python = try python()
        let network = Quantization.foldingBatchNormalization(Zoo.mobileNetV2(resolution: 32, classes: 5, widthMultiplier: 0.25))
        let name = network.inputs[0].name
        var calibrator = try Calibrator(graph: network, threads: 1)
        for seed in 0..<8 {
            try calibrator.observe(Tensor(shape: [1, 3, 32, 32], data: (0..<3072).map { Float(sin(Double($0 * (seed + 3)) * 0.013)) }))
        }
        let quantized = Quantization.quantized(network, ranges: calibrator.ranges(.minMax))
        let data = try exportONNX(graph: quantized, metadata: nil)
        let reimported = try ONNXModel.load(data: data, name: "quantized.onnx").graph
        let scales = { (g: Graph) in
            g.nodes.compactMap { node -> [Float]? in
                if case let .convolution(conv) = node.operation { return conv.weightScales } else { return nil }
            }
        }
        XCTAssertEqual(scales(reimported), scales(quantized), "int8 weights survive the file")
        XCTAssertEqual(scales(reimported).count, network.nodes.filter { if case .convolution = $0.operation { true } else { false } }.count)

        let input = Tensor(shape: [2, 3, 32, 32], data: (0..<6144).map { Float(cos(Double($0) * 0.021)) })
        let auge = try Engine(graph: reimported, batchSize: 2, threads: 1, int8: .kernels).run([name: input])[reimported.outputs[0]]!
        // Without VNNI, ONNX Runtime's int8 kernels saturate on 8-bit weights: there the file's float
        // arithmetic is run instead (as for the quantized fixtures below).
        let (outputs, _) = try runONNXRuntime(python, [(data, [name: input])], exact: int8GemmPathName != "avx512-vnni")[0]
        let runtime = try XCTUnwrap(outputs[reimported.outputs[0]])
        let spread = auge.data.max()! - auge.data.min()!
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(auge, runtime), 0.08 * spread, "\(auge.data) against \(runtime.data)")
    }

    func testReexportedFixturesMatchTheirONNXRuntimeOutputs() throws {
        let python = try python()
        let manifest = try FixtureManifest.load()
        let inputs = try manifest.cases.map { try $0.inputs.mapValues { try NPY.read(contentsOf: FixtureManifest.url($0)) } }
        let exported = try zip(manifest.cases, inputs).map { fixture, inputs in
            (try ONNXModel.load(contentsOf: FixtureManifest.url(fixture.model)).serialized(), inputs)
        }
        // The quantized fixtures' outputs come from ONNX Runtime's int8 kernels on a CPU with VNNI (exact
        // integer arithmetic); without VNNI they saturate, so there the file's own float arithmetic is run.
        for (fixture, run) in zip(manifest.cases, try runONNXRuntime(python, exported, exact: int8GemmPathName != "avx512-vnni")) {
            XCTAssertEqual(run.result.opset, exportedOpsetVersion)
            for (name, file) in fixture.outputs {
                let expected = try NPY.read(contentsOf: FixtureManifest.url(file))
                let actual = try XCTUnwrap(run.outputs[name], "\(fixture.name) \(name)")
                XCTAssertLessThanOrEqual(maxAbsoluteDifference(actual, expected), manifest.tolerance(fixture), "\(fixture.name) output \(name)")
                if fixture.step != nil {
                    // A step away only on rounding edges: a few values per requantization, never many
                    // (ONNX Runtime may pick other kernels for the re-exported file, e.g. a float bias).
                    let offEdge = zip(actual.data, expected.data).filter { abs($0 - $1) > manifest.tolerance }.count
                    XCTAssertLessThanOrEqual(
                        offEdge * 100, actual.count * (fixture.quantizedLayers.map { 2 * $0 } ?? 1), "\(fixture.name): \(offEdge) of \(actual.count) values a step away")
                }
            }
        }
    }
}
