import XCTest
@testable import AugeEngine

func randomTensor(_ shape: [Int], seed: UInt64, range: ClosedRange<Float> = -1...1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
}

/// A graph of one node on input "x" producing "y"; `extraInputs` are graph constants.
func singleNodeGraph(_ operation: AugeEngine.Operation, inputShape: [Int], constants: [String: Tensor] = [:], extraInputs: [String] = []) -> Graph {
    Graph(
        inputs: [GraphInput(name: "x", shape: [nil] + inputShape.dropFirst().map { $0 })],
        nodes: [Node(name: "op", operation: operation, inputs: ["x"] + extraInputs, outputs: ["y"])],
        constants: constants, outputs: ["y"])
}

/// Tolerance used throughout: |actual - expected| <= atol + rtol * |expected|, with rtol 1e-4 and
/// atol 1e-5 (the tensors compared are O(1): summation order differs between kernels and the
/// reference accumulates in Double).
func assertClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.shape, expected.shape, "shape " + message(), file: file, line: line)
    guard actual.shape == expected.shape else { return }
    var worst = 0, worstExcess: Float = 0
    for i in 0..<actual.count {
        let excess = abs(actual.data[i] - expected.data[i]) - (atol + rtol * abs(expected.data[i]))
        if !(excess <= worstExcess) { worst = i; worstExcess = excess.isNaN ? .infinity : excess }
    }
    XCTAssert(
        worstExcess <= 0, "\(message()): element \(worst) is \(actual.data[worst]), expected \(expected.data[worst])",
        file: file, line: line)
}
