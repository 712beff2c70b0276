// Gemm / MatMul with a constant weight: y[rows, M] = x[rows, K] * W[K, M] + bias. The weight is packed
// in strips of 16 output columns, each strip K x 16 contiguous (so a strip streams linearly); each task
// owns one strip for every row.

final class FullyConnectedStep: Step {
    let rows: Int, inFeatures: Int, outFeatures: Int
    let weights: AlignedBuffer
    /// [rows][padded M]
    let bias: AlignedBuffer
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    /// `weight(k, m)` gives the (already scaled) weight; `biasValue(row, m)` the (already scaled) bias.
    init(rows: Int, inFeatures: Int, outFeatures: Int, weight: (Int, Int) -> Float, biasValue: (Int, Int) -> Float,
         input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        (self.rows, self.inFeatures, self.outFeatures) = (rows, inFeatures, outFeatures)
        let stride = paddedChannels(outFeatures)
        weights = AlignedBuffer(count: inFeatures * stride)
        bias = AlignedBuffer(count: rows * stride)
        for k in 0..<inFeatures { for m in 0..<outFeatures { weights.pointer[((m / vectorWidth) * inFeatures + k) * vectorWidth + m % vectorWidth] = weight(k, m) } }
        for row in 0..<rows { for m in 0..<outFeatures { bias.pointer[row * stride + m] = biasValue(row, m) } }
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        let stride = paddedChannels(outFeatures)
        let blocks = stride / vectorWidth
        pool.parallelFor(blocks, work: rows * inFeatures * outFeatures) { block in
            let column = block &* vectorWidth
            let lanes = min(vectorWidth, outFeatures &- column)
            for row in 0..<rows {
                let x = input + row &* inFeatures
                var w = UnsafePointer(weights.pointer + column &* inFeatures)
                var accumulator = loadVector(bias.pointer + (row &* stride &+ column))
                for k in 0..<inFeatures {
                    accumulator = accumulator.addingProduct(Vector(repeating: x[k]), loadVector(w))
                    w += vectorWidth
                }
                storeVector(accumulator, output + (row &* outFeatures &+ column), lanes: lanes)
            }
        }
    }
}
