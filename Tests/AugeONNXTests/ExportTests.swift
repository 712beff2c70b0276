import AugeEngine
import Foundation
import XCTest
@testable import AugeONNX

final class ExportTests: XCTestCase {
    /// A small classifier as the trainer would write it, using every engine operation.
    static func trainerGraph() -> Graph {
        func tensor(_ shape: [Int], seed: Int) -> Tensor {
            let count = shape.reduce(1, *)
            return Tensor(shape: shape, data: (0..<count).map { Float(sin(Double($0 * 7 + seed))) * 0.5 })
        }
        let nodes: [Node] = [
            Node(name: "pad", operation: .pad(pads: [0, 0, 1, 1, 0, 0, 0, 0], value: 0.1), inputs: ["image"], outputs: ["padded"]),
            Node(
                name: "stem",
                operation: .convolution(
                    Convolution(
                        weight: tensor([8, 3, 3, 3], seed: 1), bias: tensor([8], seed: 2),
                        strides: (2, 2), pads: (1, 0, 1, 1))), inputs: ["padded"], outputs: ["c1"]),
            Node(
                name: "bn",
                operation: .batchNormalization(
                    BatchNormalization(
                        scale: [1, 0.9, 1.1, 1, 1, 0.8, 1.2, 1], bias: tensor([8], seed: 3).data,
                        mean: tensor([8], seed: 4).data, variance: Array(repeating: 1.5, count: 8), epsilon: 1e-3)),
                inputs: ["c1"], outputs: ["b1"]),
            Node(name: "relu6", operation: .activation(.clip(min: 0, max: 6)), inputs: ["b1"], outputs: ["a1"]),
            Node(
                name: "dw", operation: .convolution(Convolution(weight: tensor([8, 1, 3, 3], seed: 5), pads: (1, 1, 1, 1), groups: 8)),
                inputs: ["a1"], outputs: ["c2"]),
            Node(name: "silu", operation: .activation(.silu), inputs: ["c2"], outputs: ["a2"]),
            Node(name: "hswish", operation: .activation(.hardSwish), inputs: ["a2"], outputs: ["a3"]),
            Node(name: "leaky", operation: .activation(.leakyRelu(alpha: 0.1)), inputs: ["a3"], outputs: ["a4"]),
            Node(name: "scale", operation: .mul, inputs: ["a4", "channel_scale"], outputs: ["s1"]),
            Node(name: "residual", operation: .add, inputs: ["s1", "a1"], outputs: ["r1"]),
            Node(name: "tanh", operation: .activation(.tanh), inputs: ["r1"], outputs: ["t1"]),
            Node(name: "hsig", operation: .activation(.hardSigmoid(alpha: 0.2, beta: 0.5)), inputs: ["r1"], outputs: ["h1"]),
            Node(name: "sig", operation: .activation(.sigmoid), inputs: ["h1"], outputs: ["h2"]),
            Node(name: "cat", operation: .concat(axis: 1), inputs: ["t1", "h2"], outputs: ["cat1"]),
            Node(name: "maxpool", operation: .maxPool(Pooling(kernel: (2, 2), strides: (2, 2), ceilMode: true)), inputs: ["cat1"], outputs: ["p1"]),
            Node(
                name: "avgpool", operation: .averagePool(Pooling(kernel: (3, 3), strides: (1, 1), pads: (1, 1, 1, 1), countIncludePad: true)),
                inputs: ["p1"], outputs: ["p2"]),
            Node(name: "relu", operation: .activation(.relu), inputs: ["p2"], outputs: ["p3"]),
            Node(name: "gap", operation: .globalAveragePool, inputs: ["p3"], outputs: ["g1"]),
            Node(name: "flatten", operation: .flatten(axis: 1), inputs: ["g1"], outputs: ["f1"]),
            Node(
                name: "fc", operation: .fullyConnected(FullyConnected(weight: tensor([6, 16], seed: 6), bias: tensor([6], seed: 7), alpha: 0.9, beta: 1.1)),
                inputs: ["f1"], outputs: ["fc1"]),
            Node(name: "reshape", operation: .reshape(shape: [0, 2, -1]), inputs: ["fc1"], outputs: ["rs1"]),
            Node(name: "matmul", operation: .matMul(weight: tensor([3, 4], seed: 8)), inputs: ["rs1"], outputs: ["mm1"]),
            Node(name: "flat2", operation: .flatten(axis: 1), inputs: ["mm1"], outputs: ["f2"]),
            Node(name: "same", operation: .identity, inputs: ["f2"], outputs: ["f3"]),
            Node(name: "softmax", operation: .softmax(axis: 1), inputs: ["f3"], outputs: ["probabilities"]),
        ]
        return Graph(
            name: "trainer_graph", inputs: [GraphInput(name: "image", shape: [nil, 3, 12, 12])], nodes: nodes,
            constants: ["channel_scale": Tensor(shape: [1, 8, 1, 1], data: [1, 2, 0.5, 1, 1.5, 1, 0.25, 1])],
            outputs: ["probabilities", "fc1"])
    }

    func testExportedGraphImportsBackUnchanged() throws {
        let graph = Self.trainerGraph()
        let data = try exportONNX(graph: graph, metadata: ModelMetadataTests.complete)
        let model = try ONNXModel.load(data: data, name: "exported.onnx")
        // ONNX has no SiLU before opset 24: it comes back as the Sigmoid and Mul it was written as, which
        // the engine plans as the same single SiLU step.
        var expected = graph
        let silu = expected.nodes.firstIndex { $0.name == "silu" }!
        expected.nodes.replaceSubrange(
            silu...silu,
            with: [
                Node(name: "silu/sigmoid", operation: .activation(.sigmoid), inputs: ["c2"], outputs: ["a2/sigmoid"]),
                Node(name: "silu", operation: .mul, inputs: ["c2", "a2/sigmoid"], outputs: ["a2"]),
            ])
        XCTAssertEqual(model.graph, expected)
        XCTAssertEqual(try Engine(graph: model.graph, threads: 1).layers, try Engine(graph: graph, threads: 1).layers)
        XCTAssertEqual(model.metadata, ModelMetadataTests.complete)
        XCTAssertEqual(model.opsetVersion, exportedOpsetVersion)
        XCTAssertEqual(model.producer, "auge \(augeVersion)")
        XCTAssertEqual(try model.serialized(), data)
    }

    func testImportedFixturesSurviveExportAndReimport() throws {
        for fixture in try FixtureManifest.load().cases {
            let original = try ONNXModel.load(contentsOf: FixtureManifest.url(fixture.model)).graph
            let reimported = try ONNXModel.load(data: try exportONNX(graph: original, metadata: nil), name: fixture.model).graph
            let inputs = try fixture.inputs.mapValues { try NPY.read(contentsOf: FixtureManifest.url($0)) }
            let before = try runReference(original, inputs: inputs), after = try runReference(reimported, inputs: inputs)
            for name in original.outputs {
                XCTAssertEqual(before[name], after[name], "\(fixture.name) output \(name)")
            }
        }
    }

    func testUnexportableGraphIsRefused() {
        let graph = Graph(
            name: "broken", inputs: [GraphInput(name: "x", shape: [1, 2])],
            nodes: [Node(name: "orphan", operation: .activation(.relu), inputs: [], outputs: ["y"])], outputs: ["y"])
        XCTAssertThrowsError(try exportONNX(graph: graph, metadata: nil)) { error in
            XCTAssertEqual((error as? ONNXError)?.node, "orphan")
        }
        var invalid = ModelMetadataTests.complete
        invalid.okLabels = ["missing"]
        XCTAssertThrowsError(try exportONNX(graph: Self.trainerGraph(), metadata: invalid)) { error in
            XCTAssertEqual((error as? ONNXError)?.kind, .invalidMetadata)
        }
    }
}
