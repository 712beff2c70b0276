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
    init(
        rows: Int, inFeatures: Int, outFeatures: Int, weight: (Int, Int) -> Float, biasValue: (Int, Int) -> Float,
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    ) {
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
                // Four independent sums hide the FMA latency (one chain would wait on it every step).
                var (a0, a1, a2, a3) = (loadVector(bias.pointer + (row &* stride &+ column)), Vector(), Vector(), Vector())
                var k = 0
                while k &+ 4 <= inFeatures {
                    a0 = a0.addingProduct(Vector(repeating: x[k]), loadVector(w))
                    a1 = a1.addingProduct(Vector(repeating: x[k &+ 1]), loadVector(w + vectorWidth))
                    a2 = a2.addingProduct(Vector(repeating: x[k &+ 2]), loadVector(w + 2 &* vectorWidth))
                    a3 = a3.addingProduct(Vector(repeating: x[k &+ 3]), loadVector(w + 3 &* vectorWidth))
                    w += 4 &* vectorWidth
                    k &+= 4
                }
                while k < inFeatures {
                    a0 = a0.addingProduct(Vector(repeating: x[k]), loadVector(w))
                    w += vectorWidth
                    k &+= 1
                }
                storeVector((a0 + a1) + (a2 + a3), output + (row &* outFeatures &+ column), lanes: lanes)
            }
        }
    }
}
