// Convolution as an implicit GEMM on channels-last data: a register tile of 6 output pixels x 16 output
// channels (6 SIMD16 accumulators = 12 ymm registers) runs over K = kernelHeight x kernelWidth x inChannels,
// broadcasting one input value per pixel and loading one 16-wide row of pre-packed weights.
// One kernel serves every case but depthwise:
//  - 1x1 stride 1 without padding reads the channels-last input directly, the whole batch as one row
//    of pixels (a plain register-blocked GEMM);
//  - any other kernel first gathers the input into a zero-padded, compact (stride = inChannels) copy,
//    so the hot loop has no bounds checks. With compact pixels and dilation 1 the kernel columns and
//    channels of one kernel row are contiguous, so the inner loop runs over kernelWidth x inChannels
//    values at once: 27 for a 3-channel first layer, 3 x inChannels for a 3x3 layer;
//  - groups pack each group's output channels into their own 16-wide blocks.

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
}

/// Owns a 64-byte aligned float buffer (packed weights, biases).
final class AlignedBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4 + 64, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1) + 16)
        pointer.initialize(repeating: 0, count: max(count, 1) + 16)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

final class ConvolutionGemmStep: Step {
    let geometry: ConvolutionGeometry
    let source: UnsafePointer<Float>
    let sourceLayout: Layout
    /// Zero-padded compact copy of the input, or nil when the kernel reads the source directly.
    let gathered: UnsafeMutablePointer<Float>?
    let output: UnsafeMutablePointer<Float>
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let epilogue: Epilogue
    // The input as the tile loop sees it.
    let inputBase: UnsafePointer<Float>
    let pixelStride: Int, rowStride: Int, imageStride: Int
    let outPixelStride: Int
    /// Rows and columns of the output as the tile loop walks them (a direct 1x1 walks one long row).
    let tileRows: Int, tileColumns: Int
    let innerLength: Int, tapColumns: Int
    static let tilePixels = 6
    static let segmentTiles = 8

    /// `weight` is [outChannels, inChannels / groups, kH, kW]; `biasValues` has outChannels values.
    init(geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], source: UnsafePointer<Float>, sourceLayout: Layout,
         gathered: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>, epilogue: Epilogue) {
        geometry = g
        self.source = source
        self.sourceLayout = sourceLayout
        self.gathered = gathered
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
                    for ky in 0..<kh { for kx in 0..<kw { for ci in 0..<cig {
                        let packed = blockIndex * blockLength + ((ky * kw + kx) * cig + ci) * vectorWidth + lane
                        weights.pointer[packed] = weight[((o * cig + ci) * kh + ky) * kw + kx]
                    } } }
                }
            }
        }
        if let gathered {
            let paddedHeight = g.inHeight + g.padTop + g.padBottom, paddedWidth = g.inWidth + g.padLeft + g.padRight
            inputBase = UnsafePointer(gathered)
            pixelStride = g.inChannels
            rowStride = paddedWidth * g.inChannels
            imageStride = paddedHeight * rowStride
            tileRows = g.batch * g.outHeight
            tileColumns = g.outWidth
        } else {
            // Direct 1x1, stride 1, unpadded, channels-last source: the batch is one row of pixels.
            inputBase = source
            pixelStride = paddedChannels(g.inChannels)
            rowStride = 0
            imageStride = 0
            tileRows = 1
            tileColumns = g.batch * g.outHeight * g.outWidth
        }
        if pixelStride == cig && g.dilationX == 1 {
            innerLength = kw * cig
            tapColumns = 1
        } else {
            innerLength = cig
            tapColumns = kw
        }
    }

    /// Whether this convolution can read a channels-last source directly.
    static func readsDirectly(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideY == 1 && g.strideX == 1
            && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
    }

    /// Size in floats of the gathered copy.
    static func gatheredCount(_ g: ConvolutionGeometry) -> Int {
        g.batch * (g.inHeight + g.padTop + g.padBottom) * (g.inWidth + g.padLeft + g.padRight) * g.inChannels
    }

    func execute(pool: ThreadPool) {
        if let gathered {
            let paddedHeight = geometry.inHeight + geometry.padTop + geometry.padBottom
            let rows = geometry.batch * paddedHeight
            pool.parallelFor(rows, work: rows * rowStride) { row in
                gatherRow(row, paddedHeight: paddedHeight, into: gathered)
            }
        }
        let segments = (tileColumns + Self.tilePixels * Self.segmentTiles - 1) / (Self.tilePixels * Self.segmentTiles)
        pool.parallelFor(tileRows * segments, work: geometry.multiplyAccumulates) { task in
            computeSegment(row: task / segments, segment: task % segments)
        }
    }

    /// Copies one row of the zero-padded compact input from the source (channels-last or plain NCHW).
    private func gatherRow(_ row: Int, paddedHeight: Int, into gathered: UnsafeMutablePointer<Float>) {
        let g = geometry
        let (image, y) = (row / paddedHeight, row % paddedHeight)
        let destination = gathered + row &* rowStride
        let sourceY = y &- g.padTop
        guard sourceY >= 0 && sourceY < g.inHeight else {
            destination.update(repeating: 0, count: rowStride)
            return
        }
        let c = g.inChannels
        destination.update(repeating: 0, count: g.padLeft &* c)
        let interior = destination + g.padLeft &* c
        switch sourceLayout {
        case .channelsLast:
            let sourceStride = paddedChannels(c)
            let sourceRow = source + ((image &* g.inHeight &+ sourceY) &* g.inWidth) &* sourceStride
            for x in 0..<g.inWidth {
                (interior + x &* c).update(from: sourceRow + x &* sourceStride, count: c)
            }
        case .plain:
            let plane = g.inHeight &* g.inWidth
            let sourceRow = source + image &* c &* plane + sourceY &* g.inWidth
            for x in 0..<g.inWidth {
                for channel in 0..<c { interior[x &* c &+ channel] = sourceRow[channel &* plane &+ x] }
            }
        }
        (interior + g.inWidth &* c).update(repeating: 0, count: g.padRight &* c)
    }

    /// One output row segment: every 16-wide output channel block over up to 8 tiles of 6 pixels.
    private func computeSegment(row: Int, segment: Int) {
        let g = geometry
        let firstColumn = segment &* Self.tilePixels &* Self.segmentTiles
        let endColumn = min(firstColumn &+ Self.tilePixels &* Self.segmentTiles, tileColumns)
        // Where the first input pixel of output (row, column 0) starts.
        let rowBase: UnsafePointer<Float>
        let outRow: UnsafeMutablePointer<Float>
        if gathered != nil {
            let (image, y) = (row / g.outHeight, row % g.outHeight)
            rowBase = inputBase + (image &* imageStride &+ (y &* g.strideY) &* rowStride)
            outRow = output + (row &* g.outWidth) &* outPixelStride
        } else {
            rowBase = inputBase
            outRow = output
        }
        let columnStep = g.strideX &* pixelStride
        let tapRowStep = g.dilationY &* rowStride, tapColumnStep = g.dilationX &* pixelStride
        let blockLength = g.kernelHeight &* g.kernelWidth &* g.inPerGroup &* vectorWidth
        for group in 0..<g.groups {
            let groupInput = rowBase + group &* g.inPerGroup
            for block in 0..<g.blocksPerGroup {
                let blockIndex = group &* g.blocksPerGroup &+ block
                let blockWeights = UnsafePointer(weights.pointer + blockIndex &* blockLength)
                let blockBias = loadVector(bias.pointer + blockIndex &* vectorWidth)
                let channelOffset = group &* g.outPerGroup &+ block &* vectorWidth
                let lanes = min(vectorWidth, g.outPerGroup &- block &* vectorWidth)
                var column = firstColumn
                while column < endColumn {
                    let count = min(Self.tilePixels, endColumn &- column)
                    tile(input: groupInput + column &* columnStep, count: count, columnStep: columnStep,
                         tapRowStep: tapRowStep, tapColumnStep: tapColumnStep, weights: blockWeights, bias: blockBias,
                         outputOffset: (outRow - output) &+ column &* outPixelStride &+ channelOffset, lanes: lanes)
                    column &+= Self.tilePixels
                }
            }
        }
    }

    /// The register tile: `count` (<= 6) pixels x 16 output channels. Missing pixels repeat the last one.
    @inline(__always)
    private func tile(input: UnsafePointer<Float>, count: Int, columnStep: Int, tapRowStep: Int, tapColumnStep: Int,
                      weights: UnsafePointer<Float>, bias: Vector, outputOffset: Int, lanes: Int) {
        let p0 = input
        let p1 = input + min(1, count &- 1) &* columnStep
        let p2 = input + min(2, count &- 1) &* columnStep
        let p3 = input + min(3, count &- 1) &* columnStep
        let p4 = input + min(4, count &- 1) &* columnStep
        let p5 = input + min(5, count &- 1) &* columnStep
        var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias
        var w = weights
        let inner = innerLength
        for ky in 0..<geometry.kernelHeight {
            for kx in 0..<tapColumns {
                let offset = ky &* tapRowStep &+ kx &* tapColumnStep
                for i in offset..<(offset &+ inner) {
                    let weight = loadVector(w)
                    w += vectorWidth
                    a0 = a0.addingProduct(Vector(repeating: p0[i]), weight)
                    a1 = a1.addingProduct(Vector(repeating: p1[i]), weight)
                    a2 = a2.addingProduct(Vector(repeating: p2[i]), weight)
                    a3 = a3.addingProduct(Vector(repeating: p3[i]), weight)
                    a4 = a4.addingProduct(Vector(repeating: p4[i]), weight)
                    a5 = a5.addingProduct(Vector(repeating: p5[i]), weight)
                }
            }
        }
        let out = output + outputOffset
        let stride = outPixelStride
        storeVector(epilogue.apply(a0, offset: outputOffset), out, lanes: lanes)
        if count > 1 { storeVector(epilogue.apply(a1, offset: outputOffset &+ stride), out + stride, lanes: lanes) }
        if count > 2 { storeVector(epilogue.apply(a2, offset: outputOffset &+ 2 &* stride), out + 2 &* stride, lanes: lanes) }
        if count > 3 { storeVector(epilogue.apply(a3, offset: outputOffset &+ 3 &* stride), out + 3 &* stride, lanes: lanes) }
        if count > 4 { storeVector(epilogue.apply(a4, offset: outputOffset &+ 4 &* stride), out + 4 &* stride, lanes: lanes) }
        if count > 5 { storeVector(epilogue.apply(a5, offset: outputOffset &+ 5 &* stride), out + 5 &* stride, lanes: lanes) }
    }
}
