import XCTest

@testable import AugeEngine

/// The int8 convolution steps against `referenceInt8Convolution`, bit for bit: seeded random
/// geometries (odd channel counts around the 16-channel blocks and 4-byte groups, 1x1 direct and
/// gathered, strides, padding, dilation, first layers, depthwise, batch 2) on every int8 GEMM path,
/// on two threads. Codes are requantized in the kernels; the float output must equal the reference
/// accumulators times the dequantization unit. Padding lanes of the output keep their sentinels.
/// Convolutions with a padded copy also take a plain float input (a quantized model's input),
/// quantized while copied, and must give the same codes.
final class Int8ConvolutionTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var batch = 1, channels: Int, height: Int, width: Int, outChannels: Int
        var kernel: (Int, Int), stride: (Int, Int) = (1, 1), dilation: (Int, Int) = (1, 1)
        var pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0)
        var depthwise = false
        var seed: UInt64

        var description: String {
            "batch \(batch) \(channels)x\(height)x\(width) -> \(outChannels), kernel \(kernel) stride \(stride) dilation \(dilation) pads \(pads)"
                + (depthwise ? " depthwise" : "") + " seed \(seed)"
        }

        var geometry: ConvolutionGeometry {
            let reach = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1)
            return ConvolutionGeometry(
                batch: batch, inHeight: height, inWidth: width, inChannels: channels,
                outHeight: (height + pads.top + pads.bottom - reach.0) / stride.0 + 1, outWidth: (width + pads.left + pads.right - reach.1) / stride.1 + 1,
                outChannels: outChannels, kernelHeight: kernel.0, kernelWidth: kernel.1, strideY: stride.0, strideX: stride.1,
                dilationY: dilation.0, dilationX: dilation.1, padTop: pads.top, padLeft: pads.left, padBottom: pads.bottom,
                padRight: pads.right, groups: depthwise ? channels : 1)
        }
    }

    static func randomCases(count: Int) -> [Case] {
        var generator = SeededGenerator(seed: 8)
        return (0..<count).map { index in
            let depthwise = index % 4 == 3
            let channels = [1, 3, 4, 5, 15, 16, 17, 31, 33, 40][Int(generator.next() % 10)]
            let kernelSize = [1, 1, 3, 3, 3, 5, 7][Int(generator.next() % 7)]
            let stride = Int(generator.next() % 2) + 1
            let dilation = kernelSize > 1 && generator.next() % 5 == 0 ? 2 : 1
            let pad = Int(generator.next() % UInt64(kernelSize / 2 + 2))
            let reach = dilation * (kernelSize - 1) + 1
            let height = max(reach, 3 + Int(generator.next() % 12)), width = max(reach, 3 + Int(generator.next() % 12))
            return Case(
                batch: index % 7 == 0 ? 2 : 1, channels: channels, height: height, width: width,
                outChannels: depthwise ? channels : [1, 5, 16, 17, 33, 48][Int(generator.next() % 6)],
                kernel: (kernelSize, kernelSize), stride: (stride, stride), dilation: (dilation, dilation),
                pads: (pad, pad, Int(generator.next() % UInt64(pad + 1)), pad), depthwise: depthwise, seed: UInt64(index))
        }
    }

    static let namedCases: [Case] = [
        Case(channels: 64, height: 9, width: 11, outChannels: 70, kernel: (1, 1), seed: 1),  // 1x1 read directly
        Case(channels: 3, height: 17, width: 15, outChannels: 32, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1), seed: 2),  // first layer
        Case(channels: 3, height: 20, width: 20, outChannels: 16, kernel: (7, 7), stride: (2, 2), pads: (3, 3, 3, 3), seed: 3),  // ResNet's first
        Case(channels: 32, height: 1, width: 1, outChannels: 20, kernel: (1, 1), seed: 4),  // a side of 1
        Case(channels: 48, height: 7, width: 7, outChannels: 48, kernel: (3, 3), pads: (1, 1, 1, 1), depthwise: true, seed: 5),
        Case(channels: 20, height: 9, width: 9, outChannels: 20, kernel: (5, 5), stride: (2, 2), pads: (2, 2, 2, 2), depthwise: true, seed: 6),
        Case(channels: 1, height: 5, width: 5, outChannels: 1, kernel: (3, 3), pads: (1, 1, 1, 1), depthwise: true, seed: 7),
        // EfficientNet's 5x5 at stride 1 (an odd width), and a 3x3 whose output pairs end on a single pixel.
        Case(channels: 33, height: 8, width: 13, outChannels: 33, kernel: (5, 5), pads: (2, 2, 2, 2), depthwise: true, seed: 11),
        Case(channels: 17, height: 6, width: 10, outChannels: 17, kernel: (3, 3), pads: (1, 0, 1, 1), depthwise: true, seed: 12),
        // First layers wide enough for whole vectors of 16 pixels and a tail: grey, RGB, 4 channels.
        Case(channels: 1, height: 9, width: 37, outChannels: 8, kernel: (3, 3), stride: (2, 2), pads: (1, 1, 1, 1), seed: 8),
        Case(batch: 2, channels: 3, height: 5, width: 32, outChannels: 16, kernel: (3, 3), pads: (1, 1, 1, 1), seed: 9),
        Case(channels: 4, height: 6, width: 33, outChannels: 17, kernel: (3, 3), stride: (1, 2), pads: (0, 1, 1, 1), seed: 10),
        // A memory-bank search's shape: more channels than one chunk of the channel minimum, a partial last block, two segments.
        Case(channels: 64, height: 5, width: 17, outChannels: 529, kernel: (1, 1), seed: 13),
        Case(channels: 20, height: 7, width: 9, outChannels: 257, kernel: (3, 3), pads: (1, 1, 1, 1), seed: 14),
    ]

    let pool = ThreadPool(threads: 2)
    /// Depthwise cases run on the VNNI kernel's quad rows.
    private var quadRowCases = 0

    func testEveryPathEqualsTheReference() {
        let paths = Int8GemmPath.allCases.filter(Int8GemmPath.isAvailable)
        var checked = 0
        var (inside, total, floatInputs, minima) = (0, 0, 0, 0)
        for c in Self.namedCases + Self.randomCases(count: 160) {
            for path in paths {
                for floatOutput in c.depthwise ? [false] : [false, true] {
                    let codes = check(c, path: path, floatOutput: floatOutput)
                    inside += codes.inside
                    total += codes.total
                    checked += 1
                }
                if !c.depthwise {
                    // Per-channel steps (a minimum of floats), and one step for all (a minimum of the integer sums).
                    for uniformScales in [false, true] { check(c, path: path, floatOutput: true, channelMinimum: true, uniformScales: uniformScales) }
                    minima += 1
                }
                if !c.depthwise && !ConvolutionGemmStep.readsDirectly(c.geometry) {
                    check(c, path: path, floatOutput: false, floatInput: true)
                    check(c, path: path, floatOutput: true, floatInput: true, channelMinimum: true, uniformScales: c.seed % 2 == 0)
                    floatInputs += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 300)
        XCTAssertGreaterThan(floatInputs, 100)
        XCTAssertGreaterThan(minima, 100)
        if paths.contains(.avx512VNNI) { XCTAssertGreaterThan(quadRowCases, 30) }
        // The cases exercise the requantization, not only its clamps.
        XCTAssertGreaterThan(Double(inside), 0.5 * Double(total))
    }

    /// Checks one case; returns how many reference codes fell strictly inside the output range, of how many.
    @discardableResult
    private func check(
        _ c: Case, path: Int8GemmPath, floatOutput: Bool, floatInput: Bool = false, channelMinimum: Bool = false, uniformScales: Bool = false
    ) -> (inside: Int, total: Int) {
        var generator = SeededGenerator(seed: c.seed &* 0x9E37_79B9 &+ 11)
        let groups = c.depthwise ? c.channels : 1
        let inPerGroup = c.channels / groups
        let (kh, kw) = c.kernel
        let input = (0..<(c.batch * c.channels * c.height * c.width)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let integerWeights = (0..<(c.outChannels * inPerGroup * kh * kw)).map { _ in Int8.random(in: -127...127, using: &generator) }
        let channelScales = (0..<c.outChannels).map { _ in Float.random(in: 0.001...0.1, using: &generator) }
        let weightScales = uniformScales ? [Float](repeating: channelScales[0], count: c.outChannels) : channelScales
        let inputQuantization = ValueQuantization(scale: Float.random(in: 0.01...0.1, using: &generator), zeroPoint: Int32.random(in: 0...255, using: &generator), range: 0...255)
        let outputZero = Int32.random(in: 0...255, using: &generator)
        let outputQuantization = ValueQuantization(scale: 0, zeroPoint: outputZero, range: 0...255)
        let integerBias = (0..<c.outChannels).map { _ in Int32.random(in: -20_000...20_000, using: &generator) }

        // The float model a quantized file describes: weights and bias on the int8 / accumulator grids.
        var conv = Convolution(
            weight: Tensor(
                shape: [c.outChannels, inPerGroup, kh, kw],
                data: integerWeights.indices.map { Float(integerWeights[$0]) * weightScales[$0 / (inPerGroup * kh * kw)] }),
            bias: Tensor(shape: [c.outChannels], data: (0..<c.outChannels).map { Float(integerBias[$0]) * inputQuantization.scale * weightScales[$0] }),
            strides: c.stride, dilations: c.dilation, pads: c.pads, groups: groups)
        conv.weightScales = weightScales
        let weights = Int8ConvolutionWeights(conv, inputScale: inputQuantization.scale)
        XCTAssertEqual(weights.bias, integerBias, "\(c)")
        // An output step that spreads the codes over the range (an accumulator's spread is about
        // sqrt(K) x 150 x 73: code offsets x weights).
        var output = outputQuantization
        let meanUnit = weights.unit.reduce(0, +) / Float(weights.unit.count)
        output.scale = meanUnit * Float(inPerGroup * kh * kw).squareRoot() * 11_000 / 60
        // Full, from the zero point up (a ReLU folded in), and with a top below 255 (a Clip folded in).
        let range = [0...255, outputZero...255, 0...(127 + outputZero / 2)][Int(c.seed % 3)]

        let reference = referenceInt8Convolution(
            input: input, shape: [c.batch, c.channels, c.height, c.width], weights: integerWeights, outChannels: c.outChannels,
            kernel: c.kernel, strides: c.stride, dilations: c.dilation, pads: c.pads, groups: groups, bias: integerBias,
            multipliers: weights.multipliers(outputScale: output.scale),
            quantization: Int8Quantization(inputZeroPoint: inputQuantization.zeroPoint, outputZeroPoint: outputZero, outputRange: range))
        let (outHeight, outWidth) = (reference.outputShape[2], reference.outputShape[3])
        let spreadCodes = (inside: reference.output.filter { $0 > range.lowerBound && $0 < range.upperBound }.count, total: reference.output.count)
        let geometry = c.geometry
        XCTAssertEqual([geometry.outHeight, geometry.outWidth], [outHeight, outWidth], "\(c)")

        // Channels-last codes with random bytes in the padding lanes (the kernels must not depend on them).
        let (inStride, outStride) = (paddedChannels(c.channels), paddedChannels(c.outChannels))
        let inPixels = c.batch * c.height * c.width, outPixels = c.batch * outHeight * outWidth
        let source = UnsafeMutablePointer<UInt8>.allocate(capacity: inPixels * inStride + 64)
        defer { source.deallocate() }
        for i in 0..<(inPixels * inStride + 64) { source[i] = UInt8.random(in: 0...255, using: &generator) }
        for n in 0..<c.batch {
            for channel in 0..<c.channels {
                for pixel in 0..<(c.height * c.width) {
                    source[(n * c.height * c.width + pixel) * inStride + channel] = input[(n * c.channels + channel) * c.height * c.width + pixel]
                }
            }
        }
        // The same codes as the plain float values they stand for: quantizing them gives the codes back.
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: input.count)
        defer { floats.deallocate() }
        for i in input.indices { floats[i] = Float(Int32(input[i]) - inputQuantization.zeroPoint) * inputQuantization.scale }
        let sourceInput: Int8ConvolutionSource = floatInput ? .plainFloats(floats) : .codes(source)
        let sentinel: UInt8 = 0xA5
        func referenceIndex(_ pixel: Int, _ channel: Int) -> Int {
            let (n, rest) = pixel.quotientAndRemainder(dividingBy: outHeight * outWidth)
            return (n * c.outChannels + channel) * outHeight * outWidth + rest
        }
        if channelMinimum {
            // Each pixel's smallest dequantized value over the channels, and nothing written past the pixels.
            let minima = UnsafeMutablePointer<Float>.allocate(capacity: outPixels + 1)
            defer { minima.deallocate() }
            minima.initialize(repeating: -7, count: outPixels + 1)
            let step = Int8ConvolutionStep(
                geometry: geometry, weights: weights, input: inputQuantization, source: sourceInput, output: .channelMinimum(minima), threads: 2, path: path)
            step.execute(pool: pool)
            for pixel in 0..<outPixels {
                let expected = (0..<c.outChannels).map { Float(reference.accumulators[referenceIndex(pixel, $0)]) * weights.unit[$0] }.min()!
                guard minima[pixel] == expected else {
                    XCTFail("\(c) \(path) channel minimum, pixel \(pixel): \(minima[pixel]) != \(expected)")
                    return spreadCodes
                }
            }
            XCTAssertEqual(minima[outPixels], -7, "\(c) \(path): written past the pixels")
            return spreadCodes
        }
        if floatOutput {
            let values = UnsafeMutablePointer<Float>.allocate(capacity: outPixels * outStride)
            defer { values.deallocate() }
            values.initialize(repeating: -7, count: outPixels * outStride)
            let step = Int8ConvolutionStep(
                geometry: geometry, weights: weights, input: inputQuantization, source: sourceInput,
                output: .float(values, Epilogue(activation: nil, residual: nil, postActivation: nil)), threads: 2, path: path)
            step.execute(pool: pool)
            for pixel in 0..<outPixels {
                for channel in 0..<c.outChannels {
                    let expected = Float(reference.accumulators[referenceIndex(pixel, channel)]) * weights.unit[channel]
                    guard values[pixel * outStride + channel] == expected else {
                        XCTFail("\(c) \(path) float output, pixel \(pixel) channel \(channel): \(values[pixel * outStride + channel]) != \(expected)")
                        return spreadCodes
                    }
                }
                for lane in c.outChannels..<outStride where values[pixel * outStride + lane] != -7 {
                    XCTFail("\(c) \(path): padding lane \(lane) of pixel \(pixel) written")
                    return spreadCodes
                }
            }
            return spreadCodes
        }
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: outPixels * outStride)
        defer { codes.deallocate() }
        codes.initialize(repeating: sentinel, count: outPixels * outStride)
        let step: Step
        if c.depthwise {
            let depthwise = Int8DepthwiseStep(
                geometry: geometry, weights: weights, input: inputQuantization, source: source, output: codes, outputQuantization: output, range: range,
                threads: 2, path: path)
            if depthwise.quadRows { quadRowCases += 1 }
            step = depthwise
        } else {
            step = Int8ConvolutionStep(
                geometry: geometry, weights: weights, input: inputQuantization, source: sourceInput, output: .codes(codes, output, range: range),
                threads: 2, path: path)
        }
        step.execute(pool: pool)
        for pixel in 0..<outPixels {
            for channel in 0..<c.outChannels {
                let expected = reference.output[referenceIndex(pixel, channel)]
                guard codes[pixel * outStride + channel] == expected else {
                    XCTFail("\(c) \(path)\(floatInput ? ", float input" : ""), pixel \(pixel) channel \(channel): \(codes[pixel * outStride + channel]) != \(expected)")
                    return spreadCodes
                }
            }
            for lane in c.outChannels..<outStride where codes[pixel * outStride + lane] != sentinel {
                XCTFail("\(c) \(path): padding lane \(lane) of pixel \(pixel) written")
                return spreadCodes
            }
        }
        return spreadCodes
    }

    /// A residual block's end on codes: the convolution onto its own grid (the reference's codes), plus
    /// the residual's value, onto the output grid: clamp(roundHalfEven(sum / scale) + zeroPoint).
    func testResidualBlockEndsOnCodes() {
        let block = ValueQuantization(scale: 0.05, zeroPoint: 120, range: 0...255)
        let skip = ValueQuantization(scale: 0.03, zeroPoint: 90, range: 0...255)
        // The whole code range, and a narrower one (a ReLU after the addition, then a clip).
        let outputs = [ValueQuantization(scale: 0.07, zeroPoint: 100, range: 0...255), ValueQuantization(scale: 0.07, zeroPoint: 100, range: 100...200)]
        let input = ValueQuantization(scale: 0.02, zeroPoint: 128, range: 0...255)
        var generator = SeededGenerator(seed: 21)
        for path in Int8GemmPath.allCases.filter(Int8GemmPath.isAvailable) {
            for (channels, outChannels, kernel) in [(17, 33, 3), (40, 17, 1), (3, 16, 3)] {
                for output in outputs {
                    let (size, pad) = (7, kernel / 2)
                    let integerWeights = (0..<(outChannels * channels * kernel * kernel)).map { _ in Int8.random(in: -127...127, using: &generator) }
                    let weightScale: Float = 0.01
                    var conv = Convolution(
                        weight: Tensor(shape: [outChannels, channels, kernel, kernel], data: integerWeights.map { Float($0) * weightScale }),
                        bias: nil, pads: (pad, pad, pad, pad))
                    conv.weightScales = [Float](repeating: weightScale, count: outChannels)
                    let weights = Int8ConvolutionWeights(conv, inputScale: input.scale)
                    let codesIn = (0..<(channels * size * size)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    let reference = referenceInt8Convolution(
                        input: codesIn, shape: [1, channels, size, size], weights: integerWeights, outChannels: outChannels, kernel: (kernel, kernel),
                        strides: (1, 1), dilations: (1, 1), pads: (pad, pad, pad, pad), groups: 1, bias: weights.bias,
                        multipliers: weights.multipliers(outputScale: block.scale),
                        quantization: Int8Quantization(inputZeroPoint: input.zeroPoint, outputZeroPoint: block.zeroPoint, outputRange: block.range))
                    let (inStride, outStride, pixels) = (paddedChannels(channels), paddedChannels(outChannels), size * size)
                    let source = UnsafeMutablePointer<UInt8>.allocate(capacity: pixels * inStride + 64)
                    let residual = UnsafeMutablePointer<UInt8>.allocate(capacity: pixels * outStride + 64)
                    let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: pixels * outStride + 64)
                    defer { [source, residual, codes].forEach { $0.deallocate() } }
                    for i in 0..<(pixels * inStride + 64) { source[i] = UInt8.random(in: 0...255, using: &generator) }
                    for i in 0..<(pixels * outStride + 64) { residual[i] = UInt8.random(in: 0...255, using: &generator) }
                    for c in 0..<channels { for p in 0..<pixels { source[p * inStride + c] = codesIn[c * pixels + p] } }
                    let geometry = ConvolutionGeometry(
                        batch: 1, inHeight: size, inWidth: size, inChannels: channels, outHeight: size, outWidth: size, outChannels: outChannels,
                        kernelHeight: kernel, kernelWidth: kernel, strideY: 1, strideX: 1, dilationY: 1, dilationX: 1, padTop: pad, padLeft: pad,
                        padBottom: pad, padRight: pad, groups: 1)
                    let fakeQuantize = Activation.fakeQuantize(scale: block.scale, zeroPoint: Float(block.zeroPoint), lower: 0, upper: 255)
                    Int8ConvolutionStep(
                        geometry: geometry, weights: weights, input: input, source: .codes(source),
                        output: .residualCodes(codes, output, activation: fakeQuantize, residual: residual, residualQuantization: skip), threads: 2,
                        path: path
                    ).execute(pool: pool)
                    var mismatches = 0
                    for p in 0..<pixels {
                        for c in 0..<outChannels {
                            let own = Float(Int32(reference.output[c * pixels + p]) - block.zeroPoint) * block.scale
                            let other = Float(Int32(residual[p * outStride + c]) - skip.zeroPoint) * skip.scale
                            let (low, high) = (Float(output.range.lowerBound - output.zeroPoint), Float(output.range.upperBound - output.zeroPoint))
                            let expected = min(max((own + other) / output.scale, low), high).rounded(.toNearestOrEven) + Float(output.zeroPoint)
                            if Float(codes[p * outStride + c]) != expected { mismatches += 1 }
                        }
                    }
                    XCTAssertEqual(mismatches, 0, "\(path) \(channels) -> \(outChannels), \(kernel)x\(kernel), range \(output.range)")
                }
            }
        }
    }

    /// A fake-quantize read only by int8 convolutions (a quantized model's input) is planned as one
    /// quantize step onto codes, with no float copy, and the model computes what the reference does; read
    /// by anything else as well (here: it is also an output), it keeps its float value.
    func testFakeQuantizeReadOnlyByInt8ConvolutionsBecomesCodes() throws {
        let fakeQuantize = Activation.fakeQuantize(scale: 0.031, zeroPoint: 121, lower: 0, upper: 255)
        var conv = Convolution(
            weight: Tensor(shape: [20, 3, 3, 3], data: (0..<540).map { Float(($0 * 37) % 255 - 127) * 0.002 }), bias: nil, pads: (1, 1, 1, 1))
        conv.weightScales = [Float](repeating: 0.002, count: 20)
        let x = randomTensor([1, 3, 9, 37], seed: 5)
        var results: [[Float]] = []
        for alsoAnOutput in [false, true] {
            let graph = Graph(
                name: "quantized input", inputs: [GraphInput(name: "x", shape: [nil, 3, 9, 37])],
                nodes: [
                    Node(name: "q", operation: .activation(fakeQuantize), inputs: ["x"], outputs: ["xq"]),
                    Node(name: "conv", operation: .convolution(conv), inputs: ["xq"], outputs: ["y"]),
                ], outputs: alsoAnOutput ? ["y", "xq"] : ["y"])
            let engine = try Engine(graph: graph, batchSize: 1, threads: 2, int8: .kernels)
            let kinds = engine.layers.map(\.kind).filter { !$0.hasPrefix("to ") }
            // Read only by the convolution, the input is quantized in its padded copy; as an output too,
            // it is fake-quantized in float and quantized to codes from there.
            if alsoAnOutput {
                XCTAssertEqual(kinds.first, "\(fakeQuantize)", "\(kinds)")
                XCTAssert(kinds.contains("quantize"), "\(kinds)")
            } else {
                XCTAssertEqual(kinds.count, 1, "\(kinds)")
                XCTAssert(kinds[0].hasPrefix("quantize + conv"), "\(kinds)")
            }
            XCTAssertEqual(engine.layers.compactMap(\.convolution), [.int8Gemm])
            let (actual, expected) = (try engine.run(["x": x]), try runReference(graph, inputs: ["x": x]))
            for output in graph.outputs {
                let error = zip(actual[output]!.data, expected[output]!.data).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(error, 1e-4, "\(output), also an output: \(alsoAnOutput)")
            }
            results.append(actual["y"]!.data)
        }
        XCTAssertEqual(results[0], results[1], "the same codes either way")
    }

    /// A memory-bank search (fake-quantized queries, a 1x1 convolution with int8 weights, ReduceMin over its
    /// channels) runs as one int8 step that keeps only the minimum; in float (`int8: .float`) as the
    /// convolution then the reduction. Both compute what the reference does.
    func testChannelMinimumOfAnInt8ConvolutionIsOneStep() throws {
        let (dimensions, bank) = (24, 300)
        var conv = Convolution(
            weight: Tensor(shape: [bank, dimensions, 1, 1], data: (0..<(bank * dimensions)).map { Float(($0 * 53) % 255 - 127) * 0.01 }),
            bias: Tensor(shape: [bank], data: (0..<bank).map { Float($0 % 17) * 0.3 }))
        conv = Quantization.quantizingWeights(conv)
        let graph = Graph(
            name: "bank search", inputs: [GraphInput(name: "x", shape: [nil, dimensions, 7, 9])],
            nodes: [
                Node(name: "q", operation: .activation(.fakeQuantize(scale: 0.03, zeroPoint: 120, lower: 0, upper: 255)), inputs: ["x"], outputs: ["xq"]),
                Node(name: "products", operation: .convolution(conv), inputs: ["xq"], outputs: ["p"]),
                Node(name: "nearest", operation: .reduce(.min, axis: 1), inputs: ["p"], outputs: ["y"]),
                Node(name: "squares", operation: .mul, inputs: ["xq", "xq"], outputs: ["s"]),
            ], outputs: ["y", "s"])
        let x = randomTensor([1, dimensions, 7, 9], seed: 9)
        let expected = try runReference(graph, inputs: ["x": x])["y"]!
        for execution in [Int8Execution.kernels, .float] {
            let engine = try Engine(graph: graph, batchSize: 1, threads: 2, int8: execution)
            let kinds = engine.layers.map(\.kind)
            if execution == .kernels {
                XCTAssert(kinds.contains { $0.hasSuffix("(int8 gemm) + reduce min over channels") }, "\(kinds)")
                XCTAssertFalse(kinds.contains("reduce min over channels"), "\(kinds)")
            } else {
                XCTAssert(kinds.contains("reduce min over channels"), "\(kinds)")
            }
            let actual = try engine.run(["x": x])["y"]!
            XCTAssertEqual(actual.shape, [1, 1, 7, 9])
            let error = zip(actual.data, expected.data).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            XCTAssertLessThan(error, 1e-4, "\(execution)")
        }
    }

    /// A quantized model's max pool between int8 convolutions (DequantizeLinear, MaxPool, QuantizeLinear
    /// onto the same grid) runs on the codes, the fake-quantize after it is no step at all, and the model
    /// computes what the reference does.
    func testMaxPoolBetweenInt8ConvolutionsStaysOnCodes() throws {
        let inputGrid = Activation.fakeQuantize(scale: 0.02, zeroPoint: 128, lower: 0, upper: 255)
        let grid = Activation.fakeQuantize(scale: 0.05, zeroPoint: 3, lower: 0, upper: 255)
        func conv(_ inChannels: Int, _ outChannels: Int) -> Convolution {
            var conv = Convolution(
                weight: Tensor(
                    shape: [outChannels, inChannels, 3, 3], data: (0..<(outChannels * inChannels * 9)).map { Float(($0 * 41) % 255 - 127) * 0.003 }),
                bias: nil, pads: (1, 1, 1, 1))
            conv.weightScales = [Float](repeating: 0.003, count: outChannels)
            return conv
        }
        let graph = Graph(
            name: "pool on codes", inputs: [GraphInput(name: "x", shape: [nil, 3, 13, 11])],
            nodes: [
                Node(name: "q", operation: .activation(inputGrid), inputs: ["x"], outputs: ["xq"]),
                Node(name: "conv1", operation: .convolution(conv(3, 19)), inputs: ["xq"], outputs: ["c"]),
                Node(name: "cq", operation: .activation(grid), inputs: ["c"], outputs: ["cq"]),
                Node(name: "pool", operation: .maxPool(Pooling(kernel: (3, 3), strides: (2, 2), pads: (1, 1, 1, 1))), inputs: ["cq"], outputs: ["p"]),
                Node(name: "pq", operation: .activation(grid), inputs: ["p"], outputs: ["pq"]),
                Node(name: "conv2", operation: .convolution(conv(19, 5)), inputs: ["pq"], outputs: ["y"]),
            ], outputs: ["y"])
        let engine = try Engine(graph: graph, batchSize: 2, threads: 2, int8: .kernels)
        XCTAssertEqual(engine.layers.map(\.kind).filter { !$0.hasPrefix("to ") }.map { $0.prefix(while: { $0 != "(" }) }, ["quantize + conv 3x3/1 ", "max pool ", "conv 3x3/1 "])
        XCTAssertEqual(engine.layers.filter { $0.kind.hasPrefix("max pool") }.map(\.kind), ["max pool (codes)"])
        let x = randomTensor([2, 3, 13, 11], seed: 12)
        let (actual, expected) = (try engine.run(["x": x])["y"]!.data, try runReference(graph, inputs: ["x": x])["y"]!.data)
        let error = zip(actual, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(error, 1e-4 * expected.map(abs).max()!)
    }

    /// A quantized model's pooling head (int8 convolution, DequantizeLinear, GlobalAveragePool) averages
    /// the codes with no dequantized copy of the map, and computes what the reference does: odd channel
    /// counts (a partial 16-channel block), two images, maps of 1 and of 7x7 pixels.
    func testGlobalAveragePoolReadsCodes() throws {
        let inputGrid = Activation.fakeQuantize(scale: 0.02, zeroPoint: 128, lower: 0, upper: 255)
        let grid = Activation.fakeQuantize(scale: 0.047, zeroPoint: 37, lower: 0, upper: 255)
        for (channels, size) in [(19, 7), (40, 1), (5, 9)] {
            var conv = Convolution(
                weight: Tensor(shape: [channels, 3, 3, 3], data: (0..<(channels * 27)).map { Float(($0 * 41) % 255 - 127) * 0.003 }),
                bias: nil, pads: (1, 1, 1, 1))
            conv.weightScales = [Float](repeating: 0.003, count: channels)
            let graph = Graph(
                name: "pooling head", inputs: [GraphInput(name: "x", shape: [nil, 3, size, size])],
                nodes: [
                    Node(name: "q", operation: .activation(inputGrid), inputs: ["x"], outputs: ["xq"]),
                    Node(name: "conv", operation: .convolution(conv), inputs: ["xq"], outputs: ["c"]),
                    Node(name: "cq", operation: .activation(grid), inputs: ["c"], outputs: ["cq"]),
                    Node(name: "gap", operation: .globalAveragePool, inputs: ["cq"], outputs: ["y"]),
                ], outputs: ["y"])
            let engine = try Engine(graph: graph, batchSize: 2, threads: 2, int8: .kernels)
            let kinds = engine.layers.map(\.kind)
            XCTAssert(kinds.contains("global average pool (codes)"), "\(kinds)")
            XCTAssertFalse(kinds.contains("dequantize"), "\(kinds)")
            let x = randomTensor([2, 3, size, size], seed: 21)
            let (actual, expected) = (try engine.run(["x": x])["y"]!.data, try runReference(graph, inputs: ["x": x])["y"]!.data)
            XCTAssertEqual(actual.count, 2 * channels)
            let error = zip(actual, expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(error, 1e-5 * expected.map(abs).max()!, "\(channels) channels, \(size)x\(size)")
        }
    }

    /// A fully connected layer with int8 weights per output feature (a QDQ file's Gemm) that reads a
    /// fake-quantized input runs on the int8 GEMM, as the 1x1 convolution it is, and computes what the
    /// reference does; without the input's grid it stays float.
    func testInt8FullyConnected() throws {
        let fakeQuantize = Activation.fakeQuantize(scale: 0.043, zeroPoint: 117, lower: 0, upper: 255)
        let (rows, k, m) = (3, 37, 21)
        let scales = (0..<m).map { 0.001 + Float($0) * 0.0003 }
        var fc = FullyConnected(
            weight: Tensor(shape: [m, k], data: (0..<(m * k)).map { Float(($0 * 53) % 255 - 127) * scales[$0 / k] }),
            // On the accumulator grid (input scale x weight scale), as a quantizer writes it.
            bias: Tensor(shape: [m], data: (0..<m).map { Float(($0 - 10) * 70) * 0.043 * scales[$0] }))
        fc.weightScales = scales
        for quantizedInput in [true, false] {
            let graph = Graph(
                name: "int8 fc", inputs: [GraphInput(name: "x", shape: [nil, k])],
                nodes: [
                    Node(name: "q", operation: .activation(quantizedInput ? fakeQuantize : .relu), inputs: ["x"], outputs: ["xq"]),
                    Node(name: "fc", operation: .fullyConnected(fc), inputs: ["xq"], outputs: ["y"]),
                ], outputs: ["y"])
            let engine = try Engine(graph: graph, batchSize: rows, threads: 2, int8: .kernels)
            XCTAssertEqual(engine.layers.compactMap(\.convolution), quantizedInput ? [.int8Gemm] : [])
            let x = randomTensor([rows, k], seed: 9)
            let (actual, expected) = (try engine.run(["x": x])["y"]!.data, try runReference(graph, inputs: ["x": x])["y"]!.data)
            XCTAssertEqual(actual.count, rows * m)
            let error = zip(actual, expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(error, 1e-4 * expected.map(abs).max()!, "quantized input: \(quantizedInput)")
        }
    }

    /// Codes <-> float: quantizing a fake-quantized value gives its code back, dequantizing gives the value.
    func testQuantizeAndDequantizeRoundTrip() {
        // Planes shorter than 16 pixels, and longer than a run of 256 with a partial last group.
        for (batch, channels, pixels) in [(2, 19, 5), (2, 3, 16), (2, 3, 300), (1, 5, 529)] { roundTrip(batch: batch, channels: channels, pixels: pixels) }
    }

    private func roundTrip(batch: Int, channels: Int, pixels: Int) {
        let quantization = ValueQuantization(scale: 0.0371, zeroPoint: 131, range: 0...255)
        let stride = paddedChannels(channels)
        var generator = SeededGenerator(seed: 3)
        let fakeQuantize = Activation.fakeQuantize(scale: 0.0371, zeroPoint: 131, lower: 0, upper: 255)
        let plain = (0..<(batch * channels * pixels)).map { _ in Float.random(in: -6...6, using: &generator) }
        let expected = plain.map { fakeQuantize.referenceValue($0) }
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: batch * pixels * stride)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: batch * pixels * stride)
        defer {
            codes.deallocate()
            values.deallocate()
        }
        codes.initialize(repeating: 131, count: batch * pixels * stride)
        plain.withUnsafeBufferPointer {
            QuantizeStep(quantization: quantization, shape: [batch, channels, pixels, 1], sourceLayout: .plain, input: $0.baseAddress!, output: codes)
                .execute(pool: pool)
        }
        DequantizeStep(quantization: quantization, count: batch * pixels * stride, input: codes, output: values).execute(pool: pool)
        for n in 0..<batch {
            for channel in 0..<channels {
                for pixel in 0..<pixels {
                    XCTAssertEqual(
                        values[(n * pixels + pixel) * stride + channel], expected[(n * channels + channel) * pixels + pixel], "\(batch)x\(channels)x\(pixels)")
                }
            }
        }
    }
}
