import XCTest
@testable import AugeEngine

/// Whole networks at reduced size: the engine (fused, packed, arena) against the reference path.
/// Softmax outputs are compared, and the pre-softmax logits through a graph that stops at the Gemm.
final class NetworkTests: XCTestCase {
    func check(_ graph: Graph, batch: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        // Stop before the softmax so the comparison sees logits (a softmax can hide errors).
        var logits = graph
        logits.nodes.removeLast()
        logits.outputs = [logits.nodes.last!.outputs[0]]
        let shape = [batch] + graph.inputs[0].shape.dropFirst().map { $0! }
        let x = randomTensor(shape, seed: 42)
        for network in [graph, logits] {
            let expected = try runReference(network, inputs: ["input": x])
            for threads in [1, 2] {
                let engine = try Engine(graph: network, batchSize: batch, threads: threads)
                let actual = try engine.run(["input": x])
                let name = network.outputs[0]
                // Logits of deep random networks reach magnitudes of tens: scale atol with the largest one.
                let magnitude = expected[name]!.data.map(abs).max()!
                assertClose(
                    actual[name]!, expected[name]!, rtol: 1e-4, atol: 1e-5 * max(1, magnitude),
                    "\(graph.name) \(name) \(threads) thread(s)", file: file, line: line)
            }
        }
    }

    func testInspectSmall() throws {
        try check(Zoo.inspectSmall(resolution: 40), batch: 2)
    }

    func testMobileNetV2() throws {
        try check(Zoo.mobileNetV2(resolution: 32, classes: 10), batch: 1)
        try check(Zoo.mobileNetV2(resolution: 24, classes: 7, widthMultiplier: 0.35), batch: 2)
    }

    func testResNet18() throws {
        try check(Zoo.resnet18(resolution: 48, classes: 10, baseWidth: 16), batch: 2)  // stage 1 is 12x12: Winograd
        try check(Zoo.resnet18(resolution: 35, classes: 10), batch: 1)
    }

    func testFusionLeavesOneStepPerConvolution() throws {
        let engine = try Engine(graph: Zoo.resnet18(resolution: 32, classes: 10, baseWidth: 8))
        let kinds = engine.layers.map(\.kind)
        XCTAssertFalse(kinds.contains { $0.hasPrefix("batch normalization") || $0 == "relu" || $0 == "add" }, "\(kinds)")
        XCTAssertEqual(kinds.filter { $0.hasSuffix("+ add + relu") }.count, 8)
    }
}
