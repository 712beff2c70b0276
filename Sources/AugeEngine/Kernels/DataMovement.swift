// Kernels that only move data: layout conversions, Concat, Pad.

/// Plain NCHW <-> channels-last (padded channel stride) for a rank-4 tensor.
final class LayoutConversionStep: Step {
    let toChannelsLast: Bool
    let batch: Int, channels: Int, pixels: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(toChannelsLast: Bool, shape: [Int], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        self.toChannelsLast = toChannelsLast
        (batch, channels, pixels) = (shape[0], shape[1], shape[2...].reduce(1, *))
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let stride = paddedChannels(channels)
        pool.parallelFor(batch, work: batch * channels * pixels) { image in
            let plain = image &* channels &* pixels, channelsLast = image &* pixels &* stride
            for pixel in 0..<pixels {
                for channel in 0..<channels {
                    if toChannelsLast {
                        output[channelsLast &+ pixel &* stride &+ channel] = input[plain &+ channel &* pixels &+ pixel]
                    } else {
                        output[plain &+ channel &* pixels &+ pixel] = input[channelsLast &+ pixel &* stride &+ channel]
                    }
                }
            }
        }
    }
}

/// Concatenation as copies of contiguous runs: for every outer index, each input's run of
/// `length` values lands at `offset` in the output's run of `outputStride`.
final class ConcatStep: Step {
    struct Part {
        var input: UnsafePointer<Float>
        var inputStride: Int
        var length: Int
        var offset: Int
    }
    let parts: [Part]
    let outer: Int, outputStride: Int
    let output: UnsafeMutablePointer<Float>

    init(parts: [Part], outer: Int, outputStride: Int, output: UnsafeMutablePointer<Float>) {
        self.parts = parts
        self.outer = outer
        self.outputStride = outputStride
        self.output = output
    }

    func execute(pool: ThreadPool) {
        for part in parts {
            for o in 0..<outer {
                (output + (o &* outputStride &+ part.offset)).update(from: part.input + o &* part.inputStride, count: part.length)
            }
        }
    }
}

/// Constant padding of a plain tensor of any rank (negative pads crop), one innermost row at a time.
final class PadStep: Step {
    let inputShape: [Int], outputShape: [Int], pads: [Int]
    let value: Float
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(inputShape: [Int], outputShape: [Int], pads: [Int], value: Float, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        (self.inputShape, self.outputShape, self.pads, self.value) = (inputShape, outputShape, pads, value)
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let rank = outputShape.count
        let rowLength = outputShape[rank - 1], inputRowLength = inputShape[rank - 1]
        let rows = outputShape.reduce(1, *) / rowLength
        let begin = pads[rank - 1]
        for row in 0..<rows {
            let destination = output + row &* rowLength
            destination.update(repeating: value, count: rowLength)
            // The source row of this output row, if every outer coordinate falls inside the input.
            var rest = row, sourceRow = 0, multiplier = 1, inside = true
            for axis in stride(from: rank - 2, through: 0, by: -1) {
                let source = rest % outputShape[axis] &- pads[axis]
                rest /= outputShape[axis]
                if source < 0 || source >= inputShape[axis] { inside = false; break }
                sourceRow &+= source &* multiplier
                multiplier &*= inputShape[axis]
            }
            guard inside else { continue }
            let first = max(0, begin), last = min(rowLength, begin &+ inputRowLength)
            if first < last {
                (destination + first).update(from: input + (sourceRow &* inputRowLength &+ (first &- begin)), count: last &- first)
            }
        }
    }
}
