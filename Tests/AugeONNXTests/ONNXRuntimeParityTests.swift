import AugeEngine
import Foundation
import XCTest
@testable import AugeONNX

/// Every fixture model, imported by Auge and run by the engine's reference interpreter, matches the
/// outputs ONNX Runtime computed for it to within the manifest's tolerance (1e-4 absolute).
final class ONNXRuntimeParityTests: XCTestCase {
    func testEveryFixtureMatchesONNXRuntime() throws {
        let manifest = try FixtureManifest.load()
        XCTAssertEqual(manifest.tolerance, 1e-4)
        XCTAssertGreaterThanOrEqual(manifest.cases.count, 30)
        for fixture in manifest.cases {
            let model: ONNXModel
            do {
                model = try ONNXModel.load(contentsOf: FixtureManifest.url(fixture.model))
            } catch {
                XCTFail("\(fixture.name): \(error)")
                continue
            }
            XCTAssertEqual(model.opsetVersion, fixture.opset, fixture.name)
            XCTAssertEqual(model.producer, "make_onnx_fixtures", fixture.name)
            let inputs = try fixture.inputs.mapValues { try NPY.read(contentsOf: FixtureManifest.url($0)) }
            let outputs: [String: Tensor]
            do {
                outputs = try runReference(model.graph, inputs: inputs)
            } catch {
                XCTFail("\(fixture.name): reference run failed: \(error)")
                continue
            }
            XCTAssertEqual(Set(model.graph.outputs), Set(fixture.outputs.keys), fixture.name)
            for (name, file) in fixture.outputs {
                let expected = try NPY.read(contentsOf: FixtureManifest.url(file))
                guard let actual = outputs[name] else { XCTFail("\(fixture.name): no output \(name)"); continue }
                let difference = maxAbsoluteDifference(actual, expected)
                XCTAssertLessThanOrEqual(
                    difference, manifest.tolerance,
                    "\(fixture.name) output \(name): shape \(actual.shape) vs \(expected.shape), max |diff| \(difference)")
            }
        }
    }

    func testFixturesCoverEverySupportedOperatorAndOpsetsSevenToTwentyOne() throws {
        var operators: Set<String> = []
        var opsets: Set<Int> = []
        for fixture in try FixtureManifest.load().cases {
            let proto = try Onnx_ModelProto(serializedBytes: Data(contentsOf: FixtureManifest.url(fixture.model)))
            operators.formUnion(proto.graph.node.map(\.opType))
            opsets.insert(fixture.opset)
        }
        XCTAssertEqual(GraphImporter.supportedOperators.subtracting(operators), [])
        XCTAssertEqual(opsets.min(), ONNXModel.supportedOpsets.lowerBound)
        XCTAssertEqual(opsets.max(), ONNXModel.supportedOpsets.upperBound)
        XCTAssertGreaterThanOrEqual(opsets.count, 8)
    }

    private func load(_ name: String) throws -> Graph {
        try ONNXModel.load(contentsOf: FixtureManifest.url(name + ".onnx")).graph
    }

    func testOpenBatchStaysOpen() throws {
        let graph = try load("mobilenetv2_small")
        XCTAssertEqual(graph.inputs, [GraphInput(name: "x", shape: [nil, 3, 32, 32])])
        // Runs at any batch size, not only the one of the fixture.
        let shapes = try inferShapes(graph, batchSize: 5)
        XCTAssertEqual(shapes[graph.outputs[0]], [5, 5])
    }

    func testPyTorchShapeArithmeticFoldsAway() throws {
        let graph = try load("pytorch_export_shape_arithmetic")
        // Shape, Gather, Unsqueeze, Concat and Mul leave no node behind: conv, two reshapes, gemm.
        XCTAssertEqual(graph.nodes.count, 4)
        let reshapes = graph.nodes.compactMap { node -> [Int]? in
            if case .reshape(let shape) = node.operation { return shape }
            return nil
        }
        // x.view(x.size(0), -1) keeps the batch open (0 copies it) with the rest resolved; the second is [N, 4*8, 8].
        XCTAssertEqual(reshapes, [[0, 256], [0, 32, 8]])
    }

    func testSigmoidTimesInputBecomesSiLU() throws {
        // The importer keeps ONNX's two nodes; the engine's planner runs them as one SiLU step.
        let graph = try load("silu_sigmoid_mul")
        XCTAssertEqual(graph.nodes.map(\.operation), [.activation(.sigmoid), .mul])
        let engine = try Engine(graph: graph, threads: 1)
        XCTAssertEqual(engine.layers.filter { !$0.kind.hasPrefix("to ") }.map(\.kind), ["silu"])
    }

    func testQuantizedConvolutionsRunOnTheInt8Kernels() throws {
        // The parity test compares the outputs with ONNX Runtime's (to within one output step); here,
        // that the engine ran them on codes: every convolution int8, the block's end on codes too.
        let engine = try Engine(graph: try load("qdq_residual_block_int8"), threads: 1, int8: .kernels)
        XCTAssertEqual(engine.layers.compactMap(\.convolution), [.int8Gemm, .int8Gemm, .int8Depthwise, .int8Gemm])
        XCTAssertEqual(engine.layers.filter { $0.kind == "dequantize" }.count, 1, "\(engine.layers.map(\.kind))")
    }

    func testOldSoftmaxIsCoercedTo2D() throws {
        let old = try load("softmax_opset11_coerced_2d")
        // axis = 1 given, and the default axis (1 before opset 13): both flatten from axis 1.
        let coerced: [AugeEngine.Operation] = [.flatten(axis: 1), .softmax(axis: 1), .reshape(shape: [1, 3, 8, 8])]
        XCTAssertEqual(old.nodes.map(\.operation), coerced + coerced)
        let new = try load("softmax_opset13_single_axis")
        XCTAssertEqual(new.nodes.map(\.operation), [.softmax(axis: 1), .softmax(axis: 3)])
    }

    func testClipBoundsAcrossOpsets() throws {
        XCTAssertEqual(
            try load("clip_opset7_attributes").nodes.map(\.operation),
            [.activation(.clip(min: -0.5, max: 0.7)), .activation(.clip(min: -.infinity, max: 0.1))])
        XCTAssertEqual(
            try load("clip_opset11_inputs").nodes.map(\.operation),
            [
                .activation(.clip(min: -0.3, max: 0.4)), .activation(.clip(min: -.infinity, max: 0.4)),
                .activation(.clip(min: -0.3, max: .infinity)), .activation(.clip(min: -.infinity, max: .infinity)),
            ])
    }

    func testSubAndDivByConstantsBecomeAddAndMul() throws {
        let graph = try load("binary_ops_broadcast")
        XCTAssertEqual(graph.nodes.map(\.operation), [.add, .mul, .add, .mul, .add, .mul])
        XCTAssertEqual(graph.constants["two/reciprocal"]?.data, [0.5])
        XCTAssertEqual(graph.constants["per_channel/negated"]?.data.map { -$0 }, graph.constants["per_channel"]?.data)
    }

    func testPadAxesOfOpset18ExpandToEveryAxis() throws {
        let graph = try load("pad_opset18_axes")
        // pads [1, 2, 3, 0] on axes [-1, 2]: begin W=1, H=2; end W=3, H=0.
        XCTAssertEqual(graph.nodes.map(\.operation), [.pad(pads: [0, 0, 2, 1, 0, 0, 0, 3], value: 0.25)])
    }

    func testInitializersListedAsInputsAreWeights() throws {
        let graph = try load("batchnorm_opset7_spatial")
        XCTAssertEqual(graph.inputs.map(\.name), ["x"])
    }
}
