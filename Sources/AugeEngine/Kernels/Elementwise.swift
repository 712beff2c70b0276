// Element-wise kernels: standalone activations, Add / Mul (same shape, channel broadcast, general
// broadcast) and a per-channel affine map (a BatchNormalization that could not be folded).

/// Elements per parallel task of the streaming kernels.
let elementwiseChunk = 16_384

final class ActivationStep: Step {
    let activation: Activation
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
    let count: Int

    init(activation: Activation, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
        self.activation = activation
        self.input = input
        self.output = output
        self.count = count
    }

    func execute(pool: ThreadPool) {
        let chunks = (count + elementwiseChunk - 1) / elementwiseChunk
        pool.parallelFor(chunks, work: count * 8) { chunk in
            let start = chunk &* elementwiseChunk, end = min(start &+ elementwiseChunk, count)
            var i = start
            while i &+ vectorWidth <= end {
                storeVector(activation.apply(loadVector(input + i)), output + i)
                i &+= vectorWidth
            }
            while i < end {
                output[i] = activation.apply(Vector(repeating: input[i]))[0]
                i &+= 1
            }
        }
    }
}

enum BinaryOperator {
    case add, mul

    @inline(__always) func apply(_ a: Vector, _ b: Vector) -> Vector {
        switch self {
        case .add: return a + b
        case .mul: return a * b
        }
    }
}

/// How the second operand lines up with the first.
enum BinaryPattern {
    /// Same shape and layout: `count` elements.
    case same(count: Int)
    /// Channels-last first operand [batch][pixels][stride] with a per-channel second operand of one
    /// channel vector per image (`perImage`) or one for all.
    case channelBroadcast(batch: Int, pixels: Int, stride: Int, perImage: Bool)
    /// Plain layout, numpy broadcasting: the strides of both operands over the output shape (0 where broadcast).
    case general(shape: [Int], stridesA: [Int], stridesB: [Int])
}

final class BinaryStep: Step {
    let op: BinaryOperator
    let pattern: BinaryPattern
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(op: BinaryOperator, pattern: BinaryPattern, a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        self.op = op
        self.pattern = pattern
        self.a = a
        self.b = b
        self.output = output
    }

    func execute(pool: ThreadPool) {
        switch pattern {
        case let .same(count):
            let chunks = (count + elementwiseChunk - 1) / elementwiseChunk
            pool.parallelFor(chunks, work: count) { chunk in
                let start = chunk &* elementwiseChunk, end = min(start &+ elementwiseChunk, count)
                var i = start
                while i &+ vectorWidth <= end {
                    storeVector(op.apply(loadVector(a + i), loadVector(b + i)), output + i)
                    i &+= vectorWidth
                }
                while i < end {
                    output[i] = op.apply(Vector(repeating: a[i]), Vector(repeating: b[i]))[0]
                    i &+= 1
                }
            }
        case let .channelBroadcast(batch, pixels, stride, perImage):
            pool.parallelFor(batch, work: batch * pixels * stride) { image in
                let operand = b + (perImage ? image &* stride : 0)
                let base = (image &* pixels) &* stride
                for pixel in 0..<pixels {
                    var channel = 0
                    let offset = base &+ pixel &* stride
                    while channel < stride {
                        storeVector(op.apply(loadVector(a + (offset &+ channel)), loadVector(operand + channel)), output + (offset &+ channel))
                        channel &+= vectorWidth
                    }
                }
            }
        case let .general(shape, stridesA, stridesB):
            let count = shape.reduce(1, *)
            for index in 0..<count {
                var rest = index, offsetA = 0, offsetB = 0
                for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                    let position = rest % shape[axis]
                    rest /= shape[axis]
                    offsetA &+= position &* stridesA[axis]
                    offsetB &+= position &* stridesB[axis]
                }
                output[index] = op.apply(Vector(repeating: a[offsetA]), Vector(repeating: b[offsetB]))[0]
            }
        }
    }
}

/// y = x * scale[c] + shift[c] over [outer][channels][inner].
final class AffineStep: Step {
    let outer: Int, channels: Int, inner: Int
    let scale: [Float], shift: [Float]
    let input: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>

    init(outer: Int, channels: Int, inner: Int, scale: [Float], shift: [Float], input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        (self.outer, self.channels, self.inner) = (outer, channels, inner)
        (self.scale, self.shift) = (scale, shift)
        self.input = input
        self.output = output
    }

    func execute(pool: ThreadPool) {
        scale.withUnsafeBufferPointer { scale in
            shift.withUnsafeBufferPointer { shift in
                pool.parallelFor(outer, work: outer * channels * inner) { o in
                    for c in 0..<channels {
                        let base = (o &* channels &+ c) &* inner
                        for i in base..<(base &+ inner) { output[i] = input[i] * scale[c] + shift[c] }
                    }
                }
            }
        }
    }
}
