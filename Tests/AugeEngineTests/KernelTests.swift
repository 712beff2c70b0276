import XCTest
@testable import AugeEngine

/// Every fast kernel against the reference over many shapes (tolerance: see `assertClose`).
final class KernelTests: XCTestCase {
    /// Runs `graph` in the engine (1 and 2 threads) and in the reference on the same random input.
    /// `scaledAbsoluteTolerance`: the absolute tolerance grows with the outputs' RMS when that is above
    /// 1 (rounding errors scale with the values summed, and Winograd's transforms sum larger ones).
    func check(
        _ graph: Graph, batch: Int = 1, seed: UInt64 = 1, scaledAbsoluteTolerance: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let shape = [batch] + graph.inputs[0].shape.dropFirst().map { $0! }
        let x = randomTensor(shape, seed: seed)
        let expected = try runReference(graph, inputs: [graph.inputs[0].name: x])
        for threads in [1, 2] {
            let engine = try Engine(graph: graph, batchSize: batch, threads: threads)
            let actual = try engine.run([graph.inputs[0].name: x])
            for name in graph.outputs {
                let reference = expected[name]!
                let rms = (reference.data.reduce(0) { $0 + $1 * $1 } / Float(reference.count)).squareRoot()
                assertClose(
                    actual[name]!, reference, atol: 1e-5 * (scaledAbsoluteTolerance ? max(1, rms) : 1),
                    "\(graph.name) output \(name), \(threads) thread(s), batch \(batch)", file: file, line: line)
            }
        }
    }

    func convolution(
        _ inChannels: Int, _ outChannels: Int, kernel: (Int, Int) = (3, 3), strides: (Int, Int) = (1, 1),
        dilations: (Int, Int) = (1, 1), pads: (Int, Int, Int, Int) = (0, 0, 0, 0), groups: Int = 1, bias: Bool = true,
        seed: UInt64
    ) -> Convolution {
        Convolution(
            weight: randomTensor([outChannels, inChannels / groups, kernel.0, kernel.1], seed: seed, range: -0.5...0.5),
            bias: bias ? randomTensor([outChannels], seed: seed + 1) : nil, strides: strides, dilations: dilations,
            pads: (pads.0, pads.1, pads.2, pads.3), groups: groups)
    }

    func batchNorm(_ channels: Int, seed: UInt64) -> BatchNormalization {
        BatchNormalization(
            scale: randomTensor([channels], seed: seed, range: 0.5...1.5).data, bias: randomTensor([channels], seed: seed + 1).data,
            mean: randomTensor([channels], seed: seed + 2).data, variance: randomTensor([channels], seed: seed + 3, range: 0.5...2).data)
    }

    /// A chain of nodes on input "x" ([nil] + shape), each consuming the previous output; the last output is "y".
    func chain(_ name: String, _ shape: [Int], _ operations: [AugeEngine.Operation], constants: [String: Tensor] = [:]) -> Graph {
        var nodes: [Node] = []
        var previous = "x"
        for (index, operation) in operations.enumerated() {
            let output = index == operations.count - 1 ? "y" : "v\(index)"
            nodes.append(Node(name: "\(name)_\(index)", operation: operation, inputs: [previous], outputs: [output]))
            previous = output
        }
        return Graph(name: name, inputs: [GraphInput(name: "x", shape: [nil] + shape)], nodes: nodes, constants: constants, outputs: ["y"])
    }

    func testConvolutionChannelTailsStridesAndPadding() throws {
        let channels = [1, 3, 5, 13, 16, 17, 31, 33, 64]
        let padStyles = [(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 1, 0), (2, 0, 1, 2)]
        var seed: UInt64 = 10
        for (index, inChannels) in channels.enumerated() {
            let outChannels = channels[(index * 5 + 3) % channels.count]
            for stride in [1, 2] {
                let pads = padStyles[(index + stride) % padStyles.count]
                seed += 7
                let conv = convolution(inChannels, outChannels, strides: (stride, stride), pads: pads, seed: seed)
                try check(chain("conv\(inChannels)-\(outChannels)s\(stride)", [inChannels, 9, 7], [.convolution(conv)]), seed: seed)
            }
        }
    }

    func testConvolutionKernelSizesDilationAndBatch() throws {
        let cases: [(Int, Int, (Int, Int), (Int, Int), (Int, Int), (Int, Int, Int, Int))] = [
            (3, 16, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)),  // first layer
            (3, 17, (7, 7), (2, 2), (1, 1), (3, 3, 3, 3)),  // ResNet stem, channel tail
            (16, 33, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),  // direct 1x1 GEMM
            (17, 24, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0)),  // strided 1x1 (gathered)
            (5, 8, (3, 3), (1, 1), (2, 2), (2, 2, 2, 2)),  // dilation
            (8, 13, (1, 5), (1, 2), (1, 1), (0, 2, 0, 2)),  // non-square kernel
            (13, 5, (2, 3), (2, 1), (1, 2), (1, 0, 0, 2)),  // everything asymmetric
            (2, 16, (3, 3), (2, 1), (1, 2), (1, 2, 0, 1)),  // planar first layer with dilation
            (4, 20, (5, 3), (1, 2), (2, 1), (2, 1, 2, 1)),  // planar first layer, 4 channels
        ]
        for (index, (cin, cout, kernel, strides, dilations, pads)) in cases.enumerated() {
            let conv = convolution(
                cin, cout, kernel: kernel, strides: strides, dilations: dilations, pads: pads, bias: index % 2 == 0,
                seed: UInt64(100 + index))
            try check(chain("conv-case\(index)", [cin, 11, 10], [.convolution(conv)]), batch: 3, seed: UInt64(index))
        }
    }

    /// The planner's choice for each kind of convolution, read from the layer description's enum.
    func testConvolutionAlgorithmChoice() throws {
        let cases: [(String, input: [Int], Convolution, ConvolutionAlgorithm)] = [
            ("first", [3, 20, 20], convolution(3, 16, strides: (2, 2), pads: (1, 1, 1, 1), seed: 1), .firstLayerPlanar),
            ("pointwise", [8, 9, 9], convolution(8, 24, kernel: (1, 1), seed: 2), .gemm),
            ("depthwise", [12, 9, 9], convolution(12, 12, pads: (1, 1, 1, 1), groups: 12, seed: 3), .depthwise),
            ("grouped", [12, 9, 9], convolution(12, 6, pads: (1, 1, 1, 1), groups: 3, seed: 4), .implicitGemm),
            ("strided", [16, 9, 9], convolution(16, 16, strides: (2, 2), seed: 5), .implicitGemm),
            ("winograd2", [16, 9, 9], convolution(16, 16, pads: (1, 1, 1, 1), seed: 6), .winograd(tile: 2)),
            ("winograd4", [16, 16, 16], convolution(16, 16, pads: (1, 1, 1, 1), seed: 7), .winograd(tile: 4)),
            ("few channels", [16, 9, 9], convolution(16, 8, pads: (1, 1, 1, 1), seed: 8), .implicitGemm),
        ]
        for (name, input, conv, expected) in cases {
            let engine = try Engine(graph: chain(name, input, [.convolution(conv)]))
            XCTAssertEqual(engine.layers.compactMap(\.convolution), [expected], name)
            XCTAssert(engine.layers.contains { $0.kind.contains("(\(expected))") }, "\(name): the kind text names the algorithm")
        }
        // Behind another convolution the input is channels-last: a 3-channel layer is no longer planar.
        let second = chain(
            "second", [16, 10, 10],
            [
                .convolution(convolution(16, 3, kernel: (1, 1), seed: 9)),
                .convolution(convolution(3, 8, pads: (1, 1, 1, 1), seed: 10)),
            ])
        XCTAssertEqual(try Engine(graph: second).layers.compactMap(\.convolution), [.gemm, .implicitGemm])
    }

    func testWinogradConvolution() throws {
        // 3x3 stride 1 with at least 16 channels each way and a 7x7+ output, both tile sizes: odd output
        // sizes leave partial 2x2 and 4x4 tiles; asymmetric padding, channel tails, a plain (graph
        // input) and a channels-last source, batch 2, and the fused epilogue with a residual.
        let cases: [(Int, Int, (Int, Int, Int, Int), Int, Int, Int)] = [
            (16, 16, (1, 1, 1, 1), 11, 13, 2), (17, 33, (0, 1, 2, 0), 12, 10, 2), (31, 17, (1, 1, 1, 1), 10, 15, 2), (64, 64, (1, 1, 1, 1), 14, 14, 2),
            (33, 16, (1, 1, 1, 1), 7, 7, 2), (17, 20, (1, 1, 1, 1), 21, 23, 4), (16, 31, (0, 1, 2, 0), 20, 22, 4), (48, 33, (1, 1, 1, 1), 24, 24, 4),
        ]
        for (index, (cin, cout, pads, height, width, tile)) in cases.enumerated() {
            let conv = convolution(cin, cout, pads: pads, seed: UInt64(300 + index))
            let graph = chain("winograd\(cin)-\(cout)", [cin, height, width], [.convolution(conv), .activation(.relu)])
            XCTAssertEqual(try Engine(graph: graph).layers.compactMap(\.convolution), [.winograd(tile: tile)], "\(graph.name) \(height)x\(width)")
            try check(graph, batch: 2, seed: UInt64(index), scaledAbsoluteTolerance: true)
        }
        let c = 33
        let residual = Graph(
            name: "winograd-residual", inputs: [GraphInput(name: "x", shape: [nil, c, 11, 10])],
            nodes: [
                Node(name: "pool", operation: .maxPool(Pooling(kernel: (1, 1))), inputs: ["x"], outputs: ["p"]),
                Node(name: "conv", operation: .convolution(convolution(c, c, pads: (1, 1, 1, 1), seed: 7)), inputs: ["p"], outputs: ["c"]),
                Node(name: "bn", operation: .batchNormalization(batchNorm(c, seed: 8)), inputs: ["c"], outputs: ["b"]),
                Node(name: "add", operation: .add, inputs: ["b", "p"], outputs: ["s"]),
                Node(name: "relu", operation: .activation(.clip(min: 0, max: 6)), inputs: ["s"], outputs: ["y"]),
            ], outputs: ["y"])
        try check(residual, batch: 2)
    }

    func testGroupedAndDepthwiseConvolution() throws {
        for (channels, groups, outChannels, stride) in [
            (6, 2, 4, 1), (34, 2, 34, 2), (12, 3, 18, 1), (5, 5, 5, 1), (17, 17, 17, 2),
            (33, 33, 33, 1), (64, 64, 64, 2), (8, 8, 16, 1),
        ] {
            let conv = convolution(
                channels, outChannels, strides: (stride, stride), pads: (1, 1, 1, 1), groups: groups,
                seed: UInt64(channels * 10 + groups))
            try check(chain("group\(channels)g\(groups)", [channels, 9, 8], [.convolution(conv), .activation(.clip(min: 0, max: 6))]), batch: 2)
        }
        // Depthwise with asymmetric padding, a 5x5 kernel and dilation.
        let odd = convolution(13, 13, kernel: (5, 5), strides: (2, 1), dilations: (1, 2), pads: (2, 0, 1, 3), groups: 13, seed: 5)
        try check(chain("depthwise-odd", [13, 12, 11], [.convolution(odd)]), batch: 2)
        // Both depthwise paths: in place (interior windows four pixels at a time, border windows tap by
        // tap) and on a padded copy (most windows cross the border), any kernel size.
        let paths:
            [(
                channels: Int, kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int), pads: (Int, Int, Int, Int),
                size: (Int, Int), padded: Bool
            )] = [
                (17, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), (40, 37), false),
                (33, (5, 5), (2, 2), (1, 1), (2, 1, 1, 2), (27, 30), false),
                (31, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), (7, 7), true),
                (33, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), (7, 6), true),
                (16, (7, 3), (2, 1), (2, 1), (5, 0, 3, 1), (9, 11), true),
            ]
        for (index, path) in paths.enumerated() {
            let conv = convolution(
                path.channels, path.channels, kernel: path.kernel, strides: path.strides, dilations: path.dilations,
                pads: path.pads, groups: path.channels, seed: UInt64(400 + index))
            let graph = chain("depthwise-path\(index)", [path.channels, path.size.0, path.size.1], [.convolution(conv), .activation(.relu)])
            let shapes = try inferShapes(graph, batchSize: 2)
            let (x, y) = (shapes["x"]!, shapes["v0"]!)
            let geometry = ConvolutionGeometry(
                batch: 2, inHeight: x[2], inWidth: x[3], inChannels: x[1], outHeight: y[2], outWidth: y[3],
                outChannels: y[1], kernelHeight: path.kernel.0, kernelWidth: path.kernel.1,
                strideY: path.strides.0, strideX: path.strides.1, dilationY: path.dilations.0,
                dilationX: path.dilations.1, padTop: path.pads.0, padLeft: path.pads.1,
                padBottom: path.pads.2, padRight: path.pads.3, groups: path.channels)
            XCTAssertEqual(DepthwiseStep.needsPaddedCopy(geometry), path.padded, graph.name)
            try check(graph, batch: 2, seed: UInt64(index))
        }
        // 3x3 depthwise (unrolled interior path) with dilation, mixed strides and asymmetric padding.
        let dilated = convolution(24, 24, strides: (1, 2), dilations: (2, 1), pads: (2, 0, 1, 1), groups: 24, seed: 6)
        try check(chain("depthwise-3x3-dilated", [24, 10, 13], [.convolution(dilated), .activation(.hardSwish)]), batch: 2)
    }

    func testFusedBatchNormActivationsAndResidual() throws {
        let activations: [Activation] = [
            .relu, .clip(min: -1, max: 0.5), .leakyRelu(alpha: 0.1), .sigmoid, .hardSigmoid(alpha: 0.2, beta: 0.5),
            .hardSwish, .silu, .tanh,
        ]
        for (index, activation) in activations.enumerated() {
            let c = [5, 16, 17, 33][index % 4]
            let conv = convolution(c, c, pads: (1, 1, 1, 1), seed: UInt64(200 + index))
            // conv -> BN -> activation -> add(input) -> activation: everything folds into the convolution.
            let graph = Graph(
                name: "fused-\(activation)", inputs: [GraphInput(name: "x", shape: [nil, c, 7, 6])],
                nodes: [
                    Node(name: "conv", operation: .convolution(conv), inputs: ["x"], outputs: ["c"]),
                    Node(name: "bn", operation: .batchNormalization(batchNorm(c, seed: UInt64(index))), inputs: ["c"], outputs: ["b"]),
                    Node(name: "act", operation: .activation(activation), inputs: ["b"], outputs: ["a"]),
                    Node(name: "add", operation: .add, inputs: ["x", "a"], outputs: ["s"]),
                    Node(name: "post", operation: .activation(activation), inputs: ["s"], outputs: ["y"]),
                ], outputs: ["y"])
            let engine = try Engine(graph: graph, threads: 1)
            // Only layout conversions of the graph's input and output remain beside the fused convolution.
            XCTAssertEqual(engine.layers.compactMap(\.convolution), [.implicitGemm])
            XCTAssertEqual(
                engine.layers.filter { !$0.kind.hasPrefix("to ") }.map(\.kind),
                ["conv 3x3/1 (implicit gemm) + \(activation) + add + \(activation)"])
            try check(graph, batch: 2)
        }
    }

    func testStandaloneActivationsBatchNormAndElementwise() throws {
        // Fake quantization only here, on values no kernel computed first: a value one rounding error from a
        // step's edge would land a whole step away in the reference.
        let activations: [Activation] = [
            .relu, .clip(min: 0, max: 6), .leakyRelu(alpha: 0.01), .sigmoid, .hardSigmoid(alpha: 0.1667, beta: 0.5),
            .hardSwish, .silu, .tanh, .fakeQuantize(scale: 0.02, zeroPoint: 128, lower: 0, upper: 255),
            .fakeQuantize(scale: 0.1, zeroPoint: -3, lower: -128, upper: 127),
        ]
        for activation in activations {
            // After a pool the value is channels-last; after a flatten it is plain with a tail.
            try check(
                chain(
                    "act-cl-\(activation)", [13, 5, 5],
                    [
                        .maxPool(Pooling(kernel: (1, 1))), .activation(activation),
                        .batchNormalization(batchNorm(13, seed: 3)),
                    ]), batch: 2)
            try check(chain("act-plain-\(activation)", [37], [.activation(activation), .batchNormalization(batchNorm(37, seed: 4))]), batch: 3)
        }
    }

    /// The square root after a ReLU (its input is never negative), channels-last and plain.
    func testSquareRoot() throws {
        try check(chain("sqrt-cl", [19, 4, 3], [.maxPool(Pooling(kernel: (1, 1))), .activation(.relu), .activation(.sqrt)]), batch: 2)
        try check(chain("sqrt-plain", [37], [.activation(.relu), .activation(.sqrt)]), batch: 3)
        try check(chain("reciprocal-cl", [19, 4, 3], [.maxPool(Pooling(kernel: (1, 1))), .activation(.reciprocal)]), batch: 2)
    }

    /// ReduceMin / ReduceMax over the channels of a convolution's output (the anomaly models' nearest
    /// neighbour: one lane tail per count) and along other axes of plain data.
    func testReductions() throws {
        var seed: UInt64 = 300
        for channels in [1, 5, 15, 16, 17, 33, 100] {
            for reduction in [Reduction.min, .max] {
                seed += 3
                let conv = convolution(6, channels, kernel: (1, 1), seed: seed)
                try check(chain("reduce-\(reduction)-\(channels)", [6, 5, 7], [.convolution(conv), .reduce(reduction, axis: 1)]), batch: 2)
            }
        }
        for axis in [1, 2, 3, -1] {
            try check(chain("reduce-plain-\(axis)", [3, 4, 5], [.reduce(.min, axis: axis)]), batch: 2)
            try check(chain("reduce-plain-max-\(axis)", [3, 4, 5], [.reduce(.max, axis: axis)]))
        }
    }

    /// Bilinear resize up, down and by uneven factors, over every channel tail.
    func testResize() throws {
        let cases: [(channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int)] = [
            (1, 7, 5, 14, 10), (17, 14, 14, 28, 28), (40, 5, 5, 11, 3), (3, 1, 4, 3, 8), (33, 6, 9, 6, 9),
        ]
        for c in cases {
            try check(
                chain(
                    "resize-\(c)", [c.channels, c.height, c.width],
                    [.maxPool(Pooling(kernel: (1, 1))), .resize(height: c.outHeight, width: c.outWidth)]), batch: 2)
        }
    }

    func testAddAndMulBroadcasting() throws {
        // Two branches added (same shape), squeeze-excitation Mul (channel broadcast per image),
        // a constant channel vector, and a general broadcast in the plain layout.
        let c = 17
        let graph = Graph(
            name: "binary", inputs: [GraphInput(name: "x", shape: [nil, c, 6, 5])],
            nodes: [
                Node(name: "a", operation: .convolution(convolution(c, c, kernel: (1, 1), seed: 1)), inputs: ["x"], outputs: ["a"]),
                Node(name: "b", operation: .convolution(convolution(c, c, pads: (1, 1, 1, 1), seed: 2)), inputs: ["x"], outputs: ["b"]),
                Node(name: "ab", operation: .mul, inputs: ["a", "b"], outputs: ["ab"]),
                Node(name: "gap", operation: .globalAveragePool, inputs: ["ab"], outputs: ["g"]),
                Node(name: "fc", operation: .convolution(convolution(c, c, kernel: (1, 1), seed: 3)), inputs: ["g"], outputs: ["f"]),
                Node(name: "gate", operation: .activation(.sigmoid), inputs: ["f"], outputs: ["s"]),
                Node(name: "se", operation: .mul, inputs: ["s", "ab"], outputs: ["e"]),
                Node(name: "bias", operation: .add, inputs: ["e", "k"], outputs: ["k1"]),
                Node(name: "sum", operation: .add, inputs: ["k1", "x"], outputs: ["t"]),
                Node(name: "row", operation: .mul, inputs: ["t", "r"], outputs: ["y"]),
            ], constants: ["k": randomTensor([c, 1, 1], seed: 9), "r": randomTensor([1, 5], seed: 8)], outputs: ["y"])
        try check(graph, batch: 2)
    }

    func testSigmoidMulBecomesSiLU() throws {
        let graph = Graph(
            name: "silu", inputs: [GraphInput(name: "x", shape: [nil, 5, 4, 4])],
            nodes: [
                Node(name: "conv", operation: .convolution(convolution(5, 16, pads: (1, 1, 1, 1), seed: 4)), inputs: ["x"], outputs: ["c"]),
                Node(name: "sig", operation: .activation(.sigmoid), inputs: ["c"], outputs: ["s"]),
                Node(name: "mul", operation: .mul, inputs: ["c", "s"], outputs: ["y"]),
            ], outputs: ["y"])
        let engine = try Engine(graph: graph)
        XCTAssertEqual(engine.layers.filter { !$0.kind.hasPrefix("to ") }.map(\.kind), ["conv 3x3/1 (implicit gemm) + silu"])
        try check(graph)
    }

    func testPooling() throws {
        let pools = [
            Pooling(kernel: (3, 3), strides: (2, 2), pads: (1, 1, 1, 1)),
            Pooling(kernel: (2, 2), strides: (2, 2), ceilMode: true),
            Pooling(kernel: (3, 2), strides: (1, 2), pads: (1, 0, 2, 1), countIncludePad: true),
            Pooling(kernel: (3, 3), strides: (2, 2), pads: (0, 1, 1, 0), ceilMode: true, countIncludePad: true),
        ]
        for (index, pool) in pools.enumerated() {
            for c in [3, 16, 33] {
                try check(chain("max\(index)", [c, 9, 7], [.maxPool(pool)]), batch: 2)
                try check(chain("avg\(index)", [c, 9, 7], [.averagePool(pool)]), batch: 2)
            }
        }
        try check(chain("gap", [31, 7, 5], [.globalAveragePool, .flatten(axis: 1)]), batch: 3)
    }

    func testConcatPadFlattenReshapeIdentity() throws {
        let graph = Graph(
            name: "shapes", inputs: [GraphInput(name: "x", shape: [nil, 5, 6, 7])],
            nodes: [
                Node(name: "c1", operation: .convolution(convolution(5, 13, kernel: (1, 1), seed: 1)), inputs: ["x"], outputs: ["a"]),
                Node(name: "c2", operation: .convolution(convolution(5, 3, pads: (1, 1, 1, 1), seed: 2)), inputs: ["x"], outputs: ["b"]),
                Node(name: "cat", operation: .concat(axis: 1), inputs: ["a", "b", "x"], outputs: ["ab"]),
                Node(name: "id", operation: .identity, inputs: ["ab"], outputs: ["i"]),
                Node(name: "catw", operation: .concat(axis: -1), inputs: ["i", "i"], outputs: ["w"]),
                Node(name: "pad", operation: .pad(pads: [0, 1, -1, 2, 0, 0, 1, -3], value: 0.5), inputs: ["w"], outputs: ["p"]),
                Node(name: "conv", operation: .convolution(convolution(22, 16, pads: (0, 1, 0, 1), seed: 3)), inputs: ["p"], outputs: ["q"]),
                Node(name: "flat", operation: .flatten(axis: 2), inputs: ["q"], outputs: ["f"]),
                Node(name: "reshape", operation: .reshape(shape: [0, -1, 4]), inputs: ["f"], outputs: ["y"]),
            ], outputs: ["y", "p"])
        try check(graph, batch: 2)
    }

    func testGemmMatMulSoftmax() throws {
        for (k, m, transB) in [(1, 1, true), (17, 3, false), (33, 31, true), (64, 1000, true)] {
            let fc = FullyConnected(
                weight: randomTensor(transB ? [m, k] : [k, m], seed: UInt64(k)), bias: randomTensor([m], seed: 2),
                transB: transB, alpha: 0.5, beta: 2)
            try check(chain("gemm\(k)x\(m)", [k], [.fullyConnected(fc), .softmax(axis: 1)]), batch: 3)
        }
        let matrixBias = FullyConnected(weight: randomTensor([5, 7], seed: 3), bias: randomTensor([2, 5], seed: 4))
        try check(chain("gemm-matrix-bias", [7], [.fullyConnected(matrixBias)]), batch: 2)
        try check(chain("matmul", [3, 4, 6], [.matMul(weight: randomTensor([6, 19], seed: 5)), .softmax(axis: 1)]), batch: 2)
        // MatMul followed by a constant Add becomes one Gemm with a bias.
        let linear = Graph(
            name: "linear", inputs: [GraphInput(name: "x", shape: [nil, 21])],
            nodes: [
                Node(name: "mm", operation: .matMul(weight: randomTensor([21, 17], seed: 6)), inputs: ["x"], outputs: ["m"]),
                Node(name: "bias", operation: .add, inputs: ["b", "m"], outputs: ["y"]),
            ], constants: ["b": randomTensor([17], seed: 7)], outputs: ["y"])
        XCTAssertEqual(try Engine(graph: linear).layers.map(\.kind), ["gemm"])
        try check(linear, batch: 3)
    }

    func testBadGraphsThrowInsteadOfCrashing() {
        let conv = Convolution(weight: Tensor(zeros: [4, 2, 3, 3]))
        let graph = chain("bad", [3, 8, 8], [.convolution(conv)])
        XCTAssertThrowsError(try Engine(graph: graph)) { XCTAssert("\($0)".contains("bad_0"), "\($0)") }
        let engine = try! Engine(graph: chain("ok", [3], [.activation(.relu)]), batchSize: 2)
        XCTAssertThrowsError(try engine.run(["x": Tensor(zeros: [1, 3])]))
    }

    func testArenaReusesMemory() throws {
        // A chain of same-size layers needs about two live activations, not one per layer.
        let convs = (0..<8).map { AugeEngine.Operation.convolution(convolution(16, 16, kernel: (1, 1), seed: UInt64($0))) }
        let engine = try Engine(graph: chain("deep", [16, 8, 8], convs))
        let activationBytes = 16 * 8 * 8 * 4
        XCTAssertLessThanOrEqual(engine.arenaBytes, 4 * activationBytes)
    }
}
