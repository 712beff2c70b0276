// Vector helpers shared by the kernels: unaligned SIMD16 loads/stores, a vector exp, and the
// activation functions on SIMD16 lanes. SIMD16<Float> lowers to two ymm operations with AVX2.

@_exported import AugeCPU

typealias Vector = SIMD16<Float>
let vectorWidth = 16

#if AUGE_PORTABLE
    // The portable build has no FMA target, where `addingProduct` becomes a libm call per lane (about 140x
    // slower). These shadow it with a multiply and an add (two roundings instead of one, well inside the
    // tests' tolerances). Public, so the training kernels, compiled the same way, use them too.
    extension SIMD16 where Scalar == Float {
        @_transparent public func addingProduct(_ a: Self, _ b: Self) -> Self { self + a * b }
    }

    extension SIMD8 where Scalar == Float {
        @_transparent public func addingProduct(_ a: Self, _ b: Self) -> Self { self + a * b }
    }
#endif

/// Channel count rounded up to the vector width: the channel stride of a channels-last tensor.
/// Lanes past the real channel count hold unspecified values; no kernel lets them reach a real lane.
@inline(__always) func paddedChannels(_ channels: Int) -> Int { (channels &+ 15) & ~15 }

@inline(__always) func loadVector(_ pointer: UnsafePointer<Float>) -> Vector {
    UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
}

@inline(__always) func loadVector(_ pointer: UnsafeMutablePointer<Float>) -> Vector {
    UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
}

@inline(__always) func storeVector(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
}

/// Stores the first `lanes` lanes (all 16 with one vector store when `lanes == 16`).
@inline(__always) func storeVector(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>, lanes: Int) {
    if lanes == vectorWidth {
        storeVector(value, pointer)
    } else {
        for lane in 0..<lanes { pointer[lane] = value[lane] }
    }
}

/// e^x on 16 lanes, relative error about 2e-7: x = n ln2 + r, e^r by its degree-6 Taylor polynomial
/// on |r| <= ln2 / 2, 2^n built in the exponent bits. Inputs are clamped so no lane overflows.
@inline(__always) func vectorExp(_ input: Vector) -> Vector {
    let x = vectorClamp(input, -87, 88)
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    let shifter = Vector(repeating: 12_582_912)
    let shifted = shifter.addingProduct(x, Vector(repeating: 1.442_695_04))
    let n = shifted - shifter
    let r = x.addingProduct(n, Vector(repeating: -0.693_145_75)).addingProduct(n, Vector(repeating: -1.428_606_8e-6))
    var p = Vector(repeating: 1.0 / 120).addingProduct(r, Vector(repeating: 1.0 / 720))
    p = Vector(repeating: 1.0 / 24).addingProduct(r, p)
    p = Vector(repeating: 1.0 / 6).addingProduct(r, p)
    p = Vector(repeating: 0.5).addingProduct(r, p)
    p = Vector(repeating: 1).addingProduct(r, p)
    p = Vector(repeating: 1).addingProduct(r, p)
    let integerBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(shifter, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((integerBits &+ 127) &<< 23, to: Vector.self)
    return p * scale
}

// The standard library's pointwiseMax / clamped compile to scalar loops with branches; comparisons
// and `replacing` compile to vector compares and blends.
@inline(__always) func vectorMax(_ a: Vector, _ b: Vector) -> Vector { a.replacing(with: b, where: a .< b) }
@inline(__always) func vectorMin(_ a: Vector, _ b: Vector) -> Vector { a.replacing(with: b, where: b .< a) }
@inline(__always) func vectorClamp(_ x: Vector, _ lower: Float, _ upper: Float) -> Vector {
    vectorMin(vectorMax(x, Vector(repeating: lower)), Vector(repeating: upper))
}
@inline(__always) func unitClamped(_ x: Vector) -> Vector { vectorClamp(x, 0, 1) }

extension Activation {
    /// The activation on 16 lanes; must agree with `referenceValue` within the test tolerance.
    @inline(__always) func apply(_ x: Vector) -> Vector {
        switch self {
        case .relu:
            return x.replacing(with: 0, where: x .< 0)
        case let .clip(lower, upper):
            return vectorClamp(x, lower, upper)
        case let .leakyRelu(alpha):
            return x.replacing(with: x * alpha, where: x .< 0)
        case .sigmoid:
            return 1 / (1 + vectorExp(-x))
        case let .hardSigmoid(alpha, beta):
            return unitClamped(Vector(repeating: beta).addingProduct(x, alpha))
        case .hardSwish:
            return x * unitClamped(Vector(repeating: 0.5).addingProduct(x, 1.0 / 6))
        case .silu:
            // Below -88 the clamped e^-x stops growing with -x, so x / (1 + e^88) would reach -2 at
            // -Float.greatestFiniteMagnitude (and -inf at -inf); silu is below 1e-36 in magnitude there.
            return (x / (1 + vectorExp(-x))).replacing(with: 0, where: x .< -88)
        case .tanh:
            // tanh(x) = 1 - 2 / (e^{2x} + 1): saturates cleanly at both ends.
            return 1 - 2 / (vectorExp(x + x) + 1)
        case .sqrt:
            return x.squareRoot()
        case .reciprocal:
            return 1 / x
        case let .fakeQuantize(scale, zeroPoint, lower, upper):
            // Division, not a reciprocal multiply: the rounding must match QuantizeLinear's exactly.
            let quantized = vectorClamp((x / scale).rounded(.toNearestOrEven) + zeroPoint, lower, upper)
            return (quantized - zeroPoint) * scale
        }
    }
}
