import Foundation
import AugeEngine

/// A deliberately plain NCHW evaluator for the operations training exports, to check the export
/// (weight layouts, pads, groups) independently of the training layers.
enum ReferenceGraphRunner {
    struct Unsupported: Error {
        let operation: String
    }

    static func run(_ graph: Graph, input: Tensor) throws -> Tensor {
        var values = [graph.inputs[0].name: input]
        for node in graph.nodes {
            let x = values[node.inputs[0]]!
            values[node.outputs[0]] = try apply(node.operation, to: x)
        }
        return values[graph.outputs[0]]!
    }

    static func apply(_ operation: AugeEngine.Operation, to x: Tensor) throws -> Tensor {
        switch operation {
        case .convolution(let conv): return convolve(x, conv)
        case .batchNormalization(let bn):
            var y = x
            let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
            for i in 0..<x.count {
                let ch = (i / plane) % c
                y.data[i] = bn.scale[ch] * (x.data[i] - bn.mean[ch]) / (bn.variance[ch] + bn.epsilon).squareRoot() + bn.bias[ch]
            }
            return y
        case .activation(.relu): return Tensor(shape: x.shape, data: x.data.map { max($0, 0) })
        case .globalAveragePool:
            let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
            let data = (0..<(n * c)).map { i in x.data[(i * plane)..<((i + 1) * plane)].reduce(0, +) / Float(plane) }
            return Tensor(shape: [n, c, 1, 1], data: data)
        case .flatten(axis: 1): return Tensor(shape: [x.shape[0], x.count / x.shape[0]], data: x.data)
        case .fullyConnected(let fc):
            let (n, k) = (x.shape[0], x.shape[1])
            let m = fc.transB ? fc.weight.shape[0] : fc.weight.shape[1]
            var data = [Float](repeating: 0, count: n * m)
            for row in 0..<n {
                for j in 0..<m {
                    var sum: Float = fc.bias?.data[j] ?? 0
                    for q in 0..<k {
                        let weight: Float = fc.transB ? fc.weight.data[j * k + q] : fc.weight.data[q * m + j]
                        sum += x.data[row * k + q] * weight
                    }
                    data[row * m + j] = sum
                }
            }
            return Tensor(shape: [n, m], data: data)
        case .softmax(axis: 1):
            let (n, m) = (x.shape[0], x.shape[1])
            var data = x.data
            for row in 0..<n {
                let slice = x.data[(row * m)..<((row + 1) * m)]
                let largest = slice.max()!
                let total = slice.map { exp($0 - largest) }.reduce(0, +)
                for j in 0..<m { data[row * m + j] = exp(x.data[row * m + j] - largest) / total }
            }
            return Tensor(shape: x.shape, data: data)
        default: throw Unsupported(operation: "\(operation)")
        }
    }

    static func convolve(_ x: Tensor, _ conv: Convolution) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, kh, kw) = (conv.weight.shape[0], conv.weight.shape[2], conv.weight.shape[3])
        let cig = c / conv.groups, cog = co / conv.groups
        let oh = (h + conv.pads.top + conv.pads.bottom - kh) / conv.strides.0 + 1
        let ow = (w + conv.pads.left + conv.pads.right - kw) / conv.strides.1 + 1
        var y = Tensor(zeros: [n, co, oh, ow])
        for b in 0..<n {
            for o in 0..<co {
                let group = o / cog
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = conv.bias?.data[o] ?? 0
                        for i in 0..<cig {
                            let ci = group * cig + i
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = oy * conv.strides.0 - conv.pads.top + ky, ix = ox * conv.strides.1 - conv.pads.left + kx
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    sum += x.data[((b * c + ci) * h + iy) * w + ix] * conv.weight.data[((o * cig + i) * kh + ky) * kw + kx]
                                }
                            }
                        }
                        y.data[((b * co + o) * oh + oy) * ow + ox] = sum
                    }
                }
            }
        }
        return y
    }
}
