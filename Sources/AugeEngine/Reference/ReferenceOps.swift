// Naive implementations of every operation: obviously correct, slow, the oracle for the fast kernels.
// Never called in production. Index math is written out in full on logical NCHW tensors.

import Foundation

extension Activation {
    /// The activation of one value, straight from the definition.
    func referenceValue(_ x: Float) -> Float {
        switch self {
        case .relu: return max(x, 0)
        case let .clip(lower, upper): return min(max(x, lower), upper)
        case let .leakyRelu(alpha): return x >= 0 ? x : alpha * x
        case .sigmoid: return Float(1 / (1 + Foundation.exp(-Double(x))))
        case let .hardSigmoid(alpha, beta): return max(0, min(1, alpha * x + beta))
        case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
        case .silu: return Float(Double(x) / (1 + Foundation.exp(-Double(x))))
        case .tanh: return Float(Foundation.tanh(Double(x)))
        case .sqrt: return Float(Double(x).squareRoot())
        case .reciprocal: return Float(1 / Double(x))
        case let .fakeQuantize(scale, zeroPoint, lower, upper):
            let quantized = min(max((x / scale).rounded(.toNearestOrEven) + zeroPoint, lower), upper)
            return (quantized - zeroPoint) * scale
        }
    }
}

/// Row-major strides of a shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in shape.indices.reversed() {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}

/// The multi-index of flat position `index` in a row-major tensor of `shape`.
func multiIndex(_ index: Int, shape: [Int]) -> [Int] {
    var rest = index
    var result = [Int](repeating: 0, count: shape.count)
    for axis in shape.indices.reversed() {
        result[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return result
}

enum Reference {
    static func convolution(_ x: Tensor, _ conv: Convolution, outputShape: [Int]) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let (kh, kw) = conv.kernel
        let groupIn = c / conv.groups, groupOut = oc / conv.groups
        var y = Tensor(zeros: outputShape)
        for b in 0..<n {
            for o in 0..<oc {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let group = o / groupOut
                        var sum = Double(conv.bias?.data[o] ?? 0)
                        for i in 0..<groupIn {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = oy * conv.strides.0 - conv.pads.top + ky * conv.dilations.0
                                    let ix = ox * conv.strides.1 - conv.pads.left + kx * conv.dilations.1
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let input = x.data[((b * c + group * groupIn + i) * h + iy) * w + ix]
                                    let weight = conv.weight.data[((o * groupIn + i) * kh + ky) * kw + kx]
                                    sum += Double(input) * Double(weight)
                                }
                            }
                        }
                        y.data[((b * oc + o) * oh + oy) * ow + ox] = Float(sum)
                    }
                }
            }
        }
        return y
    }

    static func batchNormalization(_ x: Tensor, _ bn: BatchNormalization) -> Tensor {
        let channels = x.shape[1], inner = x.shape[2...].reduce(1, *)
        var y = x
        for index in 0..<x.count {
            let ch = (index / inner) % channels
            let normalized = (Double(x.data[index]) - Double(bn.mean[ch])) / (Double(bn.variance[ch]) + Double(bn.epsilon)).squareRoot()
            y.data[index] = Float(Double(bn.scale[ch]) * normalized + Double(bn.bias[ch]))
        }
        return y
    }

    static func activation(_ x: Tensor, _ activation: Activation) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map(activation.referenceValue))
    }

    /// Numpy-broadcasting binary operation.
    static func binary(_ a: Tensor, _ b: Tensor, outputShape: [Int], _ op: (Float, Float) -> Float) -> Tensor {
        let rank = outputShape.count
        func broadcastStrides(_ shape: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: rank - shape.count) + shape
            let strides = rowMajorStrides(padded)
            return padded.indices.map { padded[$0] == 1 ? 0 : strides[$0] }
        }
        let stridesA = broadcastStrides(a.shape), stridesB = broadcastStrides(b.shape)
        var y = Tensor(zeros: outputShape)
        for index in 0..<y.count {
            let position = multiIndex(index, shape: outputShape)
            let offsetA = zip(position, stridesA).map(*).reduce(0, +)
            let offsetB = zip(position, stridesB).map(*).reduce(0, +)
            y.data[index] = op(a.data[offsetA], b.data[offsetB])
        }
        return y
    }

    /// MaxPool and AveragePool. Windows are clipped to the input; an average divides by the clipped
    /// window, or with `countIncludePad` by the window clipped to the padded input.
    static func pool(_ x: Tensor, _ pool: Pooling, isMax: Bool, outputShape: [Int]) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        var y = Tensor(zeros: outputShape)
        for b in 0..<n {
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let y0 = oy * pool.strides.0 - pool.pads.top, x0 = ox * pool.strides.1 - pool.pads.left
                        let paddedY1 = min(y0 + pool.kernel.0, h + pool.pads.bottom), paddedX1 = min(x0 + pool.kernel.1, w + pool.pads.right)
                        var maximum = -Float.infinity, sum = 0.0, count = 0
                        for iy in max(y0, 0)..<min(y0 + pool.kernel.0, h) {
                            for ix in max(x0, 0)..<min(x0 + pool.kernel.1, w) {
                                let value = x.data[((b * c + ch) * h + iy) * w + ix]
                                maximum = max(maximum, value)
                                sum += Double(value)
                                count += 1
                            }
                        }
                        let divisor = pool.countIncludePad ? (paddedY1 - y0) * (paddedX1 - x0) : count
                        y.data[((b * c + ch) * oh + oy) * ow + ox] = isMax ? maximum : Float(sum / Double(divisor))
                    }
                }
            }
        }
        return y
    }

    static func globalAveragePool(_ x: Tensor, outputShape: [Int]) -> Tensor {
        let planes = x.shape[0] * x.shape[1], inner = x.shape[2...].reduce(1, *)
        var y = Tensor(zeros: outputShape)
        for plane in 0..<planes {
            var sum = 0.0
            for i in 0..<inner { sum += Double(x.data[plane * inner + i]) }
            y.data[plane] = Float(sum / Double(inner))
        }
        return y
    }

    static func concat(_ inputs: [Tensor], axis: Int, outputShape: [Int]) -> Tensor {
        let outer = outputShape[..<axis].reduce(1, *), inner = outputShape[(axis + 1)...].reduce(1, *)
        var y = Tensor(zeros: outputShape)
        var offset = 0
        for input in inputs {
            let length = input.shape[axis]
            for o in 0..<outer {
                for a in 0..<length {
                    for i in 0..<inner {
                        y.data[(o * outputShape[axis] + offset + a) * inner + i] = input.data[(o * length + a) * inner + i]
                    }
                }
            }
            offset += length
        }
        return y
    }

    /// Constant padding; negative pads crop.
    static func pad(_ x: Tensor, pads: [Int], value: Float, outputShape: [Int]) -> Tensor {
        let rank = x.shape.count
        let inputStrides = rowMajorStrides(x.shape)
        var y = Tensor(shape: outputShape, data: [Float](repeating: value, count: outputShape.reduce(1, *)))
        for index in 0..<y.count {
            let position = multiIndex(index, shape: outputShape)
            var offset = 0, inside = true
            for axis in 0..<rank {
                let source = position[axis] - pads[axis]
                if source < 0 || source >= x.shape[axis] { inside = false; break }
                offset += source * inputStrides[axis]
            }
            if inside { y.data[index] = x.data[offset] }
        }
        return y
    }

    static func fullyConnected(_ x: Tensor, _ fc: FullyConnected, outputShape: [Int]) -> Tensor {
        let (n, k, m) = (x.shape[0], x.shape[1], outputShape[1])
        var product = Tensor(zeros: outputShape)
        for row in 0..<n {
            for col in 0..<m {
                var sum = 0.0
                for i in 0..<k {
                    let weight = fc.transB ? fc.weight.data[col * k + i] : fc.weight.data[i * m + col]
                    sum += Double(x.data[row * k + i]) * Double(weight)
                }
                product.data[row * m + col] = Float(Double(fc.alpha) * sum)
            }
        }
        guard let bias = fc.bias else { return product }
        return binary(product, bias, outputShape: outputShape) { $0 + fc.beta * $1 }
    }

    static func matMul(_ x: Tensor, weight: Tensor, outputShape: [Int]) -> Tensor {
        let (k, m) = (weight.shape[0], weight.shape[1])
        let rows = x.count / k
        var y = Tensor(zeros: outputShape)
        for row in 0..<rows {
            for col in 0..<m {
                var sum = 0.0
                for i in 0..<k { sum += Double(x.data[row * k + i]) * Double(weight.data[i * m + col]) }
                y.data[row * m + col] = Float(sum)
            }
        }
        return y
    }

    static func reduce(_ x: Tensor, _ reduction: Reduction, axis: Int, outputShape: [Int]) -> Tensor {
        let (outer, length, inner) = axisSplit(x.shape, axis: axis)
        var y = Tensor(zeros: outputShape)
        for o in 0..<outer {
            for i in 0..<inner {
                let values = (0..<length).map { x.data[(o * length + $0) * inner + i] }
                y.data[o * inner + i] = reduction == .min ? values.min()! : values.max()!
            }
        }
        return y
    }

    /// Bilinear, half-pixel centres: output pixel i samples the input at (i + 0.5) * in / out - 0.5,
    /// clamped to the first and last input pixel.
    static func resizeBilinear(_ x: Tensor, outputShape: [Int]) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        func source(_ i: Int, _ size: Int, _ outSize: Int) -> (Int, Int, Double) {
            let position = min(max((Double(i) + 0.5) * Double(size) / Double(outSize) - 0.5, 0), Double(size - 1))
            let low = Int(position.rounded(.down))
            return (low, min(low + 1, size - 1), position - Double(low))
        }
        var y = Tensor(zeros: outputShape)
        for image in 0..<n {
            for channel in 0..<c {
                let plane = (image * c + channel) * h * w
                for oy in 0..<oh {
                    let (y0, y1, fy) = source(oy, h, oh)
                    for ox in 0..<ow {
                        let (x0, x1, fx) = source(ox, w, ow)
                        func at(_ yy: Int, _ xx: Int) -> Double { Double(x.data[plane + yy * w + xx]) }
                        let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
                        let bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
                        y.data[((image * c + channel) * oh + oy) * ow + ox] = Float(top * (1 - fy) + bottom * fy)
                    }
                }
            }
        }
        return y
    }

    static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let (outer, length, inner) = axisSplit(x.shape, axis: axis)
        var y = x
        for o in 0..<outer {
            for i in 0..<inner {
                let index = { (a: Int) in (o * length + a) * inner + i }
                let maximum = (0..<length).map { x.data[index($0)] }.max()!
                let exps = (0..<length).map { Foundation.exp(Double(x.data[index($0)] - maximum)) }
                let total = exps.reduce(0, +)
                for a in 0..<length { y.data[index(a)] = Float(exps[a] / total) }
            }
        }
        return y
    }
}
