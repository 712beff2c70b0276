import Foundation
import XCTest
@testable import AugeEngine

/// The vectorised exp, the activations and softmax at the ends of the float range, against the
/// reference (Double math). Expectations, per input:
///  - finite x: the reference value (`Activation.referenceValue`), within 1e-6 + 1e-5 |expected|;
///  - ±infinity: the function's limit, exactly, with one exception: hardSwish(-inf) is NaN (IEEE
///    -inf * 0, as in the reference, ONNX Runtime and PyTorch). The reference itself gives NaN for
///    silu(-inf) (-inf / inf); the kernel gives the limit 0;
///  - NaN: NaN for every activation (the reference's hardSigmoid, max(0, min(1, NaN)), gives 1 there:
///    Swift's min returns its first argument when the comparison is unordered);
///  - sqrt of a negative number: NaN.
final class ActivationExtremeTests: XCTestCase {
    static let extremes: [Float] = [
        20, -20, 88, -88, 89, -89, 1e4, -1e4, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        1e38, -1e38, .infinity, -.infinity, .nan,
    ]
    /// Ordinary values, so the same checks also cover the functions' middle (and the kinks of the hard ones).
    static let ordinary: [Float] = [0, -0.0, 0.25, -0.25, 1, -1, 2.9, -2.9, 3, -3, 6, -6, 87, -87, 87.5, -87.5]
    static var values: [Float] { extremes + ordinary }

    static let activations: [Activation] = [
        .relu, .clip(min: 0, max: 6), .leakyRelu(alpha: 0.1), .sigmoid,
        .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .silu, .tanh, .sqrt, .reciprocal,
        .fakeQuantize(scale: 0.05, zeroPoint: 128, lower: 0, upper: 255),
        .fakeQuantize(scale: 0.5, zeroPoint: -3, lower: -128, upper: 127),
    ]

    static func expected(_ activation: Activation, _ x: Float) -> Float {
        if x.isNaN { return .nan }
        if x.isInfinite {
            let positive = x > 0
            switch activation {
            case .relu: return positive ? .infinity : 0
            case let .clip(lower, upper): return positive ? upper : lower
            case .leakyRelu: return x
            case .sigmoid, .hardSigmoid: return positive ? 1 : 0
            case .hardSwish: return positive ? .infinity : .nan
            case .silu: return positive ? .infinity : 0
            case .tanh: return positive ? 1 : -1
            case .sqrt: return positive ? .infinity : .nan
            case .reciprocal: return positive ? 0 : -0.0
            case let .fakeQuantize(scale, zeroPoint, lower, upper): return ((positive ? upper : lower) - zeroPoint) * scale
            }
        }
        return activation.referenceValue(x)
    }

    static func matches(_ actual: Float, _ expected: Float) -> Bool {
        if expected.isNaN { return actual.isNaN }
        if expected.isInfinite { return actual == expected }
        return abs(actual - expected) <= 1e-6 + 1e-5 * abs(expected)
    }

    func assertActivations(_ actual: [Float], _ activation: Activation, _ path: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, Self.values.count, path, file: file, line: line)
        for (x, y) in zip(Self.values, actual) {
            let want = Self.expected(activation, x)
            XCTAssert(Self.matches(y, want), "\(path): \(activation)(\(x)) = \(y), expected \(want)", file: file, line: line)
        }
    }

    /// `Activation.apply` on SIMD lanes: the values sixteen at a time, each in a different lane position.
    func testActivationLanesAtExtremes() {
        let values = Self.values
        for activation in Self.activations {
            for rotation in [0, 5, 11] {
                var actual = [Float](repeating: 0, count: values.count)
                var start = 0
                while start < values.count {
                    var lanes = Vector(repeating: 0)
                    for lane in 0..<vectorWidth { lanes[lane] = values[(start + (lane + rotation) % vectorWidth) % values.count] }
                    let result = activation.apply(lanes)
                    for lane in 0..<vectorWidth where start + (lane + rotation) % vectorWidth < values.count {
                        actual[start + (lane + rotation) % vectorWidth] = result[lane]
                    }
                    start += vectorWidth
                }
                assertActivations(actual, activation, "lanes, rotation \(rotation)")
            }
        }
    }

    /// The standalone activation layer (vectors plus a scalar tail) and the activation fused into a
    /// convolution's epilogue (a 1x1 identity convolution on one channel: x * 1 + (-0) is exact, down to
    /// the sign of zero, which reciprocal's infinity keeps).
    func testActivationLayersAtExtremes() throws {
        let values = Self.values
        let input = Tensor(shape: [1, values.count], data: values)
        for activation in Self.activations {
            let standalone = Graph(
                name: "act", inputs: [GraphInput(name: "x", shape: [nil, values.count])],
                nodes: [Node(name: "a", operation: .activation(activation), inputs: ["x"], outputs: ["y"])], outputs: ["y"])
            assertActivations(try Engine(graph: standalone, threads: 1).run(["x": input])["y"]!.data, activation, "activation layer")
            let identity = Convolution(weight: Tensor(shape: [1, 1, 1, 1], data: [1]), bias: Tensor(shape: [1], data: [-0.0]))
            let fused = Graph(
                name: "fused", inputs: [GraphInput(name: "x", shape: [nil, 1, 1, values.count])],
                nodes: [
                    Node(name: "c", operation: .convolution(identity), inputs: ["x"], outputs: ["c"]),
                    Node(name: "a", operation: .activation(activation), inputs: ["c"], outputs: ["y"]),
                ], outputs: ["y"])
            let engine = try Engine(graph: fused, threads: 1)
            XCTAssertEqual(engine.layers.filter { $0.kind.hasPrefix("conv") }.map(\.kind), ["conv 1x1/1 (gemm) + \(activation)"])
            let output = try engine.run(["x": Tensor(shape: [1, 1, 1, values.count], data: values)])["y"]!
            assertActivations(output.data, activation, "fused epilogue")
        }
    }

    /// `vectorExp`: relative error below 1e-6 on [-87, 88] (dense sample plus the ends), clamped
    /// outside: e^88 above (finite, never infinity), at most e^-87 (never negative) below, NaN for NaN.
    func testVectorExpAcrossTheRangeAndBeyond() {
        var inside: [Float] = stride(from: Float(-87), through: 88, by: 0.0173).map { $0 } + [-87, -86.99, 0, -0.0, 1e-30, -1e-30, 87.99, 88]
        while inside.count % vectorWidth != 0 { inside.append(0.5) }
        for start in stride(from: 0, to: inside.count, by: vectorWidth) {
            var x = Vector()
            for lane in 0..<vectorWidth { x[lane] = inside[start + lane] }
            let y = vectorExp(x)
            for lane in 0..<vectorWidth {
                let want = Foundation.exp(Double(x[lane]))
                XCTAssertLessThanOrEqual(abs(Double(y[lane]) - want), 1e-6 * want, "exp(\(x[lane])) = \(y[lane]), expected \(want)")
            }
        }
        let e88 = vectorExp(Vector(repeating: 88))[0], e87 = Float(Foundation.exp(-87.0))
        for x: Float in [88.5, 89, 1e4, .greatestFiniteMagnitude, .infinity] {
            let y = vectorExp(Vector(repeating: x))
            XCTAssert(y[0].isFinite && y[0] == e88, "exp(\(x)) = \(y[0]), expected the clamp e^88 = \(e88)")
        }
        for x: Float in [-87.5, -88, -89, -104, -1e4, -.greatestFiniteMagnitude, -.infinity] {
            let y = vectorExp(Vector(repeating: x))[0]
            XCTAssert(y >= 0 && y <= e87 * 1.000_01, "exp(\(x)) = \(y), expected a value in [0, e^-87]")
        }
        var mixed = Vector(repeating: 1)
        mixed[3] = .nan
        mixed[9] = .infinity
        let y = vectorExp(mixed)
        XCTAssert(y[3].isNaN, "exp(NaN) = \(y[3])")
        XCTAssertEqual(y[9], e88)
        XCTAssertEqual(Double(y[0]), M_E, accuracy: 3e-6, "a NaN or infinite lane must not disturb the others")
    }

    /// Softmax over logits of ±1e4 and ±Float.greatestFiniteMagnitude: no NaN, rows summing to 1, the
    /// reference's values. NaN in a row makes that row NaN (and only that row).
    func testSoftmaxWithLargeLogits() throws {
        let big = Float.greatestFiniteMagnitude
        let rows: [[Float]] = [
            [1e4, -1e4, 0, 1e4 - 1, 3],
            [-1e4, -1e4, -1e4, -1e4, -1e4],
            [1e4, 1e4, 1e4, 1e4, 1e4],
            [big, -big, 0, 1, big],
            [-big, -big, -big, -big, -big],
            [88, 89, -89, 20, -20],
            [-1e4, 1e4, -big, big, 0],
        ]
        let length = rows[0].count
        let x = Tensor(shape: [rows.count, length], data: rows.flatMap { $0 })
        let graph = Graph(
            name: "softmax", inputs: [GraphInput(name: "x", shape: [nil, length])],
            nodes: [Node(name: "s", operation: .softmax(axis: 1), inputs: ["x"], outputs: ["y"])], outputs: ["y"])
        let y = try Engine(graph: graph, batchSize: rows.count, threads: 1).run(["x": x])["y"]!
        XCTAssertFalse(y.data.contains { $0.isNaN }, "\(y.data)")
        for row in rows.indices {
            let sum = y.data[row * length..<(row + 1) * length].reduce(0, +)
            XCTAssertEqual(sum, 1, accuracy: 1e-5, "row \(row): \(rows[row])")
        }
        assertClose(y, try runReference(graph, inputs: ["x": x])["y"]!, "softmax of large logits")
        for (actual, expected) in zip(y.data[0..<length], [0.731_058_6, 0, 0, 0.268_941_4, 0] as [Float]) {
            XCTAssertEqual(actual, expected, accuracy: 1e-6, "the first row (1e4 and 1e4 - 1 share it): \(y.data[0..<length])")
        }

        // Along a middle axis (inner > 1), the same logits.
        let middle = Tensor(shape: [1, length, rows.count], data: (0..<(length * rows.count)).map { rows[$0 % rows.count][$0 / rows.count] })
        let axisGraph = Graph(
            name: "softmax-axis", inputs: [GraphInput(name: "x", shape: [nil, length, rows.count])],
            nodes: [Node(name: "s", operation: .softmax(axis: 1), inputs: ["x"], outputs: ["y"])], outputs: ["y"])
        let z = try Engine(graph: axisGraph, threads: 1).run(["x": middle])["y"]!
        XCTAssertFalse(z.data.contains { $0.isNaN })
        assertClose(z, try runReference(axisGraph, inputs: ["x": middle])["y"]!, "softmax of large logits along axis 1 of 3")

        // NaN in one row: that row is NaN, the next one is untouched.
        let withNaN = Tensor(shape: [2, 3], data: [1, .nan, 2, 1e4, -1e4, 0])
        let nanOutput = try Engine(
            graph: Graph(
                name: "softmax-nan", inputs: [GraphInput(name: "x", shape: [nil, 3])],
                nodes: [Node(name: "s", operation: .softmax(axis: 1), inputs: ["x"], outputs: ["y"])],
                outputs: ["y"]), batchSize: 2, threads: 1
        ).run(["x": withNaN])["y"]!
        XCTAssert(nanOutput.data[0..<3].allSatisfy(\.isNaN), "\(nanOutput.data)")
        XCTAssertEqual(Array(nanOutput.data[3..<6]), [1, 0, 0])
    }
}
