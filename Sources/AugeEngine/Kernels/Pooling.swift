// MaxPool, AveragePool and GlobalAveragePool on channels-last data, 16 channels at a time; MaxPool and
// GlobalAveragePool also on a quantized model's uint8 codes.

import AugeInt8

/// The windows of a MaxPool or AveragePool over channels-last data, for the float and the codes steps.
struct PoolingWindows {
    let pooling: Pooling
    let batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int

    init(_ pooling: Pooling, inputShape: [Int], outputShape: [Int]) {
        self.pooling = pooling
        (batch, channels, inHeight, inWidth) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        (outHeight, outWidth) = (outputShape[2], outputShape[3])
    }

    /// Output rows (the parallel tasks) and the work of all of them.
    var rows: Int { batch * outHeight }
    var work: Int { rows * outWidth * channels * pooling.kernel.0 * pooling.kernel.1 }

    /// Each output pixel of output row `row`: its index, the kernel rows and columns that fall inside the
    /// input, the input pixel index of the kernel's origin (tap (ky, kx) is origin + ky x inWidth + kx),
    /// and the taps inside the padded input (AveragePool's count_include_pad divisor).
    @inline(__always) func forEachWindow(row: Int, _ body: (_ pixel: Int, _ rows: Range<Int>, _ columns: Range<Int>, _ origin: Int, _ paddedTaps: Int) -> Void) {
        let p = pooling
        let (image, y) = (row / outHeight, row % outHeight)
        let originY = y &* p.strides.0 &- p.pads.top
        let rows = tapRange(origin: originY, taps: p.kernel.0, dilation: 1, limit: inHeight)
        let paddedRows = min(originY &+ p.kernel.0, inHeight &+ p.pads.bottom) &- originY
        for x in 0..<outWidth {
            let originX = x &* p.strides.1 &- p.pads.left
            let columns = tapRange(origin: originX, taps: p.kernel.1, dilation: 1, limit: inWidth)
            let paddedColumns = min(originX &+ p.kernel.1, inWidth &+ p.pads.right) &- originX
            body(row &* outWidth &+ x, rows, columns, (image &* inHeight &+ originY) &* inWidth &+ originX, paddedRows &* paddedColumns)
        }
    }
}

final class PoolingStep: Step {
    let windows: PoolingWindows
    let isMax: Bool
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(pooling: Pooling, isMax: Bool, inputShape: [Int], outputShape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        windows = PoolingWindows(pooling, inputShape: inputShape, outputShape: outputShape)
        self.isMax = isMax
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        pool.parallelFor(windows.rows, work: windows.work) { row in computeRow(row) }
    }

    private func computeRow(_ row: Int) {
        let stride = paddedChannels(windows.channels), inWidth = windows.inWidth
        windows.forEachWindow(row: row) { pixel, rows, columns, origin, paddedTaps in
            let divisor = Float(windows.pooling.countIncludePad ? paddedTaps : rows.count &* columns.count)
            let out = output + pixel &* stride
            var channel = 0
            while channel < stride {
                var accumulator = Vector(repeating: isMax ? -.infinity : 0)
                for ky in rows {
                    let line = input + ((origin &+ ky &* inWidth) &* stride &+ channel)
                    for kx in columns {
                        let value = loadVector(line + kx &* stride)
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
    let windows: PoolingWindows
    let input: UnsafePointer<UInt8>
    let output: UnsafeMutablePointer<UInt8>

    /// Whether every window of `pooling` holds at least one input pixel (else its float maximum is -inf,
    /// which no code holds).
    static func applies(_ pooling: Pooling, inputShape: [Int], outputShape: [Int]) -> Bool {
        let windows = PoolingWindows(pooling, inputShape: inputShape, outputShape: outputShape)
        var empty = false
        for row in 0..<windows.rows { windows.forEachWindow(row: row) { _, rows, columns, _, _ in empty = empty || rows.isEmpty || columns.isEmpty } }
        return !empty
    }

    init(pooling: Pooling, inputShape: [Int], outputShape: [Int], input: UnsafePointer<UInt8>, output: UnsafeMutablePointer<UInt8>) {
        windows = PoolingWindows(pooling, inputShape: inputShape, outputShape: outputShape)
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        pool.parallelFor(windows.rows, work: windows.work / 4) { row in computeRow(row) }
    }

    private func computeRow(_ row: Int) {
        let stride = paddedChannels(windows.channels), inWidth = windows.inWidth, channels = windows.channels
        windows.forEachWindow(row: row) { pixel, rows, columns, origin, _ in
            var channel = 0
            while channel < channels {
                var largest = SIMD16<UInt8>(repeating: 0)
                for ky in rows {
                    let line = input + ((origin &+ ky &* inWidth) &* stride &+ channel)
                    for kx in columns {
                        let codes = UnsafeRawPointer(line + kx &* stride).loadUnaligned(as: SIMD16<UInt8>.self)
                        largest = largest.replacing(with: codes, where: largest .< codes)
                    }
                }
                // Whole vectors: a pixel's codes are `stride` bytes, a multiple of 16.
                UnsafeMutableRawPointer(output + (pixel &* stride &+ channel)).storeBytes(of: largest, as: SIMD16<UInt8>.self)
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

/// GlobalAveragePool of channels-last uint8 codes, to Float: (sum of codes - pixels x zeroPoint) x scale / pixels.
/// The integer sum is exact, so this is the average of the dequantized values, with one rounding.
final class CodesGlobalAveragePoolStep: Step {
    let batch: Int, pixels: Int, stride: Int
    let quantization: ValueQuantization
    let input: UnsafePointer<UInt8>
    let output: UnsafeMutablePointer<Float>

    init(inputShape: [Int], quantization: ValueQuantization, input: UnsafePointer<UInt8>, output: UnsafeMutablePointer<Float>) {
        batch = inputShape[0]
        pixels = inputShape[2...].reduce(1, *)
        stride = paddedChannels(inputShape[1])
        self.quantization = quantization
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        // Tasks: 16-channel blocks of each image, so that each thread reads the channels of its own part.
        let blocks = stride / 16
        pool.parallelFor(batch * blocks, work: batch * pixels * stride / 4) { task in
            let (image, block) = task.quotientAndRemainder(dividingBy: blocks)
            let channel = block &* 16
            let source = input + ((image &* pixels) &* stride &+ channel)
            var sum = SIMD16<Int32>()
            for pixel in 0..<pixels { sum &+= widen16(UnsafeRawPointer(source + pixel &* stride).loadUnaligned(as: SIMD16<UInt8>.self)) }
            // Sums of codes less the zero points, in Double: exact for any map size.
            let zeroPoints = Int64(pixels) * Int64(quantization.zeroPoint)
            let factor = Double(quantization.scale) / Double(pixels)
            let target = output + (image &* stride &+ channel)
            for lane in 0..<16 { target[lane] = Float(Double(Int64(sum[lane]) - zeroPoints) * factor) }
        }
    }
}
