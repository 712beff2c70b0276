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
        for x in 0..<g.outWidth {
            let originX = x &* g.strideX &- g.padLeft
            let columns = tapRange(origin: originX, taps: g.kernelWidth, dilation: g.dilationX, limit: g.inWidth)
            let outputOffset = ((row &* g.outWidth) &+ x) &* stride
            var channel = 0
            while channel < stride {
                var accumulator = loadVector(bias.pointer + channel)
                for ky in rows {
                    let inputRow = imageInput + (((originY &+ ky &* g.dilationY) &* g.inWidth) &* stride &+ channel)
                    let weightRow = weights.pointer + ((ky &* g.kernelWidth) &* stride &+ channel)
                    for kx in columns {
                        let value = loadVector(inputRow + (originX &+ kx &* g.dilationX) &* stride)
                        accumulator = accumulator.addingProduct(value, loadVector(weightRow + kx &* stride))
                    }
                }
                storeVector(epilogue.apply(accumulator, offset: outputOffset &+ channel), output + (outputOffset &+ channel))
                channel &+= vectorWidth
            }
        }
    }
}
