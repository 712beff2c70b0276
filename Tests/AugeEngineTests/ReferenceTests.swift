import XCTest
@testable import AugeEngine

/// The oracle itself, checked on small cases computed by hand.
final class ReferenceTests: XCTestCase {
    func run(_ graph: Graph, _ x: Tensor) throws -> Tensor { try runReference(graph, inputs: ["x": x])["y"]! }

    func testConvolutionWithPaddingStrideAndBias() throws {
        // 1x1x3x3 input 1...9, 2x2 kernel of ones, pad 1 on top/left only, stride 2.
        let conv = Convolution(
            weight: Tensor(shape: [1, 1, 2, 2], data: [1, 1, 1, 1]), bias: Tensor(shape: [1], data: [10]),
            strides: (2, 2), pads: (1, 1, 0, 0))
        let y = try run(
            singleNodeGraph(.convolution(conv), inputShape: [1, 1, 3, 3]),
            Tensor(shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9]))
        XCTAssertEqual(y, Tensor(shape: [1, 1, 2, 2], data: [11, 15, 21, 38]))
    }

    func testGroupedDilatedConvolution() throws {
        // Two groups of one channel each; dilation 2 picks the corners of a 3x3 input.
        let conv = Convolution(weight: Tensor(shape: [2, 1, 2, 2], data: [1, 0, 0, 1, 0, 1, 1, 0]), dilations: (2, 2), groups: 2)
        let x = Tensor(shape: [1, 2, 3, 3], data: (1...18).map(Float.init))
        let y = try run(singleNodeGraph(.convolution(conv), inputShape: x.shape), x)
        XCTAssertEqual(y, Tensor(shape: [1, 2, 1, 1], data: [1 + 9, 12 + 16]))
    }

    func testBatchNormalizationAndActivations() throws {
        let bn = BatchNormalization(scale: [2], bias: [1], mean: [3], variance: [4], epsilon: 0)
        XCTAssertEqual(try run(singleNodeGraph(.batchNormalization(bn), inputShape: [1, 1, 1, 2]), Tensor(shape: [1, 1, 1, 2], data: [3, 5])).data, [1, 3])
        let cases: [(Activation, Float, Float)] = [
            (.relu, -2, 0), (.clip(min: 0, max: 6), 7, 6), (.leakyRelu(alpha: 0.1), -2, -0.2), (.sigmoid, 0, 0.5),
            (.hardSigmoid(alpha: 0.2, beta: 0.5), 1, 0.7), (.hardSwish, 3, 3), (.hardSwish, -1, -1.0 / 3), (.silu, 0, 0),
            (.tanh, 0, 0),
            // QuantizeLinear then DequantizeLinear: 1.3 / 0.5 = 2.6 rounds to 3; 2.5 rounds to even 2;
            // -20 saturates at 0, which is -10 steps below the zero point.
            (.fakeQuantize(scale: 0.5, zeroPoint: 10, lower: 0, upper: 255), 1.3, 1.5),
            (.fakeQuantize(scale: 0.5, zeroPoint: 10, lower: 0, upper: 255), 1.25, 1),
            (.fakeQuantize(scale: 0.5, zeroPoint: 10, lower: 0, upper: 255), -20, -5),
            (.fakeQuantize(scale: 0.5, zeroPoint: 0, lower: -128, upper: 127), 100, 63.5),
        ]
        for (activation, input, expected) in cases {
            XCTAssertEqual(activation.referenceValue(input), expected, accuracy: 1e-6, "\(activation)")
        }
    }

    func testBroadcastingMulAndAdd() throws {
        let scale = Tensor(shape: [1, 2, 1, 1], data: [10, 100])
        let x = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 3, 4])
        let graph = singleNodeGraph(.mul, inputShape: x.shape, constants: ["s": scale], extraInputs: ["s"])
        XCTAssertEqual(try run(graph, x).data, [10, 20, 300, 400])
        let add = singleNodeGraph(.add, inputShape: x.shape, constants: ["s": Tensor(shape: [2], data: [1, 2])], extraInputs: ["s"])
        XCTAssertEqual(try run(add, x).data, [2, 4, 4, 6])
    }

    func testPoolingCeilModeAndCountIncludePad() throws {
        let x = Tensor(shape: [1, 1, 3, 3], data: (1...9).map(Float.init))
        let ceil = Pooling(kernel: (2, 2), strides: (2, 2), ceilMode: true)
        XCTAssertEqual(try run(singleNodeGraph(.maxPool(ceil), inputShape: x.shape), x).data, [5, 6, 8, 9])
        XCTAssertEqual(try run(singleNodeGraph(.averagePool(ceil), inputShape: x.shape), x).data, [3, 4.5, 7.5, 9])
        let padded = Pooling(kernel: (2, 2), strides: (2, 2), pads: (1, 1, 0, 0), countIncludePad: true)
        XCTAssertEqual(try run(singleNodeGraph(.averagePool(padded), inputShape: x.shape), x).data, [0.25, 1.25, 2.75, 7])
        XCTAssertEqual(try run(singleNodeGraph(.globalAveragePool, inputShape: x.shape), x).data, [5])
    }

    func testConcatPadFlattenReshape() throws {
        let x = Tensor(shape: [1, 2, 1, 2], data: [1, 2, 3, 4])
        let concat = Graph(
            inputs: [GraphInput(name: "x", shape: [nil, 2, 1, 2])],
            nodes: [Node(name: "c", operation: .concat(axis: -1), inputs: ["x", "x"], outputs: ["y"])], outputs: ["y"])
        XCTAssertEqual(try run(concat, x), Tensor(shape: [1, 2, 1, 4], data: [1, 2, 1, 2, 3, 4, 3, 4]))
        let pad = singleNodeGraph(.pad(pads: [0, 0, 0, 1, 0, -1, 0, 0], value: 9), inputShape: x.shape)
        XCTAssertEqual(try run(pad, x), Tensor(shape: [1, 1, 1, 3], data: [9, 1, 2]))
        XCTAssertEqual(try run(singleNodeGraph(.flatten(axis: 2), inputShape: x.shape), x).shape, [2, 2])
        XCTAssertEqual(try run(singleNodeGraph(.reshape(shape: [0, -1]), inputShape: x.shape), x).shape, [1, 4])
    }

    /// Values PyTorch's interpolate(mode="bilinear", align_corners=False) gives for this input.
    func testResizeAndReductions() throws {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let up = try run(singleNodeGraph(.resize(height: 4, width: 4), inputShape: x.shape), x)
        XCTAssertEqual(up.data, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4])
        let channels = Tensor(shape: [1, 3, 1, 2], data: [5, -1, 2, 7, -3, 0])
        XCTAssertEqual(try run(singleNodeGraph(.reduce(.min, axis: 1), inputShape: channels.shape), channels), Tensor(shape: [1, 1, 1, 2], data: [-3, -1]))
        XCTAssertEqual(
            try run(singleNodeGraph(.reduce(.max, axis: -1), inputShape: channels.shape), channels),
            Tensor(shape: [1, 3, 1, 1], data: [5, 7, 0]))
    }

    func testGemmMatMulSoftmax() throws {
        let x = Tensor(shape: [1, 2], data: [1, 2])
        let fc = FullyConnected(
            weight: Tensor(shape: [3, 2], data: [1, 0, 0, 1, 1, 1]), bias: Tensor(shape: [3], data: [1, 1, 1]),
            transB: true, alpha: 2, beta: 0.5)
        XCTAssertEqual(try run(singleNodeGraph(.fullyConnected(fc), inputShape: x.shape), x).data, [2.5, 4.5, 6.5])
        let matMul = singleNodeGraph(.matMul(weight: Tensor(shape: [2, 1], data: [3, 4])), inputShape: x.shape)
        XCTAssertEqual(try run(matMul, x).data, [11])
        let y = try run(singleNodeGraph(.softmax(axis: 1), inputShape: [1, 2]), Tensor(shape: [1, 2], data: [0, Float(log(3.0))]))
        XCTAssertEqual(y.data[0], 0.25, accuracy: 1e-6)
        XCTAssertEqual(y.data[1], 0.75, accuracy: 1e-6)
    }

    func testShapeErrorsNameTheNode() {
        let conv = Convolution(weight: Tensor(zeros: [4, 5, 3, 3]))
        let graph = Graph(
            inputs: [GraphInput(name: "x", shape: [nil, 3, 8, 8])],
            nodes: [Node(name: "conv_3", operation: .convolution(conv), inputs: ["x"], outputs: ["y"])], outputs: ["y"])
        XCTAssertThrowsError(try inferShapes(graph, batchSize: 1)) { error in
            XCTAssert("\(error)".contains("conv_3"), "\(error)")
        }
        let dangling = Graph(
            inputs: [GraphInput(name: "x", shape: [nil, 3])],
            nodes: [Node(name: "relu", operation: .activation(.relu), inputs: ["nope"], outputs: ["y"])], outputs: ["y"])
        XCTAssertThrowsError(try inferShapes(dangling, batchSize: 1))
    }

    func testShapesWithBatch() throws {
        let conv = Convolution(weight: Tensor(zeros: [8, 3, 3, 3]), strides: (2, 2), pads: (1, 1, 1, 1))
        let graph = singleNodeGraph(.convolution(conv), inputShape: [1, 3, 17, 16])
        XCTAssertEqual(try inferShapes(graph, batchSize: 3)["y"], [3, 8, 9, 8])
    }
}
