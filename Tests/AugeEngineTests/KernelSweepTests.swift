import XCTest
@testable import AugeEngine

/// Convolution against the reference over seeded random geometries (the way tract's and ncnn's kernel
/// tests sweep shapes): kernel sizes 1...5 (non-square too), strides 1...3, dilations 1...2, asymmetric
/// padding, plain, grouped and depthwise groups, channel counts on every SIMD tail, spatial sizes down
/// to 1, batch 1 and 2, with and without bias, and the epilogues the planner fuses (BatchNormalization,
/// an activation, a residual Add and an activation after it). Each seed's family steers the geometry
/// towards one of the planner's algorithms; the test asserts that every algorithm was in fact chosen.
///
/// A failure prints the seed and the whole case as a `SweepCase(...)` literal: paste it into
/// `namedCases` to keep it as a regression case.
final class KernelSweepTests: XCTestCase {
    struct SweepCase: CustomStringConvertible {
        /// Seeds the weights and inputs (and, in the sweep, the geometry itself).
        var seed: UInt64
        var batch: Int
        var channels: (in: Int, out: Int)
        var groups: Int
        var kernel: (Int, Int)
        var strides: (Int, Int)
        var dilations: (Int, Int)
        var pads: (top: Int, left: Int, bottom: Int, right: Int)
        var size: (height: Int, width: Int)
        var bias: Bool
        /// A BatchNormalization after the convolution (folded into it).
        var batchNorm: Bool
        var activation: Activation?
        /// A graph input of the output's shape added after `activation`.
        var residual: Bool
        var postActivation: Activation?
        /// A 1x1 max pool before the convolution, so it reads a channels-last value instead of the plain graph input.
        var channelsLastSource: Bool

        var outSize: (height: Int, width: Int) {
            (
                (size.height + pads.top + pads.bottom - (kernel.0 - 1) * dilations.0 - 1) / strides.0 + 1,
                (size.width + pads.left + pads.right - (kernel.1 - 1) * dilations.1 - 1) / strides.1 + 1
            )
        }

        var geometry: ConvolutionGeometry {
            ConvolutionGeometry(
                batch: batch, inHeight: size.height, inWidth: size.width, inChannels: channels.in,
                outHeight: outSize.height, outWidth: outSize.width, outChannels: channels.out,
                kernelHeight: kernel.0, kernelWidth: kernel.1, strideY: strides.0, strideX: strides.1,
                dilationY: dilations.0, dilationX: dilations.1, padTop: pads.top, padLeft: pads.left,
                padBottom: pads.bottom, padRight: pads.right, groups: groups)
        }

        /// Swift source for this case.
        var description: String {
            func literal(_ activation: Activation?) -> String { activation.map { ".\($0)" } ?? "nil" }
            return "SweepCase(seed: \(seed), batch: \(batch), channels: (\(channels.in), \(channels.out)), groups: \(groups), "
                + "kernel: (\(kernel.0), \(kernel.1)), strides: (\(strides.0), \(strides.1)), dilations: (\(dilations.0), \(dilations.1)), "
                + "pads: (\(pads.top), \(pads.left), \(pads.bottom), \(pads.right)), size: (\(size.height), \(size.width)), "
                + "bias: \(bias), batchNorm: \(batchNorm), activation: \(literal(activation)), residual: \(residual), "
                + "postActivation: \(literal(postActivation)), channelsLastSource: \(channelsLastSource))"
        }
    }

    /// Hand-picked hard geometries and pasted failures of the sweep, always run.
    static let namedCases: [SweepCase] = [
        // Depthwise 5x3 with dilation 2 across, stride 3 down, every pad different, on a map barely
        // larger than the dilated window, residual between two activations.
        SweepCase(
            seed: 9001, batch: 2, channels: (17, 17), groups: 17, kernel: (5, 3), strides: (3, 1), dilations: (1, 2),
            pads: (4, 0, 1, 3), size: (2, 5), bias: true, batchNorm: true, activation: .hardSwish, residual: true,
            postActivation: .silu, channelsLastSource: false),
        // Winograd 4x4 with partial tiles at both edges, channel tails on both sides, one-sided padding.
        SweepCase(
            seed: 9002, batch: 2, channels: (33, 17), groups: 1, kernel: (3, 3), strides: (1, 1), dilations: (1, 1),
            pads: (0, 2, 2, 0), size: (17, 16), bias: false, batchNorm: true, activation: .relu, residual: true,
            postActivation: .clip(min: -0.5, max: 0.5), channelsLastSource: true),
        // A 1x1 planar "first layer" can't read directly (stride 2) and has a 1x1 output.
        SweepCase(
            seed: 9003, batch: 1, channels: (4, 65), groups: 1, kernel: (1, 1), strides: (2, 3), dilations: (1, 1),
            pads: (0, 0, 0, 0), size: (1, 2), bias: true, batchNorm: false, activation: .tanh, residual: false,
            postActivation: nil, channelsLastSource: false),
    ]

    static let activations: [Activation] = [
        .relu, .clip(min: 0, max: 6), .leakyRelu(alpha: 0.1), .sigmoid,
        .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .silu, .tanh,
    ]

    /// The sweep's case for `seed`; `seed % 6` picks the family (the algorithm it aims at).
    static func sweepCase(seed: UInt64) -> SweepCase {
        var generator = SeededGenerator(seed: seed &* 0x5851_F42D_4C95_7F2D)
        func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &generator) < p }
        // 1...40 covers every tail of 8, 16 and 32 lanes; now and then a count just around 48 or 64.
        func channelCount(_ range: ClosedRange<Int> = 1...40) -> Int { chance(0.85) ? int(range) : [47, 48, 49, 63, 64, 65][int(0...5)] }
        func activation() -> Activation { activations[int(0...(activations.count - 1))] }

        var c = SweepCase(
            seed: seed, batch: int(1...2), channels: (channelCount(), channelCount()), groups: 1,
            kernel: chance(0.3) ? (3, 3) : (int(1...5), int(1...5)), strides: (int(1...3), int(1...3)),
            dilations: (chance(0.7) ? 1 : 2, chance(0.7) ? 1 : 2), pads: (0, 0, 0, 0), size: (1, 1),
            bias: chance(0.7), batchNorm: false, activation: nil, residual: false, postActivation: nil,
            channelsLastSource: chance(0.5))
        var maximumSize = 16
        var padded = true
        switch seed % 6 {
        case 0:  // depthwise (on large maps too, so the in-place path is taken as well as the padded copy)
            let channels = chance(0.85) ? int(2...40) : [47, 48, 63, 64, 65, 96][int(0...5)]
            (c.channels, c.groups) = ((channels, channels), channels)
            maximumSize = 24
        case 1:  // winograd: 3x3 stride 1, at least 16 channels each way, an output of 9x9 to 19x19 (16x16 up: 4x4 tiles)
            (c.kernel, c.strides, c.dilations) = ((3, 3), (1, 1), (1, 1))
            c.channels = (channelCount(16...40), channelCount(16...40))
            maximumSize = 19
        case 2:  // 1x1 stride 1 unpadded: the direct GEMM, sometimes grouped
            (c.kernel, c.strides) = ((1, 1), (1, 1))
            padded = false
            if chance(0.3) {
                c.groups = int(2...4)
                c.channels = (c.groups * int(1...12), c.groups * int(1...12))
            }
        case 3:  // first layer: at most 4 channels of the plain graph input
            c.channels.in = int(1...4)
            c.channelsLastSource = false
            if c.kernel == (1, 1) && c.strides == (1, 1) { c.strides.1 = 2 }
        case 4:  // anything: mostly the implicit GEMM
            break
        default:  // grouped, g > 1 but not depthwise (or depthwise with a channel multiplier)
            c.groups = int(2...6)
            c.channels = (c.groups * int(1...8), c.groups * int(1...8))
        }
        let dilated = ((c.kernel.0 - 1) * c.dilations.0 + 1, (c.kernel.1 - 1) * c.dilations.1 + 1)
        if padded {
            c.pads = (int(0...(dilated.0 - 1)), int(0...(dilated.1 - 1)), int(0...(dilated.0 - 1)), int(0...(dilated.1 - 1)))
        }
        // Sizes from 1 (where the window allows) up; Winograd's family picks its output size instead.
        let smallest = (max(1, dilated.0 - c.pads.top - c.pads.bottom), max(1, dilated.1 - c.pads.left - c.pads.right))
        if seed % 6 == 1 {
            let large = chance(0.4)
            c.size = (
                int((large ? 16 : 9)...maximumSize) - c.pads.top - c.pads.bottom + 2,
                int((large ? 16 : 9)...maximumSize) - c.pads.left - c.pads.right + 2
            )
        } else {
            c.size = (max(smallest.0, chance(0.15) ? 1 : int(1...maximumSize)), max(smallest.1, chance(0.15) ? 1 : int(1...maximumSize)))
        }
        switch int(0...4) {
        case 0: break
        case 1: c.activation = activation()
        case 2: (c.batchNorm, c.activation) = (true, activation())
        case 3: (c.batchNorm, c.activation, c.residual, c.postActivation) = (chance(0.5), chance(0.5) ? activation() : nil, true, activation())
        default: c.batchNorm = true
        }
        return c
    }

    /// The graph of a case: x (-> 1x1 max pool) -> conv (-> BN) (-> activation) (-> + r -> activation) -> y.
    func graph(_ c: SweepCase) -> Graph {
        let (inChannels, outChannels) = c.channels
        let weight = randomTensor([outChannels, inChannels / c.groups, c.kernel.0, c.kernel.1], seed: c.seed, range: -0.5...0.5)
        let conv = Convolution(
            weight: weight, bias: c.bias ? randomTensor([c.channels.out], seed: c.seed + 1) : nil, strides: c.strides,
            dilations: c.dilations, pads: c.pads, groups: c.groups)
        var nodes: [Node] = []
        var previous = "x"
        func append(_ operation: AugeEngine.Operation, _ extraInputs: [String] = []) {
            let output = "v\(nodes.count)"
            nodes.append(Node(name: "n\(nodes.count)", operation: operation, inputs: [previous] + extraInputs, outputs: [output]))
            previous = output
        }
        if c.channelsLastSource { append(.maxPool(Pooling(kernel: (1, 1)))) }
        append(.convolution(conv))
        if c.batchNorm {
            let n = c.channels.out
            append(
                .batchNormalization(
                    BatchNormalization(
                        scale: randomTensor([n], seed: c.seed + 2, range: 0.5...1.5).data, bias: randomTensor([n], seed: c.seed + 3).data,
                        mean: randomTensor([n], seed: c.seed + 4).data, variance: randomTensor([n], seed: c.seed + 5, range: 0.5...2).data)))
        }
        if let activation = c.activation { append(.activation(activation)) }
        if c.residual {
            append(.add, ["r"])
            if let post = c.postActivation { append(.activation(post)) }
        }
        var inputs = [GraphInput(name: "x", shape: [nil, c.channels.in, c.size.height, c.size.width])]
        if c.residual { inputs.append(GraphInput(name: "r", shape: [nil, c.channels.out, c.outSize.height, c.outSize.width])) }
        return Graph(name: "sweep-\(c.seed)", inputs: inputs, nodes: nodes, outputs: [previous])
    }

    /// The value the convolution (with its folded BatchNormalization) computes, before any activation.
    func convolutionValue(_ c: SweepCase) -> String { "v\((c.channelsLastSource ? 1 : 0) + (c.batchNorm ? 1 : 0))" }

    /// Runs one case in the engine (1 and 2 threads) and the reference, asserting closeness with
    /// KernelTests.check's tolerance: for Winograd, the absolute tolerance grows with the RMS when that
    /// is above 1 (here the larger of the output's and the convolution's own RMS, since Winograd's
    /// rounding scales with the values it sums, which a clip or sigmoid after it may shrink).
    /// Returns the convolution's layer description, or nil if the engine refused the graph.
    @discardableResult
    func check(_ c: SweepCase, file: StaticString = #filePath, line: UInt = #line) -> LayerDescription? {
        let graph = graph(c)
        var inputs = ["x": randomTensor([c.batch, c.channels.in, c.size.height, c.size.width], seed: c.seed + 6)]
        if c.residual { inputs["r"] = randomTensor([c.batch, c.channels.out, c.outSize.height, c.outSize.width], seed: c.seed + 7) }
        var layer: LayerDescription?
        do {
            let values = try referenceValues(graph, inputs: inputs)
            let expected = values[graph.outputs[0]]!
            func rootMeanSquare(_ t: Tensor) -> Float { (t.data.reduce(0) { $0 + $1 * $1 } / Float(max(1, t.count))).squareRoot() }
            let rms = max(rootMeanSquare(expected), rootMeanSquare(values[convolutionValue(c)]!))
            for threads in [1, 2] {
                let engine = try Engine(graph: graph, batchSize: c.batch, threads: threads)
                let convolutions = engine.layers.filter { $0.convolution != nil }
                XCTAssertEqual(convolutions.count, 1, "seed \(c.seed): layers \(engine.layers.map(\.kind))\n    \(c)", file: file, line: line)
                layer = convolutions.first
                var winograd = false
                if case .winograd = layer?.convolution { winograd = true }
                let actual = try engine.run(inputs)[graph.outputs[0]]!
                assertClose(
                    actual, expected, atol: 1e-5 * (winograd ? max(1, rms) : 1),
                    "seed \(c.seed), \(threads) thread(s), \(layer?.kind ?? "?")\n    \(c)\n   ", file: file, line: line)
            }
        } catch {
            XCTFail("seed \(c.seed): \(error)\n    \(c)", file: file, line: line)
        }
        return layer
    }

    static let sweepSeeds: [UInt64] = Array(1...200)

    func testRandomGeometrySweep() {
        var hits: [String: Int] = [:]
        for seed in Self.sweepSeeds {
            let c = Self.sweepCase(seed: seed)
            guard let layer = check(c), let chosen = layer.convolution else { continue }
            let algorithm = "\(chosen)"
            hits[algorithm, default: 0] += 1
            if c.groups > 1 && algorithm != "depthwise" { hits["grouped " + algorithm, default: 0] += 1 }
            if algorithm == "depthwise" {
                hits[DepthwiseStep.needsPaddedCopy(c.geometry) ? "depthwise on a padded copy" : "depthwise in place", default: 0] += 1
            }
            if layer.kind.contains(" + add") { hits["fused residual", default: 0] += 1 }
            if c.outSize == (1, 1) || c.size.height == 1 || c.size.width == 1 { hits["a side of 1", default: 0] += 1 }
            if c.batch == 2 { hits["batch 2", default: 0] += 1 }
        }
        print("KernelSweepTests: \(Self.sweepSeeds.count) cases:", hits.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for required in [
            "depthwise", "winograd 2x2", "winograd 4x4", "gemm", "first layer, planar", "implicit gemm",
            "grouped implicit gemm", "grouped gemm", "depthwise on a padded copy", "depthwise in place",
            "fused residual", "a side of 1", "batch 2",
        ] {
            XCTAssertGreaterThan(hits[required, default: 0], 0, "the sweep never ran \(required): \(hits)")
        }
    }

    func testNamedCases() {
        // The algorithm each hand-picked case was chosen for (pasted failures need no entry).
        let intended: [UInt64: ConvolutionAlgorithm] = [9001: .depthwise, 9002: .winograd(tile: 4), 9003: .firstLayerPlanar]
        for c in Self.namedCases {
            let layer = check(c)
            if let algorithm = intended[c.seed] { XCTAssertEqual(layer?.convolution, algorithm, "\(c)") }
        }
    }

    /// The generator keeps every case valid (a window that fits, whole groups) and deterministic.
    func testSweepCasesAreValidAndRepeat() {
        for seed in Self.sweepSeeds {
            let c = Self.sweepCase(seed: seed)
            XCTAssertGreaterThan(c.outSize.height, 0, "\(c)")
            XCTAssertGreaterThan(c.outSize.width, 0, "\(c)")
            XCTAssertEqual(c.channels.in % c.groups, 0, "\(c)")
            XCTAssertEqual(c.channels.out % c.groups, 0, "\(c)")
            XCTAssertEqual(c.description, Self.sweepCase(seed: seed).description)
        }
    }
}
