// ReduceMin / ReduceMax along one axis, and the bilinear Resize of the spatial axes.

/// Min or max over the channels of channels-last data, one value per pixel, written plain
/// ([N, 1, H, W] is the same order either way). This is the nearest-neighbour step of an anomaly
/// model: the minimum over the memory bank's distances, which a 1x1 convolution lays out as channels.
final class ChannelReductionStep: Step {
    let reduction: Reduction
    let pixels: Int, channels: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(reduction: Reduction, inputShape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        self.reduction = reduction
        pixels = inputShape[0] * inputShape[2] * inputShape[3]
        channels = inputShape[1]
        self.input = input
        self.output = output
    }

    /// Rows of pixels per task: enough work to be worth a claim.
    private static let pixelsPerTask = 16

    func execute(pool: ThreadPool) {
        let tasks = (pixels + Self.pixelsPerTask - 1) / Self.pixelsPerTask
        pool.parallelFor(tasks, work: pixels * channels) { task in
            let end = min(pixels, (task + 1) * Self.pixelsPerTask)
            for pixel in task * Self.pixelsPerTask..<end { output[pixel] = reducePixel(pixel) }
        }
    }

    @inline(__always) private func reducePixel(_ pixel: Int) -> Float {
        let stride = paddedChannels(channels)
        let source = input + pixel &* stride
        let isMin = reduction == .min
        var accumulator = Vector(repeating: isMin ? .infinity : -.infinity)
        let full = channels & ~(vectorWidth - 1)
        var channel = 0
        while channel < full {
            let value = loadVector(source + channel)
            accumulator = isMin ? vectorMin(accumulator, value) : vectorMax(accumulator, value)
            channel &+= vectorWidth
        }
        var result = isMin ? accumulator.min() : accumulator.max()
        // The padding lanes past `channels` hold no data: the tail is read value by value.
        while channel < channels {
            result = isMin ? Swift.min(result, source[channel]) : Swift.max(result, source[channel])
            channel &+= 1
        }
        return result
    }
}

/// Min or max along any axis of a plain tensor: [outer][length][inner] -> [outer][inner].
final class AxisReductionStep: Step {
    let reduction: Reduction
    let outer: Int, length: Int, inner: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(reduction: Reduction, shape: [Int], axis: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        self.reduction = reduction
        (outer, length, inner) = axisSplit(shape, axis: axis)
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let isMin = reduction == .min
        for o in 0..<outer {
            let out = output + o &* inner
            let source = input + o &* length &* inner
            for i in 0..<inner { out[i] = source[i] }
            for a in 1..<max(1, length) {
                let row = source + a &* inner
                for i in 0..<inner { out[i] = isMin ? Swift.min(out[i], row[i]) : Swift.max(out[i], row[i]) }
            }
        }
    }
}

/// Bilinear resize with half-pixel centres on channels-last data, 16 channels at a time.
final class ResizeBilinearStep: Step {
    let batch: Int, stride: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    /// Per output column (row): the two source columns (rows) and the second one's weight.
    private let columns: [(Int, Int, Float)]
    private let rows: [(Int, Int, Float)]
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(inputShape: [Int], outputShape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        (batch, inHeight, inWidth) = (inputShape[0], inputShape[2], inputShape[3])
        stride = paddedChannels(inputShape[1])
        (outHeight, outWidth) = (outputShape[2], outputShape[3])
        columns = Self.taps(inWidth, outWidth)
        rows = Self.taps(inHeight, outHeight)
        self.input = input
        self.output = output
    }

    private static func taps(_ size: Int, _ outSize: Int) -> [(Int, Int, Float)] {
        (0..<outSize).map { i in
            let position = min(max((Float(i) + 0.5) * Float(size) / Float(outSize) - 0.5, 0), Float(size - 1))
            let low = Int(position)
            return (low, min(low + 1, size - 1), position - Float(low))
        }
    }

    func execute(pool: ThreadPool) {
        pool.parallelFor(batch * outHeight, work: batch * outHeight * outWidth * stride * 4) { task in
            let (image, y) = (task / outHeight, task % outHeight)
            let (y0, y1, fy) = rows[y]
            let plane = input + (image &* inHeight &* inWidth &* stride)
            let top = plane + (y0 &* inWidth &* stride), bottom = plane + (y1 &* inWidth &* stride)
            let out = output + (task &* outWidth &* stride)
            for x in 0..<outWidth {
                let (x0, x1, fx) = columns[x]
                let left = x0 &* stride, right = x1 &* stride
                let horizontal = Vector(repeating: fx), vertical = Vector(repeating: fy)
                var channel = 0
                while channel < stride {
                    let a: Vector = loadVector(top + (left &+ channel)), b: Vector = loadVector(top + (right &+ channel))
                    let c: Vector = loadVector(bottom + (left &+ channel)), d: Vector = loadVector(bottom + (right &+ channel))
                    let upper: Vector = a.addingProduct(b - a, horizontal)
                    let lower: Vector = c.addingProduct(d - c, horizontal)
                    storeVector(upper.addingProduct(lower - upper, vertical), out + (x &* stride &+ channel))
                    channel &+= vectorWidth
                }
            }
        }
    }
}
