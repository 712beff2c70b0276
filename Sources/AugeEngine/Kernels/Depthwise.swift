// Depthwise convolution (groups == channels == output channels) on channels-last data, 16 channels at
// a time: windows inside the input four output pixels at a time, border pixels over the kernel taps
// that fall inside the input; layers where most windows cross the border run on a padded copy.

/// The taps t in 0..<taps with 0 <= origin + t * dilation < limit.
@inline(__always) func tapRange(origin: Int, taps: Int, dilation: Int, limit: Int) -> Range<Int> {
    guard origin < limit else { return 0..<0 }
    let first = origin >= 0 ? 0 : (dilation &- 1 &- origin) / dilation
    let end = min(taps, (limit &- 1 &- origin) / dilation &+ 1)
    return first < end ? first..<end : 0..<0
}

final class DepthwiseStep: Step {
    /// The convolution as computed: on the padded copy when there is one (then without padding).
    let geometry: ConvolutionGeometry
    /// Zero-padded copy of the input, for layers where most windows cross the border.
    let padded: PaddedInput?
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
    /// [kernelHeight * kernelWidth][paddedChannels]
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let epilogue: Epilogue

    /// Whether the layer runs on a zero-padded copy: when more than a fifth of the output pixels have
    /// windows that cross the border (small maps with 5x5 kernels), copying the input once costs less
    /// than their per-tap bounds (EfficientNet-Lite's 14x14x672 5x5 layers: 0.24 -> 0.22 ms).
    static func needsPaddedCopy(_ g: ConvolutionGeometry) -> Bool {
        let (rows, columns) = (
            interiorRange(
                outSize: g.outHeight, inSize: g.inHeight, pad: g.padTop, stride: g.strideY,
                kernel: g.kernelHeight, dilation: g.dilationY),
            interiorRange(
                outSize: g.outWidth, inSize: g.inWidth, pad: g.padLeft, stride: g.strideX,
                kernel: g.kernelWidth, dilation: g.dilationX)
        )
        return 5 * rows.count * columns.count < 4 * g.outHeight * g.outWidth
    }

    /// Size in floats of the padded copy.
    static func paddedCount(_ g: ConvolutionGeometry) -> Int { g.paddedCopyCount(pixelStride: paddedChannels(g.inChannels)) }

    /// `gathered`: room for the padded copy (`paddedCount`) when `needsPaddedCopy`, else nil.
    init(
        geometry g: ConvolutionGeometry, weight: [Float], biasValues: [Float], input: UnsafePointer<Float>,
        gathered: UnsafeMutablePointer<Float>?, output: UnsafeMutablePointer<Float>, epilogue: Epilogue
    ) {
        if let gathered {
            let copy = PaddedInput(
                geometry: g, source: input, sourceLayout: .channelsLast, pixelStride: paddedChannels(g.inChannels),
                paddedHeight: g.paddedInHeight, paddedWidth: g.paddedInWidth,
                planar: false, destination: gathered)
            padded = copy
            self.input = UnsafePointer(gathered)
            var unpadded = g
            (unpadded.inHeight, unpadded.inWidth) = (copy.paddedHeight, copy.paddedWidth)
            (unpadded.padTop, unpadded.padLeft, unpadded.padBottom, unpadded.padRight) = (0, 0, 0, 0)
            geometry = unpadded
        } else {
            padded = nil
            self.input = input
            geometry = g
        }
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
        padded?.gather(pool: pool)
        let g = geometry
        pool.parallelFor(g.batch * g.outHeight, work: g.multiplyAccumulates) { row in computeRow(row) }
    }

    /// Output positions (along one axis) whose whole window lies inside the input.
    static func interiorRange(outSize: Int, inSize: Int, pad: Int, stride: Int, kernel: Int, dilation: Int) -> Range<Int> {
        let first = min(outSize, (pad + stride - 1) / stride)
        let lastReach = inSize - 1 - (kernel - 1) * dilation + pad
        return first..<max(first, min(outSize, lastReach >= 0 ? lastReach / stride + 1 : 0))
    }

    private func computeRow(_ row: Int) {
        let g = geometry
        let stride = paddedChannels(g.outChannels)
        let (image, y) = (row / g.outHeight, row % g.outHeight)
        let originY = y &* g.strideY &- g.padTop
        let rows = tapRange(origin: originY, taps: g.kernelHeight, dilation: g.dilationY, limit: g.inHeight)
        let imageInput = input + (image &* g.inHeight &* g.inWidth) &* stride
        // Output columns whose whole window lies inside the input; on rows whose windows have their
        // full height they take the fast interior path.
        let interior = Self.interiorRange(
            outSize: g.outWidth, inSize: g.inWidth, pad: g.padLeft, stride: g.strideX,
            kernel: g.kernelWidth, dilation: g.dilationX)
        let (firstInterior, endInterior) = (interior.lowerBound, interior.upperBound)
        let fullHeight = rows.count == g.kernelHeight
        var channel = 0
        while channel < stride {
            for x in 0..<(fullHeight ? firstInterior : g.outWidth) {
                generalPixel(x, row: row, originY: originY, rows: rows, imageInput: imageInput, channel: channel)
            }
            if fullHeight {
                if g.kernelHeight == 3 && g.kernelWidth == 3 {
                    interior3x3(row: row, originY: originY, imageInput: imageInput, channel: channel, columns: interior)
                } else {
                    interiorColumns(row: row, originY: originY, imageInput: imageInput, channel: channel, columns: interior)
                }
                for x in endInterior..<g.outWidth { generalPixel(x, row: row, originY: originY, rows: rows, imageInput: imageInput, channel: channel) }
            }
            channel &+= vectorWidth
        }
    }

    /// 3x3 windows fully inside the input: nine taps unrolled, the block's weights loaded once per row.
    /// (Measured on MobileNetV2: faster than the four-pixel path below, 0.247 against 0.298 ms on its
    /// 56x56x144 layer, whose input streams from L3.)
    @inline(__always)
    private func interior3x3(row: Int, originY: Int, imageInput: UnsafePointer<Float>, channel: Int, columns: Range<Int>) {
        let g = geometry
        let stride = paddedChannels(g.outChannels)
        let bias = loadVector(self.bias.pointer + channel)
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

    /// Other windows fully inside the input, four output pixels at a time: four independent
    /// accumulator chains, and each weight vector loaded once for the four (5x5 layers of
    /// EfficientNet-Lite: 0.52 -> 0.26 ms against one pixel at a time).
    @inline(__always)
    private func interiorColumns(row: Int, originY: Int, imageInput: UnsafePointer<Float>, channel: Int, columns: Range<Int>) {
        let g = geometry
        let (kernelHeight, kernelWidth) = (g.kernelHeight, g.kernelWidth)
        let stride = paddedChannels(g.outChannels)
        let bias = loadVector(self.bias.pointer + channel)
        let w = UnsafePointer(weights.pointer + channel)
        let rowStep = (g.dilationY &* g.inWidth) &* stride, tapStep = g.dilationX &* stride, pixelStep = g.strideX &* stride
        let top = imageInput + ((originY &* g.inWidth) &* stride &+ channel)
        let outputRow = (row &* g.outWidth) &* stride &+ channel
        var x = columns.lowerBound
        while x &+ 4 <= columns.upperBound {
            var (a0, a1, a2, a3) = (bias, bias, bias, bias)
            var p = top + (x &* g.strideX &- g.padLeft) &* stride
            var weight = w
            for _ in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    let wv = loadVector(weight + kx &* stride)
                    let q = p + kx &* tapStep
                    a0 = a0.addingProduct(loadVector(q), wv)
                    a1 = a1.addingProduct(loadVector(q + pixelStep), wv)
                    a2 = a2.addingProduct(loadVector(q + 2 &* pixelStep), wv)
                    a3 = a3.addingProduct(loadVector(q + 3 &* pixelStep), wv)
                }
                p += rowStep
                weight += kernelWidth &* stride
            }
            let offset = outputRow &+ x &* stride
            epilogue.store((a0, a1, a2, a3, a3, a3), count: 4, output: output + offset, offset: offset, stride: stride, lanes: vectorWidth)
            x &+= 4
        }
        while x < columns.upperBound {
            var a = bias
            var p = top + (x &* g.strideX &- g.padLeft) &* stride
            var weight = w
            for _ in 0..<kernelHeight {
                for kx in 0..<kernelWidth { a = a.addingProduct(loadVector(p + kx &* tapStep), loadVector(weight + kx &* stride)) }
                p += rowStep
                weight += kernelWidth &* stride
            }
            let offset = outputRow &+ x &* stride
            storeVector(epilogue.apply(a, offset: offset), output + offset)
            x &+= 1
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
