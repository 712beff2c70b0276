/// Filter taps for one axis: for each output index, the first source index and normalised weights.
struct ResampleWeights {
    let outputLength: Int
    let tapsPerOutput: Int
    /// first source index per output
    var starts: [Int32]
    /// number of taps actually used per output (<= tapsPerOutput)
    var counts: [Int32]
    /// outputLength x tapsPerOutput weights, zero-padded
    var weights: [Float]

    /// Triangle filter over [sourceStart, sourceStart + sourceLength) mapped onto `outputLength` outputs,
    /// with taps clamped to [0, sourceLimit). The support widens by the downscale factor (antialiasing).
    init(sourceStart: Double, sourceLength: Double, sourceLimit: Int, outputLength: Int) {
        let scale = sourceLength / Double(outputLength)
        let filterScale = max(scale, 1)
        let support = filterScale  // the triangle reaches 1 unit of the (widened) filter
        self.outputLength = outputLength
        tapsPerOutput = Int((support * 2).rounded(.up)) + 1
        starts = [Int32](repeating: 0, count: outputLength)
        counts = [Int32](repeating: 0, count: outputLength)
        weights = [Float](repeating: 0, count: outputLength * tapsPerOutput)
        for i in 0..<outputLength {
            let center = sourceStart + (Double(i) + 0.5) * scale
            let first = max(0, Int((center - support + 0.5).rounded(.down)))
            let end = min(sourceLimit, Int((center + support + 0.5).rounded(.down)))
            var taps = [Double]()
            for j in first..<max(first, end) {
                taps.append(max(0, 1 - abs((Double(j) + 0.5 - center) / filterScale)))
            }
            let total = taps.reduce(0, +)
            starts[i] = Int32(first)
            counts[i] = Int32(min(taps.count, tapsPerOutput))
            if total > 0 {
                for (k, tap) in taps.prefix(tapsPerOutput).enumerated() { weights[i * tapsPerOutput + k] = Float(tap / total) }
            } else {
                // Region entirely outside the image cannot happen after validation; take the nearest pixel.
                starts[i] = Int32(min(max(0, Int(center)), sourceLimit - 1))
                counts[i] = 1
                weights[i * tapsPerOutput] = 1
            }
        }
    }

    var sourceRange: Range<Int> {
        guard outputLength > 0 else { return 0..<0 }
        let lower = Int(starts.min()!)
        let upper = zip(starts, counts).map { Int($0) + Int($1) }.max()!
        return lower..<upper
    }
}

/// Separable resampling of 8-bit interleaved pixels into a planar float tensor, with a per-channel
/// affine epilogue (gain, offset) that applies normalisation in the same pass.
///
/// The horizontal pass writes a planar intermediate (channel, row, x), so the vertical pass and the
/// epilogue run over contiguous rows that the compiler vectorises.
enum Resampler {
    static func run(
        _ source: UnsafePointer<UInt8>, width sourceWidth: Int, channels: Int,
        horizontal: ResampleWeights, vertical: ResampleWeights, gains: [Float], offsets: [Float],
        destination: UnsafeMutablePointer<Float>, destinationWidth: Int, destinationHeight: Int,
        originX: Int, originY: Int
    ) {
        let rows = vertical.sourceRange
        let outWidth = horizontal.outputLength
        let channelStride = rows.count * outWidth
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: max(1, channelStride * channels))
        defer { intermediate.deallocate() }
        horizontal.weights.withUnsafeBufferPointer { weights in
            horizontal.starts.withUnsafeBufferPointer { starts in
                horizontal.counts.withUnsafeBufferPointer { counts in
                    horizontalPass(
                        source, sourceWidth: sourceWidth, channels: channels, rows: rows,
                        starts: starts.baseAddress!, counts: counts.baseAddress!, weights: weights.baseAddress!,
                        taps: horizontal.tapsPerOutput, outWidth: outWidth, into: intermediate)
                }
            }
        }
        let plane = destinationWidth * destinationHeight
        vertical.weights.withUnsafeBufferPointer { weights in
            for y in 0..<vertical.outputLength {
                let first = Int(vertical.starts[y]) - rows.lowerBound, count = Int(vertical.counts[y])
                let w = weights.baseAddress! + y * vertical.tapsPerOutput
                let rowOffset = (originY + y) * destinationWidth + originX
                for c in 0..<channels {
                    let out = destination + c * plane + rowOffset
                    let input = intermediate + c * channelStride + first * outWidth
                    verticalRow(
                        input, rowStride: outWidth, weights: w, count: count,
                        gain: gains[c], offset: offsets[c], width: outWidth, into: out)
                }
            }
        }
    }

    /// Each kept source row filtered along x, into one plane per channel.
    private static func horizontalPass(
        _ source: UnsafePointer<UInt8>, sourceWidth: Int, channels: Int, rows: Range<Int>,
        starts: UnsafePointer<Int32>, counts: UnsafePointer<Int32>,
        weights: UnsafePointer<Float>, taps: Int, outWidth: Int,
        into intermediate: UnsafeMutablePointer<Float>
    ) {
        let channelStride = rows.count * outWidth
        for (r, y) in rows.enumerated() {
            let row = source + y &* sourceWidth &* channels
            let out = intermediate + r &* outWidth
            for x in 0..<outWidth {
                let pixel = row + Int(starts[x]) &* channels
                let count = Int(counts[x])
                let w = weights + x &* taps
                for c in 0..<channels {
                    var sum: Float = 0
                    for k in 0..<count { sum += w[k] * Float(pixel[k &* channels &+ c]) }
                    out[c &* channelStride &+ x] = sum
                }
            }
        }
    }

    /// One output row: a weighted sum of `count` intermediate rows, then gain and offset.
    private static func verticalRow(
        _ input: UnsafePointer<Float>, rowStride: Int, weights: UnsafePointer<Float>, count: Int,
        gain: Float, offset: Float, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let w0 = weights[0] * gain
        for x in 0..<width { out[x] = input[x] * w0 + offset }
        for k in 1..<max(1, count) {
            let row = input + k &* rowStride
            let wk = weights[k] * gain
            for x in 0..<width { out[x] += row[x] * wk }
        }
    }
}
