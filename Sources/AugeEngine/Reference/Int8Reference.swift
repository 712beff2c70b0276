// The int8 GEMM written out the plain way, the definition every int8 kernel must equal bit for bit:
// subtract the activation zero point from each byte, multiply, sum in Int32, add the bias; then
// scale in Float, round half to even, add the output zero point and clamp to the output range.
// It works on the unpacked [N][K] weights and does not fold the zero point into the bias, so it also
// checks the kernels' folding and packing.

/// `a` is M x K uint8 with row stride `aRowStride`; `weights` is [N][K]. Returns the Int32 accumulators
/// (M x N, bias included) and the uint8 outputs (M x N).
package func referenceInt8Gemm(
    a: [UInt8], aRowStride: Int, m: Int, k: Int, n: Int, weights: [Int8], bias: [Int32], scale: [Float], quantization q: Int8Quantization
) -> (accumulators: [Int32], output: [UInt8]) {
    var accumulators = [Int32](repeating: 0, count: m * n)
    var output = [UInt8](repeating: 0, count: m * n)
    for row in 0..<m {
        for column in 0..<n {
            var sum = bias[column]
            for i in 0..<k {
                sum += (Int32(a[row * aRowStride + i]) - q.inputZeroPoint) * Int32(weights[column * k + i])
            }
            accumulators[row * n + column] = sum
            let rounded = (Float(sum) * scale[column]).rounded(.toNearestOrEven)
            // Whole numbers beyond +-1e6 clamp the same way; bounding first keeps Int() from trapping.
            let code = Int32(min(max(rounded, -1e6), 1e6)) + q.outputZeroPoint
            output[row * n + column] = UInt8(min(max(code, q.outputRange.lowerBound), q.outputRange.upperBound))
        }
    }
    return (accumulators, output)
}
