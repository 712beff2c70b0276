// Softmax along one axis of a plain tensor: [outer][length][inner].

import Foundation

final class SoftmaxStep: Step {
    let outer: Int, length: Int, inner: Int
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(shape: [Int], axis: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        (outer, length, inner) = axisSplit(shape, axis: axis)
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o &* length &* inner &+ i
                var maximum = -Float.infinity
                for a in 0..<length { maximum = max(maximum, input[base &+ a &* inner]) }
                var sum: Float = 0
                for a in 0..<length {
                    let e = expf(input[base &+ a &* inner] - maximum)
                    output[base &+ a &* inner] = e
                    sum += e
                }
                let scale = 1 / sum
                for a in 0..<length { output[base &+ a &* inner] *= scale }
            }
        }
    }
}
