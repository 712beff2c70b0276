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
            output[row * n + column] = referenceRequantize(sum, scale: scale[column], q)
        }
    }
    return (accumulators, output)
}

/// An accumulator to an output code: roundHalfEven(Float(sum) * scale) + zero point, clamped.
func referenceRequantize(_ sum: Int32, scale: Float, _ q: Int8Quantization) -> UInt8 {
    let rounded = (Float(sum) * scale).rounded(.toNearestOrEven)
    // Whole numbers beyond +-1e6 clamp the same way; bounding first keeps Int() from trapping.
    let code = Int32(min(max(rounded, -1e6), 1e6)) + q.outputZeroPoint
    return UInt8(min(max(code, q.outputRange.lowerBound), q.outputRange.upperBound))
}

/// A convolution on uint8 codes written out the plain way (ONNX Conv semantics on the integers):
/// `input` is [N][C][H][W] codes whose zero point (the value 0) also fills the padding, `weights`
/// [O][C / groups][kH][kW], `bias` per output channel in accumulator units. Returns the accumulators
/// and the requantized codes, both [N][O][outH][outW].
package func referenceInt8Convolution(
    input: [UInt8], shape: [Int], weights: [Int8], outChannels: Int, kernel: (Int, Int), strides: (Int, Int), dilations: (Int, Int),
    pads: (top: Int, left: Int, bottom: Int, right: Int), groups: Int, bias: [Int32], multipliers: [Float], quantization q: Int8Quantization
) -> (accumulators: [Int32], output: [UInt8], outputShape: [Int]) {
    let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
    let outHeight = (height + pads.top + pads.bottom - dilations.0 * (kernel.0 - 1) - 1) / strides.0 + 1
    let outWidth = (width + pads.left + pads.right - dilations.1 * (kernel.1 - 1) - 1) / strides.1 + 1
    let (inPerGroup, outPerGroup) = (channels / groups, outChannels / groups)
    let count = batch * outChannels * outHeight * outWidth
    var accumulators = [Int32](repeating: 0, count: count), output = [UInt8](repeating: 0, count: count)
    for n in 0..<batch {
        for o in 0..<outChannels {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var sum = bias[o]
                    for i in 0..<inPerGroup {
                        let c = (o / outPerGroup) * inPerGroup + i
                        for ky in 0..<kernel.0 {
                            for kx in 0..<kernel.1 {
                                let y = oy * strides.0 - pads.top + ky * dilations.0, x = ox * strides.1 - pads.left + kx * dilations.1
                                guard (0..<height).contains(y), (0..<width).contains(x) else { continue }  // the zero point: adds 0
                                let code = Int32(input[((n * channels + c) * height + y) * width + x])
                                sum += (code - q.inputZeroPoint) * Int32(weights[((o * inPerGroup + i) * kernel.0 + ky) * kernel.1 + kx])
                            }
                        }
                    }
                    let index = ((n * outChannels + o) * outHeight + oy) * outWidth + ox
                    accumulators[index] = sum
                    output[index] = referenceRequantize(sum, scale: multipliers[o], q)
                }
            }
        }
    }
    return (accumulators, output, [batch, outChannels, outHeight, outWidth])
}
