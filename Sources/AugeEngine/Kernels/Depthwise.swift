// Depthwise convolution (groups == channels == output channels) on channels-last data: per output
// pixel, 16 channels at a time, over the kernel taps that fall inside the input (no padded copy).

/// The taps t in 0..<taps with 0 <= origin + t * dilation < limit.
@inline(__always) func tapRange(origin: Int, taps: Int, dilation: Int, limit: Int) -> Range<Int> {
    guard origin < limit else { return 0..<0 }
    let first = origin >= 0 ? 0 : (dilation &- 1 &- origin) / dilation
    let end = min(taps, (limit &- 1 &- origin) / dilation &+ 1)
    return first < end ? first..<end : 0..<0
}

final class DepthwiseStep: Step {
    let geometry: ConvolutionGeometry
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
    /// [kernelHeight * kernelWidth][paddedChannels]
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let epilogue: Epilogue

    init(geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], input: UnsafePointer<Float>,
         output: UnsafeMutablePointer<Float>, epilogue: Epilogue) {
        geometry = g
        self.input = input
        self.output = output
        self.epilogue = epilogue
        let stride = paddedChannels(g.outChannels), taps = g.kernelHeight * g.kernelWidth
        weights = AlignedBuffer(count: taps * stride)
        bias = AlignedBuffer(count: stride)
        for channel in 0..<g.outChannels {
            bias.pointer[channel] = biasValues[channel]
            for tap in 0..<taps { weights.pointer[tap * stride + channel] = weight[channel * taps + tap] }
        }
    }

    func execute(pool: ThreadPool) {
        let g = geometry
        pool.parallelFor(g.batch * g.outHeight, work: g.multiplyAccumulates) { row in computeRow(row) }
    }

    private func computeRow(_ row: Int) {
        let g = geometry
        let stride = paddedChannels(g.outChannels)
        let (image, y) = (row / g.outHeight, row % g.outHeight)
        let originY = y &* g.strideY &- g.padTop
        let rows = tapRange(origin: originY, taps: g.kernelHeight, dilation: g.dilationY, limit: g.inHeight)
        let imageInput = input + (image &* g.inHeight &* g.inWidth) &* stride
        // Output columns whose whole window lies inside the input; a full-height 3x3 window over them
        // takes the unrolled path.
        let firstInterior = min(g.outWidth, (g.padLeft &+ g.strideX &- 1) / g.strideX)
        let lastReach = g.inWidth &- 1 &- (g.kernelWidth &- 1) &* g.dilationX &+ g.padLeft
        let endInterior = max(firstInterior, min(g.outWidth, lastReach >= 0 ? lastReach / g.strideX &+ 1 : 0))
        let unrolled = g.kernelHeight == 3 && g.kernelWidth == 3 && rows.count == 3
        var channel = 0
        while channel < stride {
            let b = loadVector(bias.pointer + channel)
            if unrolled {
                for x in 0..<firstInterior { generalPixel(x, row: row, originY: originY, rows: rows, imageInput: imageInput, channel: channel) }
                interior3x3(row: row, originY: originY, imageInput: imageInput, channel: channel, bias: b, columns: firstInterior..<endInterior)
                for x in endInterior..<g.outWidth { generalPixel(x, row: row, originY: originY, rows: rows, imageInput: imageInput, channel: channel) }
            } else {
                for x in 0..<g.outWidth { generalPixel(x, row: row, originY: originY, rows: rows, imageInput: imageInput, channel: channel) }
            }
            channel &+= vectorWidth
        }
    }

    /// 3x3 windows fully inside the input: nine taps unrolled, the block's weights loaded once per row.
    @inline(__always)
    private func interior3x3(row: Int, originY: Int, imageInput: UnsafePointer<Float>, channel: Int, bias: Vector, columns: Range<Int>) {
        let g = geometry
        let stride = paddedChannels(g.outChannels)
        let w = weights.pointer + channel
        let (w0, w1, w2) = (loadVector(w), loadVector(w + stride), loadVector(w + 2 &* stride))
        let (w3, w4, w5) = (loadVector(w + 3 &* stride), loadVector(w + 4 &* stride), loadVector(w + 5 &* stride))
        let (w6, w7, w8) = (loadVector(w + 6 &* stride), loadVector(w + 7 &* stride), loadVector(w + 8 &* stride))
        let rowStep = (g.dilationY &* g.inWidth) &* stride, tapStep = g.dilationX &* stride
        let top = imageInput + ((originY &* g.inWidth) &* stride &+ channel)
        for x in columns {
            let p = top + (x &* g.strideX &- g.padLeft) &* stride
            let q = p + rowStep, r = q + rowStep
            var a = bias.addingProduct(loadVector(p), w0)
            a = a.addingProduct(loadVector(p + tapStep), w1)
            a = a.addingProduct(loadVector(p + 2 &* tapStep), w2)
            a = a.addingProduct(loadVector(q), w3)
            a = a.addingProduct(loadVector(q + tapStep), w4)
            a = a.addingProduct(loadVector(q + 2 &* tapStep), w5)
            a = a.addingProduct(loadVector(r), w6)
            a = a.addingProduct(loadVector(r + tapStep), w7)
            a = a.addingProduct(loadVector(r + 2 &* tapStep), w8)
            let outputOffset = ((row &* g.outWidth) &+ x) &* stride &+ channel
            storeVector(epilogue.apply(a, offset: outputOffset), output + outputOffset)
        }
    }

    /// Any window: only the taps inside the input.
    private func generalPixel(_ x: Int, row: Int, originY: Int, rows: Range<Int>, imageInput: UnsafePointer<Float>, channel: Int) {
        let g = geometry
        let stride = paddedChannels(g.outChannels)
        let originX = x &* g.strideX &- g.padLeft
        let columns = tapRange(origin: originX, taps: g.kernelWidth, dilation: g.dilationX, limit: g.inWidth)
        var accumulator = loadVector(bias.pointer + channel)
        for ky in rows {
            let inputRow = imageInput + (((originY &+ ky &* g.dilationY) &* g.inWidth) &* stride &+ channel)
            let weightRow = weights.pointer + ((ky &* g.kernelWidth) &* stride &+ channel)
            for kx in columns {
                let value = loadVector(inputRow + (originX &+ kx &* g.dilationX) &* stride)
                accumulator = accumulator.addingProduct(value, loadVector(weightRow + kx &* stride))
            }
        }
        let outputOffset = ((row &* g.outWidth) &+ x) &* stride &+ channel
        storeVector(epilogue.apply(accumulator, offset: outputOffset), output + outputOffset)
    }
}
