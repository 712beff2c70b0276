// Convolution as an implicit GEMM on channels-last data: a register tile of 6 output pixels x 16 output
// channels (6 SIMD16 accumulators = 12 ymm registers) runs over K = kernelHeight x kernelWidth x inChannels,
// broadcasting one input value per pixel and loading one 16-wide row of pre-packed weights.
// One kernel serves every case but depthwise:
//  - output pixels are numbered across rows and images, so tiles never straddle a ragged row end;
//  - 1x1 stride 1 without padding reads the channels-last input directly (a plain register-blocked GEMM);
//  - any other kernel first gathers the input into a zero-padded, compact (stride = inChannels) copy,
//    so the hot loop has no bounds checks. With compact pixels and dilation 1 the kernel columns and
//    channels of one kernel row are contiguous, so the inner loop runs over kernelWidth x inChannels
//    values at once: 27 for a 3-channel first layer, 3 x inChannels for a 3x3 layer;
//  - groups pack each group's output channels into their own 16-wide blocks.

import AugePrefetch

/// Geometry of one convolution on a (possibly padded) channels-last input.
struct ConvolutionGeometry {
    var batch: Int, inHeight: Int, inWidth: Int, inChannels: Int
    var outHeight: Int, outWidth: Int, outChannels: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideY: Int, strideX: Int, dilationY: Int, dilationX: Int
    var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    var groups: Int

    var inPerGroup: Int { inChannels / groups }
    var outPerGroup: Int { outChannels / groups }
    var blocksPerGroup: Int { (outPerGroup + vectorWidth - 1) / vectorWidth }
    var multiplyAccumulates: Int { batch * outHeight * outWidth * outChannels * inPerGroup * kernelHeight * kernelWidth }
    /// The input's height and width with its padding added.
    var paddedInHeight: Int { inHeight + padTop + padBottom }
    var paddedInWidth: Int { inWidth + padLeft + padRight }

    /// Floats in a zero-padded copy of the input: `pixelStride` floats per pixel, `size` pixels per
    /// image (default: the input with its padding).
    func paddedCopyCount(pixelStride: Int, size: (height: Int, width: Int)? = nil) -> Int {
        let (height, width) = size ?? (paddedInHeight, paddedInWidth)
        return batch * height * width * pixelStride
    }
}

final class ConvolutionGemmStep: Step {
    let geometry: ConvolutionGeometry
    /// Zero-padded compact copy of the input, or nil when the kernel reads the source directly.
    let padded: PaddedInput?
    let output: UnsafeMutablePointer<Float>
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let epilogue: Epilogue
    // The input as the tile loop sees it.
    let inputBase: UnsafePointer<Float>
    let pixelStride: Int, rowStride: Int, imageStride: Int
    let outPixelStride: Int
    /// Output pixels over the whole batch.
    let outputPixels: Int
    let innerLength: Int, tapColumns: Int
    static let tilePixels = 6
    /// Pixels per task: each pass over a weight block covers this many (weights stream less often).
    static let segmentPixels = 96

    /// `weight` is [outChannels, inChannels / groups, kH, kW]; `biasValues` has outChannels values.
    init(
        geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], source: UnsafePointer<Float>, sourceLayout: Layout,
        gathered: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>, epilogue: Epilogue
    ) {
        geometry = g
        let planar = Self.isFirstLayer(g, sourceLayout: sourceLayout)
        padded = gathered.map {
            PaddedInput(
                geometry: g, source: source, sourceLayout: sourceLayout, pixelStride: planar ? 1 : g.inChannels,
                paddedHeight: g.paddedInHeight, paddedWidth: g.paddedInWidth,
                planar: planar, destination: $0)
        }
        self.output = output
        self.epilogue = epilogue
        outPixelStride = paddedChannels(g.outChannels)
        let (kh, kw, cig, cog) = (g.kernelHeight, g.kernelWidth, g.inPerGroup, g.outPerGroup)
        let blockLength = kh * kw * cig * vectorWidth
        weights = AlignedBuffer(count: g.groups * g.blocksPerGroup * blockLength)
        bias = AlignedBuffer(count: g.groups * g.blocksPerGroup * vectorWidth)
        for group in 0..<g.groups {
            for block in 0..<g.blocksPerGroup {
                let blockIndex = group * g.blocksPerGroup + block
                for lane in 0..<vectorWidth where block * vectorWidth + lane < cog {
                    let o = group * cog + block * vectorWidth + lane
                    bias.pointer[blockIndex * vectorWidth + lane] = biasValues[o]
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            for ci in 0..<cig {
                                // Planar first layers run channel by channel: K ordered (channel, ky, kx).
                                let k = planar ? (ci * kh + ky) * kw + kx : (ky * kw + kx) * cig + ci
                                let packed = blockIndex * blockLength + k * vectorWidth + lane
                                weights.pointer[packed] = weight[((o * cig + ci) * kh + ky) * kw + kx]
                            }
                        }
                    }
                }
            }
        }
        if let padded {
            inputBase = UnsafePointer(padded.destination)
            pixelStride = padded.pixelStride
            rowStride = padded.rowStride
            imageStride = padded.imageStride
        } else {
            // Direct 1x1, stride 1, unpadded, channels-last source: the batch is one row of pixels.
            inputBase = source
            pixelStride = paddedChannels(g.inChannels)
            rowStride = 0
            imageStride = 0
        }
        outputPixels = g.batch * g.outHeight * g.outWidth
        if planar && g.dilationX == 1 {
            innerLength = kw
            tapColumns = 1
        } else if planar {
            innerLength = 1
            tapColumns = kw
        } else if pixelStride == cig && g.dilationX == 1 {
            innerLength = kw * cig
            tapColumns = 1
        } else {
            innerLength = cig
            tapColumns = kw
        }
    }

    /// A convolution on the plain NCHW graph input with few channels: the input is copied padded but
    /// still planar (row copies, no transpose) and the kernel walks one channel plane at a time.
    static func isFirstLayer(_ g: ConvolutionGeometry, sourceLayout: Layout) -> Bool {
        sourceLayout == .plain && g.inChannels <= 4 && g.groups == 1 && !readsDirectly(g)
    }

    /// Whether this convolution can read a channels-last source directly.
    static func readsDirectly(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideY == 1 && g.strideX == 1
            && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
    }

    func execute(pool: ThreadPool) {
        padded?.gather(pool: pool)
        // Tasks: segments of output pixels x ranges of output channel blocks (small images with many
        // channels split over channels so both threads get work and each weight block streams once).
        let blocks = geometry.groups * geometry.blocksPerGroup
        let segments = (outputPixels + Self.segmentPixels - 1) / Self.segmentPixels
        let blockRanges = min(blocks, max(1, (4 * pool.threadCount + segments - 1) / segments))
        pool.parallelFor(segments * blockRanges, work: geometry.multiplyAccumulates) { task in
            let (segment, range) = (task / blockRanges, task % blockRanges)
            computeSegment(segment, blocks: (range * blocks / blockRanges)..<((range + 1) * blocks / blockRanges))
        }
    }

    /// An output pixel (numbered across the batch) and its coordinates, advanced without divisions.
    private struct PixelCursor {
        var m: Int, image: Int, y: Int, x: Int
    }

    private func cursor(at m: Int) -> PixelCursor {
        let perImage = geometry.outHeight &* geometry.outWidth
        let rest = m % perImage
        return PixelCursor(m: m, image: m / perImage, y: rest / geometry.outWidth, x: rest % geometry.outWidth)
    }

    @inline(__always) private func advance(_ c: inout PixelCursor) {
        c.m &+= 1
        c.x &+= 1
        if c.x == geometry.outWidth {
            c.x = 0
            c.y &+= 1
            if c.y == geometry.outHeight {
                c.y = 0
                c.image &+= 1
            }
        }
    }

    /// Where the input window of the cursor's pixel starts (in the gathered copy).
    @inline(__always) private func inputStart(_ c: PixelCursor) -> UnsafePointer<Float> {
        inputBase + (c.image &* imageStride &+ (c.y &* geometry.strideY) &* rowStride &+ (c.x &* geometry.strideX) &* pixelStride)
    }

    /// Output pixels of one segment for the given channel blocks, in tiles of 6 pixels.
    private func computeSegment(_ segment: Int, blocks: Range<Int>) {
        let g = geometry
        let first = segment &* Self.segmentPixels
        let end = min(first &+ Self.segmentPixels, outputPixels)
        let tapRowStep = g.dilationY &* rowStride, tapColumnStep = g.dilationX &* pixelStride
        let blockLength = g.kernelHeight &* g.kernelWidth &* g.inPerGroup &* vectorWidth
        for blockIndex in blocks {
            let (group, block) = (blockIndex / g.blocksPerGroup, blockIndex % g.blocksPerGroup)
            let blockWeights = UnsafePointer(weights.pointer + blockIndex &* blockLength)
            let blockBias = loadVector(bias.pointer + blockIndex &* vectorWidth)
            let channelOffset = group &* g.outPerGroup &+ block &* vectorWidth
            let inputOffset = group &* g.inPerGroup
            let lanes = min(vectorWidth, g.outPerGroup &- block &* vectorWidth)
            // The segment's first tile also pulls the next block's weights into L2.
            let nextWeights = UnsafeRawPointer(blockWeights + blockLength)
            if padded == nil {
                // Direct 1x1: the pixels of a tile are consecutive, no cursor needed.
                var m = first
                while m < end {
                    let count = min(Self.tilePixels, end &- m), last = count &- 1
                    let p0 = inputBase + (m &* pixelStride &+ inputOffset)
                    let pixels = (
                        p0, p0 + min(1, last) &* pixelStride, p0 + min(2, last) &* pixelStride,
                        p0 + min(3, last) &* pixelStride, p0 + min(4, last) &* pixelStride, p0 + last &* pixelStride
                    )
                    // Constant single tap: the compiler drops the tap loops around the channel loop.
                    let a = multiplyTile(
                        pixels, kernelRows: 1, tapRowStep: 0, tapColumns: 1, tapColumnStep: 0, inner: innerLength,
                        weights: blockWeights, initial: (blockBias, blockBias, blockBias, blockBias, blockBias, blockBias),
                        prefetching: m == first ? nextWeights : nil)
                    let outputOffset = m &* outPixelStride &+ channelOffset
                    epilogue.store(a, count: count, output: output + outputOffset, offset: outputOffset, stride: outPixelStride, lanes: lanes)
                    m &+= count
                }
                continue
            }
            var c = cursor(at: first)
            while c.m < end {
                let m = c.m, count = min(Self.tilePixels, end &- m)
                // Pixels past the end repeat the last one; their results are not stored.
                let p0 = inputStart(c)
                if count > 1 { advance(&c) }
                let p1 = inputStart(c)
                if count > 2 { advance(&c) }
                let p2 = inputStart(c)
                if count > 3 { advance(&c) }
                let p3 = inputStart(c)
                if count > 4 { advance(&c) }
                let p4 = inputStart(c)
                if count > 5 { advance(&c) }
                let p5 = inputStart(c)
                if count == Self.tilePixels { advance(&c) } else { c.m = end }
                // First layers' weights are small: a literal nil keeps the prefetch out of their inlined tile.
                let pixels = (p0, p1, p2, p3, p4, p5), outputOffset = m &* outPixelStride &+ channelOffset
                if padded?.planar == true {
                    tile(
                        pixels, inputOffset: inputOffset, count: count, tapRowStep: tapRowStep, tapColumnStep: tapColumnStep,
                        weights: blockWeights, bias: blockBias, outputOffset: outputOffset, lanes: lanes, prefetching: nil)
                } else {
                    tile(
                        pixels, inputOffset: inputOffset, count: count, tapRowStep: tapRowStep, tapColumnStep: tapColumnStep,
                        weights: blockWeights, bias: blockBias, outputOffset: outputOffset, lanes: lanes,
                        prefetching: m == first ? nextWeights : nil)
                }
            }
        }
    }

    /// The register tile: `count` (<= 6) pixels x 16 output channels, then the epilogue.
    @inline(__always)
    private func tile(
        _ pixels: PixelPointers, inputOffset: Int, count: Int, tapRowStep: Int, tapColumnStep: Int,
        weights: UnsafePointer<Float>, bias: Vector, outputOffset: Int, lanes: Int, prefetching ahead: UnsafeRawPointer?
    ) {
        let shifted = (
            pixels.0 + inputOffset, pixels.1 + inputOffset, pixels.2 + inputOffset,
            pixels.3 + inputOffset, pixels.4 + inputOffset, pixels.5 + inputOffset
        )
        var a = (bias, bias, bias, bias, bias, bias)
        if let planeStride = padded?.planeStride {
            // First layer: one pass per input channel plane, each over the kernel window.
            let perChannel = geometry.kernelHeight &* geometry.kernelWidth &* vectorWidth
            let unrolled3x3 = geometry.kernelHeight == 3 && innerLength == 3 && tapColumns == 1
            for channel in 0..<geometry.inChannels {
                let o = channel &* planeStride
                let channelPixels = (shifted.0 + o, shifted.1 + o, shifted.2 + o, shifted.3 + o, shifted.4 + o, shifted.5 + o)
                if unrolled3x3 {
                    // Constant trip counts let the compiler unroll the nine taps (three-long loops cost more than their FMAs).
                    a = multiplyTile(
                        channelPixels, kernelRows: 3, tapRowStep: tapRowStep, tapColumns: 1, tapColumnStep: 0, inner: 3,
                        weights: weights + channel &* perChannel, initial: a)
                } else {
                    a = multiplyTile(
                        channelPixels, kernelRows: geometry.kernelHeight, tapRowStep: tapRowStep, tapColumns: tapColumns,
                        tapColumnStep: tapColumnStep, inner: innerLength, weights: weights + channel &* perChannel, initial: a)
                }
            }
        } else {
            a = multiplyTile(
                shifted, kernelRows: geometry.kernelHeight, tapRowStep: tapRowStep, tapColumns: tapColumns,
                tapColumnStep: tapColumnStep, inner: innerLength, weights: weights, initial: a, prefetching: ahead)
        }
        epilogue.store(a, count: count, output: output + outputOffset, offset: outputOffset, stride: outPixelStride, lanes: lanes)
    }
}

typealias PixelPointers = (
    UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
    UnsafePointer<Float>, UnsafePointer<Float>
)
typealias TileAccumulators = (Vector, Vector, Vector, Vector, Vector, Vector)

/// The GEMM micro-kernel: 6 rows x 16 columns held in 12 ymm registers. Row r reads its K values at
/// p_r[offset ..< offset + inner] for each tap (kernelRows x tapColumns taps, offsets ky * tapRowStep +
/// kx * tapColumnStep); `weights` supplies one 16-wide row per K value, in the same order.
/// `ahead`, when given, is fetched into L2 one 64-byte line per K value: the weights the caller needs
/// next, which otherwise arrive from memory only when asked for (the hardware prefetcher does not run
/// far enough ahead of a loop this dense: ResNet-18's 7x7 Winograd layers, 16.8 MB of weights each,
/// took 2.25 instead of 1.5 ms without it).
@inline(__always)
func multiplyTile(
    _ pixels: PixelPointers, kernelRows: Int, tapRowStep: Int, tapColumns: Int, tapColumnStep: Int, inner: Int,
    weights: UnsafePointer<Float>, initial: TileAccumulators, prefetching ahead: UnsafeRawPointer? = nil
) -> TileAccumulators {
    let (p0, p1, p2, p3, p4, p5) = pixels
    var (a0, a1, a2, a3, a4, a5) = initial
    var w = weights
    var next = ahead
    for ky in 0..<kernelRows {
        for kx in 0..<tapColumns {
            let offset = ky &* tapRowStep &+ kx &* tapColumnStep
            for i in offset..<(offset &+ inner) {
                let weight = loadVector(w)
                w += vectorWidth
                if let line = next {
                    prefetchForReading(line)
                    next = line + 64
                }
                a0 = a0.addingProduct(Vector(repeating: p0[i]), weight)
                a1 = a1.addingProduct(Vector(repeating: p1[i]), weight)
                a2 = a2.addingProduct(Vector(repeating: p2[i]), weight)
                a3 = a3.addingProduct(Vector(repeating: p3[i]), weight)
                a4 = a4.addingProduct(Vector(repeating: p4[i]), weight)
                a5 = a5.addingProduct(Vector(repeating: p5[i]), weight)
            }
        }
    }
    return (a0, a1, a2, a3, a4, a5)
}

/// A zero-padded copy of a convolution's input, so kernels read windows without bounds checks: either
/// channels-last (from channels-last or plain NCHW; pixels hold `pixelStride` floats of which the first
/// `inChannels` are copied) or, for first layers, planar NCHW copied from plain NCHW row by row.
struct PaddedInput {
    let geometry: ConvolutionGeometry
    let source: UnsafePointer<Float>
    let sourceLayout: Layout
    let pixelStride: Int
    let paddedHeight: Int, paddedWidth: Int
    let planar: Bool
    let destination: UnsafeMutablePointer<Float>

    var rowStride: Int { paddedWidth * pixelStride }
    /// Distance between channel planes (planar only), else nil.
    var planeStride: Int? { planar ? paddedHeight * rowStride : nil }
    var imageStride: Int { paddedHeight * rowStride * (planar ? geometry.inChannels : 1) }

    func gather(pool: ThreadPool) {
        let rows = geometry.batch * paddedHeight * (planar ? geometry.inChannels : 1)
        pool.parallelFor(rows, work: rows * rowStride) { row in
            if planar { gatherPlanarRow(row) } else { gatherRow(row) }
        }
    }

    /// Row `row` of the planes [image][channel][paddedHeight]: zero padding around a copy of the source row.
    private func gatherPlanarRow(_ row: Int) {
        let g = geometry
        let (plane, y) = (row / paddedHeight, row % paddedHeight)
        let target = destination + row &* paddedWidth
        let sourceY = y &- g.padTop
        guard sourceY >= 0 && sourceY < g.inHeight else {
            target.update(repeating: 0, count: paddedWidth)
            return
        }
        target.update(repeating: 0, count: g.padLeft)
        (target + g.padLeft).update(from: source + ((plane &* g.inHeight &+ sourceY) &* g.inWidth), count: g.inWidth)
        (target + (g.padLeft &+ g.inWidth)).update(repeating: 0, count: paddedWidth &- g.padLeft &- g.inWidth)
    }

    private func gatherRow(_ row: Int) {
        let g = geometry
        let (image, y) = (row / paddedHeight, row % paddedHeight)
        let rowStride = self.rowStride
        let target = destination + row &* rowStride
        let sourceY = y &- g.padTop
        guard sourceY >= 0 && sourceY < g.inHeight else {
            target.update(repeating: 0, count: rowStride)
            return
        }
        let c = g.inChannels, stride = pixelStride
        target.update(repeating: 0, count: g.padLeft &* stride)
        let interior = target + g.padLeft &* stride
        switch sourceLayout {
        case .channelsLast:
            let sourceStride = paddedChannels(c)
            let sourceRow = source + ((image &* g.inHeight &+ sourceY) &* g.inWidth) &* sourceStride
            if stride == sourceStride {
                // Same pixel layout: the row is one block (a copy per pixel cost a call per 16-128 floats).
                interior.update(from: sourceRow, count: g.inWidth &* stride)
            } else {
                for x in 0..<g.inWidth {
                    (interior + x &* stride).update(from: sourceRow + x &* sourceStride, count: c)
                }
            }
        case .plain:
            let plane = g.inHeight &* g.inWidth
            let sourceRow = source + (image &* c &* plane &+ sourceY &* g.inWidth)
            for x in 0..<g.inWidth {
                for channel in 0..<c { interior[x &* stride &+ channel] = sourceRow[channel &* plane &+ x] }
            }
        case .codes:
            preconditionFailure("codes are gathered by the int8 convolution")
        }
        let tail = interior + g.inWidth &* stride
        tail.update(repeating: 0, count: (paddedWidth &- g.padLeft &- g.inWidth) &* stride)
    }
}
