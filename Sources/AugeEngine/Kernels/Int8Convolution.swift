// Convolutions of a quantized model on uint8 codes (value = (code - zeroPoint) * scale), channels-last
// with the float layout's channel stride (`paddedChannels`, in bytes):
//  - `Int8ConvolutionStep`: every ungrouped convolution as an int8 GEMM (`int8Gemm`): 1x1 stride-1
//    unpadded layers read the codes directly; any other first copies its input compactly with the
//    padding around it (the input's zero point, which is the value 0), and the GEMM reads each output
//    pixel's window there in place, a run of kernelWidth x channels bytes per kernel row (implicit GEMM);
//    with a horizontal dilation the window is gathered into a row of per-thread scratch instead.
//    A quantized model's input (plain float) is quantized while it is copied there, with no pass of its own.
//  - `Int8DepthwiseStep`: one filter per channel, 16 channels at a time (AugeInt8's `int8DepthwiseRow`).
// Both requantize to the next layer's codes in the epilogue, or (for an epilogue that adds a residual
// or applies another activation) hand the dequantized accumulators to the float `Epilogue`.
// Each equals `referenceInt8Convolution` bit for bit.

import AugeInt8

/// How a computed value is stored as uint8 codes: value = (code - zeroPoint) * scale, codes in `range`
/// (the fake-quantize that produced it).
struct ValueQuantization: Equatable {
    var scale: Float
    var zeroPoint: Int32
    var range: ClosedRange<Int32>

    /// The quantization `activation` applies, if it is a fake-quantize onto a uint8 grid.
    init?(_ activation: Activation?) {
        guard case let .fakeQuantize(scale, zeroPoint, lower, upper)? = activation, lower >= 0, upper <= 255, lower <= zeroPoint,
            zeroPoint <= upper
        else { return nil }
        self.init(scale: scale, zeroPoint: Int32(zeroPoint), range: Int32(lower)...Int32(upper))
    }

    init(scale: Float, zeroPoint: Int32, range: ClosedRange<Int32>) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.range = range
    }

    /// The code range after `activation` then this quantization (ReLU and Clip narrow it; nil for
    /// an activation that is not a clamp).
    func range(after activation: Activation?) -> ClosedRange<Int32>? {
        let (lower, upper): (Float, Float)
        switch activation {
        case nil: return range
        case .relu?: (lower, upper) = (0, .infinity)
        case let .clip(minimum, maximum)?: (lower, upper) = (minimum, maximum)
        default: return nil
        }
        // round(clamp(y, a, b) / s) = clamp(round(y / s), round(a / s), round(b / s)): rounding is monotone.
        func code(_ bound: Float) -> Int32 {
            let position = (bound / scale).rounded(.toNearestOrEven)
            return Int32(max(-1e6, min(1e6, position))) + zeroPoint
        }
        let low = max(range.lowerBound, code(lower)), high = min(range.upperBound, upper.isFinite ? code(upper) : range.upperBound)
        return low <= high ? low...high : nil
    }

    /// The values of 16 codes: (code - zeroPoint) * scale.
    @inline(__always) func values(_ codes: SIMD16<UInt8>) -> Vector {
        codeValues16(codes, zeroPoint: SIMD16(repeating: zeroPoint), scale: Vector(repeating: scale))
    }

    /// 16 values onto the grid (as QuantizeLinear: a division, ties to even, clamped to `range`).
    @inline(__always) func codes(_ values: Vector) -> SIMD16<Int32> {
        quantize16(
            values, scale: Vector(repeating: scale), low: Vector(repeating: Float(range.lowerBound - zeroPoint)),
            high: Vector(repeating: Float(range.upperBound - zeroPoint)), zeroPoint: SIMD16(repeating: zeroPoint))
    }
}

/// The integer form of a convolution whose weights are symmetric int8 per output channel.
struct Int8ConvolutionWeights {
    /// [outChannels][kernelHeight][kernelWidth][inChannels / groups] (channels innermost, as gathered).
    var weights: [Int8]
    /// The bias in accumulator units (input scale x weight scale), per output channel.
    var bias: [Int32]
    /// input scale x weight scale: what one accumulator unit is worth, per output channel.
    var unit: [Float]

    /// `conv.weight` must be whole multiples of `conv.weightScales` (as the importer and quantizer make them).
    init(_ conv: Convolution, inputScale: Float) {
        let scales = conv.weightScales!
        let (outChannels, perGroup) = (conv.outChannels, conv.weight.shape[1])
        let (kernelHeight, kernelWidth) = conv.kernel
        let taps = kernelHeight * kernelWidth
        weights = [Int8](repeating: 0, count: conv.weight.count)
        bias = [Int32](repeating: 0, count: outChannels)
        unit = [Float](repeating: 0, count: outChannels)
        for o in 0..<outChannels {
            let scale = scales[o]
            unit[o] = Float(Double(inputScale) * Double(scale))
            for c in 0..<perGroup {
                for tap in 0..<taps {
                    let value = scale > 0 ? (conv.weight.data[(o * perGroup + c) * taps + tap] / scale).rounded(.toNearestOrEven) : 0
                    weights[(o * taps + tap) * perGroup + c] = Int8(max(-127, min(127, value)))
                }
            }
            let units = (Double(conv.bias?.data[o] ?? 0) / (Double(inputScale) * Double(scale))).rounded(.toNearestOrEven)
            bias[o] = unit[o] > 0 && units.isFinite ? Int32(max(-1e9, min(1e9, units))) : 0
        }
    }

    /// The requantization multipliers onto an output grid of step `outputScale`: unit / outputScale.
    func multipliers(outputScale: Float) -> [Float] { unit.map { Float(Double($0) / Double(outputScale)) } }
}

/// Where an int8 convolution's result goes.
enum Int8ConvolutionOutput {
    /// Requantized to codes in the kernel: value = (code - quantization.zeroPoint) * quantization.scale,
    /// codes clamped to `range` (the quantization's, narrowed by a fused ReLU or Clip).
    case codes(UnsafeMutablePointer<UInt8>, ValueQuantization, range: ClosedRange<Int32>)
    /// A residual block's end on codes: activation(dequantized accumulators) + the residual (codes), then
    /// quantized onto the output's grid.
    case residualCodes(
        UnsafeMutablePointer<UInt8>, ValueQuantization, activation: Activation?, residual: UnsafePointer<UInt8>, residualQuantization: ValueQuantization)
    /// Dequantized to float (channels-last) and finished by a float epilogue.
    case float(UnsafeMutablePointer<Float>, Epilogue)
    /// Only each pixel's smallest dequantized value over the channels ([pixels] floats): a memory-bank
    /// search, whose every pixel meets thousands of bank vectors. The whole output is never stored: with one
    /// weight step on the VNNI path the GEMM's epilogue lowers each pixel's minimum from its registers, else
    /// the channels are summed a chunk at a time into scratch that stays in cache.
    case channelMinimum(UnsafeMutablePointer<Float>)
}

/// Reinterprets arena memory (floats) as bytes: codes live in the same arena as float values.
@inline(__always) func bytes(_ pointer: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<UInt8> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
}

/// Copies `count` bytes 16 at a time: up to 15 bytes past the end are read and written, so both
/// buffers need that slack, and the bytes written past the end must be free to overwrite.
@inline(__always) func copyBytes(from source: UnsafePointer<UInt8>, to target: UnsafeMutablePointer<UInt8>, count: Int) {
    var offset = 0
    while offset < count {
        UnsafeMutableRawPointer(target + offset).storeBytes(
            of: UnsafeRawPointer(source + offset).loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        offset &+= 16
    }
}

/// What an int8 convolution reads: codes, channels-last with `paddedChannels` bytes a pixel, or a plain
/// [N, C, H, W] float tensor that it quantizes onto its input's grid while making its padded copy (a
/// quantized model's input: one pass instead of a quantize pass and a copy of the codes).
enum Int8ConvolutionSource {
    case codes(UnsafePointer<UInt8>)
    case plainFloats(UnsafePointer<Float>)
}

final class Int8ConvolutionStep: Step {
    let geometry: ConvolutionGeometry
    let packed: Int8PackedWeights
    let path: Int8GemmPath
    let source: Int8ConvolutionSource
    let inputQuantization: ValueQuantization
    let sourceStride: Int
    /// Nil when the kernel reads the codes directly (1x1, stride 1, no padding); otherwise the input is
    /// first copied compactly (`pixelBytes` a pixel) with its padding (the zero point) around it, so
    /// that a kernel row of the window is one run of bytes.
    let padded: UnsafeMutablePointer<UInt8>?
    let paddedWidth: Int, paddedHeight: Int
    /// Bytes per pixel of the padded copy: the channels, or 4 for a 1-3 channel input whose windows are
    /// read in place where that costs no more multiply-adds (a 3x3 RGB first layer: its photo is then
    /// quantized one 32-bit word a pixel; the extra channel meets zero weights).
    let pixelBytes: Int
    /// For windows read in place: the bytes of a kernel row as the GEMM reads them, kernelWidth x
    /// pixelBytes rounded up to whole groups of 4 (the bytes past the window belong to the next pixels
    /// and meet zero weights). A grey 3x3 first layer's kernel row is 4 bytes, not three pixels of 4.
    let windowRowBytes: Int
    /// Whether the GEMM reads the windows in the padded copy in place; else (a horizontal dilation) they are gathered.
    let readsWindows: Bool
    /// Bytes of one gathered row (K rounded up to whole groups of 4, and to 16 for the copies' slack), or
    /// of one window's start when the windows are read in place.
    let rowBytes: Int
    let output: Int8ConvolutionOutput
    let outputStride: Int
    /// Dequantization multiplier per output channel, padded to whole vectors.
    let unit: AlignedBuffer
    /// Per thread: `segmentRows` gathered rows (plus slack) or window starts, then `segmentRows` rows of Int32
    /// accumulators `accumulatorStride` apart, then (for a channel minimum) a vector of running minima a row.
    let scratch: UnsafeMutableRawPointer
    let scratchBytesPerThread: Int
    let accumulatorOffset: Int
    let accumulatorStride: Int
    let minimaOffset: Int
    let outputPixels: Int
    static let segmentRows = 64
    /// 16-channel blocks a channel minimum sums at a time: 64 rows of 256 accumulators, 64 KB, stay in L2.
    static let minimumChunkBlocks = 16
    /// For a channel minimum on the VNNI path: the dequantization step when every channel has the same
    /// (positive) one. A positive multiple keeps the order, so the GEMM's epilogue takes the minimum on the
    /// integer sums and it is dequantized once.
    let epilogueUnit: Float?

    init(
        geometry g: ConvolutionGeometry, weights: Int8ConvolutionWeights, input: ValueQuantization, source: Int8ConvolutionSource,
        output: Int8ConvolutionOutput, threads: Int, path: Int8GemmPath = .best
    ) {
        precondition(g.groups == 1, "grouped int8 convolutions run as depthwise or in float")
        geometry = g
        self.path = path
        self.source = source
        inputQuantization = input
        sourceStride = paddedChannels(g.inChannels)
        (paddedHeight, paddedWidth) = (g.paddedInHeight, g.paddedInWidth)
        let direct = ConvolutionGemmStep.readsDirectly(g)
        if case .plainFloats = source { precondition(!direct, "a float input is quantized into the padded copy, which this convolution has none of") }
        readsWindows = !direct && g.dilationX == 1
        let wordPixels = (g.inChannels + 3) / 4 * 4
        pixelBytes =
            readsWindows && g.inChannels < 4 && g.kernelWidth * wordPixels == (g.kernelWidth * g.inChannels + 3) / 4 * 4 ? wordPixels : g.inChannels
        windowRowBytes = (g.kernelWidth * pixelBytes + 3) / 4 * 4
        if direct {
            padded = nil
        } else {
            // 16 bytes of slack: the copies' overrun, and the last window's row read past its end.
            let count = g.batch * paddedHeight * paddedWidth * pixelBytes + 16
            padded = .allocate(capacity: count)
            padded!.initialize(repeating: UInt8(input.zeroPoint), count: count)
        }
        let k = readsWindows ? g.kernelHeight * windowRowBytes : g.kernelHeight * g.kernelWidth * pixelBytes
        rowBytes = readsWindows ? MemoryLayout<UnsafePointer<UInt8>>.stride : (k + 15) / 16 * 16
        self.output = output
        outputStride = paddedChannels(g.outChannels)
        let quantization: Int8Quantization
        var multipliers = weights.unit
        switch output {
        case let .codes(_, outputQuantization, range):
            quantization = Int8Quantization(inputZeroPoint: input.zeroPoint, outputZeroPoint: outputQuantization.zeroPoint, outputRange: range)
            multipliers = weights.multipliers(outputScale: outputQuantization.scale)
        case let .residualCodes(_, _, activation, _, _):
            // An activation that is a fake-quantize: the kernel requantizes onto its grid, and the residual
            // is added to those codes' values.
            if let block = ValueQuantization(activation) {
                quantization = Int8Quantization(inputZeroPoint: input.zeroPoint, outputZeroPoint: block.zeroPoint, outputRange: block.range)
                multipliers = weights.multipliers(outputScale: block.scale)
            } else {
                quantization = Int8Quantization(inputZeroPoint: input.zeroPoint, outputZeroPoint: 0)
            }
        case .float, .channelMinimum:
            quantization = Int8Quantization(inputZeroPoint: input.zeroPoint, outputZeroPoint: 0)
        }
        packed = Int8PackedWeights(
            weights: Self.laidOut(
                weights.weights, channels: g.inChannels, kernelWidth: g.kernelWidth, pixelBytes: pixelBytes,
                rowBytes: readsWindows ? windowRowBytes : g.kernelWidth * pixelBytes),
            k: k, n: g.outChannels, bias: weights.bias, scale: multipliers,
            quantization: quantization)
        if case .channelMinimum = output, path == .avx512VNNI, let step = weights.unit.first, step > 0, weights.unit.allSatisfy({ $0 == step }) {
            epilogueUnit = step
        } else {
            epilogueUnit = nil
        }
        unit = AlignedBuffer(count: outputStride)
        unit.pointer.update(from: weights.unit, count: weights.unit.count)
        outputPixels = g.batch * g.outHeight * g.outWidth
        accumulatorOffset = Self.segmentRows * rowBytes + 64
        if case .channelMinimum = output {
            // The epilogue's minimum needs no sums stored.
            accumulatorStride = epilogueUnit != nil ? 0 : min(outputStride, Self.minimumChunkBlocks * vectorWidth)
        } else {
            accumulatorStride = outputStride
        }
        minimaOffset = accumulatorOffset + Self.segmentRows * 4 * accumulatorStride
        scratchBytesPerThread = minimaOffset + Self.segmentRows * 4 * vectorWidth
        scratch = .allocate(byteCount: threads * scratchBytesPerThread, alignment: 64)
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: threads * scratchBytesPerThread)
    }

    deinit {
        scratch.deallocate()
        padded?.deallocate()
    }

    /// Weights [out][kernel row][tap][channels] as the GEMM reads them: each tap `pixelBytes` apart and
    /// each kernel row `rowBytes` apart, zeros in between (the padded copy's extra channels, and the bytes
    /// read past a window's row).
    static func laidOut(_ weights: [Int8], channels: Int, kernelWidth: Int, pixelBytes: Int, rowBytes: Int) -> [Int8] {
        guard pixelBytes != channels || rowBytes != kernelWidth * channels else { return weights }
        let kernelRows = weights.count / (kernelWidth * channels)
        var result = [Int8](repeating: 0, count: kernelRows * rowBytes)
        for row in 0..<kernelRows {
            for kx in 0..<kernelWidth {
                for c in 0..<channels { result[row * rowBytes + kx * pixelBytes + c] = weights[(row * kernelWidth + kx) * channels + c] }
            }
        }
        return result
    }

    func execute(pool: ThreadPool) {
        if let padded { copyPadded(into: padded, pool: pool) }
        // Tasks: segments of output pixels x ranges of 16-channel blocks (a small map with many
        // channels splits over channels so that both threads get work).
        let segments = (outputPixels + Self.segmentRows - 1) / Self.segmentRows
        let blocks = packed.blocks
        // A pixel's minimum is one task's: its channels are not split.
        var blockRanges = min(blocks, max(1, (4 * pool.threadCount + segments - 1) / segments))
        if case .channelMinimum = output { blockRanges = 1 }
        let work = geometry.multiplyAccumulates / 4
        pool.parallelFor(segments * blockRanges, work: work) { task, worker in
            let (segment, range) = (task / blockRanges, task % blockRanges)
            compute(segment: segment, blocks: (range * blocks / blockRanges)..<((range + 1) * blocks / blockRanges), worker: worker)
        }
    }

    /// The interior of the padded copy (its border keeps the zero point written at init).
    private func copyPadded(into padded: UnsafeMutablePointer<UInt8>, pool: ThreadPool) {
        let g = geometry
        let (c, p) = (g.inChannels, pixelBytes)
        pool.parallelFor(g.batch * g.inHeight, work: g.batch * g.inHeight * g.inWidth * c) { row in
            let (image, y) = row.quotientAndRemainder(dividingBy: g.inHeight)
            let target = padded + ((image &* paddedHeight &+ y &+ g.padTop) &* paddedWidth &+ g.padLeft) &* p
            switch source {
            case let .codes(codes):
                let line = codes + (image &* g.inHeight &+ y) &* g.inWidth &* sourceStride
                if sourceStride == p {
                    // The channels fill the pixels in both: the row is one run of bytes.
                    target.update(from: line, count: g.inWidth &* p)
                    return
                }
                // 16-byte copies (a source pixel has at least 16 readable bytes) whose overrun lands on the next
                // pixels, written next (or on extra channels, which meet zero weights); exact copies where it
                // would pass the row's end (into the border, or a row another thread writes).
                let span = (c &+ 15) / 16 &* 16
                let whole = g.inWidth &* p >= span ? (g.inWidth &* p &- span) / p &+ 1 : 0
                for x in 0..<whole { copyBytes(from: line + x &* sourceStride, to: target + x &* p, count: c) }
                for x in whole..<g.inWidth { (target + x &* p).update(from: line + x &* sourceStride, count: c) }
            case let .plainFloats(floats):
                quantizeRow(floats + (image &* c &* g.inHeight &+ y) &* g.inWidth, planeStride: g.inHeight &* g.inWidth, into: target)
            }
        }
    }

    /// Quantizes one row of a plain float input into the padded copy, 16 pixels at a time for a 1-4 channel
    /// first layer: with 4 bytes a pixel, each pixel's codes packed into one 32-bit word; with one channel,
    /// 16 codes; with 2 or 3, the words stored at each pixel's place overlapping, each pixel's extra bytes
    /// overwritten by the next one's (the row's last pixel is left to the exact loop, so nothing spills
    /// past the row). Else code by code.
    @inline(__always) private func quantizeRow(_ line: UnsafePointer<Float>, planeStride: Int, into target: UnsafeMutablePointer<UInt8>) {
        let (c, p, width, q) = (geometry.inChannels, pixelBytes, geometry.inWidth, inputQuantization)
        var x = 0
        if p == 1 {
            while x &+ vectorWidth <= width {
                storeBytes16(q.codes(loadVector(line + x)), target + x, lanes: vectorWidth)
                x &+= vectorWidth
            }
        } else if p <= 4 {
            // With 4 bytes a pixel nothing overlaps, and the row's last pixel may be in a vector too.
            let end = p == 4 ? width : width &- 1
            while x &+ vectorWidth <= end {
                var words = SIMD16<Int32>()
                for channel in 0..<c { words |= q.codes(loadVector(line + (channel &* planeStride &+ x))) &<< Int32(8 &* channel) }
                if p == 4 {
                    UnsafeMutableRawPointer(target + x &* 4).storeBytes(of: words, as: SIMD16<Int32>.self)
                } else {
                    for lane in 0..<vectorWidth { UnsafeMutableRawPointer(target + (x &+ lane) &* p).storeBytes(of: words[lane], as: Int32.self) }
                }
                x &+= vectorWidth
            }
        }
        while x < width {
            for channel in 0..<c {
                let code = q.codes(Vector(repeating: line[channel &* planeStride &+ x]))[0]
                target[x &* p &+ channel] = UInt8(truncatingIfNeeded: code)
            }
            x &+= 1
        }
    }

    private func compute(segment: Int, blocks: Range<Int>, worker: Int) {
        let first = segment &* Self.segmentRows
        let rows = min(Self.segmentRows, outputPixels &- first)
        let threadScratch = scratch + worker &* scratchBytesPerThread
        let input: Int8GemmInput
        if let padded {
            let g = geometry
            let starts = threadScratch.assumingMemoryBound(to: UnsafePointer<UInt8>.self)
            let gathered = threadScratch.assumingMemoryBound(to: UInt8.self)
            // The first pixel's place once; then step along the output rows (no division per pixel).
            let (image, rest) = first.quotientAndRemainder(dividingBy: g.outHeight &* g.outWidth)
            var (y, x) = rest.quotientAndRemainder(dividingBy: g.outWidth)
            var imageRow = image &* paddedHeight
            if readsWindows {
                // A window's start moves by strideX pixels along an output row: one add per row of the segment.
                @inline(__always) func rowStart() -> UnsafeMutablePointer<UInt8> { padded + (imageRow &+ y &* g.strideY) &* paddedWidth &* pixelBytes }
                let step = g.strideX &* pixelBytes
                var start = rowStart() + x &* step
                for row in 0..<rows {
                    starts[row] = UnsafePointer(start)
                    start += step
                    x &+= 1
                    if x == g.outWidth {
                        x = 0
                        y &+= 1
                        if y == g.outHeight { (y, imageRow) = (0, imageRow &+ paddedHeight) }
                        start = rowStart()
                    }
                }
            } else {
                for row in 0..<rows {
                    gather(imageRow: imageRow, outY: y, outX: x, from: padded, into: gathered + row &* rowBytes)
                    x &+= 1
                    if x == g.outWidth {
                        x = 0
                        y &+= 1
                        if y == g.outHeight { (y, imageRow) = (0, imageRow &+ paddedHeight) }
                    }
                }
            }
            input =
                readsWindows
                ? .windows(UnsafePointer(starts), runGroups: windowRowBytes / 4, runStride: g.dilationY &* paddedWidth &* pixelBytes)
                : .matrix(UnsafePointer(gathered), rowStride: rowBytes)
        } else {
            guard case let .codes(codes) = source else { preconditionFailure("a float input is read through the padded copy") }
            input = .matrix(codes + first &* sourceStride, rowStride: sourceStride)
        }
        let results = threadScratch + accumulatorOffset
        let accumulators = results.assumingMemoryBound(to: Int32.self), blockCodes = results.assumingMemoryBound(to: UInt8.self)
        let channels = geometry.outChannels
        /// Each 16-channel vector of the segment's outputs: its offset in the scratch rows and in the output.
        @inline(__always) func eachVector(_ body: (_ scratchOffset: Int, _ offset: Int, _ channel: Int, _ lanes: Int) -> Void) {
            for row in 0..<rows {
                for block in blocks {
                    let channel = block &* vectorWidth
                    body(row &* outputStride &+ channel, (first &+ row) &* outputStride &+ channel, channel, min(vectorWidth, channels &- channel))
                }
            }
        }
        /// The accumulators' values (before any activation).
        @inline(__always) func dequantized(_ scratchOffset: Int, _ channel: Int) -> Vector {
            float16(UnsafeRawPointer(accumulators + scratchOffset).loadUnaligned(as: SIMD16<Int32>.self)) * loadVector(unit.pointer + channel)
        }
        switch output {
        case let .codes(codes, _, _):
            int8Gemm(
                path: path, input: input, rows: rows, weights: packed, columnBlocks: blocks, output: codes + first &* outputStride,
                outputRowStride: outputStride)
        case let .float(values, epilogue):
            int8Gemm(
                path: path, input: input, rows: rows, weights: packed, columnBlocks: blocks, output: nil, outputRowStride: 0,
                accumulators: accumulators, accumulatorRowStride: outputStride)
            eachVector { scratchOffset, offset, channel, lanes in
                storeVector(epilogue.apply(dequantized(scratchOffset, channel), offset: offset), values + offset, lanes: lanes)
            }
        case let .channelMinimum(minimum):
            channelMinimum(input: input, first: first, rows: rows, blocks: blocks, accumulators: accumulators, into: minimum, threadScratch: threadScratch)
        case let .residualCodes(codes, quantization, activation, residual, residualQuantization):
            let block = ValueQuantization(activation)
            if block != nil {
                int8Gemm(path: path, input: input, rows: rows, weights: packed, columnBlocks: blocks, output: blockCodes, outputRowStride: outputStride)
            } else {
                int8Gemm(
                    path: path, input: input, rows: rows, weights: packed, columnBlocks: blocks, output: nil, outputRowStride: 0,
                    accumulators: accumulators, accumulatorRowStride: outputStride)
            }
            if let block, path == .avx512VNNI {
                var arguments = Int8ResidualArguments(
                    own: blockCodes, ownRowStride: outputStride, residual: residual + first &* outputStride, output: codes + first &* outputStride,
                    rowStride: outputStride, rows: rows, firstChannel: blocks.lowerBound &* vectorWidth,
                    channelEnd: min(blocks.upperBound &* vectorWidth, channels), ownScale: block.scale, ownZeroPoint: block.zeroPoint,
                    residualScale: residualQuantization.scale, residualZeroPoint: residualQuantization.zeroPoint, scale: quantization.scale,
                    zeroPoint: quantization.zeroPoint, low: Float(quantization.range.lowerBound - quantization.zeroPoint),
                    high: Float(quantization.range.upperBound - quantization.zeroPoint))
                int8ResidualAddVNNI(&arguments)
                return
            }
            eachVector { scratchOffset, offset, channel, lanes in
                let own =
                    block.map { $0.values(UnsafeRawPointer(blockCodes + scratchOffset).loadUnaligned(as: SIMD16<UInt8>.self)) }
                    ?? activation.map { $0.apply(dequantized(scratchOffset, channel)) } ?? dequantized(scratchOffset, channel)
                let sum = own + residualQuantization.values(UnsafeRawPointer(residual + offset).loadUnaligned(as: SIMD16<UInt8>.self))
                storeBytes16(quantization.codes(sum), codes + offset, lanes: lanes)
            }
        }
    }

    /// The rows' smallest dequantized values over the channels of `blocks`: with one step for every channel
    /// on the VNNI path, taken in the GEMM's epilogue; else a chunk of blocks at a time from scratch.
    @inline(__always) private func channelMinimum(
        input: Int8GemmInput, first: Int, rows: Int, blocks: Range<Int>, accumulators: UnsafeMutablePointer<Int32>,
        into minimum: UnsafeMutablePointer<Float>, threadScratch: UnsafeMutableRawPointer
    ) {
        let minima = (threadScratch + minimaOffset).assumingMemoryBound(to: Float.self)
        for row in 0..<rows {
            if epilogueUnit != nil {
                UnsafeMutableRawPointer(minima).storeBytes(of: SIMD16<Int32>(repeating: .max), toByteOffset: row &* 64, as: SIMD16<Int32>.self)
            } else {
                storeVector(Vector(repeating: .infinity), minima + row &* vectorWidth)
            }
        }
        if epilogueUnit != nil {
            // The VNNI kernel keeps each row's minimum in its epilogue: no sums stored.
            int8Gemm(
                path: path, input: input, rows: rows, weights: packed, columnBlocks: blocks, output: nil, outputRowStride: 0,
                rowMinima: UnsafeMutableRawPointer(minima).assumingMemoryBound(to: Int32.self))
        } else {
            let channels = geometry.outChannels
            var chunk = blocks.lowerBound
            while chunk < blocks.upperBound {
                let end = min(chunk &+ Self.minimumChunkBlocks, blocks.upperBound)
                let firstChannel = chunk &* vectorWidth
                // The GEMM stores block b's accumulators at column 16b of its pointer: shifted back, the chunk
                // lands at the start of the scratch rows.
                int8Gemm(
                    path: path, input: input, rows: rows, weights: packed, columnBlocks: chunk..<end, output: nil, outputRowStride: 0,
                    accumulators: accumulators - firstChannel, accumulatorRowStride: accumulatorStride)
                for row in 0..<rows {
                    var smallest = loadVector(minima + row &* vectorWidth)
                    let line = UnsafeRawPointer(accumulators + row &* accumulatorStride)
                    for block in chunk..<end {
                        let channel = block &* vectorWidth
                        var values = float16(line.loadUnaligned(fromByteOffset: (channel &- firstChannel) &* 4, as: SIMD16<Int32>.self)) * loadVector(unit.pointer + channel)
                        if channel &+ vectorWidth > channels {
                            // Lanes past the last channel hold no accumulators.
                            values.replace(with: .infinity, where: Self.laneIndices .>= Int32(channels &- channel))
                        }
                        smallest = vectorMin(smallest, values)
                    }
                    storeVector(smallest, minima + row &* vectorWidth)
                }
                chunk = end
            }
        }
        for row in 0..<rows {
            if let epilogueUnit {
                minimum[first &+ row] = Float(UnsafeRawPointer(minima).load(fromByteOffset: row &* 64, as: SIMD16<Int32>.self).min()) * epilogueUnit
            } else {
                minimum[first &+ row] = loadVector(minima + row &* vectorWidth).min()
            }
        }
    }

    private static let laneIndices = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// Gathers the window of the output pixel at (outY, outX) of the image whose padded copy starts at
    /// row `imageRow`: taps in (kernel row, kernel column)
    /// order, `inChannels` bytes each. Up to 15 bytes past the row's K may be overwritten (they meet zero
    /// weights, and the next row is gathered after this one).
    @inline(__always) private func gather(imageRow: Int, outY: Int, outX: Int, from padded: UnsafeMutablePointer<UInt8>, into row: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let c = g.inChannels
        let windowRun = g.kernelWidth &* c
        var target = row
        for ky in 0..<g.kernelHeight {
            let line = padded + ((imageRow &+ outY &* g.strideY &+ ky &* g.dilationY) &* paddedWidth &+ outX &* g.strideX) &* c
            if g.dilationX == 1 {
                copyBytes(from: line, to: target, count: windowRun)
            } else {
                for kx in 0..<g.kernelWidth { copyBytes(from: line + kx &* g.dilationX &* c, to: target + kx &* c, count: c) }
            }
            target += windowRun
        }
    }
}

final class Int8DepthwiseStep: Step {
    let geometry: ConvolutionGeometry
    let source: UnsafePointer<UInt8>
    let output: UnsafeMutablePointer<UInt8>
    let stride: Int
    /// As the row kernel reads them (see `Int8DepthwiseRowArguments`): [tap][paddedChannels] as Float, or
    /// on quad rows [ky][quad][paddedChannels] lanes of 4 int8. Then the bias (on quad rows less the
    /// input zero point times the weight sum) and the requantization multipliers.
    let weights: AlignedBuffer
    let bias: UnsafeMutablePointer<Int32>
    let multipliers: AlignedBuffer
    let inputZeroPoint: Int32, outputZeroPoint: Int32
    let low: Float, high: Float
    /// Per thread: input rows converted to Float less the zero point, every channel, with zero columns
    /// around them (or, on quad rows, the codes of 4 neighbouring pixels, padding at the input zero point),
    /// [paddedInWidth][stride] 4-byte values each, in `slots` slots: input row y lives in slot y % slots and
    /// stays there for the next output rows that read it (a thread's tasks come in runs of consecutive
    /// rows), so each input code is converted about once rather than once per kernel row.
    let rows: AlignedBuffer
    let rowFloats: Int
    let slots: Int
    /// Per thread and slot: which input row (image x inHeight + y) the slot holds; -1: none.
    let slotRows: UnsafeMutablePointer<Int>
    /// A row of zeros (the input zero point on quad rows) for the kernel rows in the vertical padding.
    let zeroRow: AlignedBuffer
    /// Per thread: the kernel rows of the output row being computed.
    let kernelRows: UnsafeMutablePointer<UnsafeRawPointer>
    /// `.avx512VNNI`: AugeInt8's VNNI kernel on quad rows (dilation 1 across), else its AVX-512 build of
    /// the Float one; any other: the Float one compiled here.
    let path: Int8GemmPath
    /// Whether rows hold quads of codes for `int8DepthwiseQuadRowVNNI`.
    let quadRows: Bool

    /// Whether the sums stay exact in Float arithmetic: every product is at most 255 x 127 in magnitude, so
    /// sums of up to 512 of them stay below 2^24.
    static func applies(_ g: ConvolutionGeometry) -> Bool { g.kernelHeight * g.kernelWidth <= 512 }

    init(
        geometry g: ConvolutionGeometry, weights integer: Int8ConvolutionWeights, input: ValueQuantization, source: UnsafePointer<UInt8>,
        output: UnsafeMutablePointer<UInt8>, outputQuantization: ValueQuantization, range: ClosedRange<Int32>, threads: Int,
        path: Int8GemmPath = .best
    ) {
        precondition(g.groups == g.inChannels && g.groups == g.outChannels && Self.applies(g))
        precondition(Int8GemmPath.isAvailable(path), "the \(path) int8 kernels cannot run on this CPU or build")
        geometry = g
        self.path = path
        self.source = source
        self.output = output
        stride = paddedChannels(g.outChannels)
        let taps = g.kernelHeight * g.kernelWidth
        quadRows = path == .avx512VNNI && g.dilationX == 1
        let quads = (g.kernelWidth + 3) / 4
        // Output pairs: a second set of weights, for the second pixel (one pixel further in).
        let weightSets = depthwiseOutputPairs(kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, strideX: g.strideX) ? 2 : 1
        weights = AlignedBuffer(count: (quadRows ? weightSets * g.kernelHeight * quads : taps) * stride)
        bias = .allocate(capacity: stride)
        bias.initialize(repeating: 0, count: stride)
        multipliers = AlignedBuffer(count: stride)
        multipliers.pointer.update(from: integer.multipliers(outputScale: outputQuantization.scale), count: g.outChannels)
        let weightBytes = UnsafeMutableRawPointer(weights.pointer).assumingMemoryBound(to: Int8.self)
        for channel in 0..<g.outChannels {
            let filter = channel * taps
            if quadRows {
                for set in 0..<weightSets {
                    for ky in 0..<g.kernelHeight {
                        for kx in 0..<g.kernelWidth {
                            // Tap kx of the set's output pixel falls on pixel set + kx of the quads (pixel x
                            // of a quad is byte 3 - x).
                            let pixel = set + kx
                            let lane = ((set * g.kernelHeight + ky) * quads + pixel / 4) * stride + channel
                            weightBytes[lane * 4 + 3 - pixel % 4] = integer.weights[filter + ky * g.kernelWidth + kx]
                        }
                    }
                }
                // The kernel multiplies codes, not codes less the zero point: the difference, folded here.
                let weightSum = integer.weights[filter..<(filter + taps)].reduce(Int32(0)) { $0 + Int32($1) }
                bias[channel] = integer.bias[channel] - input.zeroPoint * weightSum
            } else {
                for tap in 0..<taps { weights.pointer[tap * stride + channel] = Float(integer.weights[filter + tap]) }
                bias[channel] = integer.bias[channel]
            }
        }
        inputZeroPoint = input.zeroPoint
        outputZeroPoint = outputQuantization.zeroPoint
        (low, high) = (Float(range.lowerBound - outputZeroPoint), Float(range.upperBound - outputZeroPoint))
        rowFloats = g.paddedInWidth * stride
        // Kernel rows ky * dilation apart fall in distinct slots modulo kernelHeight * dilation.
        slots = g.kernelHeight * g.dilationY
        rows = AlignedBuffer(count: threads * slots * rowFloats)
        slotRows = .allocate(capacity: threads * slots)
        zeroRow = AlignedBuffer(count: rowFloats)
        if quadRows {
            // Padding pixels hold the zero point's code in every byte, and only interior quads are rewritten.
            let padding = UInt32(truncatingIfNeeded: input.zeroPoint) &* 0x0101_0101
            for buffer in [rows, zeroRow] {
                UnsafeMutableRawPointer(buffer.pointer).assumingMemoryBound(to: UInt32.self).update(repeating: padding, count: buffer.count)
            }
        }
        kernelRows = .allocate(capacity: threads * g.kernelHeight)
        kernelRows.initialize(repeating: UnsafeRawPointer(zeroRow.pointer), count: threads * g.kernelHeight)
    }

    deinit {
        bias.deallocate()
        slotRows.deallocate()
        kernelRows.deallocate()
    }

    func execute(pool: ThreadPool) {
        let g = geometry
        // The input changed since the last run: no slot holds a converted row yet.
        slotRows.update(repeating: -1, count: rows.count / rowFloats)
        pool.parallelFor(g.batch * g.outHeight, work: g.multiplyAccumulates) { row, worker in computeRow(row, worker: worker) }
    }

    private func computeRow(_ row: Int, worker: Int) {
        let g = geometry
        let (image, outY) = row.quotientAndRemainder(dividingBy: g.outHeight)
        let kernel = kernelRows + worker &* g.kernelHeight
        for ky in 0..<g.kernelHeight {
            let y = outY &* g.strideY &- g.padTop &+ ky &* g.dilationY
            kernel[ky] = y >= 0 && y < g.inHeight ? convertedRow(image: image, y: y, worker: worker) : UnsafeRawPointer(zeroRow.pointer)
        }
        var arguments = Int8DepthwiseRowArguments(
            inputRows: kernel, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, strideX: g.strideX, dilationX: g.dilationX,
            weights: UnsafeRawPointer(weights.pointer), bias: bias, multipliers: multipliers.pointer, low: low, high: high, zeroPoint: outputZeroPoint,
            output: output + (image &* g.outHeight &+ outY) &* g.outWidth &* stride, outWidth: g.outWidth, channels: g.outChannels, stride: stride)
        if quadRows {
            int8DepthwiseQuadRowVNNI(&arguments)
        } else if path == .avx512VNNI {
            int8DepthwiseRowAVX512(&arguments)
        } else {
            int8DepthwiseRow(arguments)
        }
    }

    /// Input row y of `image` as the row kernel reads it, from this thread's slot, converted if the slot
    /// holds another row.
    @inline(__always) private func convertedRow(image: Int, y: Int, worker: Int) -> UnsafeRawPointer {
        let g = geometry
        let slot = worker &* slots &+ y % slots
        let target = rows.pointer + slot &* rowFloats
        let key = image &* g.inHeight &+ y
        if slotRows[slot] != key {
            slotRows[slot] = key
            let line = source + (key &* g.inWidth &* stride)
            if quadRows {
                convertQuads(line, into: UnsafeMutableRawPointer(target).assumingMemoryBound(to: UInt32.self))
            } else {
                let interior = target + g.padLeft &* stride
                let zeroPoint = SIMD16<Int32>(repeating: inputZeroPoint)
                for i in Swift.stride(from: 0, to: g.inWidth &* stride, by: 16) {
                    let codes = UnsafeRawPointer(line + i).loadUnaligned(as: SIMD16<UInt8>.self)
                    storeVector(float16(widen16(codes) &- zeroPoint), interior + i)
                }
            }
        }
        return UnsafeRawPointer(target)
    }

    /// One input row as a quad row, by AugeInt8's VNNI builder (quad rows are only made on that path). With
    /// output pairs (`depthwiseOutputPairs`) the kernel reads only the even pixels' quads as well, but
    /// building only those measured slower (MobileNetV2 and EfficientNet-Lite0, alternating builds), so all
    /// are built.
    @inline(__always) private func convertQuads(_ line: UnsafePointer<UInt8>, into target: UnsafeMutablePointer<UInt32>) {
        let g = geometry
        var arguments = Int8QuadRowArguments(
            line: line, target: target, stride: stride, padLeft: g.padLeft, width: g.inWidth, padding: UInt8(truncatingIfNeeded: inputZeroPoint),
            evenOnly: g.strideX == 2)
        int8QuadRowVNNI(&arguments)
    }
}

/// Float (channels-last or plain) -> uint8 codes (channels-last): code = clamp(roundHalfEven(x / scale) + zeroPoint).
final class QuantizeStep: Step {
    let quantization: ValueQuantization
    let batch: Int, channels: Int, pixels: Int
    let sourceLayout: Layout
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<UInt8>

    init(quantization: ValueQuantization, shape: [Int], sourceLayout: Layout, input: UnsafePointer<Float>, output: UnsafeMutablePointer<UInt8>) {
        self.quantization = quantization
        (batch, channels, pixels) = (shape[0], shape[1], shape[2...].reduce(1, *))
        self.sourceLayout = sourceLayout
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let stride = paddedChannels(channels)
        let q = quantization
        let (batch, channels, pixels) = (self.batch, self.channels, self.pixels)
        if sourceLayout == .plain && pixels >= 16 {
            // Tasks: runs of pixels with every channel, so that no two threads write the same output pixel
            // (a task per channel plane had both threads write the same cache lines). Within a run, 16
            // pixels of one channel at a time, stored a pixel stride apart.
            let runPixels = 256
            let runs = (pixels + runPixels - 1) / runPixels
            pool.parallelFor(batch * runs, work: batch * channels * pixels) { task in
                let (image, run) = task.quotientAndRemainder(dividingBy: runs)
                let (runStart, runEnd) = (run &* runPixels, min(pixels, (run &+ 1) &* runPixels))
                var packed = SIMD16<UInt8>()
                for channel in 0..<channels {
                    let planeStart = input + (image &* channels &+ channel) &* pixels
                    var first = runStart
                    while first < runEnd {
                        // Past the plane's end, the 16 pixels ending there are read (planes have at least 16),
                        // and only this run's are stored.
                        let start = first &+ 16 <= pixels ? first : pixels &- 16
                        let codes = q.codes(loadVector(planeStart + start))
                        withUnsafeMutableBytes(of: &packed) { storeBytes16(codes, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), lanes: 16) }
                        let target = output + ((image &* pixels &+ start) &* stride &+ channel)
                        for lane in (first &- start)..<min(16, runEnd &- start) { target[lane &* stride] = packed[lane] }
                        first &+= 16
                    }
                }
            }
        } else if sourceLayout == .plain {
            for image in 0..<batch {
                for channel in 0..<channels {
                    for pixel in 0..<pixels {
                        var values = Vector(repeating: 0)
                        values[0] = input[(image &* channels &+ channel) &* pixels &+ pixel]
                        let codes = q.codes(values)
                        output[(image &* pixels &+ pixel) &* stride &+ channel] = UInt8(truncatingIfNeeded: codes[0])
                    }
                }
            }
        } else {
            let count = batch * pixels * stride
            pool.parallelFor(count / vectorWidth, work: count) { index in
                let codes = q.codes(loadVector(input + index &* vectorWidth))
                storeBytes16(codes, output + index &* vectorWidth, lanes: 16)
            }
        }
    }
}

/// uint8 codes (channels-last) -> float channels-last: x = (code - zeroPoint) * scale.
final class DequantizeStep: Step {
    let quantization: ValueQuantization
    let count: Int
    let input: UnsafePointer<UInt8>
    let output: UnsafeMutablePointer<Float>

    init(quantization: ValueQuantization, count: Int, input: UnsafePointer<UInt8>, output: UnsafeMutablePointer<Float>) {
        self.quantization = quantization
        self.count = count
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let q = quantization
        pool.parallelFor(count / vectorWidth, work: count) { index in
            storeVector(q.values(UnsafeRawPointer(input + index &* vectorWidth).loadUnaligned(as: SIMD16<UInt8>.self)), output + index &* vectorWidth)
        }
    }
}
