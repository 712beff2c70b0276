// MaxPool, AveragePool and GlobalAveragePool on channels-last data, 16 channels at a time; MaxPool also
// on a quantized model's uint8 codes.

final class PoolingStep: Step {
    let pooling: Pooling
    let isMax: Bool
    let batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(pooling: Pooling, isMax: Bool, inputShape: [Int], outputShape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        self.pooling = pooling
        self.isMax = isMax
        (batch, channels, inHeight, inWidth) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        (outHeight, outWidth) = (outputShape[2], outputShape[3])
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let work = batch * outHeight * outWidth * channels * pooling.kernel.0 * pooling.kernel.1
        pool.parallelFor(batch * outHeight, work: work) { row in computeRow(row) }
    }

    private func computeRow(_ row: Int) {
        let p = pooling
        let stride = paddedChannels(channels)
        let (image, y) = (row / outHeight, row % outHeight)
        let originY = y &* p.strides.0 &- p.pads.top
        let rows = tapRange(origin: originY, taps: p.kernel.0, dilation: 1, limit: inHeight)
        let paddedRows = min(originY &+ p.kernel.0, inHeight &+ p.pads.bottom) &- originY
        let imageInput = input + (image &* inHeight &* inWidth) &* stride
        for x in 0..<outWidth {
            let originX = x &* p.strides.1 &- p.pads.left
            let columns = tapRange(origin: originX, taps: p.kernel.1, dilation: 1, limit: inWidth)
            let paddedColumns = min(originX &+ p.kernel.1, inWidth &+ p.pads.right) &- originX
            let divisor = Float(p.countIncludePad ? paddedRows &* paddedColumns : rows.count &* columns.count)
            let out = output + ((row &* outWidth) &+ x) &* stride
            var channel = 0
            while channel < stride {
                var accumulator = Vector(repeating: isMax ? -.infinity : 0)
                for ky in rows {
                    let inputRow = imageInput + (((originY &+ ky) &* inWidth) &* stride &+ channel)
                    for kx in columns {
                        let value = loadVector(inputRow + (originX &+ kx) &* stride)
                        accumulator = isMax ? vectorMax(accumulator, value) : accumulator + value
                    }
                }
                storeVector(isMax ? accumulator : accumulator / divisor, out + channel)
                channel &+= vectorWidth
            }
        }
    }
}

/// MaxPool on channels-last uint8 codes: the largest code is the code of the largest value (a value is
/// (code - zeroPoint) x scale, scale > 0), so the result stays on the input's grid.
final class CodesMaxPoolStep: Step {
    let pooling: Pooling
    let batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    let input: UnsafePointer<UInt8>
    let output: UnsafeMutablePointer<UInt8>

    /// Whether every window of `pooling` holds at least one input pixel (else its float maximum is -inf,
    /// which no code holds).
    static func applies(_ pooling: Pooling, inputShape: [Int], outputShape: [Int]) -> Bool {
        let p = pooling
        return (0..<outputShape[2]).allSatisfy { !tapRange(origin: $0 * p.strides.0 - p.pads.top, taps: p.kernel.0, dilation: 1, limit: inputShape[2]).isEmpty }
            && (0..<outputShape[3]).allSatisfy { !tapRange(origin: $0 * p.strides.1 - p.pads.left, taps: p.kernel.1, dilation: 1, limit: inputShape[3]).isEmpty }
    }

    init(pooling: Pooling, inputShape: [Int], outputShape: [Int], input: UnsafePointer<UInt8>, output: UnsafeMutablePointer<UInt8>) {
        self.pooling = pooling
        (batch, channels, inHeight, inWidth) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        (outHeight, outWidth) = (outputShape[2], outputShape[3])
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let work = batch * outHeight * outWidth * channels * pooling.kernel.0 * pooling.kernel.1 / 4
        pool.parallelFor(batch * outHeight, work: work) { row in computeRow(row) }
    }

    private func computeRow(_ row: Int) {
        let p = pooling
        let stride = paddedChannels(channels)
        let (image, y) = (row / outHeight, row % outHeight)
        let originY = y &* p.strides.0 &- p.pads.top
        let rows = tapRange(origin: originY, taps: p.kernel.0, dilation: 1, limit: inHeight)
        let imageInput = input + (image &* inHeight &* inWidth) &* stride
        for x in 0..<outWidth {
            let originX = x &* p.strides.1 &- p.pads.left
            let columns = tapRange(origin: originX, taps: p.kernel.1, dilation: 1, limit: inWidth)
            let out = output + ((row &* outWidth) &+ x) &* stride
            var channel = 0
            while channel < channels {
                var largest = SIMD16<UInt8>(repeating: 0)
                for ky in rows {
                    let inputRow = imageInput + (((originY &+ ky) &* inWidth) &* stride &+ channel)
                    for kx in columns {
                        let codes = UnsafeRawPointer(inputRow + (originX &+ kx) &* stride).loadUnaligned(as: SIMD16<UInt8>.self)
                        largest = largest.replacing(with: codes, where: largest .< codes)
                    }
                }
                // Whole vectors: a pixel's codes are `stride` bytes, a multiple of 16.
                UnsafeMutableRawPointer(out + channel).storeBytes(of: largest, as: SIMD16<UInt8>.self)
                channel &+= 16
            }
        }
    }
}

final class GlobalAveragePoolStep: Step {
    let batch: Int, pixels: Int, stride: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(inputShape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        batch = inputShape[0]
        pixels = inputShape[2...].reduce(1, *)
        stride = paddedChannels(inputShape[1])
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        pool.parallelFor(batch, work: batch * pixels * stride) { image in
            let source = input + (image &* pixels) &* stride
            let scale = 1 / Float(pixels)
            var channel = 0
            while channel < stride {
                var sum = Vector(repeating: 0)
                for pixel in 0..<pixels { sum += loadVector(source + (pixel &* stride &+ channel)) }
                storeVector(sum * scale, output + (image &* stride &+ channel))
                channel &+= vectorWidth
            }
        }
    }
}
